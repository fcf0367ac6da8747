import { describe, expect, it } from "vitest";
import { TableData } from "./table";
import { MAX_WINDOW_ROWS, TableWindow } from "./window";

/** A TableData as a windowed view holds it: key `id`, declared columns, the given rows. */
function held(rows: Record<string, unknown>[]): TableData {
  const data = new TableData();
  data.reset({ key: "id", columns: ["id", "name", "n"], rows });
  return data;
}

const keysOf = (data: TableData) => Array.from(data.rows.keys());

describe("TableWindow.ask", () => {
  it("names the range, sort and filter once, then only when one of them changes", () => {
    const win = new TableWindow();
    expect(win.ask(10, 30, null, false, "")).toEqual({
      kind: "window",
      view: win.id,
      start: 10,
      count: 20,
      sort: null,
      desc: false,
      filter: "",
    });
    expect(win.ask(10, 30, null, false, "")).toBeNull();
    expect(win.ask(11, 31, null, false, "")).toMatchObject({ start: 11, count: 20 });
    expect(win.ask(11, 40, null, false, "")).toMatchObject({ start: 11, count: 29 });
    expect(win.ask(11, 40, "n", false, "")).toMatchObject({ sort: "n", desc: false });
    expect(win.ask(11, 40, "n", false, "")).toBeNull();
    expect(win.ask(11, 40, "n", true, "")).toMatchObject({ sort: "n", desc: true });
    expect(win.ask(11, 40, "n", true, "abc")).toMatchObject({ filter: "abc", start: 11, count: 29 });
    expect(win.ask(11, 40, "n", true, "abc")).toBeNull();
    // Back to no sort is a change too.
    expect(win.ask(11, 40, null, true, "abc")).toMatchObject({ sort: null });
  });

  it("asks again when told to (the beat), with the same window", () => {
    const win = new TableWindow();
    const first = win.ask(0, 18, "name", true, "x");
    expect(first).not.toBeNull();
    expect(win.ask(0, 18, "name", true, "x", true)).toEqual(first);
    expect(win.ask(0, 18, "name", true, "x", true)).toEqual(first);
    expect(win.ask(0, 18, "name", true, "x")).toBeNull();
  });

  it("asks anew after forget", () => {
    const win = new TableWindow();
    expect(win.ask(5, 10, null, false, "")).not.toBeNull();
    expect(win.ask(5, 10, null, false, "")).toBeNull();
    win.forget();
    expect(win.ask(5, 10, null, false, "")).toMatchObject({ start: 5, count: 5 });
  });

  it("asks once for an unsorted window whatever the direction, and grouped, once whatever the range", () => {
    const win = new TableWindow();
    expect(win.ask(0, 10, null, true, "")).toMatchObject({ sort: null, desc: false });
    expect(win.ask(0, 10, null, true, "")).toBeNull();
    const grouped = win.ask(40, 60, "n", true, "x", false, "name");
    expect(grouped).toMatchObject({ start: 0, count: 1, sort: null, desc: false, filter: "x", group: "name" });
    expect(win.ask(500, 530, "n", false, "x", false, "name")).toBeNull();
    expect(win.ask(500, 530, "n", false, "x", false, null)).not.toHaveProperty("group");
  });

  it("never starts before row 0, asks at least one row and at most MAX_WINDOW_ROWS", () => {
    const win = new TableWindow();
    // Rows before the first are not counted: the window is the rows from 0 to the last.
    expect(win.ask(-2, 16, null, false, "")).toMatchObject({ start: 0, count: 16 });
    expect(win.ask(-50, -10, null, false, "")).toMatchObject({ start: 0, count: 1 });
    expect(win.ask(0, 100_000, null, false, "")).toMatchObject({ start: 0, count: MAX_WINDOW_ROWS });
    expect(win.ask(700, 700 + MAX_WINDOW_ROWS + 1, null, false, "")).toMatchObject({ start: 700, count: MAX_WINDOW_ROWS });
    expect(win.ask(7, 7, null, false, "")).toMatchObject({ start: 7, count: 1 });
    expect(win.ask(9, 3, null, false, "")).toMatchObject({ start: 9, count: 1 });
  });

  it("gives each view its own id", () => {
    const ids = new Set(Array.from({ length: 20 }, () => new TableWindow().id));
    expect(ids.size).toBe(20);
    const a = new TableWindow();
    const b = new TableWindow();
    expect(a.ask(0, 10, null, false, "")!.view).toBe(a.id);
    expect(b.ask(0, 10, null, false, "")!.view).toBe(b.id);
  });
});

