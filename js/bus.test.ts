import { afterEach, describe, expect, it, vi } from "vitest";
import { pageBus, pageId } from "./bus";
import { Scope } from "./dom";
import { type DeltaOf, SeqSync } from "./sync";
import { FakeModel } from "./testing/fake_model";

function view(route: string, seq = 0) {
  const model = new FakeModel({ _snapshot: { seq }, _route: route });
  const applied: DeltaOf<"table">[] = [];
  const scope = new Scope();
  const sync = new SeqSync<"table">(model, { reset: () => {}, apply: (d) => applied.push(d) }, scope);
  return { model, applied, scope, sync };
}

afterEach(() => vi.useRealTimers());

describe("page bus", () => {
  it("keeps one page id for every view of the page", () => {
    expect(pageId()).toMatch(/^p-/);
    expect(pageId()).toBe(pageBus().page);
  });

  it("hands each item of a bundle to the view of its route, with its own buffers", () => {
    const a = view("ra");
    const b = view("rb");
    const handed = pageBus().handed ?? 0;
    const data = new DataView(new ArrayBuffer(2));
    data.setUint8(0, 7);
    data.setUint8(1, 9);
    const packed = { kind: "packed", seq: 1, rows: [{ f: ["id"], c: [{ y: "u8", at: 0, n: 2, o: 0 }] }] };
    // The bundle comes on a's comm; b's delta carries the buffer.
    a.model.emit("msg:custom", {
      kind: "bundle",
      items: [
        { to: "ra", m: { kind: "delta", seq: 1, upsert: [{ id: "x" }] }, b: [] },
        { to: "rb", m: packed, b: [0] },
        { to: "elsewhere", m: { kind: "delta", seq: 1 }, b: [] },
      ],
    }, [data]);
    expect(a.applied.map((d) => d.upsert)).toEqual([[{ id: "x" }]]);
    expect(b.applied.map((d) => d.upsert)).toEqual([[{ id: 7 }, { id: 9 }]]);
    expect(a.sync.seq).toBe(1);
    expect(b.sync.seq).toBe(1);
    expect(pageBus().handed).toBe(handed + 2);
    a.scope.dispose();
    b.scope.dispose();
  });

  it("hands a bundle out once however many views of its carrier take it, even a paused one", () => {
    const carrier = view("rc");
    const twin = new SeqSync<"table">(carrier.model, { reset: () => {}, apply: () => {} }, new Scope());
    twin.hold();
    carrier.sync.hold();
    const other = view("ro");
    const bundle = { kind: "bundle", items: [{ to: "ro", m: { kind: "delta", seq: 1 }, b: [] }] };
    carrier.model.emit("msg:custom", bundle, []);
    expect(other.applied).toHaveLength(1);
    expect(carrier.applied).toHaveLength(0);
    carrier.scope.dispose();
    other.scope.dispose();
  });

  it("a view that missed a bundled delta asks for a snapshot; a gone view takes nothing", () => {
    const a = view("r1", 3);
    const b = view("r2", 3);
    b.scope.dispose();
    a.model.emit("msg:custom", {
      kind: "bundle",
      items: [{ to: "r1", m: { kind: "delta", seq: 5 }, b: [] }, { to: "r2", m: { kind: "delta", seq: 4 }, b: [] }],
    }, []);
    expect(a.model.sent).toEqual([{ kind: "snapshot_request" }]);
    expect(b.applied).toHaveLength(0);
    expect(pageBus().routes.has("r2")).toBe(false);
    a.scope.dispose();
    expect(pageBus().routes.has("r1")).toBe(false);
  });

  it("ignores malformed bundles and a bundle inside a bundle", () => {
    const a = view("rm");
    const carrier = view("rk");
    for (const bad of [{ kind: "bundle" }, { kind: "bundle", items: "x" }, { kind: "bundle", items: [null, { to: 3 }] }]) {
      carrier.model.emit("msg:custom", bad, []);
    }
    carrier.model.emit("msg:custom", {
      kind: "bundle",
      items: [{ to: "rm", m: { kind: "bundle", items: [{ to: "rm", m: { kind: "delta", seq: 1 }, b: [] }] }, b: [] }],
    }, []);
    expect(a.applied).toHaveLength(0);
    a.scope.dispose();
    carrier.scope.dispose();
  });

  it("a view with no route is on no bus", () => {
    const before = pageBus().routes.size;
    const model = new FakeModel({ _snapshot: { seq: 0 } });
    const scope = new Scope();
    new SeqSync<"table">(model, { reset: () => {}, apply: () => {} }, scope);
    expect(pageBus().routes.size).toBe(before);
    scope.dispose();
  });
});
