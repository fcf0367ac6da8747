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
import { pauseControl } from "./pause";
import { SeqSync } from "./sync";

export const ROW_HEIGHT = 26;
export const OVERSCAN = 6;
/** Used when the browser reports no layout (hidden output, jsdom). */
const FALLBACK_VIEWPORT = 360;
export const FLASH_MS = 700;
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
    this.rows = new Map();
    this.inferred = [];
    this.inferredSet = new Set();
    this.inferPending = false;
    this.flashes.clear();
    const rows: unknown[] = Array.isArray(state.rows) ? state.rows : [];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!isRecord(row)) continue;
      this.rows.set(this.keyOf(row, i), row);
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
        if (this.rows.delete(canonicalJson(k))) this.structureVersion++;
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

export function renderTable({ model, el, signal }: ViewProps<TableTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const data = new TableData();

  const filterBox = h("input", {
    class: "rtw-input rtw-table-filter",
    type: "search",
    placeholder: "Filter…",
    "aria-label": "Filter rows",
  });
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
  const root = h("div", { class: "rtw-root rtw-table" }, [
    h("div", { class: "rtw-toolbar" }, [filterBox, h("span", { class: "rtw-spacer" }), truncated, ignored, count]),
    scroller,
  ]);
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
  let countShown: [number, number] = [-1, -1];
  let padShown: [number, number] = [-1, -1];

  let sizedWithRows = false;
  /** Column widths from the header and a sample of rows, in `ch`: narrow ids, wide text. */
  const sizeColumns = (cols: string[]): void => {
    const widths = cols.map((c) => c.length + 2);
    let n = 0;
    for (const row of data.rows.values()) {
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
    const cols = data.columns;
    const sig = cols.join("\0");
    if (sig === shownColumns) {
      if (!sizedWithRows && data.rows.size > 0) sizeColumns(cols);
      return;
    }
    shownColumns = sig;
    colgroup.replaceChildren(...cols.map(() => h("col")));
    sizeColumns(cols);
    headRow.replaceChildren(
      ...cols.map((c) => {
        const label = h("span", { class: "rtw-th-label", text: clip(c) });
        // A long name shows cut; the whole of it is on hover.
        if (c.length > MAX_SHOWN_CHARS) label.title = c;
        const th = h("th", { scope: "col", "data-column": c, title: `Sort by ${clip(c)}`, tabindex: "0" }, [
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

  let lastViewAt = -Infinity;
  let lastViewCost = 0;
  let orderTimer: (() => void) | null = null;
  const refreshOrder = (): void => {
    const start = performance.now();
    order = data.view(filter, sortCol, sortDir);
    lastViewAt = performance.now();
    lastViewCost = lastViewAt - start;
    orderStructure = data.structureVersion;
    orderValues = data.valueVersion;
    orderDirty = false;
  };

  const fillRow = (pr: PoolRow, key: string, cols: string[], now: number): void => {
    // A key deleted since the order was last computed shows as an empty row until the next refresh.
    const row = data.rows.get(key) ?? NO_ROW;
    if (pr.key !== key) {
      pr.key = key;
      pr.tr.dataset.key = data.label(row, key);
    }
    const cells = pr.cells;
    while (cells.length < cols.length) {
      const text = document.createTextNode("");
      const td = h("td", {}, [text]);
      pr.tr.append(td);
      cells.push({ td, text, raw: undefined, shown: "", long: false, num: false, flash: false });
    }
    while (cells.length > cols.length) cells.pop()!.td.remove();
    const flashes = data.flashes.size > 0 ? data.flashes : null;
    for (let c = 0; c < cols.length; c++) {
      const cell = cells[c]!;
      const value = own(row, cols[c]!);
      // Only a cell whose value changed is formatted; its text node is updated in place.
      if (!Object.is(cell.raw, value)) {
        cell.raw = value;
        const text = cellText(value);
        if (text !== cell.shown) {
          cell.shown = text;
          cell.text.data = clip(text);
          // A long value shows cut; the whole of it is on hover.
          const long = text.length > MAX_SHOWN_CHARS;
          if (long || cell.long) cell.td.title = long ? text : "";
          cell.long = long;
        }
        // Numeric strings ("192.31") align as numbers; their text stays as the feed wrote it.
        const isNumber = typeof value === "number" || numeric(value) !== null;
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
      }
    }
  };

  const render = (): void => {
    buildHeader();
    const stale =
      orderStructure !== data.structureVersion || ((sortCol !== null || filter !== "") && orderValues !== data.valueVersion);
    if (orderDirty) refreshOrder();
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
    const total = data.rows.size;
    if (data.errors > 0) {
      setText(ignored, `${formatNumber(data.errors)} ${data.errors === 1 ? "row" : "rows"} ignored`);
      // The kernel's explanation (server text, shown as text): which key field was missing.
      if (ignored.title !== (data.lastError ?? "")) ignored.title = data.lastError ?? "";
    }
    setHidden(ignored, data.errors === 0);
    if (data.truncated > 0) {
      setText(truncated, `${formatNumber(data.truncated)} older ${data.truncated === 1 ? "row" : "rows"} not sent`);
    }
    setHidden(truncated, data.truncated === 0);
    if (order.length !== countShown[0] || total !== countShown[1]) {
      countShown = [order.length, total];
      setText(
        count,
        order.length === total
          ? `${formatNumber(total)} ${total === 1 ? "row" : "rows"}`
          : `${formatNumber(order.length)} of ${formatNumber(total)} rows`,
      );
    }

    const viewport = scroller.clientHeight || FALLBACK_VIEWPORT;
    const maxTop = Math.max(0, order.length * ROW_HEIGHT - viewport);
    const top = Math.min(scroller.scrollTop, maxTop);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(order.length, Math.ceil((top + viewport) / ROW_HEIGHT) + OVERSCAN);
    const cols = data.columns;
    const now = Date.now();

    while (pool.length < last - first) pool.push({ tr: h("tr", { class: "rtw-row" }), key: null, cells: [] });
    const rows: HTMLTableRowElement[] = [];
    for (let i = first; i < last; i++) {
      const pr = pool[i - first]!;
      fillRow(pr, order[i]!, cols, now);
      rows.push(pr.tr);
    }
    // Headers of numeric columns align with their cells; the first row in view decides.
    const sample = first < last ? data.rows.get(order[first]!) : undefined;
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
      frame.measure(() => data.reset(state));
      orderDirty = true;
      frame.schedule();
    },
    apply: (delta) => {
      frame.measure(() => data.apply(delta, Date.now()));
      frame.schedule();
    },
  }, scope);
  root.querySelector(".rtw-toolbar")?.append(pauseControl(model, sync, scope).el);

  scope.listen(filterBox, "input", () => {
    filter = filterBox.value;
    orderDirty = true;
    scroller.scrollTop = 0;
    frame.schedule();
  });
  const sortBy = (target: EventTarget | null): void => {
    const col = (target as Element | null)?.closest("th")?.getAttribute("data-column");
    if (!col) return;
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
  scope.listen(scroller, "scroll", () => frame.schedule(), { passive: true });
  if (typeof ResizeObserver === "function") {
    const ro = new ResizeObserver(() => frame.schedule());
    ro.observe(scroller);
    scope.add(() => ro.disconnect());
  }

  render();
  return () => scope.dispose();
}
