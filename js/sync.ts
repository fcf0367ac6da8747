// The seq/delta/snapshot rules shared by the data views (table, metrics, notifications).
//
// A view holds the state of one `seq`. It applies the delta numbered seq + 1, ignores any it already has,
// and on a gap asks the kernel for a snapshot, keeping later deltas aside so that the snapshot plus the
// deltas after it bring the view up to date without a second round trip.
import { deliverBundle, joinBus } from "./bus";
import { type ModelOf, type ToView, type TraitsOf, requestSnapshot } from "./contract";
import { type Scope, isRecord } from "./dom";

/** The interfaces of the data views (contract.ts). */
export type DataInterface = "table" | "metrics" | "notifications" | "chart" | "log";
/** The whole state of a data view: its `_snapshot` trait and the `snapshot` message. */
export type StateOf<I extends DataInterface> = TraitsOf<I>["_snapshot"];
export type DeltaOf<I extends DataInterface> = Extract<ToView<I>, { kind: "delta" }> & { seq: number };

export interface SyncTarget<I extends DataInterface> {
  /** Replace the whole state (initial `_snapshot`, a newer `_snapshot`, or a snapshot reply). */
  reset(state: Partial<StateOf<I>>): void;
  /** Apply one delta, already checked to be the next in sequence. */
  apply(delta: DeltaOf<I>): void;
}

/** What SeqSync needs of a data view's model. */
export type SyncModel<I extends DataInterface> = Pick<ModelOf<I>, "get" | "send" | "on" | "off">;

/** How long to wait for a snapshot reply before asking again (a lost reply must not stall the view). */
const RETRY_MS = 3000;
/** Deltas kept while waiting; beyond this the snapshot alone is trusted to carry the state. */
const MAX_BUFFER = 2000;

export class SeqSync<I extends DataInterface> {
  seq = 0;
  waiting = false;
  /** Paused (hold()): every delta and snapshot is dropped, so the view's picture holds still. */
  held = false;
  private buffer: DeltaOf<I>[] = [];
  private cancelRetry: (() => void) | null = null;

  constructor(
    private model: SyncModel<I>,
    private target: SyncTarget<I>,
    private scope: Scope,
  ) {
    const initial: unknown = model.get("_snapshot");
    const state = isRecord(initial) ? (initial as Partial<StateOf<I>>) : {};
    this.seq = seqOf(state) ?? 0;
    target.reset(state);
    scope.on(model, "msg:custom", (msg: unknown, buffers: unknown) => this.onMessage(msg, buffers));
    // This view's messages that come bundled on another view's comm (bus.ts); never a bundle.
    joinBus(model.get("_route"), (msg, buffers) => {
      if (!(isRecord(msg) && msg.kind === "bundle")) this.onMessage(msg, buffers);
    }, scope);
    scope.on(model, "change:_snapshot", () => {
      if (this.held) return;
      const snap: unknown = model.get("_snapshot");
      if (isRecord(snap)) this.onSnapshot(snap as Partial<StateOf<I>>);
    });
  }

  /** A custom message from the kernel. Only its kind and seq are checked here: the target reads
   * every other field defensively, since a kernel of another version may send other shapes. */
  onMessage(msg: unknown, buffers?: unknown): void {
    if (!isRecord(msg)) return;
    // Several views' deltas, this one's among them or not: handed out whether or not this one holds.
    if (msg.kind === "bundle") {
      deliverBundle(msg, buffers);
      return;
    }
    if (this.held) return;
    if (msg.kind === "delta") this.onDelta(msg);
    else if (msg.kind === "packed") {
      // A packed delta that does not unpack is dropped: the next delta shows the gap.
      const delta = unpackDelta(msg, buffers);
      if (delta !== null) this.onDelta(delta);
    }
    else if (msg.kind === "snapshot") this.onSnapshot(msg as Partial<StateOf<I>>);
  }

  private onDelta(msg: Record<string, unknown>): void {
    const seq = seqOf(msg);
    if (seq === null) return;
    const delta = msg as DeltaOf<I>;
    if (this.waiting) {
      if (seq > this.seq && this.buffer.length < MAX_BUFFER) this.buffer.push(delta);
      return;
    }
    if (seq <= this.seq) return;
    if (seq === this.seq + 1) {
      this.target.apply(delta);
      this.seq = seq;
      return;
    }
    this.buffer.push(delta);
    this.request();
  }

  /** Pause: drop everything the kernel sends until release(). */
  hold(): void {
    this.held = true;
    this.buffer = [];
    this.settle();
  }

