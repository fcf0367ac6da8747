// Row identity by JSON value, tuple keys, numeric strings in sorts, and rows the kernel ignored.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MetricsData } from "./metrics";
import { TableData, canonicalJson } from "./table";
import { FakeModel } from "./testing/fake_model";
import { mount, nextFrame, useFakeClock } from "./testing/helpers";

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
});
afterEach(() => vi.useRealTimers());

const shownRows = (el: HTMLElement): string[][] =>
  Array.from(el.querySelectorAll("tr.rtw-row")).map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent ?? ""));

describe("row identity", () => {
  it("canonical JSON tells JSON values apart and sorts object keys", () => {
    expect(new Set([1, "1", true, 1.5, "1.5", null, "true", "null"].map(canonicalJson)).size).toBe(8);
    expect(canonicalJson(1.0)).toBe(canonicalJson(1)); // one JSON number
    expect(canonicalJson(["XBTUSD", 8799, "Sell"])).toBe('["XBTUSD",8799,"Sell"]');
    expect(canonicalJson({ b: 1, a: [true] })).toBe(canonicalJson({ a: [true], b: 1 }));
  });

  it("never merges 1, \"1\" and true (or 1.5 and \"1.5\"): five keys, five rows", () => {
    const data = new TableData();
    data.reset({ key: "id", keys: ["id"], rows: [] });
    data.apply({ kind: "delta", seq: 1, upsert: [
      { id: 1, v: "int" }, { id: "1", v: "str" }, { id: true, v: "bool" }, { id: 1.5, v: "float" }, { id: "1.5", v: "numeric str" },
    ] }, 0);
    expect(data.rows.size).toBe(5);
    expect(data.rows.get(canonicalJson(1))!.v).toBe("int");
    expect(data.rows.get(canonicalJson("1"))!.v).toBe("str");
    expect(data.rows.get(canonicalJson(true))!.v).toBe("bool");
    // The kernel deletes by the key's JSON value: only that row goes.
    data.apply({ kind: "delta", seq: 2, delete: ["1", 1.5] }, 0);
    expect(Array.from(data.rows.values()).map((r) => r.v)).toEqual(["int", "bool", "numeric str"]);
    // A merge reaches the row of the same JSON value only.
    data.apply({ kind: "delta", seq: 3, upsert: [{ id: true, v: "bool 2" }] }, 0);
    expect(data.rows.get(canonicalJson(1))!.v).toBe("int");
    expect(data.rows.get(canonicalJson(true))!.v).toBe("bool 2");
  });

  it("renders such rows as distinct rows, and a table keyed by a tuple of fields", () => {
    const model = new FakeModel({ _view: "table", _snapshot: {
      seq: 0, key: "symbol", keys: ["symbol", "id", "side"], columns: [], errors: 0, last_error: null,
      rows: [
        { symbol: "XBTUSD", id: 1, side: "Sell", size: 10 },
        { symbol: "XBTUSD", id: 1, side: "Buy", size: 20 },
        { symbol: "ETHUSD", id: 1, side: "Sell", size: 30 },
      ],
    } });
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(shownRows(el).map((r) => r[3])).toEqual(["10", "20", "30"]);
    // The key columns come first; the delete names a row by its key fields' values.
    expect(Array.from(el.querySelectorAll("th")).map((th) => th.dataset.column)).toEqual(["symbol", "id", "side", "size"]);
    model.receive({ kind: "delta", seq: 1, delete: [["XBTUSD", 1, "Buy"]], upsert: [{ symbol: "ETHUSD", id: 1, side: "Sell", size: 31 }] });
    nextFrame();
    expect(shownRows(el)).toEqual([["XBTUSD", "1", "Sell", "10"], ["ETHUSD", "1", "Sell", "31"]]);
    const keys = Array.from(el.querySelectorAll<HTMLElement>("tr.rtw-row")).map((r) => r.dataset.key);
    expect(keys).toEqual(['["XBTUSD",1,"Sell"]', '["ETHUSD",1,"Sell"]']);
    cleanup();
  });

  it("says how many rows the kernel ignored and why, as text", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", keys: ["id"], columns: [], rows: [], errors: 0, last_error: null } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const note = el.querySelector<HTMLElement>(".rtw-table-errors")!;
    expect(note.hidden).toBe(true);
    const why = "table row ignored: it has no 'id' field (the table's key): {'<b>x</b>': 1}";
    model.receive({ kind: "delta", seq: 1, errors: 2, last_error: why });
    nextFrame();
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe("2 rows ignored");
    expect(note.title).toBe(why);
    expect(note.querySelector("b")).toBeNull();
    cleanup();
  });
});

describe("numeric strings", () => {
  it("sort numerically (as the numbers they spell), before text, in both directions", () => {
    const data = new TableData();
    const prices = ["100.5", "9.25", "1e3", "-2", "abc", "10"];
    data.reset({ key: "id", rows: prices.map((p, i) => ({ id: i, p })) });
    const order = (dir: "asc" | "desc") => data.view("", "p", dir).map((k) => data.rows.get(k)!.p);
    expect(order("asc")).toEqual(["-2", "9.25", "10", "100.5", "1e3", "abc"]);
    expect(order("desc")).toEqual(["abc", "1e3", "100.5", "10", "9.25", "-2"]);
    // Mixed with real numbers, by value.
    data.apply({ kind: "delta", seq: 1, upsert: [{ id: 10, p: 50 }] }, 0);
    expect(order("asc")).toEqual(["-2", "9.25", "10", 50, "100.5", "1e3", "abc"]);
  });

  it("align as numbers in the table and keep the feed's own text", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "s", keys: ["s"], columns: [], rows: [{ s: "BTCUSDT", p: "0.00100000" }], errors: 0, last_error: null } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const td = el.querySelectorAll("tr.rtw-row td")[1]!;
    expect(td.textContent).toBe("0.00100000");
    expect(td.classList.contains("rtw-num")).toBe(true);
    expect(el.querySelectorAll("tr.rtw-row td")[0]!.classList.contains("rtw-num")).toBe(false);
    cleanup();
  });

  it("are values for metric cards, and points keep time order whatever order they come in", () => {
    const data = new MetricsData();
    // What a kernel of another version, or a hand-made state, may hold: prices as strings.
    const state: Record<string, unknown> = { seq: 0, latest: { p: "192.31" }, history: { p: [[1, "190"], [3, "192.31"]] }, history_size: 10 };
    data.reset(state as Parameters<MetricsData["reset"]>[0]);
    const s = data.series.get("p")!;
    expect(s.latest).toBe(192.31);
    expect(s.vs).toEqual([190, 192.31]);
    // A batching server's points each carry their message's time: one from before the newest
    // goes into its place.
    const delta: Record<string, unknown> = { kind: "delta", seq: 1, append: { p: [[2, 191], [4, "193.5"], [2.5, "191.5"]] }, latest: { p: "193.5" } };
    data.apply(delta as Parameters<MetricsData["apply"]>[0]);
    expect(s.ts).toEqual([1, 2, 2.5, 3, 4]);
    expect(s.vs).toEqual([190, 191, 191.5, 192.31, 193.5]);
    expect(s.latest).toBe(193.5);
  });
});
