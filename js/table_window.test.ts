import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BEAT_MS } from "./presence";
import { FLASH_MS, OVERSCAN, ROW_HEIGHT, WINDOW_PAD } from "./table";
import { FakeModel } from "./testing/fake_model";
import { mount, nextFrame, useFakeClock } from "./testing/helpers";

const COLUMNS = ["id", "name", "n"];
const SIZE = 5000;
/** jsdom lays nothing out: the view takes a 360 px viewport, so 14 rows show. */
const SHOWN = Math.ceil(360 / ROW_HEIGHT);

const row = (i: number) => ({ id: `r${i}`, name: `row ${i}`, n: i });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

/** A table past WINDOW_AT: the kernel's snapshot names its size and holds only its newest rows. */
function windowedModel(size = SIZE): FakeModel {
  return new FakeModel({
    _view: "table",
    _snapshot: { seq: 1, key: "id", keys: ["id"], columns: COLUMNS, rows: range(size - 50, size).map(row), truncated: size - 50, window: size },
  });
}

const windowAsks = (model: FakeModel) => model.sent.filter((m) => m.kind === "window");
const lastAsk = (model: FakeModel) => windowAsks(model).at(-1);
/** The keys of the rendered rows, by their place in the table (a blank row has none). */
function shownRows(el: HTMLElement): Map<number, string> {
  const out = new Map<number, string>();
  const pad = el.querySelector<HTMLElement>("tr.rtw-pad")!;
  const first = Math.round(parseFloat(pad.style.height || "0") / ROW_HEIGHT);
  el.querySelectorAll<HTMLElement>("tr.rtw-row").forEach((tr, i) => out.set(first + i, tr.dataset.key ?? ""));
  return out;
}
const cells = (el: HTMLElement, key: string) =>
  Array.from(el.querySelectorAll(`tr.rtw-row[data-key="${key}"] td`)).map((td) => td.textContent);
const countText = (el: HTMLElement) => el.querySelector(".rtw-table-count")!.textContent;
const scroller = (el: HTMLElement) => el.querySelector<HTMLElement>(".rtw-table-scroll")!;
const groupSelect = (el: HTMLElement) => el.querySelector<HTMLSelectElement>(".rtw-table-group")!;

/** The kernel's answer: rows `ids` at `start` of `total` (sent whole: new to the view). */
function windowMsg(view: string, start: number, ids: number[], extra: Record<string, unknown> = {}) {
  return { kind: "window", view, start, total: SIZE, size: SIZE, order: ids.map((i) => `r${i}`), upsert: ids.map(row), ...extra };
}

function scrollToRow(el: HTMLElement, i: number): void {
  scroller(el).scrollTop = i * ROW_HEIGHT;
  scroller(el).dispatchEvent(new Event("scroll"));
}

/** A windowed view mounted and sent the window it named first (rows 0 to 17). */
function mountWindowed(): { model: FakeModel; el: HTMLElement; cleanup: () => void; view: string } {
  const model = windowedModel();
  const { el, cleanup } = mount(model);
  const view = lastAsk(model).view as string;
  model.receive(windowMsg(view, 0, range(0, 18), { reset: true }));
  nextFrame();
  return { model, el, cleanup, view };
}

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  vi.spyOn(performance, "now").mockImplementation(() => Date.now());
});
afterEach(() => vi.useRealTimers());

