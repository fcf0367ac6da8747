// Visible-window sync, view side: a table past the kernel's WINDOW_AT rows is held as the window the
// view shows (rt_widgets/window.py). The view names its window (`window` request: first row, how many,
// sort, filter) when it changes and with every presence beat; the kernel sends back `window` messages
// with the keys in it, the rows new to it and the changed fields of the others, and the counts.
import { canonicalJson, type TableData } from "./table";
import { isRecord } from "./dom";

/** The most rows a window holds (the kernel's MAX_WINDOW_ROWS). */
export const MAX_WINDOW_ROWS = 500;

/** What the view asks for. */
export interface WindowAsk {
  start: number;
  count: number;
  sort: string | null;
  desc: boolean;
  filter: string;
}

let counter = 0;

export class TableWindow {
  /** This view's id in its requests (the kernel sends each view its own window). */
  readonly id: string;
  /** The window's first row among the `total` the filter keeps; `size`: rows in the table. */
  start = 0;
  total = 0;
  size = 0;
  /** The window's keys (row ids, as TableData's), in order. */
  keys: string[] = [];
  private asked: WindowAsk | null = null;
  private askedGroup: string | null = null;

  constructor() {
    counter += 1;
    this.id = `w${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`;
  }

  /** The request to send for rows `first` to `last` in view, or null when the last one covers them.
   * Grouped by `group`, the kernel sends every group whatever the range (the view sorts them). */
  ask(
    first: number,
    last: number,
    sort: string | null,
    desc: boolean,
    filter: string,
    again = false,
    group: string | null = null,
  ): (WindowAsk & { kind: "window"; view: string; group?: string }) | null {
    const grouped = group !== null;
    const start = grouped ? 0 : Math.max(0, first);
    const count = grouped ? 1 : Math.max(1, Math.min(MAX_WINDOW_ROWS, last - start));
    const by = grouped ? null : sort;
    // Unsorted, the direction means nothing: views that show table order share one order.
    const want: WindowAsk = { start, count, sort: by, desc: by !== null && desc, filter };
    const a = this.asked;
    const same =
      a !== null &&
      this.askedGroup === group &&
      a.sort === want.sort &&
      a.desc === want.desc &&
      a.filter === filter &&
      a.start === want.start &&
      a.count === want.count;
    if (same && !again) return null;
    this.asked = want;
    this.askedGroup = group;
    return { kind: "window", view: this.id, ...want, ...(grouped ? { group } : {}) };
  }

  /** Forget what was asked (the view reset): the next `ask` sends. */
  forget(): void {
    this.asked = null;
  }

  /** Applies a `window` message to `data` (the rows the view holds); false when it is not this
   * view's. Rows outside the new order are dropped, so `data` holds the window's rows only. */
  apply(msg: Record<string, unknown>, data: TableData, now: number): boolean {
    if (msg.view !== this.id) return false;
    if (msg.reset === true) {
      data.rows = new Map();
      data.flashes.clear();
      data.structureVersion++;
    }
    const upsert = Array.isArray(msg.upsert) ? msg.upsert.filter(isRecord) : [];
    data.apply(
      {
        kind: "delta",
        seq: 0,
        upsert,
        ...(Array.isArray(msg.columns) ? { columns: msg.columns.map(String) } : {}),
        ...(typeof msg.errors === "number" ? { errors: msg.errors, last_error: typeof msg.last_error === "string" ? msg.last_error : null } : {}),
      },
      now,
    );
    if (Array.isArray(msg.order)) {
      this.keys = msg.order.map(canonicalJson);
      const keep = new Set(this.keys);
      for (const k of Array.from(data.rows.keys())) if (!keep.has(k)) data.rows.delete(k);
      data.structureVersion++;
    }
    if (typeof msg.start === "number") this.start = msg.start;
    if (typeof msg.total === "number") this.total = msg.total;
    if (typeof msg.size === "number") this.size = msg.size;
    return true;
  }

  /** The view's order: `total` slots, the window's keys at their places, "" (no row) elsewhere. */
  order(): string[] {
    const out = new Array<string>(this.total).fill("");
    for (let i = 0; i < this.keys.length && this.start + i < this.total; i++) out[this.start + i] = this.keys[i]!;
    return out;
  }
}