  /**
   * Resume: the view's state is behind by whatever it dropped. The kernel answers a resume with a
   * snapshot; until it comes deltas wait, and if none comes within RETRY_MS the view asks for one.
   */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.buffer = [];
    this.waiting = true;
    this.cancelRetry?.();
    this.cancelRetry = this.scope.timeout(() => {
      this.cancelRetry = null;
      if (this.waiting) this.request();
    }, RETRY_MS);
  }

  private onSnapshot(snap: Partial<StateOf<I>>): void {
    const seq = seqOf(snap) ?? 0;
    // The `_snapshot` trait is throttled and may be older than the deltas already applied. While
    // waiting, a snapshot of the view's own seq will do (after a pause nothing may have changed).
    if (seq < this.seq || (seq === this.seq && !this.waiting)) return;
    this.target.reset(snap);
    this.seq = seq;
    this.settle();
    this.replay();
  }

  private replay(): void {
    const pending = this.buffer.sort((a, b) => a.seq - b.seq);
    this.buffer = [];
    for (let i = 0; i < pending.length; i++) {
      const delta = pending[i]!;
      if (delta.seq <= this.seq) continue;
      if (delta.seq !== this.seq + 1) {
        this.buffer = pending.slice(i);
        this.request();
        return;
      }
      this.target.apply(delta);
      this.seq = delta.seq;
    }
  }

  private request(): void {
    this.waiting = true;
    requestSnapshot(this.model);
    this.cancelRetry?.();
    this.cancelRetry = this.scope.timeout(() => {
      this.cancelRetry = null;
      if (this.waiting) this.request();
    }, RETRY_MS);
  }

  private settle(): void {
    this.waiting = false;
    this.cancelRetry?.();
    this.cancelRetry = null;
  }
}

function seqOf(obj: { seq?: unknown }): number | null {
  const seq = obj.seq;
  return typeof seq === "number" && Number.isInteger(seq) ? seq : null;
}

// -- the delta codec (rt_widgets/sync.py packs; contract.ts: PackedColumn, PackedRows, PackedPoints) --

/** Bytes per integer of each column type. */
const WIDTHS = new Map<unknown, number>([
  ["i8", 1],
  ["u8", 1],
  ["i16", 2],
  ["u16", 2],
  ["u24", 3],
  ["i32", 4],
  ["u32", 4],
]);
const MAX_DECIMALS = 6;

function intOf(v: unknown, min = 0): number | null {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min ? v : null;
}

function readInt(data: DataView, type: unknown, at: number): number {
  switch (type) {
    case "i8": return data.getInt8(at);
    case "u8": return data.getUint8(at);
    case "i16": return data.getInt16(at, true);
    case "u16": return data.getUint16(at, true);
    case "u24": return data.getUint16(at, true) + data.getUint8(at + 2) * 65536;
    case "i32": return data.getInt32(at, true);
    default: return data.getUint32(at, true);
  }
}

/** The first buffer of a custom message as a DataView (ipywidgets hands over DataViews, ArrayBuffers
 * or typed arrays, depending on the host). */
export function firstBuffer(buffers: unknown): DataView | null {
  const b: unknown = Array.isArray(buffers) ? buffers[0] : undefined;
  if (b instanceof DataView) return b;
  if (ArrayBuffer.isView(b)) return new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b instanceof ArrayBuffer) return new DataView(b);
  return null;
}

/** One packed column's values (null: malformed). Integers N are read as N, or N / 10**s. */
export function unpackColumn(col: unknown, data: DataView | null): unknown[] | null {
  if (!isRecord(col)) return null;
  if (col.j !== undefined) return Array.isArray(col.j) ? col.j : null;
  const width = WIDTHS.get(col.y);
  const n = intOf(col.n);
  const at = intOf(col.at);
  const o = intOf(col.o, -Number.MAX_SAFE_INTEGER);
  const s = col.s === undefined ? 0 : intOf(col.s);
  if (width === undefined || n === null || at === null || o === null || s === null || s > MAX_DECIMALS) return null;
  if (data === null || at + n * width > data.byteLength) return null;
  const scale = col.i === true ? 1 : 10 ** s;
  const diff = col.d === true;
  const out: number[] = new Array<number>(n);
  let acc = o;
  for (let i = 0; i < n; i++) {
    const x = readInt(data, col.y, at + i * width);
    const whole = diff ? (acc += x) : o + x;
    out[i] = scale === 1 ? whole : whole / scale;
  }
  if (col.p !== undefined) {
    // Numbered ids: the prefix, then the number zero-padded to w digits.
    const width = col.w === undefined ? 1 : intOf(col.w, 1);
    if (typeof col.p !== "string" || width === null || width > 15) return null;
    const prefix = col.p;
    if (!out.every((x) => Number.isSafeInteger(x) && x >= 0)) return null;
    return out.map((x) => prefix + String(x).padStart(width, "0"));
  }
  if (col.k === undefined) return out;
  const texts = col.k;
  if (!Array.isArray(texts)) return null;
  const words: unknown[] = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const word: unknown = texts[out[i]!];
    if (typeof word !== "string") return null;
    words[i] = word;
  }
  return words;
}

