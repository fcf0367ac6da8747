// The seq/delta/snapshot rules shared by the data views (table, metrics, notifications).
//
// A view holds the state of one `seq`. It applies the delta numbered seq + 1, ignores any it already has,
// and on a gap asks the kernel for a snapshot, keeping later deltas aside so that the snapshot plus the
// deltas after it bring the view up to date without a second round trip.
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
    scope.on(model, "msg:custom", (msg: unknown) => this.onMessage(msg));
    scope.on(model, "change:_snapshot", () => {
      if (this.held) return;
      const snap: unknown = model.get("_snapshot");
      if (isRecord(snap)) this.onSnapshot(snap as Partial<StateOf<I>>);
    });
  }

  /** A custom message from the kernel. Only its kind and seq are checked here: the target reads
   * every other field defensively, since a kernel of another version may send other shapes. */
  onMessage(msg: unknown): void {
    if (!isRecord(msg) || this.held) return;
    if (msg.kind === "delta") this.onDelta(msg);
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
