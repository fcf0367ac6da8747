import { afterEach, describe, expect, it, vi } from "vitest";
import { Scope } from "./dom";
import { type DeltaOf, SeqSync, type StateOf, unpackColumn, unpackDelta } from "./sync";
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

/** Little-endian bytes of `values` as `type`, in a buffer that starts at an odd offset. */
function bytesOf(type: "u8" | "i16" | "u32", values: number[]): DataView {
  const width = type === "u8" ? 1 : type === "i16" ? 2 : 4;
  const raw = new ArrayBuffer(1 + values.length * width);
  const view = new DataView(raw, 1);
  values.forEach((v, i) => {
    if (type === "u8") view.setUint8(i, v);
    else if (type === "i16") view.setInt16(i * 2, v, true);
    else view.setUint32(i * 4, v, true);
  });
  return view;
}

describe("packed deltas", () => {
  it("unpacks a packed table delta before the view sees it, rows in their order", () => {
    const model = new FakeModel({ _snapshot: { seq: 1 } });
    const applied: DeltaOf<"table">[] = [];
    new SeqSync<"table">(model, { reset: () => {}, apply: (d) => applied.push(d) }, new Scope());
    // progress as tenths (i16 at 0), the group of each row (u8 at 4)
    const data = new DataView(new ArrayBuffer(7));
    data.setInt16(0, 415, true);
    data.setInt16(2, -3, true);
    [1, 0, 0].forEach((g, i) => data.setUint8(4 + i, g));
    const packed = {
      kind: "packed",
      seq: 2,
      delete: ["gone"],
      rows: [
        { f: ["id", "progress"], c: [{ j: ["a", "b"] }, { y: "i16", at: 0, n: 2, o: 0, s: 1 }] },
        { f: ["id", "__proto__"], c: [{ j: ["c"] }, { j: ["x"] }] },
      ],
      order: { y: "u8", at: 4, n: 3, o: 0 },
    };
    model.emit("msg:custom", packed, [data]);
    expect(applied).toHaveLength(1);
    const upsert = applied[0]!.upsert!;
    expect(upsert.map((r) => r.id)).toEqual(["c", "a", "b"]);
    expect(upsert[1]!.progress).toBe(41.5);
    expect(upsert[2]!.progress).toBe(-0.3);
    expect(Object.getPrototypeOf(upsert[0])).toBe(Object.prototype); // __proto__ is a field
    expect(Object.prototype.hasOwnProperty.call(upsert[0], "__proto__")).toBe(true);
    expect(applied[0]!.delete).toEqual(["gone"]);
    expect(applied[0]!.kind).toBe("delta");
  });

  it("drops a packed delta that does not unpack, and the next delta asks for a snapshot", () => {
    const model = new FakeModel({ _snapshot: { seq: 1 } });
    const applied: number[] = [];
    new SeqSync<"table">(model, { reset: () => {}, apply: (d) => applied.push(d.seq) }, new Scope());
    const packed = { kind: "packed", seq: 2, rows: [{ f: ["id"], c: [{ y: "u8", at: 0, n: 4, o: 0 }] }] };
    model.emit("msg:custom", packed, [bytesOf("u8", [1, 2])]); // 4 bytes wanted, 2 given
    expect(applied).toEqual([]);
    model.receive({ kind: "delta", seq: 3 });
    expect(model.sent).toEqual([{ kind: "snapshot_request" }]);
  });

  it("reads times as differences and fills in the latest values of metrics", () => {
    const t0 = 1_764_640_000_123_456;
    const delta = unpackDelta(
      {
        kind: "packed",
        seq: 4,
        latest: { mem: 7 },
        points: [
          { n: "cpu", t: { y: "u32", at: 0, n: 3, o: t0, s: 6, d: true }, v: { y: "u8", at: 12, n: 3, o: 40, s: 1, k: undefined } },
          { n: "mem", v: { j: [1, 2, 3] } },
        ],
      },
      [(() => {
        const d = new DataView(new ArrayBuffer(15));
        [0, 1000, 2500].forEach((x, i) => d.setUint32(i * 4, x, true));
        [0, 5, 9].forEach((x, i) => d.setUint8(12 + i, x));
        return d;
      })()],
    );
    expect(delta).not.toBeNull();
    const cpu = (delta!.append as Record<string, number[][]>).cpu!;
    expect(cpu.map((p) => p[0])).toEqual([t0 / 1e6, (t0 + 1000) / 1e6, (t0 + 3500) / 1e6]);
    expect(cpu.map((p) => p[1])).toEqual([4, 4.5, 4.9]);
    expect(delta!.latest).toEqual({ cpu: 4.9, mem: 7 });
  });

  it("reads repeated text as indexes and refuses an index past the texts", () => {
    expect(unpackColumn({ y: "i16", at: 0, n: 3, o: 0, k: ["on", "off"] }, bytesOf("i16", [1, 0, 1]))).toEqual([
      "off",
      "on",
      "off",
    ]);
    expect(unpackColumn({ y: "i16", at: 0, n: 1, o: 0, k: ["on"] }, bytesOf("i16", [1]))).toBeNull();
    expect(unpackColumn({ y: "f32", at: 0, n: 1, o: 0 }, bytesOf("u32", [1]))).toBeNull();
    expect(unpackColumn({ y: "u8", at: 0, n: 1, o: 0 }, null)).toBeNull();
  });
});