/** A table view's `window` message with its packed rows (`rows`, `groups`) as `upsert`, or null
 * when they do not unpack. */
export function unpackWindow(msg: Record<string, unknown>, buffers: unknown): Record<string, unknown> | null {
  if (msg.rows === undefined) return msg;
  const upsert = unpackRows(msg.rows, msg.groups, firstBuffer(buffers));
  if (upsert === null) return null;
  const out: Record<string, unknown> = { ...msg, upsert };
  delete out.rows;
  delete out.groups;
  return out;
}

/** Rows of every group, in `order` (each row's group) when given. */
function unpackRows(groups: unknown, order: unknown, data: DataView | null): Record<string, unknown>[] | null {
  if (!Array.isArray(groups)) return null;
  const made: Record<string, unknown>[][] = [];
  for (const group of groups) {
    if (!isRecord(group) || !Array.isArray(group.f) || !Array.isArray(group.c)) return null;
    const names = group.f;
    if (names.length !== group.c.length || !names.every((f) => typeof f === "string")) return null;
    const cols: unknown[][] = [];
    for (const c of group.c) {
      const values = unpackColumn(c, data);
      if (values === null || (cols.length > 0 && values.length !== cols[0]!.length)) return null;
      cols.push(values);
    }
    const count = cols.length > 0 ? cols[0]!.length : 0;
    const rows: Record<string, unknown>[] = [];
    // Own data properties, as JSON.parse makes them (a field named __proto__ stays a field).
    for (let r = 0; r < count; r++) rows.push(Object.fromEntries(names.map((f, j) => [f, cols[j]![r]])));
    made.push(rows);
  }
  if (order === undefined) return made.flat();
  const which = unpackColumn(order, data);
  if (which === null) return null;
  const next = made.map(() => 0);
  const out: Record<string, unknown>[] = [];
  for (const g of which) {
    const rows = typeof g === "number" ? made[g] : undefined;
    const row = rows?.[next[g as number]!++];
    if (row === undefined) return null;
    out.push(row);
  }
  return out;
}

/** Metrics points as `{name: [[t, v], ...]}` (with `latest` filled in), or chart columns. */
function unpackPoints(
  points: unknown,
  latest: unknown,
  data: DataView | null,
): { append: unknown; latest?: Record<string, unknown> } | null {
  if (!Array.isArray(points)) return null;
  const byName = points.some((p) => isRecord(p) && p.n !== undefined);
  const entries: [string, number[][]][] = [];
  const columns: { s: number; t?: number[]; v: number[] }[] = [];
  let times: number[] = [];
  for (const p of points) {
    if (!isRecord(p)) return null;
    const v = unpackColumn(p.v, data) as number[] | null;
    const t = p.t === undefined ? null : (unpackColumn(p.t, data) as number[] | null);
    if (v === null || (p.t !== undefined && t === null)) return null;
    if (byName) {
      if (typeof p.n !== "string") return null;
      if (t !== null) times = t;
      if (times.length !== v.length) return null;
      entries.push([p.n, v.map((value, i) => [times[i]!, value])]);
    } else {
      const s = intOf(p.s);
      if (s === null) return null;
      columns.push(t === null ? { s, v } : { s, t, v });
    }
  }
  if (!byName) return { append: columns };
  const given = isRecord(latest) ? latest : {};
  const last: [string, unknown][] = [];
  for (const [name, pts] of entries) {
    if (Object.prototype.hasOwnProperty.call(given, name)) last.push([name, given[name]]);
    else if (pts.length > 0) last.push([name, pts[pts.length - 1]![1]]);
  }
  return { append: Object.fromEntries(entries), latest: Object.fromEntries(last) };
}

/** The delta a packed message carries (null: malformed); its other fields pass through. */
export function unpackDelta(msg: Record<string, unknown>, buffers: unknown): Record<string, unknown> | null {
  const data = firstBuffer(buffers);
  const delta: Record<string, unknown> = Object.fromEntries(
    Object.entries(msg).filter(([name]) => name !== "rows" && name !== "order" && name !== "points"),
  );
  delta.kind = "delta";
  if (msg.rows !== undefined) {
    const upsert = unpackRows(msg.rows, msg.order, data);
    if (upsert === null) return null;
    delta.upsert = upsert;
  }
  if (msg.points !== undefined) {
    const unpacked = unpackPoints(msg.points, msg.latest, data);
    if (unpacked === null) return null;
    delta.append = unpacked.append;
    if (unpacked.latest !== undefined) delta.latest = unpacked.latest;
  }
  return delta;
}
