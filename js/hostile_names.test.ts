// Server strings are data: names such as `constructor`, `toString` or `__proto__` as a column, a key,
// a value or a type must render like any other name, and long text shows cut with the whole on demand.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_SHOWN_CHARS, cellText } from "./dom";
import { TableData } from "./table";
import { FakeManager, FakeModel } from "./testing/fake_model";
import { mount, nextFrame, stubCanvas, useFakeClock } from "./testing/helpers";

const HOSTILE = ["constructor", "toString", "valueOf", "hasOwnProperty", "__proto__", "isPrototypeOf", "__defineGetter__"];

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

const shownRows = (el: HTMLElement): string[][] =>
  Array.from(el.querySelectorAll("tr.rtw-row")).map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent ?? ""));

/** Rows as JSON.parse makes them: a `__proto__` field is an own field, not the prototype. */
const parsed = (json: string): Record<string, unknown>[] => JSON.parse(json) as Record<string, unknown>[];

describe("hostile names in a table", () => {
  it("cell text is always a string, whatever the value", () => {
    for (const v of [undefined, null, () => 1, Symbol("s"), 10n, { a: 1 }, [1], Object.create(null)]) {
      expect(typeof cellText(v)).toBe("string");
    }
  });

  for (const name of HOSTILE) {
    it(`renders a column named ${name} that some rows lack, and filters it`, () => {
      const rows = parsed(`[{"id": 1, ${JSON.stringify(name)}: "x"}, {"id": 2}, {"id": 3, "other": "y"}]`);
      const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", keys: ["id"], columns: [], rows, errors: 0, last_error: null } });
      const { el, cleanup } = mount(model);
      nextFrame();
      const cols = Array.from(el.querySelectorAll<HTMLElement>("th")).map((th) => th.dataset.column);
      expect(cols).toEqual(["id", name, "other"]);
      expect(shownRows(el)).toEqual([["1", "x", ""], ["2", "", ""], ["3", "", "y"]]);
      const box = el.querySelector<HTMLInputElement>(".rtw-table-filter")!;
      box.value = "y";
      box.dispatchEvent(new Event("input"));
      nextFrame();
      expect(shownRows(el)).toEqual([["3", "", "y"]]);
      // Sorting by it puts the rows lacking it last, as missing values.
      box.value = "";
      box.dispatchEvent(new Event("input"));
      el.querySelector<HTMLElement>(`th[data-column="${name}"]`)!.click();
      nextFrame();
      expect(shownRows(el).map((r) => r[0])).toEqual(["1", "2", "3"]);
      cleanup();
    });

    it(`keys rows by a field named ${name}, present or not`, () => {
      const data = new TableData();
      data.reset({ key: name, keys: [name], rows: parsed(`[{${JSON.stringify(name)}: "a", "v": 1}, {"v": 2}]`) });
      expect(data.rows.size).toBe(2);
      expect(Array.from(data.rows.keys())).toEqual(['"a"', "#1"]);
    });
  }

  it("a partial update with a __proto__ field never sets a row's prototype", () => {
    const data = new TableData();
    data.reset({ key: "id", keys: ["id"], rows: parsed('[{"id": 1, "a": 1, "b": 2}]') });
    data.apply({ kind: "delta", seq: 1, upsert: parsed('[{"id": 1, "__proto__": {"ghost": "boo", "b": 9}}]') }, 0);
    const row = data.rows.get("1")!;
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect((row as { ghost?: unknown }).ghost).toBeUndefined();
    expect(row.b).toBe(2);
    expect(Object.prototype.hasOwnProperty.call(row, "__proto__")).toBe(true);
    expect(data.columns).toEqual(["id", "a", "b", "__proto__"]);
    expect(({} as { ghost?: unknown }).ghost).toBeUndefined();
  });

  it("shows a long name or value cut, with the whole text as the title", () => {
    const long = "n".repeat(5000);
    const value = "v".repeat(5000);
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", keys: ["id"], columns: [], rows: [{ id: 1, [long]: value, short: "s" }], errors: 0, last_error: null } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const label = el.querySelectorAll<HTMLElement>(".rtw-th-label")[1]!;
    expect(label.textContent!.length).toBeLessThanOrEqual(MAX_SHOWN_CHARS + 1);
    expect(label.textContent!.endsWith("…")).toBe(true);
    expect(label.title).toBe(long);
    const tds = el.querySelectorAll<HTMLElement>("tr.rtw-row td");
    expect(tds[1]!.textContent!.length).toBeLessThanOrEqual(MAX_SHOWN_CHARS + 1);
    expect(tds[1]!.title).toBe(value);
    // A short value has no title: nothing is hidden.
    expect(tds[2]!.textContent).toBe("s");
    expect(tds[2]!.title).toBe("");
    cleanup();
  });
});

