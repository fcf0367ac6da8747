// The view side of the comm contract on its own: every descriptor is one the grammar knows and names
// only enums and shapes that exist, and the typed helpers send what the kernel expects. Whether it
// agrees with the kernel's side is tests/widgets/test_contract.py.
import { describe, expect, it } from "vitest";
import { CONTRACT, ENUMS, SHAPES, isStatus, requestSnapshot, sendCommand } from "./contract";
import { FakeModel } from "./testing/fake_model";

const PRIMITIVES = new Set(["string", "integer", "number", "boolean", "any", "model", "object"]);

/** Why `d` is not a valid descriptor, or null. */
function problem(d: string): string | null {
  if (d.endsWith("|null")) return problem(d.slice(0, -"|null".length));
  if (PRIMITIVES.has(d)) return null;
  const inner = /^(list|map)<(.+)>$/.exec(d);
  if (inner) return problem(inner[2]!);
  if (Object.hasOwn(ENUMS, d) || Object.hasOwn(SHAPES, d)) return null;
  return `unknown descriptor ${JSON.stringify(d)}`;
}

function fieldProblems(where: string, fields: Record<string, string>): string[] {
  return Object.entries(fields).flatMap(([name, d]) => {
    const p = problem(d);
    return p === null ? [] : [`${where}.${name}: ${p}`];
  });
}

describe("comm contract", () => {
  it("uses only descriptors of the grammar, and every name resolves", () => {
    const problems: string[] = [];
    for (const [name, fields] of Object.entries(SHAPES)) problems.push(...fieldProblems(`shapes.${name}`, fields));
    for (const [name, iface] of Object.entries(CONTRACT.interfaces)) {
      problems.push(...fieldProblems(`${name}.traits`, iface.traits));
      for (const [kind, fields] of Object.entries(iface.to_view)) problems.push(...fieldProblems(`${name}.to_view.${kind}`, fields));
      for (const [kind, fields] of Object.entries(iface.to_kernel)) problems.push(...fieldProblems(`${name}.to_kernel.${kind}`, fields));
    }
    expect(problems).toEqual([]);
    expect(problem("list<Nope>")).toContain("Nope");
  });

  it("gives every view interface its _view trait and the data views their deltas", () => {
    for (const [name, iface] of Object.entries(CONTRACT.interfaces)) {
      if (iface.view === null) continue;
      expect(iface.view).toBe(name);
      expect(iface.traits).toHaveProperty("_view", "string");
    }
    for (const name of ["table", "metrics", "notifications", "chart"] as const) {
      const iface = CONTRACT.interfaces[name];
      // Table, metrics and chart deltas may also come packed (sync.ts unpacks them).
      const packed = name === "notifications" ? [] : ["packed"];
      // A large table's views are sent their visible window (window.ts).
      const windows = name === "table" ? ["window"] : [];
      expect(Object.keys(iface.to_view).sort()).toEqual(["bundle", "delta", "live", ...packed, "snapshot", "waiting", ...windows]);
      expect(iface.to_view.delta.seq).toBe("integer");
      // A table's views also name their window (window.ts).
      const { window: named, ...common } = iface.to_kernel as Record<string, unknown>;
      expect(named === undefined).toBe(name !== "table");
      expect(common).toEqual({
        snapshot_request: {},
        pause: {},
        resume: {},
        presence: { view: "string", lease: "number", "page?": "string" },
      });
      expect(iface.traits.paused).toBe("boolean");
    }
    // The explorer is a connection: it has every connection trait and takes every command.
    const { connection, realtime } = CONTRACT.interfaces;
    expect(realtime.traits).toMatchObject(connection.traits);
    expect(realtime.to_kernel).toEqual({ ...connection.to_kernel, presence: { view: "string", lease: "number", "page?": "string" } });
  });

  it("knows exactly the contract's statuses", () => {
    for (const status of ENUMS.Status) expect(isStatus(status)).toBe(true);
    for (const other of ["", "Connected", "paused", null, 1, undefined]) expect(isStatus(other)).toBe(false);
  });

  it("sends commands and snapshot requests as the kernel parses them", () => {
    const model = new FakeModel();
    sendCommand(model, { kind: "send", type: "subscribe", payload: { ch: 1 } });
    sendCommand(model, { kind: "browser", event: "online" });
    requestSnapshot(model);
    expect(model.sent).toEqual([
      { kind: "send", type: "subscribe", payload: { ch: 1 } },
      { kind: "browser", event: "online" },
      { kind: "snapshot_request" },
    ]);
  });
});
