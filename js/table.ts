// Live table: keyed rows kept in sync through SeqSync, rendered virtually (only the rows in view, plus a
// small overscan, exist in the DOM) and at most once per animation frame.
import type { TableDelta, TableState, TableTraits } from "./contract";
import {
  FrameTask,
  MAX_SHOWN_CHARS,
  Scope,
  type ViewProps,
  cellText,
  clip,
  formatNumber,
  h,
  hasField,
  isRecord,
  numeric,
  own,
  setField,
  setHidden,
  setText,
} from "./dom";
import { type JsonTreeState, jsonTree } from "./jsontree";
import { pauseControl } from "./pause";
import { BEAT_MS } from "./presence";
import { SeqSync, unpackWindow } from "./sync";
import { TableWindow } from "./window";

export const ROW_HEIGHT = 26;
export const OVERSCAN = 6;
/** Rows beyond those in view that a windowed table's view holds (window.ts). */
export const WINDOW_PAD = 2;
/** Used when the browser reports no layout (hidden output, jsdom). */
const FALLBACK_VIEWPORT = 360;
export const FLASH_MS = 700;
/** How long a cell's highlight then fades (the `transition` of `.rtw-grid td` in styles.css). */
export const FADE_MS = 600;
/**
 * Cells fading at once in the page (every table's together) beyond which a table ends its cells'
 * highlight without the fade. A fading cell is restyled and repainted in every frame, and the
 * frames it asks for lay out and paint whatever else changed in the page: fifty live views whose
 * cells all fade spend the page's main thread on the fades, and the views fall behind.
 */
export const MAX_FADING_CELLS = 600;

/** The cells fading in the page: when each table's batch of them ends, the oldest first. */
const fadingBatches: { end: number; cells: number }[] = [];
let fadingCells = 0;

/** Whether `cells` more may fade from `now`; if so they are counted until their fade ends. */
export function takeFade(now: number, cells: number): boolean {
  while (fadingBatches.length > 0 && fadingBatches[0]!.end <= now) fadingCells -= fadingBatches.shift()!.cells;
  if (fadingCells + cells > MAX_FADING_CELLS) return false;
  fadingBatches.push({ end: now + FADE_MS, cells });
  fadingCells += cells;
  return true;
}
/** Flash bookkeeping is bounded: beyond this, updates still render but no longer flash. */
const MAX_FLASHES = 5000;

type Row = Record<string, unknown>;
const NO_ROW: Row = {};

/** One rendered cell and what it shows, so a frame compares values instead of reading the DOM back. */
interface Cell {
  td: HTMLTableCellElement;
  text: Text;
  raw: unknown;
  /** The whole text; the cell shows it clipped, and as its title when clipped. */
  shown: string;
  long: boolean;
  num: boolean;
  flash: boolean;
}

/** A pooled row element; rows are reused for whichever keys scroll into view. */
interface PoolRow {
  tr: HTMLTableRowElement;
  key: string | null;
  cells: Cell[];
}
type SortDir = "asc" | "desc";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Sort order of two cell values: numbers (numeric strings too: "192.31" is a price) by value and
 * before everything else, then text; missing values last. `an`/`bn`: their numeric values. */
function compareValues(a: unknown, b: unknown, an: number | null = numeric(a), bn: number | null = numeric(b)): number {
  const aNil = a === null || a === undefined;
  const bNil = b === null || b === undefined;
  if (aNil || bNil) return aNil === bNil ? 0 : aNil ? 1 : -1;
  if (an !== null && bn !== null) return an - bn;
  if (an !== null) return -1;
  if (bn !== null) return 1;
  return collator.compare(cellText(a), cellText(b));
}

/**
 * A row's id in the view: the canonical JSON of its key (one field's value, or the array of the key
 * fields' values), so `1`, `"1"` and `true` are three rows here as they are in the kernel. Object keys
 * are sorted, so equal JSON values have one id.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isRecord(value)) {
    const names = Object.keys(value).sort();
    return `{${names.map((n) => `${JSON.stringify(n)}:${canonicalJson(value[n])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Whether a cell shows something new. Raw values decide (no formatting on the delta path); only values
 * of different kinds and objects, which show as JSON, are compared by their text. A number that changes
 * below the shown precision still counts as a change.
 */
function cellChanged(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return false;
  const ta = typeof a;
  if (ta === typeof b && (ta === "number" || ta === "string" || ta === "boolean")) return true;
  return cellText(a) !== cellText(b);
}

/** The table's data model, independent of the DOM so its rules are easy to test. */
function hasEveryField(row: Row, old: Row): boolean {
  for (const col in old) if (!hasField(row, col)) return false;
  return true;
}

/** Merges a partial row into the row the view holds, field by field as data (a `__proto__` field
 * stays a field: Object.assign would set the prototype). */
function mergeRow(old: Row, row: Row): void {
  for (const col of Object.keys(row)) setField(old, col, row[col]);
}

export class TableData {
  key = "id";
  /** The fields whose values make a row's key (the state's `keys`; `[key]` when it has none). */
  keyFields: string[] = ["id"];
  /** Rows the kernel ignored (no key field, say), and why the last one was. */
  errors = 0;
  lastError: string | null = null;
  /** The oldest rows the kernel left out of the last snapshot (too large to send whole). */
  truncated = 0;
  rows = new Map<string, Row>();
  declaredColumns: string[] | null = null;
  inferred: string[] = [];
  private inferredSet = new Set<string>();
  /** Rows upserted while declared columns made inference moot; caught up if those columns go away. */
  private inferPending = false;
  /** "key\0column" → time the change was seen, oldest first (a repeated change moves to the end). */
  flashes = new Map<string, number>();
  /** Bumped on every change of the set of keys or their order; values-only updates leave it alone. */
  structureVersion = 0;
  valueVersion = 0;

  get columns(): string[] {
    if (this.declaredColumns && this.declaredColumns.length > 0) return this.declaredColumns;
    if (this.inferPending) {
      this.inferPending = false;
      for (const row of this.rows.values()) this.infer(row);
    }
    return this.inferred;
  }

