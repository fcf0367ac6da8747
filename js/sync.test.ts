import { afterEach, describe, expect, it, vi } from "vitest";
import { Scope } from "./dom";
import { type DeltaOf, SeqSync, type StateOf } from "./sync";
import { FakeModel } from "./testing/fake_model";
import { useFakeClock } from "./testing/helpers";

function setup(snapshot: unknown) {
  const model = new FakeModel({ _snapshot: snapshot });
  const log: string[] = [];
  const scope = new Scope();
  const sync = new SeqSync<"table">(model, {
    reset: (s: Partial<StateOf<"table">>) => log.push(`reset:${s.seq ?? "-"}`),
    apply: (d: DeltaOf<"table">) => log.push(`apply:${d.seq}`),
  }, scope);
  return { model, log, scope, sync };
}

afterEach(() => vi.useRealTimers());

describe("SeqSync", () => {
  it("starts from the snapshot trait and applies deltas in sequence", () => {
    const { model, log, sync } = setup({ seq: 4 });
    model.receive({ kind: "delta", seq: 5 });
    model.receive({ kind: "delta", seq: 6 });
    model.receive({ kind: "delta", seq: 6 }); // duplicate
    model.receive({ kind: "delta", seq: 3 }); // old
    expect(log).toEqual(["reset:4", "apply:5", "apply:6"]);
    expect(sync.seq).toBe(6);
    expect(model.sent).toEqual([]);
  });

  it("treats a missing snapshot as seq 0", () => {
    const { model, log } = setup(null);
    model.receive({ kind: "delta", seq: 1 });
    expect(log).toEqual(["reset:-", "apply:1"]);
  });

  it("requests a snapshot on a gap, then replays the deltas kept aside", () => {
    const { model, log, sync } = setup({ seq: 1 });
    model.receive({ kind: "delta", seq: 3 });
    expect(model.sent).toEqual([{ kind: "snapshot_request" }]);
    expect(sync.waiting).toBe(true);
    model.receive({ kind: "delta", seq: 5 });
    model.receive({ kind: "delta", seq: 4 });
    model.receive({ kind: "snapshot", seq: 3 });
    expect(log).toEqual(["reset:1", "reset:3", "apply:4", "apply:5"]);
    expect(sync.waiting).toBe(false);
    expect(sync.seq).toBe(5);
  });

  it("ignores an older throttled _snapshot but adopts a newer one", () => {
    const { model, log } = setup({ seq: 2 });
    model.receive({ kind: "delta", seq: 3 });
    model.set("_snapshot", { seq: 1 });
    model.set("_snapshot", { seq: 9 });
    model.receive({ kind: "delta", seq: 10 });
    expect(log).toEqual(["reset:2", "apply:3", "reset:9", "apply:10"]);
  });

  it("asks again when the snapshot reply is lost, and stops on dispose", () => {
    useFakeClock();
    const { model, scope } = setup({ seq: 0 });
    model.receive({ kind: "delta", seq: 2 });
    expect(model.sent).toHaveLength(1);
    vi.advanceTimersByTime(3100);
    expect(model.sent).toHaveLength(2);
    scope.dispose();
    expect(vi.getTimerCount()).toBe(0);
    expect(model.listenerCount()).toBe(0);
  });
});