describe("TableWindow.apply", () => {
  it("ignores another view's window and leaves the data alone", () => {
    const win = new TableWindow();
    const data = held([{ id: "a", name: "A", n: 1 }]);
    const version = [data.structureVersion, data.valueVersion];
    const other = new TableWindow();
    const msg = { kind: "window", view: other.id, start: 3, total: 9, size: 9, reset: true, order: ["z"], upsert: [{ id: "z", n: 1 }] };
    expect(win.apply(msg, data, 0)).toBe(false);
    expect(win.apply({ ...msg, view: undefined }, data, 0)).toBe(false);
    expect(keysOf(data)).toEqual(['"a"']);
    expect([data.structureVersion, data.valueVersion]).toEqual(version);
    expect([win.start, win.total, win.size, win.keys]).toEqual([0, 0, 0, []]);
    // The other view's own window applies to it.
    expect(other.apply(msg, data, 0)).toBe(true);
    expect(keysOf(data)).toEqual(['"z"']);
  });

  it("replaces the rows on reset, and takes the counts", () => {
    const win = new TableWindow();
    const data = held([{ id: "old", name: "O", n: 0 }]);
    data.flashes.set('"old"\0n', 1);
    const before = data.structureVersion;
    const rows = [
      { id: "b", name: "B", n: 2 },
      { id: "c", name: "C", n: 3 },
    ];
    expect(win.apply({ view: win.id, reset: true, start: 40, total: 4000, size: 5000, upsert: rows }, data, 5)).toBe(true);
    expect(keysOf(data)).toEqual(['"b"', '"c"']);
    expect(data.rows.get('"b"')).toEqual({ id: "b", name: "B", n: 2 });
    // Rows new to the view do not flash, and the old row's flash went with it.
    expect(data.flashes.size).toBe(0);
    expect(data.structureVersion).toBeGreaterThan(before);
    expect([win.start, win.total, win.size]).toEqual([40, 4000, 5000]);
  });

  it("drops the rows not in a new order and keeps its keys in the kernel's order", () => {
    const win = new TableWindow();
    const data = held([]);
    win.apply(
      {
        view: win.id,
        reset: true,
        start: 0,
        total: 3,
        size: 3,
        order: ["a", "b", "c"],
        upsert: ["a", "b", "c"].map((id, n) => ({ id, name: id.toUpperCase(), n })),
      },
      data,
      0,
    );
    expect(win.keys).toEqual(['"a"', '"b"', '"c"']);
    const before = data.structureVersion;
    // Sorted descending in the kernel: c, then a new row d; a and b left the window.
    win.apply({ view: win.id, start: 0, total: 4, size: 4, order: ["c", "d"], upsert: [{ id: "d", name: "D", n: 9 }] }, data, 0);
    expect(win.keys).toEqual(['"c"', '"d"']);
    expect(keysOf(data).sort()).toEqual(['"c"', '"d"']);
    expect(data.rows.get('"c"')).toEqual({ id: "c", name: "C", n: 2 });
    expect(data.structureVersion).toBeGreaterThan(before);
    // A message without an order keeps the one held.
    win.apply({ view: win.id, start: 0, total: 4, size: 4, upsert: [{ id: "c", n: 5 }] }, data, 0);
    expect(win.keys).toEqual(['"c"', '"d"']);
    expect(keysOf(data).sort()).toEqual(['"c"', '"d"']);
  });

  it("merges changed fields into the rows held and flashes only those", () => {
    const win = new TableWindow();
    const data = held([]);
    win.apply(
      { view: win.id, reset: true, start: 0, total: 2, size: 2, order: ["a", "b"], upsert: [{ id: "a", name: "A", n: 1 }, { id: "b", name: "B", n: 2 }] },
      data,
      100,
    );
    const values = data.valueVersion;
    win.apply({ view: win.id, start: 0, total: 2, size: 2, upsert: [{ n: 10, id: "a" }] }, data, 250);
    expect(data.rows.get('"a"')).toEqual({ id: "a", name: "A", n: 10 });
    expect(data.rows.get('"b"')).toEqual({ id: "b", name: "B", n: 2 });
    expect(Array.from(data.flashes)).toEqual([['"a"\0n', 250]]);
    expect(data.valueVersion).toBeGreaterThan(values);
    // The same value again is no change.
    win.apply({ view: win.id, upsert: [{ id: "a", n: 10 }] }, data, 300);
    expect(Array.from(data.flashes)).toEqual([['"a"\0n', 250]]);
  });

  it("tells key values of different kinds apart, as the kernel does", () => {
    const win = new TableWindow();
    const data = held([]);
    win.apply(
      { view: win.id, reset: true, start: 0, total: 2, size: 2, order: [1, "1"], upsert: [{ id: 1, name: "number" }, { id: "1", name: "text" }] },
      data,
      0,
    );
    expect(win.keys).toEqual(["1", '"1"']);
    expect(data.rows.get("1")!.name).toBe("number");
    expect(data.rows.get('"1"')!.name).toBe("text");
  });

  it("keys tuple-keyed rows by the array of their key values", () => {
    const win = new TableWindow();
    const data = new TableData();
    data.reset({ key: "a", keys: ["a", "b"], columns: ["a", "b", "v"], rows: [] });
    win.apply(
      { view: win.id, reset: true, start: 0, total: 2, size: 2, order: [["x", 1], ["x", 2]], upsert: [{ a: "x", b: 1, v: 1 }, { a: "x", b: 2, v: 2 }] },
      data,
      0,
    );
    expect(win.keys).toEqual(['["x",1]', '["x",2]']);
    win.apply({ view: win.id, order: [["x", 2]] }, data, 0);
    expect(keysOf(data)).toEqual(['["x",2]']);
  });

  it("takes the columns and the ignored-row count the kernel sends", () => {
    const win = new TableWindow();
    const data = held([]);
    win.apply({ view: win.id, reset: true, columns: ["id", "extra"], errors: 3, last_error: "row without id", upsert: [] }, data, 0);
    expect(data.columns).toEqual(["id", "extra"]);
    expect(data.errors).toBe(3);
    expect(data.lastError).toBe("row without id");
    win.apply({ view: win.id, errors: 4 }, data, 0);
    expect([data.errors, data.lastError]).toEqual([4, null]);
  });

  it("skips upserted entries that are not rows", () => {
    const win = new TableWindow();
    const data = held([]);
    win.apply({ view: win.id, reset: true, order: ["a"], upsert: [null, 3, "x", [1], { id: "a", n: 1 }] }, data, 0);
    expect(keysOf(data)).toEqual(['"a"']);
    win.apply({ view: win.id, upsert: "not a list" }, data, 0);
    expect(keysOf(data)).toEqual(['"a"']);
  });
});

describe("TableWindow.order", () => {
  it("has total slots with the window's keys from start and blanks elsewhere", () => {
    const win = new TableWindow();
    const data = held([]);
    expect(win.order()).toEqual([]);
    win.apply({ view: win.id, reset: true, start: 2, total: 6, size: 10, order: ["a", "b"], upsert: [] }, data, 0);
    expect(win.order()).toEqual(["", "", '"a"', '"b"', "", ""]);
    win.apply({ view: win.id, start: 0, order: ["c"] }, data, 0);
    expect(win.order()).toEqual(['"c"', "", "", "", "", ""]);
  });

  it("cuts keys that would fall past total", () => {
    const win = new TableWindow();
    const data = held([]);
    win.apply({ view: win.id, reset: true, start: 3, total: 4, size: 4, order: ["a", "b", "c"] }, data, 0);
    expect(win.order()).toEqual(["", "", "", '"a"']);
    win.apply({ view: win.id, start: 9, total: 4 }, data, 0);
    expect(win.order()).toEqual(["", "", "", ""]);
    win.apply({ view: win.id, start: 0, total: 0 }, data, 0);
    expect(win.order()).toEqual([]);
  });
});