  /** The row's id (see canonicalJson); a row without its key fields gets `#<n>`, which no JSON
   * text can equal. */
  keyOf(row: Row, fallback: number): string {
    const fields = this.keyFields;
    if (fields.length === 1) {
      const k = own(row, fields[0]!);
      return k === undefined ? `#${fallback}` : canonicalJson(k);
    }
    const values: unknown[] = [];
    for (const field of fields) {
      const v = own(row, field);
      if (v === undefined) return `#${fallback}`;
      values.push(v);
    }
    return canonicalJson(values);
  }

  /** What a row's `data-key` attribute shows: its key value as text (the array of the values as
   * JSON for a tuple key). Only the row id (`keyOf`) tells `1` and `"1"` apart. */
  label(row: Row, id: string): string {
    if (this.keyFields.length !== 1) return id;
    const k = own(row, this.keyFields[0]!);
    return typeof k === "string" ? k : k === undefined ? "" : (JSON.stringify(k) ?? "");
  }

  private infer(row: Row): void {
    for (const name of Object.keys(row)) {
      if (!this.inferredSet.has(name)) {
        this.inferredSet.add(name);
        this.inferred.push(name);
      }
    }
  }

  reset(state: Partial<TableState>): void {
    this.key = typeof state.key === "string" && state.key !== "" ? state.key : "id";
    const keys: unknown = state.keys;
    this.keyFields =
      Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === "string" && k !== "")
        ? (keys as string[])
        : [this.key];
    this.errors = typeof state.errors === "number" ? state.errors : 0;
    this.lastError = typeof state.last_error === "string" ? state.last_error : null;
    this.truncated = typeof state.truncated === "number" && state.truncated > 0 ? state.truncated : 0;
    this.declaredColumns = Array.isArray(state.columns) ? state.columns.map(String) : null;
    this.inferred = [];
    this.inferredSet = new Set();
    this.inferPending = false;
    this.flashes.clear();
    // The rows keep the snapshot's order (the kernel's); keys upserted later are appended.
    this.rows = new Map();
    const rows: unknown[] = Array.isArray(state.rows) ? state.rows : [];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!isRecord(row)) continue;
      const k = this.keyOf(row, i);
      this.rows.set(k, row);
      this.infer(row);
    }
    // Putting the key columns first when inferring reads better than object key order.
    const first = this.keyFields.filter((k) => this.inferredSet.has(k));
    if (!this.declaredColumns && first.length > 0) {
      this.inferred = [...first, ...this.inferred.filter((c) => !first.includes(c))];
    }
    this.structureVersion++;
    this.valueVersion++;
  }

  apply(delta: TableDelta, now: number): void {
    if (delta.clear === true) {
      this.rows.clear();
      this.flashes.clear();
      this.structureVersion++;
    }
    if (Array.isArray(delta.columns)) this.declaredColumns = delta.columns.map(String);
    if (Array.isArray(delta.add_columns) && delta.add_columns.length > 0) {
      // The kernel sends the columns it made since; one this view already holds (from a snapshot
      // taken in between) is not added twice.
      const cols = this.declaredColumns ?? [];
      const held = new Set(cols);
      for (const name of delta.add_columns.map(String)) {
        if (!held.has(name)) {
          held.add(name);
          cols.push(name);
        }
      }
      this.declaredColumns = cols;
    }
    if (typeof delta.errors === "number") {
      this.errors = delta.errors;
      this.lastError = typeof delta.last_error === "string" ? delta.last_error : null;
    }
    if (Array.isArray(delta.delete)) {
      // Each is a key as JSON: a value, or the array of the key fields' values.
      for (const k of delta.delete) {
        const id = canonicalJson(k);
        if (this.rows.delete(id)) this.structureVersion++;
      }
    }
    if (Array.isArray(delta.upsert)) {
      for (const row of delta.upsert) {
        if (!isRecord(row)) continue;
        const k = this.keyOf(row, this.rows.size);
        const old = this.rows.get(k);
        if (old === undefined) {
          this.structureVersion++;
        } else if (this.flashes.size < MAX_FLASHES) {
          for (const col of Object.keys(row)) {
            if (!cellChanged(own(old, col), row[col])) continue;
            const id = `${k}\0${col}`;
            // Re-inserting keeps the map in time order, so expiry only ever looks at its front.
            this.flashes.delete(id);
            this.flashes.set(id, now);
          }
        }
        // A row the view holds comes as its key and the fields that changed: merge them (a row
        // that brings every field replaces the old one, which costs less than copying fields).
        // Either way it keeps its place in the order (a Map's set of a held key does), as it does
        // in the kernel's table; a new key goes last.
        if (old === undefined || hasEveryField(row, old)) this.rows.set(k, row);
        else mergeRow(old, row);
        // Walking every key of every upserted row is a large part of a big delta; with declared
        // columns it is only needed if they are later cleared.
        if (this.declaredColumns && this.declaredColumns.length > 0) this.inferPending = true;
        else this.infer(row);
      }
      this.valueVersion++;
    }
  }

  /** Keys in display order after filtering and sorting. */
  view(filter: string, sortCol: string | null, sortDir: SortDir): string[] {
    let keys = Array.from(this.rows.keys());
    const needle = filter.trim().toLowerCase();
    if (needle !== "") {
      const cols = this.columns;
      keys = keys.filter((k) => {
        const row = this.rows.get(k)!;
        for (const c of cols) {
          const v = own(row, c);
          if (cellText(v).toLowerCase().includes(needle)) return true;
          // Numbers match as typed too ("1234" finds the cell shown as "1,234").
          if (typeof v === "number" && String(v).includes(needle)) return true;
        }
        return false;
      });
    }
    if (sortCol !== null) {
      // Decorate once: reading the Map inside the comparator would cost n log n lookups.
      const decorated = keys.map((k, i) => {
        const v = own(this.rows.get(k)!, sortCol);
        return { k, v, n: numeric(v), i };
      });
      const sign = sortDir === "asc" ? 1 : -1;
      decorated.sort((a, b) => {
        const aNil = a.v === null || a.v === undefined;
        const bNil = b.v === null || b.v === undefined;
        // Missing values stay last in both directions.
        if (aNil || bNil) return aNil === bNil ? a.i - b.i : aNil ? 1 : -1;
        return sign * compareValues(a.v, b.v, a.n, b.n) || a.i - b.i;
      });
      keys = decorated.map((d) => d.k);
    }
    return keys;
  }
}

