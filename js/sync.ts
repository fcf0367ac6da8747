// The seq/delta/snapshot rules shared by the data views (table, metrics, notifications).
//
// A view holds the state of one `seq`. It applies the delta numbered seq + 1, ignores any it already has,
// and on a gap asks the kernel for a snapshot, keeping later deltas aside so that the snapshot plus the
// deltas after it bring the view up to date without a second round trip.
import { type Model, type Scope, isRecord } from "./dom";

export type State = Record<string, any>;
export type Delta = Record<string, any> & { seq: number };

export interface SyncTarget {
  /** Replace the whole state (initial `_snapshot`, a newer `_snapshot`, or a snapshot reply). */
  reset(state: State): void;
  /** Apply one delta, already checked to be the next in sequence. */
  apply(delta: Delta): void;
}

/** How long to wait for a snapshot reply before asking again (a lost reply must not stall the view). */
const RETRY_MS = 3000;
/** Deltas kept while waiting; beyond this the snapshot alone is trusted to carry the state. */
const MAX_BUFFER = 2000;

export class SeqSync {
  seq = 0;
  waiting = false;
  private buffer: Delta[] = [];
  private cancelRetry: (() => void) | null = null;

  constructor(
    private model: Model,
    private target: SyncTarget,
    private scope: Scope,
  ) {
    const initial = model.get("_snapshot");
    const state = isRecord(initial) ? initial : {};
    this.seq = seqOf(state) ?? 0;
    target.reset(state);
    scope.on(model, "msg:custom", (msg: unknown) => this.onMessage(msg));
    scope.on(model, "change:_snapshot", () => {
      const snap = model.get("_snapshot");
      if (isRecord(snap)) this.onSnapshot(snap);
    });
  }

  onMessage(msg: unknown): void {
    if (!isRecord(msg)) return;
    if (msg.kind === "delta") this.onDelta(msg);
    else if (msg.kind === "snapshot") this.onSnapshot(msg);
  }

  private onDelta(msg: Record<string, any>): void {
    const seq = seqOf(msg);
    if (seq === null) return;
    const delta = msg as Delta;
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

  private onSnapshot(snap: Record<string, any>): void {
    const seq = seqOf(snap) ?? 0;
    // The `_snapshot` trait is throttled and may be older than the deltas already applied.
    if (seq <= this.seq) return;
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
    this.model.send({ kind: "snapshot_request" });
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

function seqOf(obj: Record<string, any>): number | null {
  const seq = obj.seq;
  return typeof seq === "number" && Number.isInteger(seq) ? seq : null;
}