describe("windowed table view", () => {
  it("counts the table's rows before its first window comes, not an empty filter", () => {
    const model = windowedModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(countText(el)).toBe("5,000 rows");
    expect(el.querySelector(".rtw-table")!.classList.contains("rtw-empty")).toBe(false);
    cleanup();
  });

  it("keeps the open row in the detail when it scrolls out of the window", () => {
    const { model, el, cleanup, view } = mountWindowed();
    el.querySelector<HTMLElement>('tr.rtw-row[data-key="r3"] td')!.click();
    nextFrame();
    const detail = el.querySelector<HTMLElement>(".rtw-table-detail")!;
    const state = el.querySelector<HTMLElement>(".rtw-table-detail-state")!;
    expect(detail.hidden).toBe(false);
    scrollToRow(el, 1000);
    nextFrame();
    model.receive(windowMsg(view, 998, range(998, 1016)));
    nextFrame();
    expect(detail.hidden).toBe(false);
    expect(state.hidden).toBe(true);
    expect(detail.textContent).toContain("row 3");
    cleanup();
  });

  it("names the window it shows as soon as a windowed snapshot tells it the table's size", () => {
    const model = windowedModel();
    const { el, cleanup } = mount(model);
    expect(model.sent).toEqual([
      // At the top, only the rows below the view are padded.
      { kind: "window", view: expect.any(String), start: 0, count: SHOWN + WINDOW_PAD, sort: null, desc: false, filter: "" },
    ]);
    nextFrame();
    // Nothing more to ask until the window changes; the snapshot's newest rows are not the window.
    expect(windowAsks(model)).toHaveLength(1);
    expect(el.querySelectorAll('tr.rtw-row[data-key^="r"]')).toHaveLength(0);
    // Grouping still works: the kernel groups a table this large (see below).
    expect(groupSelect(el).disabled).toBe(false);
    // The snapshot's left-out rows are no news: the kernel holds and windows them.
    expect(el.querySelector<HTMLElement>(".rtw-table-truncated")!.hidden).toBe(true);
    cleanup();
  });

  it("renders the window's rows at their places among the table's rows, and counts them", () => {
    const { model, el, cleanup, view } = mountWindowed();
    const shown = shownRows(el);
    expect(shown.get(0)).toBe("r0");
    for (const i of range(0, 18)) expect(shown.get(i)).toBe(`r${i}`);
    // The overscan past the window shows blank rows until a window brings them.
    expect(shown.get(18)).toBe("");
    expect(shown.size).toBe(SHOWN + OVERSCAN);
    expect(cells(el, "r3")).toEqual(["r3", "row 3", "3"]);
    expect(countText(el)).toBe("5,000 rows");
    // The spacers make the scroll height of every row of the table.
    const pads = el.querySelectorAll<HTMLElement>("tr.rtw-pad");
    expect(parseFloat(pads[0]!.style.height) + parseFloat(pads[1]!.style.height) + shown.size * ROW_HEIGHT).toBe(SIZE * ROW_HEIGHT);
    // A filtered window: total is the rows it keeps.
    model.receive(windowMsg(view, 0, range(0, 12), { total: 12 }));
    nextFrame();
    expect(countText(el)).toBe("12 of 5,000 rows");
    expect(Array.from(shownRows(el).values())).toEqual(range(0, 12).map((i) => `r${i}`));
    cleanup();
  });

  it("ignores another view's window", () => {
    const model = windowedModel();
    const { el, cleanup } = mount(model);
    model.receive(windowMsg("another-view", 0, range(0, 18), { reset: true }));
    nextFrame();
    expect(el.querySelectorAll('tr.rtw-row[data-key^="r"]')).toHaveLength(0);
    cleanup();
  });

  it("asks for a later window when scrolled, and shows it in place of the first", () => {
    const { model, el, cleanup, view } = mountWindowed();
    const asked = windowAsks(model).length;
    scrollToRow(el, 1000);
    nextFrame();
    expect(windowAsks(model)).toHaveLength(asked + 1);
    expect(lastAsk(model)).toEqual({
      kind: "window",
      view,
      start: 1000 - WINDOW_PAD,
      count: SHOWN + 2 * WINDOW_PAD,
      sort: null,
      desc: false,
      filter: "",
    });
    // Until it comes, the rows in view are blank.
    expect(new Set(shownRows(el).values())).toEqual(new Set([""]));
    model.receive(windowMsg(view, 998, range(998, 1016)));
    nextFrame();
    const shown = shownRows(el);
    expect(shown.get(1000 - OVERSCAN)).toBe("");
    expect(shown.get(997)).toBe("");
    for (const i of range(998, 1016)) expect(shown.get(i)).toBe(`r${i}`);
    expect(shown.get(1016)).toBe("");
    // The first window's rows are no longer held.
    scrollToRow(el, 0);
    nextFrame();
    expect(new Set(shownRows(el).values())).toEqual(new Set([""]));
    expect(lastAsk(model)).toMatchObject({ start: 0 });
    cleanup();
  });

  it("merges a window's changed fields into its rows and flashes them", () => {
    const { model, el, cleanup, view } = mountWindowed();
    model.receive({ kind: "window", view, start: 0, total: SIZE, size: SIZE, upsert: [{ id: "r2", n: 222 }] });
    nextFrame();
    expect(cells(el, "r2")).toEqual(["r2", "row 2", "222"]);
    const tds = el.querySelectorAll('tr.rtw-row[data-key="r2"] td');
    expect(tds[2]!.classList.contains("rtw-flash")).toBe(true);
    expect(tds[1]!.classList.contains("rtw-flash")).toBe(false);
    vi.advanceTimersByTime(FLASH_MS + 50);
    nextFrame();
    expect(tds[2]!.classList.contains("rtw-flash")).toBe(false);
    cleanup();
  });

  it("replaces its rows with a reset window", () => {
    const { model, el, cleanup, view } = mountWindowed();
    // The same keys come whole again with other values: they replace, not merge.
    model.receive({ ...windowMsg(view, 0, range(0, 18), { reset: true }), upsert: range(0, 18).map((i) => ({ id: `r${i}`, n: -i })) });
    nextFrame();
    expect(cells(el, "r5")).toEqual(["r5", "", "-5"]);
    expect(el.querySelectorAll(".rtw-flash")).toHaveLength(0);
    cleanup();
  });

  it("sends the sort to the kernel and shows the rows in the kernel's order", () => {
    const { model, el, cleanup, view } = mountWindowed();
    const th = () => el.querySelector<HTMLElement>('th[data-column="n"]')!;
    th().click();
    nextFrame();
    expect(lastAsk(model)).toMatchObject({ view, start: 0, sort: "n", desc: false, filter: "" });
    expect(th().dataset.sort).toBe("asc");
    th().click();
    nextFrame();
    expect(lastAsk(model)).toMatchObject({ view, start: 0, sort: "n", desc: true });
    expect(th().dataset.sort).toBe("desc");
    // The kernel's answer, largest first: the page keeps its order rather than sort what it holds.
    const desc = range(SIZE - 18, SIZE).reverse();
    model.receive(windowMsg(view, 0, desc));
    nextFrame();
    expect(Array.from(shownRows(el).values()).slice(0, 18)).toEqual(desc.map((i) => `r${i}`));
    th().click();
    nextFrame();
    expect(lastAsk(model)).toMatchObject({ view, start: 0, sort: null });
    expect(th().dataset.sort).toBeUndefined();
    cleanup();
  });

  it("sends the filter to the kernel from the first row", () => {
    const { model, el, cleanup, view } = mountWindowed();
    scrollToRow(el, 300);
    nextFrame();
    expect(lastAsk(model)).toMatchObject({ start: 298 });
    const box = el.querySelector<HTMLInputElement>(".rtw-table-filter")!;
    box.value = "row 4";
    box.dispatchEvent(new Event("input"));
    nextFrame();
    expect(lastAsk(model)).toEqual({ kind: "window", view, start: 0, count: SHOWN + WINDOW_PAD, sort: null, desc: false, filter: "row 4" });
    // The kernel filters: the page shows what it sends, matching or not.
    model.receive(windowMsg(view, 0, [4, 7], { total: 2 }));
    nextFrame();
    expect(Array.from(shownRows(el).values())).toEqual(["r4", "r7"]);
    expect(countText(el)).toBe("2 of 5,000 rows");
    cleanup();
  });

  it("names its window again every beat, and no more often", () => {
    const model = windowedModel();
    const mounted = Date.now();
    const { cleanup } = mount(model);
    const first = lastAsk(model);
    model.receive(windowMsg(first.view, 0, range(0, 18), { reset: true }));
    nextFrame();
    expect(windowAsks(model)).toHaveLength(1);
    vi.advanceTimersByTime(mounted + BEAT_MS - 1 - Date.now());
    expect(windowAsks(model)).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(windowAsks(model)).toEqual([first, first]);
    vi.advanceTimersByTime(2 * BEAT_MS);
    expect(windowAsks(model)).toEqual([first, first, first, first]);
    cleanup();
  });

  it("tells the kernel its window is gone when it goes", () => {
    const model = windowedModel();
    const { cleanup } = mount(model);
    nextFrame();
    const view = lastAsk(model).view as string;
    cleanup();
    expect(lastAsk(model)).toEqual({ kind: "window", view, start: 0, count: 0, sort: null, desc: false, filter: "" });
    const sent = model.sent.length;
    vi.advanceTimersByTime(3 * BEAT_MS);
    expect(model.sent).toHaveLength(sent);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps the window it shows through a refresh of the windowed _snapshot trait", () => {
    const { model, el, cleanup, view } = mountWindowed();
    const before = Array.from(shownRows(el).values());
    const asked = windowAsks(model).length;
    model.set("_snapshot", {
      seq: 9,
      key: "id",
      keys: ["id"],
      columns: COLUMNS,
      rows: range(SIZE - 50, SIZE + 10).map(row),
      truncated: SIZE - 40,
      window: SIZE + 10,
    });
    nextFrame();
    expect(Array.from(shownRows(el).values())).toEqual(before);
    expect(cells(el, "r3")).toEqual(["r3", "row 3", "3"]);
    expect(countText(el)).toBe("5,000 of 5,010 rows");
    expect(el.querySelector<HTMLElement>(".rtw-table-truncated")!.hidden).toBe(true);
    // The window it names did not change.
    expect(windowAsks(model)).toHaveLength(asked);
    // Changes still merge into the kept rows.
    model.receive({ kind: "window", view, start: 0, total: SIZE + 10, size: SIZE + 10, upsert: [{ id: "r3", n: 33 }] });
    nextFrame();
    expect(cells(el, "r3")).toEqual(["r3", "row 3", "33"]);
    expect(countText(el)).toBe("5,010 rows");
    cleanup();
  });

  it("holds every row again after a snapshot without a window, and stops naming one", () => {
    const { model, el, cleanup, view } = mountWindowed();
    model.receive({ kind: "snapshot", seq: 20, key: "id", keys: ["id"], columns: COLUMNS, rows: [row(7), row(3), row(5)] });
    nextFrame();
    // The table's own order, every row, and the page sorts, filters and groups again.
    expect(Array.from(shownRows(el).values())).toEqual(["r7", "r3", "r5"]);
    expect(countText(el)).toBe("3 rows");
    expect(groupSelect(el).disabled).toBe(false);
    expect(groupSelect(el).title).toBe("Group by a column");
    const asked = windowAsks(model).length;
    el.querySelector<HTMLElement>('th[data-column="n"]')!.click();
    nextFrame();
    expect(Array.from(shownRows(el).values())).toEqual(["r3", "r5", "r7"]);
    const box = el.querySelector<HTMLInputElement>(".rtw-table-filter")!;
    box.value = "row 5";
    box.dispatchEvent(new Event("input"));
    nextFrame();
    expect(Array.from(shownRows(el).values())).toEqual(["r5"]);
    expect(countText(el)).toBe("1 of 3 rows");
    // Windows that come late are not this view's any more.
    model.receive(windowMsg(view, 0, range(0, 18), { reset: true }));
    nextFrame();
    expect(Array.from(shownRows(el).values())).toEqual(["r5"]);
    // No beat is left: nothing more is sent, and no timer waits.
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(3 * BEAT_MS);
    expect(windowAsks(model)).toHaveLength(asked);
    cleanup();
    expect(windowAsks(model)).toHaveLength(asked);
  });

  it("names its window anew when the table grows windowed again", () => {
    const model = windowedModel();
    const { el, cleanup } = mount(model);
    const view = lastAsk(model).view as string;
    model.receive({ kind: "snapshot", seq: 2, key: "id", columns: COLUMNS, rows: [row(1)] });
    nextFrame();
    const asked = windowAsks(model).length;
    model.receive({ kind: "snapshot", seq: 3, key: "id", columns: COLUMNS, rows: [row(1)], window: SIZE });
    // The same window as before, asked again: the kernel forgot it.
    expect(windowAsks(model)).toHaveLength(asked);
    nextFrame();
    expect(windowAsks(model)).toHaveLength(asked + 1);
    expect(lastAsk(model)).toMatchObject({ view, start: 0, count: SHOWN + WINDOW_PAD });
    expect(el.querySelectorAll('tr.rtw-row[data-key^="r"]')).toHaveLength(0);
    vi.advanceTimersByTime(BEAT_MS);
    expect(windowAsks(model)).toHaveLength(asked + 2);
    cleanup();
  });

  it("keeps the page's grouping when the table becomes windowed: the kernel groups, the page sorts the groups", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 1, key: "id", columns: COLUMNS, rows: [row(1), row(2)] } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const select = groupSelect(el);
    select.value = Array.from(select.options).find((o) => o.text === "name")!.value;
    select.dispatchEvent(new Event("change"));
    nextFrame();
    expect(el.querySelector(".rtw-table")!.classList.contains("rtw-grouped")).toBe(true);
    expect(windowAsks(model)).toHaveLength(0);
    model.receive({ kind: "snapshot", seq: 2, key: "id", columns: COLUMNS, rows: [], window: SIZE });
    nextFrame();
    expect(el.querySelector(".rtw-table")!.classList.contains("rtw-grouped")).toBe(true);
    expect(select.disabled).toBe(false);
    expect(lastAsk(model)).toMatchObject({ start: 0, count: 1, sort: null, filter: "", group: "name" });
    const view = lastAsk(model).view as string;
    // A rows window sent before the kernel heard of the grouping is not shown as groups.
    model.receive(windowMsg(view, 0, range(0, 18), { reset: true }));
    nextFrame();
    expect(el.querySelectorAll('tr.rtw-row[data-key^="r"]')).toHaveLength(0);
    const groups = [
      { group: "alpha", count: 3000, "sum.1": 30, "mean.1": 0.01, "min.1": 0, "max.1": 9, "last.1": 4 },
      { group: "beta", count: 2000, "sum.1": 90, "mean.1": 0.045, "min.1": 1, "max.1": 12, "last.1": 7 },
    ];
    const ids = ["group", "count", "sum.1", "mean.1", "min.1", "max.1", "last.1"];
    model.receive({
      kind: "window", view, start: 0, total: 2, size: SIZE, reset: true, order: ["alpha", "beta"], upsert: groups,
      columns: ids, grouped: { rows: SIZE, labels: ["name", "count", "sum(n)", "mean(n)", "min(n)", "max(n)", "last(n)"] },
    });
    nextFrame();
    const heads = () => Array.from(el.querySelectorAll("thead th .rtw-th-label")).map((th) => th.textContent);
    expect(heads()).toEqual(["name", "count", "sum(n)", "mean(n)", "min(n)", "max(n)", "last(n)"]);
    const groupRows = () => Array.from(el.querySelectorAll<HTMLElement>("tr.rtw-row")).map((tr) => tr.dataset.key);
    expect(groupRows()).toEqual(["alpha", "beta"]);
    expect(countText(el)).toBe("2 groups · 5,000 rows");
    // The page sorts the groups it holds: no new request.
    const asked = windowAsks(model).length;
    el.querySelector<HTMLElement>('th[data-column="sum.1"]')!.click();
    el.querySelector<HTMLElement>('th[data-column="sum.1"]')!.click();
    nextFrame();
    expect(groupRows()).toEqual(["beta", "alpha"]);
    expect(windowAsks(model)).toHaveLength(asked);
    // An update to a group merges in place.
    model.receive({ kind: "window", view, start: 0, total: 2, size: SIZE, upsert: [{ group: "alpha", "sum.1": 95 }], grouped: { rows: SIZE } });
    nextFrame();
    expect(groupRows()).toEqual(["alpha", "beta"]);
    // Ungrouped again: the rows window is asked for, and group windows still in flight are ignored.
    select.value = "none";
    select.dispatchEvent(new Event("change"));
    nextFrame();
    expect(lastAsk(model)).not.toHaveProperty("group");
    model.receive({ kind: "window", view, start: 0, total: 2, size: SIZE, upsert: [{ group: "beta", count: 1 }], grouped: { rows: SIZE } });
    model.receive(windowMsg(view, 0, range(0, 18), { reset: true }));
    nextFrame();
    expect(Array.from(el.querySelectorAll("th")).map((th) => th.dataset.column)).toEqual(COLUMNS);
    expect(shownRows(el).get(0)).toBe("r0");
    cleanup();
  });

  it("asks for a snapshot when a window's packed rows do not unpack", () => {
    const model = windowedModel();
    const { el, cleanup } = mount(model);
    const view = lastAsk(model).view as string;
    model.receive({ kind: "window", view, start: 0, total: SIZE, size: SIZE, order: ["r0"], rows: [{ f: ["id"], c: "broken" }] });
    expect(model.sent.at(-1)).toEqual({ kind: "snapshot_request" });
    nextFrame();
    expect(el.querySelectorAll('tr.rtw-row[data-key^="r"]')).toHaveLength(0);
    cleanup();
  });
});