/** The figures of a grouped table, for each numeric column, in this order. */
export const AGGREGATES = ["sum", "mean", "min", "max", "last"] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** A column of the grouped table: its id in the group rows (made here, never a server name), what
 * its header says, and which source column and figure it shows. */
export interface GroupColumn {
  id: string;
  label: string;
  source: string | null;
  agg: Aggregate | "count" | null;
}

export interface Grouped {
  columns: GroupColumn[];
  /** Group id (the canonical JSON of the group value) → its row, keyed by the columns' ids. */
  rows: Map<string, Row>;
}

/** A group value as its cell shows it: a string that would read as a number, a boolean, null or
 * nothing is quoted, so the groups `1` and `"1"` look different as they are. */
export function groupText(value: unknown): string {
  if (typeof value === "string" && (value === "" || value === "true" || value === "false" || value === "null" || numeric(value) !== null)) {
    return JSON.stringify(value);
  }
  return cellText(value);
}

/** The id of the group column in group rows. */
export const GROUP_ID = "group";

interface Acc {
  value: unknown;
  count: number;
  /** Per aggregated column: how many numeric values, their sum, min, max, and the value of the
   * group's row that comes last in the rows' order and has one. */
  n: number[];
  sum: number[];
  min: number[];
  max: number[];
  last: number[];
}

/**
 * One row per distinct value of `by` (by canonical JSON, so `1`, `"1"` and `true` are three groups;
 * a missing value groups with null), with its `count` and, for each of `columns` whose every value is
 * a number or a numeric string, the sum, mean, min, max and last. `rows` come in the table's own
 * order (the kernel's: a snapshot's order, then new keys appended; an update keeps a row's place),
 * and `last` is the value (as a number) of the group's last row in it that has one there, which is
 * what pandas' `groupby(...).last()` of the kernel's `to_pandas()` gives. Groups come in order of
 * first appearance.
 */
export function groupBy(rows: readonly Row[], by: string, columns: string[]): Grouped {
  const cols = columns.filter((c) => c !== by);
  const width = cols.length;
  /** Per column: still numeric (every value seen is), and whether any value was seen. */
  const numericCol = new Array<boolean>(width).fill(true);
  const seen = new Array<boolean>(width).fill(false);
  const groups = new Map<string, Acc>();
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const value = own(row, by);
    const id = canonicalJson(value === undefined ? null : value);
    let acc = groups.get(id);
    if (acc === undefined) {
      acc = {
        value: value === undefined ? null : value,
        count: 0,
        n: new Array<number>(width).fill(0),
        sum: new Array<number>(width).fill(0),
        min: new Array<number>(width).fill(Infinity),
        max: new Array<number>(width).fill(-Infinity),
        last: new Array<number>(width).fill(0),
      };
      groups.set(id, acc);
    }
    acc.count++;
    for (let c = 0; c < width; c++) {
      if (!numericCol[c]) continue;
      const v = own(row, cols[c]!);
      if (v === null || v === undefined) continue;
      const x = numeric(v);
      if (x === null) {
        numericCol[c] = false;
        continue;
      }
      seen[c] = true;
      acc.n[c]!++;
      acc.sum[c]! += x;
      if (x < acc.min[c]!) acc.min[c] = x;
      if (x > acc.max[c]!) acc.max[c] = x;
      acc.last[c] = x;
    }
  }
  const aggregated: number[] = [];
  for (let c = 0; c < width; c++) if (numericCol[c] && seen[c]) aggregated.push(c);
  const out: GroupColumn[] = [
    { id: GROUP_ID, label: by, source: by, agg: null },
    { id: "count", label: "count", source: null, agg: "count" },
  ];
  for (const c of aggregated) {
    for (const agg of AGGREGATES) out.push({ id: `${agg}.${c}`, label: `${agg}(${cols[c]})`, source: cols[c]!, agg });
  }
  const result = new Map<string, Row>();
  for (const [id, acc] of groups) {
    const row: Row = Object.create(null) as Row;
    row[GROUP_ID] = acc.value;
    row.count = acc.count;
    for (const c of aggregated) {
      const n = acc.n[c]!;
      row[`sum.${c}`] = n > 0 ? acc.sum[c] : null;
      row[`mean.${c}`] = n > 0 ? acc.sum[c]! / n : null;
      row[`min.${c}`] = n > 0 ? acc.min[c] : null;
      row[`max.${c}`] = n > 0 ? acc.max[c] : null;
      row[`last.${c}`] = n > 0 ? acc.last[c] : null;
    }
    result.set(id, row);
  }
  return { columns: out, rows: result };
}