describe("hostile type names in the explorer", () => {
  const flushPromises = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };

  it("offers a view only to a type that has one, whatever its name", async () => {
    const manager = new FakeManager();
    manager.create("t1", { _view: "table", _snapshot: { seq: 0, key: "id", columns: ["id"], rows: [{ id: 1 }] } });
    const overview = Object.fromEntries(
      [...HOSTILE, "real"].map((t) => [t, { count: 1, rate: 0, last_seen: null, rates: [], kind: "raw" }]),
    );
    const explorer = manager.create("rt", {
      _view: "realtime", status: "connected", attempt: 0, next_retry_in: null, error: null, latency_ms: 1, queued: 0,
      overview: JSON.parse(JSON.stringify(overview)) as unknown,
      children: { real: "IPY_MODEL_t1" },
    });
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    const rows = Array.from(el.querySelectorAll<HTMLElement>(".rtw-overview-row"));
    expect(rows.map((r) => r.dataset.type)).toEqual([...HOSTILE, "real"]);
    const withView = rows.filter((r) => r.classList.contains("rtw-has-view")).map((r) => r.dataset.type);
    expect(withView).toEqual(["real"]);
    expect(Array.from(el.querySelectorAll<HTMLElement>(".rtw-tab")).map((t) => t.dataset.type)).toEqual(["real"]);
    // Clicking a type with no view opens nothing.
    rows[0]!.click();
    await flushPromises();
    expect(el.querySelector<HTMLElement>(".rtw-tab.rtw-active")?.dataset.type ?? "real").toBe("real");
    cleanup();
  });

  it("a __proto__ type with a view is offered it, and shows its last-seen age", async () => {
    const manager = new FakeManager();
    manager.create("t1", { _view: "table", _snapshot: { seq: 0, key: "id", columns: ["id"], rows: [{ id: 1 }] } });
    const explorer = manager.create("rt", {
      _view: "realtime", status: "connected", attempt: 0, next_retry_in: null, error: null, latency_ms: 1, queued: 0,
      overview: JSON.parse('{"__proto__": {"count": 1, "rate": 0, "last_seen": null, "rates": [], "kind": "table"}, "constructor": {"count": 1, "rate": 0, "rates": [], "kind": "raw"}}') as unknown,
      children: JSON.parse('{"__proto__": "IPY_MODEL_t1"}') as unknown,
    });
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    const rows = Array.from(el.querySelectorAll<HTMLElement>(".rtw-overview-row"));
    expect(rows.map((r) => r.dataset.type)).toEqual(["__proto__", "constructor"]);
    expect(rows.map((r) => r.classList.contains("rtw-has-view"))).toEqual([true, false]);
    expect(rows.map((r) => r.querySelector(".rtw-seen")!.textContent)).toEqual(["–", "–"]);
    cleanup();
  });

  it("shows a long type name cut, with the whole name as the title", async () => {
    const manager = new FakeManager();
    manager.create("t1", { _view: "table", _snapshot: { seq: 0, key: "id", columns: ["id"], rows: [{ id: 1 }] } });
    const long = "t".repeat(100_000);
    const explorer = manager.create("rt", {
      _view: "realtime", status: "connected", attempt: 0, next_retry_in: null, error: null, latency_ms: 1, queued: 0,
      overview: { [long]: { count: 1, rate: 0, last_seen: null, rates: [], kind: "table" } },
      children: { [long]: "IPY_MODEL_t1" },
    });
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    const cell = el.querySelector<HTMLElement>(".rtw-overview-row .rtw-type")!;
    expect(cell.textContent!.length).toBe(MAX_SHOWN_CHARS + 1);
    expect(cell.title).toBe(long);
    const tab = el.querySelector<HTMLElement>(".rtw-tab")!;
    expect(tab.textContent!.length).toBe(MAX_SHOWN_CHARS + 1);
    expect(tab.title).toBe(long);
    cleanup();
  });
});

describe("columns sent as they are made", () => {
  it("appends add_columns to the columns held, once each, and renders them", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", keys: ["id"], columns: ["id", "a"], rows: [{ id: 1, a: 1 }], errors: 0, last_error: null } });
    const { el, cleanup } = mount(model);
    nextFrame();
    // "a" again: the snapshot already had it (a snapshot taken between two drains).
    model.receive({ kind: "delta", seq: 1, add_columns: ["a", "b", "toString"], upsert: [{ id: 1, b: 2 }] });
    nextFrame();
    expect(Array.from(el.querySelectorAll<HTMLElement>("th")).map((th) => th.dataset.column)).toEqual(["id", "a", "b", "toString"]);
    expect(shownRows(el)).toEqual([["1", "1", "2", ""]]);
    cleanup();
  });
});

describe("a snapshot too large to send whole", () => {
  it("says how many older rows the kernel left out", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", keys: ["id"], columns: ["id"], rows: [{ id: 9 }], errors: 0, last_error: null, truncated: 8 } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const note = el.querySelector<HTMLElement>(".rtw-table-truncated")!;
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe("8 older rows not sent");
    model.receive({ kind: "snapshot", seq: 1, key: "id", keys: ["id"], columns: ["id"], rows: [{ id: 9 }], errors: 0, last_error: null });
    nextFrame();
    expect(note.hidden).toBe(true);
    cleanup();
  });
});

describe("hostile series names in metric cards", () => {
  it("renders a card per series named like Object.prototype's members, and cuts a long name", () => {
    const long = "m".repeat(5000);
    const names = [...HOSTILE, long];
    const latest = JSON.parse(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, i])))) as Record<string, number>;
    const history = JSON.parse(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, [[1, i]]])))) as Record<string, unknown>;
    const model = new FakeModel({ _view: "metrics", _snapshot: { seq: 0, latest, history, series: null, thresholds: {} } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const cards = Array.from(el.querySelectorAll<HTMLElement>(".rtw-metric-card"));
    expect(cards.map((c) => c.dataset.series)).toEqual(names);
    const label = cards[cards.length - 1]!.querySelector<HTMLElement>(".rtw-metric-name")!;
    expect(label.textContent!.length).toBe(MAX_SHOWN_CHARS + 1);
    expect(label.title).toBe(long);
    cleanup();
  });
});