export function renderTable({ model, el, signal }: ViewProps<TableTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const data = new TableData();
  // The grouped table: rows made by groupBy, shown through the same grid, sort and virtual rows.
  const groupData = new TableData();
  groupData.key = GROUP_ID;
  groupData.keyFields = [GROUP_ID];
  let groupLabels = new Map<string, string>();
  let groupCol: string | null = null;
  let groupedRows = 0;
  /** Columns the user hid (by name); a column not in here, new ones included, shows. */
  const hidden = new Set<string>();

  const filterBox = h("input", {
    class: "rtw-input rtw-table-filter",
    type: "search",
    placeholder: "Filter…",
    "aria-label": "Filter rows",
  });
  const groupSelect = h("select", { class: "rtw-input rtw-table-group", "aria-label": "Group by", title: "Group by a column" });
  const columnsButton = h("button", {
    class: "rtw-btn rtw-table-columns-button",
    type: "button",
    "aria-haspopup": "true",
    "aria-expanded": "false",
    text: "Columns",
  });
  const columnsList = h("div", { class: "rtw-table-columns-list" });
  const showAll = h("button", { class: "rtw-btn rtw-table-columns-all", type: "button", text: "Show all" });
  const columnsPanel = h("div", { class: "rtw-table-columns", role: "dialog", "aria-label": "Columns", hidden: true }, [
    showAll,
    columnsList,
  ]);
  const count = h("span", { class: "rtw-table-count" });
  const ignored = h("span", { class: "rtw-table-errors", role: "status", hidden: true });
  const truncated = h("span", {
    class: "rtw-table-truncated",
    role: "status",
    hidden: true,
    title: "The table was too large to send whole: the kernel holds every row (LiveTable.rows).",
  });
  const colgroup = h("colgroup");
  const headRow = h("tr");
  const thead = h("thead", {}, [headRow]);
  const topPad = h("tr", { class: "rtw-pad", "aria-hidden": "true" });
  const bottomPad = h("tr", { class: "rtw-pad", "aria-hidden": "true" });
  const tbody = h("tbody");
  const table = h("table", { class: "rtw-grid" }, [colgroup, thead, tbody]);
  const scroller = h("div", { class: "rtw-table-scroll", tabindex: "0" }, [table]);
  const detailTitle = h("span", { class: "rtw-table-detail-title" });
  const detailState = h("span", { class: "rtw-table-detail-state", role: "status", hidden: true, text: "deleted" });
  const detailClose = h("button", { class: "rtw-btn rtw-table-detail-close", type: "button", "aria-label": "Close", text: "Close" });
  const detailBody = h("div", { class: "rtw-table-detail-body" });
  const detail = h("div", { class: "rtw-table-detail", role: "region", "aria-label": "Row detail", hidden: true }, [
    h("div", { class: "rtw-table-detail-head" }, [detailTitle, detailState, h("span", { class: "rtw-spacer" }), detailClose]),
    detailBody,
  ]);
  const toolbar = h("div", { class: "rtw-toolbar" }, [
    filterBox,
    groupSelect,
    h("span", { class: "rtw-table-columns-anchor" }, [columnsButton, columnsPanel]),
    h("span", { class: "rtw-spacer" }),
    truncated,
    ignored,
    count,
  ]);
  const root = h("div", { class: "rtw-root rtw-table" }, [toolbar, h("div", { class: "rtw-table-body" }, [scroller, detail])]);
  el.append(root);
  scope.add(() => root.remove());

  let filter = "";
  let sortCol: string | null = null;
  let sortDir: SortDir = "asc";
  let order: string[] = [];
  let orderStructure = -1;
  let orderValues = -1;
  let orderDirty = true;
  let shownColumns = "";
  const pool: PoolRow[] = [];
  let flashTimer: (() => void) | null = null;
  let countShown = "";
  let padShown: [number, number] = [-1, -1];
  // The scroll position and the viewport's height are read when they change (a scroll event, a
  // resize, the table scrolling itself), never in every frame: a layout read in a frame, after
  // other views wrote their DOM, lays out the whole page before this view has drawn.
  let scrollTop = 0;
  let viewportHeight = 0;
  // A table past the kernel's WINDOW_AT rows: the view holds the window it shows (window.ts), and
  // the kernel sorts and filters.
  let windowed = false;
  const win = new TableWindow();
  const askWindow = (first: number, last: number, again = false): void => {
    // Grouped, the page sorts the groups: the kernel sends them all.
    const ask = win.ask(first, last, sortCol, sortDir === "desc", filter, again, groupCol);
    if (ask === null) return;
    try {
      model.send(ask);
    } catch {
      // A saved view has no kernel to ask.
    }
  };
  let shownRange: [number, number] = [0, 0];
  let groupStructure = -1;
  let groupValues = -1;
  let beat: (() => void) | null = null;
  let measureScroll = true;
  const readScroll = (): void => {
    measureScroll = false;
    scrollTop = scroller.scrollTop;
    viewportHeight = scroller.clientHeight;
  };
  const scrollTo = (top: number): void => {
    scroller.scrollTop = top;
    measureScroll = true;
  };

  /** What the grid shows: the rows, or the groups. */
  const source = (): TableData => (groupCol === null ? data : groupData);
  /** The source columns shown (the ones not hidden). */
  const visibleColumns = (): string[] => {
    const cols = data.columns;
    return hidden.size === 0 ? cols : cols.filter((c) => !hidden.has(c));
  };
  /** The grid's column ids: column names, or the grouped table's own ids. */
  const gridColumns = (): string[] => (groupCol === null ? visibleColumns() : (groupData.declaredColumns ?? []));
  const labelOf = (id: string): string => (groupCol === null ? id : (groupLabels.get(id) ?? id));

  let sizedWithRows = false;
  /** Column widths from the header and a sample of rows, in `ch`: narrow ids, wide text. */
  const sizeColumns = (cols: string[]): void => {
    const src = source();
    const widths = cols.map((c) => labelOf(c).length + 2);
    let n = 0;
    for (const row of src.rows.values()) {
      for (let c = 0; c < cols.length; c++) widths[c] = Math.max(widths[c]!, cellText(own(row, cols[c]!)).length);
      if (++n >= 50) break;
    }
    sizedWithRows = n > 0;
    const cells = colgroup.children;
    for (let c = 0; c < cols.length; c++) {
      (cells[c] as HTMLElement).style.width = `${Math.min(40, Math.max(5, widths[c]!)) + 2}ch`;
    }
  };

  const buildHeader = (): void => {
    const cols = gridColumns();
    const sig = `${groupCol === null ? "r" : "g"}\0${cols.map(labelOf).join("\0")}`;
    if (sig === shownColumns) {
      if (!sizedWithRows && source().rows.size > 0) sizeColumns(cols);
      return;
    }
    shownColumns = sig;
    colgroup.replaceChildren(...cols.map(() => h("col")));
    sizeColumns(cols);
    headRow.replaceChildren(
      ...cols.map((c) => {
        const name = labelOf(c);
        const label = h("span", { class: "rtw-th-label", text: clip(name) });
        // A long name shows cut; the whole of it is on hover.
        if (name.length > MAX_SHOWN_CHARS) label.title = name;
        const th = h("th", { scope: "col", "data-column": c, title: `Sort by ${clip(name)}`, tabindex: "0" }, [
          label,
          h("span", { class: "rtw-sort-mark", "aria-hidden": "true" }),
        ]);
        return th;
      }),
    );
    for (const pr of pool) {
      pr.tr.replaceChildren();
      pr.cells = [];
    }
    markSort();
  };

  const markSort = (): void => {
    for (const th of Array.from(headRow.children) as HTMLElement[]) {
      const active = th.dataset.column === sortCol;
      if (active) {
        th.dataset.sort = sortDir;
        th.setAttribute("aria-sort", sortDir === "asc" ? "ascending" : "descending");
      } else {
        delete th.dataset.sort;
        th.removeAttribute("aria-sort");
      }
      setText(th.lastChild!, active ? (sortDir === "asc" ? "▲" : "▼") : "");
    }
  };

  /** Groups the rows the filter keeps; runs only when the order is refreshed (rows changed, or the
   * grouping, filter or columns did), so at most once per frame. */
  const regroup = (by: string): void => {
    // In the table's order (the view's sort does not apply): `last` is the last row of a group in it.
    const rows: Row[] =
      filter.trim() === "" ? Array.from(data.rows.values()) : data.view(filter, null, "asc").map((k) => data.rows.get(k)!);
    groupedRows = rows.length;
    const grouped = groupBy(rows, by, visibleColumns());
    groupData.rows = grouped.rows;
    groupData.declaredColumns = grouped.columns.map((c) => c.id);
    groupLabels = new Map(grouped.columns.map((c) => [c.id, c.label]));
    groupData.structureVersion++;
    groupData.valueVersion++;
  };

  /** Drops the groups shown (a windowed table's come from the kernel, whole, once asked for). */
  const clearGroups = (): void => {
    groupData.rows = new Map();
    groupData.declaredColumns = [];
    groupLabels = new Map();
    groupedRows = 0;
    groupData.structureVersion++;
  };

  let lastViewAt = -Infinity;
  let lastViewCost = 0;
  let orderTimer: (() => void) | null = null;
  const refreshOrder = (): void => {
    const start = performance.now();
    if (groupCol === null) order = data.view(filter, sortCol, sortDir);
    else {
      regroup(groupCol);
      order = groupData.view("", sortCol, sortDir);
    }
    lastViewAt = performance.now();
    lastViewCost = lastViewAt - start;
    orderStructure = data.structureVersion;
    orderValues = data.valueVersion;
    orderDirty = false;
  };

  /** Fills a pooled row; returns how many of its cells stopped flashing (their highlight fades). */
  const fillRow = (src: TableData, pr: PoolRow, key: string, cols: string[], now: number): number => {
    // A key deleted since the order was last computed shows as an empty row until the next refresh.
    const row = src.rows.get(key) ?? NO_ROW;
    if (pr.key !== key) {
      pr.key = key;
      pr.tr.dataset.key = src.label(row, key);
      // A group's canonical JSON tells 1 from "1", which show alike.
      if (src === groupData) pr.tr.dataset.group = key;
      else delete pr.tr.dataset.group;
    }
    const selected = key === detailKey && detailGrouped === (groupCol !== null);
    if (selected !== pr.tr.classList.contains("rtw-selected")) pr.tr.classList.toggle("rtw-selected", selected);
    const cells = pr.cells;
    while (cells.length < cols.length) {
      const text = document.createTextNode("");
      const td = h("td", {}, [text]);
      pr.tr.append(td);
      cells.push({ td, text, raw: undefined, shown: "", long: false, num: false, flash: false });
    }
    while (cells.length > cols.length) cells.pop()!.td.remove();
    const flashes = src.flashes.size > 0 ? src.flashes : null;
    let unflashed = 0;
    for (let c = 0; c < cols.length; c++) {
      const cell = cells[c]!;
      const value = own(row, cols[c]!);
      // Only a cell whose value changed is formatted; its text node is updated in place.
      if (!Object.is(cell.raw, value)) {
        cell.raw = value;
        const groupCell = src === groupData && cols[c] === GROUP_ID;
        const text = groupCell ? groupText(value) : cellText(value);
        if (text !== cell.shown) {
          cell.shown = text;
          cell.text.data = clip(text);
          // A long value shows cut; the whole of it is on hover.
          const long = text.length > MAX_SHOWN_CHARS;
          if (long || cell.long) cell.td.title = long ? text : "";
          cell.long = long;
        }
        // Numeric strings ("192.31") align as numbers; their text stays as the feed wrote it.
        const isNumber = typeof value === "number" || (!groupCell && numeric(value) !== null);
        if (isNumber !== cell.num) {
          cell.num = isNumber;
          cell.td.classList.toggle("rtw-num", isNumber);
        }
      }
      let flashing = false;
      if (flashes) {
        const seen = flashes.get(`${key}\0${cols[c]}`);
        flashing = seen !== undefined && now - seen < FLASH_MS;
      }
      if (flashing !== cell.flash) {
        cell.flash = flashing;
        cell.td.classList.toggle("rtw-flash", flashing);
        if (!flashing) unflashed++;
      }
    }
    return unflashed;
  };

  // ---- row detail ----
  let detailKey: string | null = null;
  /** Whether the detail shows a group (opened in the grouped table) or a row. */
  let detailGrouped = false;
  let detailShown: string | null = null;
  let detailVersion: [number, number] = [-1, -1];
  let detailTree: JsonTreeState = new Map();

  /** A group row as its header labels say (a label met twice, say a column named "count", gets a
   * suffix so no figure hides another). */
  const groupRecord = (row: Row): Row => {
    const out: Row = Object.create(null) as Row;
    for (const id of groupData.declaredColumns ?? []) {
      let name = labelOf(id);
      for (let n = 2; hasField(out, name); n++) name = `${labelOf(id)} (${n})`;
      setField(out, name, own(row, id));
    }
    return out;
  };

  const renderDetail = (): void => {
    if (detailKey === null) return;
    const src = detailGrouped ? groupData : data;
    if (detailVersion[0] === src.structureVersion && detailVersion[1] === src.valueVersion) return;
    detailVersion = [src.structureVersion, src.valueVersion];
    const row = src.rows.get(detailKey);
    setHidden(detailState, row !== undefined);
    detail.classList.toggle("rtw-deleted", row === undefined);
    // A deleted row keeps showing its last fields, marked deleted.
    if (row === undefined) return;
    const value = detailGrouped ? groupRecord(row) : row;
    const text = canonicalJson(value);
    if (text === detailShown) return;
    detailShown = text;
    detailBody.replaceChildren(jsonTree(value, { expandDepth: 2, state: detailTree }));
  };

  const openDetail = (key: string): void => {
    const grouped = groupCol !== null;
    const src = grouped ? groupData : data;
    const row = src.rows.get(key);
    if (row === undefined) return;
    if (key !== detailKey || grouped !== detailGrouped) detailTree = new Map();
    detailKey = key;
    detailGrouped = grouped;
    detailShown = null;
    detailVersion = [-1, -1];
    const label = src.label(row, key);
    setText(detailTitle, clip(grouped ? `${groupCol ?? ""} = ${label}` : `${data.keyFields.join(", ")} = ${label}`));
    setHidden(detail, false);
    renderDetail();
    frame.schedule();
  };

  const closeDetail = (): void => {
    if (detailKey === null) return;
    detailKey = null;
    detailShown = null;
    detailBody.replaceChildren();
    setHidden(detail, true);
    frame.schedule();
  };

  // ---- column chooser and group-by select ----
  let chooserShown = "";
  /** The columns the chooser lists, in the order of its checkboxes. */
  let chooserColumns: string[] = [];
  const buildChooser = (): void => {
    const cols = data.columns;
    const sig = cols.join("\0");
    if (sig === chooserShown) {
      const boxes = columnsList.querySelectorAll("input");
      for (let i = 0; i < boxes.length; i++) boxes[i]!.checked = !hidden.has(chooserColumns[i]!);
      return;
    }
    chooserShown = sig;
    chooserColumns = cols.slice();
    columnsList.replaceChildren(
      ...cols.map((c) => {
        const box = h("input", { type: "checkbox" });
        box.checked = !hidden.has(c);
        const name = h("span", { class: "rtw-table-columns-name", text: clip(c) });
        if (c.length > MAX_SHOWN_CHARS) name.title = c;
        return h("label", { class: "rtw-table-columns-item" }, [box, name]);
      }),
    );
  };
  scope.listen(columnsList, "change", (ev) => {
    const box = ev.target as HTMLInputElement;
    const i = Array.from(columnsList.querySelectorAll("input")).indexOf(box);
    const c = chooserColumns[i];
    if (c === undefined) return;
    if (box.checked) hidden.delete(c);
    else hidden.add(c);
    // A hidden column no longer sorts the rows.
    if (!box.checked && sortCol === c && groupCol === null) sortCol = null;
    orderDirty = true;
    frame.schedule();
  });
  /** Listens for clicks outside the open list (only while it is open). */
  let chooserScope: Scope | null = null;
  const setChooser = (open: boolean): void => {
    if (open) buildChooser();
    setHidden(columnsPanel, !open);
    columnsButton.setAttribute("aria-expanded", String(open));
    chooserScope?.dispose();
    chooserScope = null;
    if (!open) return;
    chooserScope = scope.child();
    chooserScope.listen(document, "pointerdown", (ev) => {
      const target = ev.target as Node | null;
      if (target && (columnsPanel.contains(target) || columnsButton.contains(target))) return;
      setChooser(false);
    });
  };

  let groupOptionsShown = "";
  let groupOptions: string[] = [];
  const buildGroupOptions = (): void => {
    const cols = data.columns;
    const names = groupCol !== null && !cols.includes(groupCol) ? [...cols, groupCol] : cols;
    const sig = names.join("\0");
    if (sig === groupOptionsShown) return;
    groupOptionsShown = sig;
    groupOptions = names.slice();
    groupSelect.replaceChildren(
      h("option", { value: "none", text: "Group by: none" }),
      ...names.map((c, i) => h("option", { value: `c${i}`, text: clip(c) })),
    );
    groupSelect.value = groupCol === null ? "none" : `c${names.indexOf(groupCol)}`;
  };

  const render = (): void => {
    buildGroupOptions();
    if (!columnsPanel.hidden) buildChooser();
    buildHeader();
    const grouping = groupCol !== null;
    const stale =
      orderStructure !== data.structureVersion ||
      ((sortCol !== null || filter !== "" || grouping) && orderValues !== data.valueVersion);
    if (windowed && grouping) {
      // The kernel's groups of every row, all held here: sorted in the page.
      if (orderDirty || groupStructure !== groupData.structureVersion || (sortCol !== null && groupValues !== groupData.valueVersion)) {
        order = groupData.view("", sortCol, sortDir);
        groupStructure = groupData.structureVersion;
        groupValues = groupData.valueVersion;
        orderDirty = false;
      }
    } else if (windowed) {
      if (orderStructure !== data.structureVersion || orderDirty) {
        order = win.order();
        orderStructure = data.structureVersion;
        orderDirty = false;
      }
    } else if (orderDirty) refreshOrder();
    else if (stale) {
      // Data changes re-sort/re-filter on a budget: with 100k rows a sort costs tens of ms, so the order is
      // refreshed at most every 10x its own cost while the visible cells themselves update every frame.
      const wait = lastViewAt + 10 * lastViewCost - performance.now();
      if (wait <= 0 || lastViewCost < 4) refreshOrder();
      else if (!orderTimer) {
        orderTimer = scope.timeout(() => {
          orderTimer = null;
          frame.schedule();
        }, wait);
      }
    }
    // Grouping changed the grid's columns.
    if (grouping) buildHeader();
    const src = source();
    const total = windowed ? win.size : data.rows.size;
    if (data.errors > 0) {
      setText(ignored, `${formatNumber(data.errors)} ${data.errors === 1 ? "row" : "rows"} ignored`);
      // The kernel's explanation (server text, shown as text): which key field was missing.
      if (ignored.title !== (data.lastError ?? "")) ignored.title = data.lastError ?? "";
    }
    setHidden(ignored, data.errors === 0);
    if (data.truncated > 0) {
      setText(truncated, `${formatNumber(data.truncated)} older ${data.truncated === 1 ? "row" : "rows"} not sent`);
    }
    setHidden(truncated, data.truncated === 0 || windowed);
    const shown = grouping ? groupedRows : order.length;
    const countKey = `${grouping ? order.length : -1}:${shown}:${total}`;
    if (countKey !== countShown) {
      countShown = countKey;
      const rowsText =
        shown === total
          ? `${formatNumber(total)} ${total === 1 ? "row" : "rows"}`
          : `${formatNumber(shown)} of ${formatNumber(total)} rows`;
      setText(count, grouping ? `${formatNumber(order.length)} ${order.length === 1 ? "group" : "groups"} · ${rowsText}` : rowsText);
    }

    if (measureScroll) readScroll();
    const viewport = viewportHeight || FALLBACK_VIEWPORT;
    const maxTop = Math.max(0, order.length * ROW_HEIGHT - viewport);
    const top = Math.min(scrollTop, maxTop);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(order.length, Math.ceil((top + viewport) / ROW_HEIGHT) + OVERSCAN);
    const cols = gridColumns();
    const now = Date.now();
    // A window is the rows in view and WINDOW_PAD either side (the overscan's rows beyond stay blank
    // until a scroll brings them in and their window comes): each row held costs the wire its changes.
    shownRange = [Math.floor(top / ROW_HEIGHT) - WINDOW_PAD, Math.ceil((top + viewport) / ROW_HEIGHT) + WINDOW_PAD];
    if (windowed) askWindow(shownRange[0], shownRange[1]);

    while (pool.length < last - first) pool.push({ tr: h("tr", { class: "rtw-row" }), key: null, cells: [] });
    const rows: HTMLTableRowElement[] = [];
    let unflashed = 0;
    for (let i = first; i < last; i++) {
      const pr = pool[i - first]!;
      unflashed += fillRow(src, pr, order[i]!, cols, now);
      rows.push(pr.tr);
    }
    // The cells whose highlight ended fade out, unless the page already has many cells fading (the
    // class lands in the same frame as theirs, so no fade starts).
    if (unflashed > 0) {
      const fade = takeFade(now, unflashed);
      if (fade === tbody.classList.contains("rtw-no-fade")) tbody.classList.toggle("rtw-no-fade", !fade);
    }
    // Headers of numeric columns align with their cells; the first row in view decides.
    const sample = first < last ? src.rows.get(order[first]!) : undefined;
    if (sample) {
      const ths = headRow.children;
      for (let c = 0; c < ths.length && c < cols.length; c++) {
        const value = own(sample, cols[c]!);
        const isNumber = typeof value === "number" || numeric(value) !== null;
        if (ths[c]!.classList.contains("rtw-num") !== isNumber) ths[c]!.classList.toggle("rtw-num", isNumber);
      }
    }
    if (first !== padShown[0] || order.length - last !== padShown[1]) {
      padShown = [first, order.length - last];
      topPad.style.height = `${first * ROW_HEIGHT}px`;
      bottomPad.style.height = `${(order.length - last) * ROW_HEIGHT}px`;
    }
    const wanted = [topPad, ...rows, bottomPad];
    // Skip the DOM write when the same row elements are already in place (the common value-only frame).
    let same = tbody.children.length === wanted.length;
    for (let i = 0; same && i < wanted.length; i++) same = tbody.children[i] === wanted[i];
    if (!same) tbody.replaceChildren(...wanted);

    root.classList.toggle("rtw-empty", order.length === 0);
    root.classList.toggle("rtw-grouped", grouping);
    renderDetail();
    scheduleUnflash(now);
  };

  const frame = new FrameTask(scope, render);

  /** One timer for the soonest-expiring flash; the next render clears it and prunes old entries. */
  const scheduleUnflash = (now: number): void => {
    let soonest = Infinity;
    // Oldest first: stop at the first flash still showing.
    for (const [k, t] of data.flashes) {
      if (now - t >= FLASH_MS) data.flashes.delete(k);
      else {
        soonest = t + FLASH_MS - now;
        break;
      }
    }
    if (flashTimer || soonest === Infinity) return;
    flashTimer = scope.timeout(() => {
      flashTimer = null;
      frame.schedule();
    }, soonest + 10);
  };

  const sync = new SeqSync<"table">(model, {
    reset: (state) => {
      const size = typeof state.window === "number" ? state.window : null;
      // A windowed table's snapshot has only its newest rows: the view keeps the window it holds, or
      // (entering) holds none until the kernel sends it.
      const keep = windowed && size !== null ? data.rows : null;
      frame.measure(() => data.reset(size === null ? state : { ...state, rows: [] }));
      if (keep !== null) data.rows = keep;
      if ((size !== null) !== windowed) {
        windowed = size !== null;
        win.forget();
        win.keys = [];
        win.start = 0;
        // Grouped, the groups come from the kernel from now on (or are made here again).
        clearGroups();
        beat?.();
        beat = windowed ? scope.interval(() => askWindow(shownRange[0], shownRange[1], true), BEAT_MS) : null;
      }
      if (size !== null) {
        win.size = size;
        // Until the first window comes, the rows are all there but not yet shown (not filtered out).
        if (win.keys.length === 0 && filter.trim() === "") win.total = size;
        data.truncated = 0;
      }
      orderDirty = true;
      frame.schedule();
    },
    apply: (delta) => {
      frame.measure(() => data.apply(delta, Date.now()));
      frame.schedule();
    },
  }, scope);
  toolbar.append(pauseControl(model, sync, scope).el);
  scope.on(model, "msg:custom", (msg: unknown, buffers: unknown) => {
    if (!windowed || sync.held || !isRecord(msg) || msg.kind !== "window") return;
    // A window whose rows do not unpack is dropped, and the kernel asked to send it whole again.
    const unpacked = unpackWindow(msg, buffers);
    if (unpacked === null) {
      model.send({ kind: "snapshot_request" });
      return;
    }
    // A grouped window's rows are the groups; one of the other kind was sent before the view
    // grouped or ungrouped (the kernel's next window is of the kind asked for, whole).
    const grouped = isRecord(unpacked.grouped) ? unpacked.grouped : null;
    if ((grouped !== null) !== (groupCol !== null)) return;
    const target = grouped !== null ? groupData : data;
    // The open row stays in the detail when it scrolls out of the window (it is not deleted).
    const open = detailKey !== null && !detailGrouped ? data.rows.get(detailKey) : undefined;
    if (frame.measure(() => win.apply(unpacked, target, Date.now()))) {
      if (open !== undefined && !data.rows.has(detailKey!)) data.rows.set(detailKey!, open);
      if (grouped !== null) {
        if (typeof grouped.rows === "number") groupedRows = grouped.rows;
        const ids = groupData.declaredColumns ?? [];
        if (Array.isArray(grouped.labels)) groupLabels = new Map(ids.map((id, i) => [id, String((grouped.labels as unknown[])[i] ?? id)]));
      }
      orderDirty = true;
      frame.schedule();
    }
  });
  // The kernel counts a window for a few seconds after the view names it: named again with every
  // presence beat while the table is windowed; a view that goes says so.
  scope.add(() => {
    if (!windowed) return;
    try {
      model.send({ kind: "window", view: win.id, start: 0, count: 0, sort: null, desc: false, filter: "" });
    } catch {
      // The kernel is gone too.
    }
  });

  scope.listen(filterBox, "input", () => {
    filter = filterBox.value;
    orderDirty = true;
    scrollTo(0);
    frame.schedule();
  });
  scope.listen(groupSelect, "change", () => {
    const v = groupSelect.value;
    const i = v.startsWith("c") ? Number(v.slice(1)) : -1;
    const next = i >= 0 && i < groupOptions.length ? groupOptions[i]! : null;
    if (next === groupCol) return;
    groupCol = next;
    // Sort columns and the open detail belong to the table they were chosen in.
    sortCol = null;
    closeDetail();
    if (windowed) clearGroups();
    orderDirty = true;
    scrollTo(0);
    frame.schedule();
  });
  scope.listen(columnsButton, "click", () => setChooser(columnsPanel.hidden));
  scope.listen(showAll, "click", () => {
    hidden.clear();
    buildChooser();
    orderDirty = true;
    frame.schedule();
  });
  scope.listen(root, "keydown", (ev) => {
    if (ev.key !== "Escape") return;
    if (!columnsPanel.hidden) {
      setChooser(false);
      columnsButton.focus();
    } else if (detailKey !== null) closeDetail();
    else return;
    ev.stopPropagation();
  });
  scope.listen(detailClose, "click", closeDetail);
  // From the keyboard: Enter opens the first row in view; with a row open, the arrows step through
  // the rows in their shown order.
  scope.listen(scroller, "keydown", (ev) => {
    const step = ev.key === "ArrowDown" ? 1 : ev.key === "ArrowUp" ? -1 : 0;
    if (ev.key === "Enter" && detailKey === null) {
      const firstShown = Math.min(order.length - 1, Math.ceil(scroller.scrollTop / ROW_HEIGHT));
      if (firstShown >= 0 && order[firstShown]) openDetail(order[firstShown]!);
    } else if (step !== 0 && detailKey !== null && detailGrouped === (groupCol !== null)) {
      const at = order.indexOf(detailKey);
      const next = order[at + step];
      if (at < 0 || next === undefined) return;
      openDetail(next);
      // Keep the open row in view.
      const top = (at + step) * ROW_HEIGHT;
      const viewport = scroller.clientHeight || FALLBACK_VIEWPORT;
      if (top < scroller.scrollTop) scrollTo(top);
      else if (top + ROW_HEIGHT > scroller.scrollTop + viewport) scrollTo(top + ROW_HEIGHT - viewport);
    } else return;
    ev.preventDefault();
  });
  scope.listen(tbody, "click", (ev) => {
    const tr = (ev.target as Element | null)?.closest("tr.rtw-row");
    const pr = tr ? pool.find((p) => p.tr === tr) : undefined;
    if (pr?.key != null && pr.key !== "") openDetail(pr.key);
  });
  const sortBy = (target: EventTarget | null): void => {
    // A column named "" sorts like any other: only a header with no column is ignored.
    const col = (target as Element | null)?.closest("th")?.getAttribute("data-column");
    if (col == null) return;
    // asc → desc → unsorted (arrival order)
    if (sortCol !== col) {
      sortCol = col;
      sortDir = "asc";
    } else if (sortDir === "asc") sortDir = "desc";
    else sortCol = null;
    orderDirty = true;
    markSort();
    frame.schedule();
  };
  scope.listen(headRow, "click", (ev) => sortBy(ev.target));
  scope.listen(headRow, "keydown", (ev) => {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    ev.preventDefault();
    sortBy(ev.target);
  });
  scope.listen(
    scroller,
    "scroll",
    () => {
      measureScroll = true;
      frame.schedule();
    },
    { passive: true },
  );
  if (typeof ResizeObserver === "function") {
    // Layout is up to date when a resize observer runs: reading it there costs nothing.
    const ro = new ResizeObserver(() => {
      readScroll();
      frame.schedule();
    });
    ro.observe(scroller);
    scope.add(() => ro.disconnect());
  }

  render();
  return () => scope.dispose();
}
