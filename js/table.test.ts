import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FADE_MS, FLASH_MS, MAX_FADING_CELLS, OVERSCAN, TableData, groupBy, takeFade } from "./table";
import { FakeModel } from "./testing/fake_model";
import { countListeners, mount, nextFrame, useFakeClock } from "./testing/helpers";

function tableModel(rows: Record<string, unknown>[], extra: Record<string, unknown> = {}): FakeModel {
  return new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", columns: ["id", "name", "value"], rows, ...extra } });
}

const rowKeys = (el: HTMLElement) => Array.from(el.querySelectorAll<HTMLElement>("tr.rtw-row")).map((r) => r.dataset.key);
const cells = (el: HTMLElement, key: string) =>
  Array.from(el.querySelectorAll(`tr.rtw-row[data-key="${key}"] td`)).map((td) => td.textContent);

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  // The re-sort budget reads performance.now; on the faked clock its waits would never end while
  // real time stands still between fake timers, so a busy machine would make tests fail.
  vi.spyOn(performance, "now").mockImplementation(() => Date.now());
});
afterEach(() => vi.useRealTimers());

describe("table view", () => {
  it("renders rows from the snapshot with formatted, right-aligned numbers", () => {
    const model = tableModel([
      { id: "a", name: "alpha", value: 1234.5 },
      { id: "b", name: "beta", value: 2 },
    ]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(el.querySelector(".rtw-table")).not.toBeNull();
    expect(rowKeys(el)).toEqual(["a", "b"]);
    expect(cells(el, "a")).toEqual(["a", "alpha", "1,234.5"]);
    const num = el.querySelector('tr.rtw-row[data-key="a"] td:nth-child(3)')!;
    expect(num.classList.contains("rtw-num")).toBe(true);
    expect(Array.from(el.querySelectorAll("th")).map((th) => th.dataset.column)).toEqual(["id", "name", "value"]);
    expect(el.querySelector(".rtw-table-count")!.textContent).toBe("2 rows");
    cleanup();
  });

  it("applies deltas in order, coalesced into one render per frame", () => {
    const model = tableModel([{ id: "a", name: "alpha", value: 1 }]);
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "b", name: "beta", value: 2 }] });
    model.receive({ kind: "delta", seq: 2, upsert: [{ id: "a", name: "alpha", value: 10 }], delete: [] });
    model.receive({ kind: "delta", seq: 3, delete: ["b"], upsert: [{ id: "c", name: "gamma", value: 3 }] });
    expect(rowKeys(el)).toEqual(["a"]); // nothing rendered before the frame
    nextFrame();
    expect(rowKeys(el)).toEqual(["a", "c"]);
    expect(cells(el, "a")).toEqual(["a", "alpha", "10"]);
    model.receive({ kind: "delta", seq: 4, clear: true, upsert: [{ id: "z", name: "zed", value: 0 }] });
    nextFrame();
    expect(rowKeys(el)).toEqual(["z"]);
    expect(model.sent).toEqual([]);
    cleanup();
  });

  it("merges a row sent as its key and changed fields into the row it holds", () => {
    const model = tableModel([{ id: "a", name: "alpha", value: 1 }]);
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, upsert: [{ value: 7, id: "a" }] });
    model.receive({ kind: "delta", seq: 2, delete: ["a"], upsert: [{ id: "a", value: 8 }] });
    nextFrame();
    // After a delete the kernel sends the row whole again; here it had only these two fields.
    expect(cells(el, "a")).toEqual(["a", "", "8"]);
    model.receive({ kind: "delta", seq: 3, upsert: [{ name: "again", id: "a" }] });
    nextFrame();
    expect(cells(el, "a")).toEqual(["a", "again", "8"]);
    cleanup();
  });

  it("infers columns when the state has none", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", rows: [{ x: 1, id: "k" }] } });
    const { el, cleanup } = mount(model);
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "m", x: 2, extra: "e" }] });
    nextFrame();
    expect(Array.from(el.querySelectorAll("th")).map((th) => th.dataset.column)).toEqual(["id", "x", "extra"]);
    cleanup();
  });

  it("a sequence gap triggers a snapshot request, and the reply restores the state", () => {
    const model = tableModel([{ id: "a", name: "alpha", value: 1 }]);
    const { el, cleanup } = mount(model);
    model.receive({ kind: "delta", seq: 2, upsert: [{ id: "x", name: "lost", value: 0 }] });
    expect(model.sent).toEqual([{ kind: "snapshot_request" }]);
    model.receive({
      kind: "snapshot",
      seq: 2,
      key: "id",
      columns: ["id", "name", "value"],
      rows: [{ id: "a", name: "alpha", value: 1 }, { id: "x", name: "found", value: 5 }],
    });
    model.receive({ kind: "delta", seq: 3, upsert: [{ id: "y", name: "next", value: 6 }] });
    nextFrame();
    expect(rowKeys(el)).toEqual(["a", "x", "y"]);
    expect(cells(el, "x")).toEqual(["x", "found", "5"]);
    cleanup();
  });

  it("sorts by clicking headers (asc, desc, off) and filters over all cells", () => {
    const model = tableModel([
      { id: "a", name: "pear", value: 3 },
      { id: "b", name: "apple", value: 10 },
      { id: "c", name: "fig", value: 2 },
    ]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const th = el.querySelector<HTMLElement>('th[data-column="value"]')!;
    th.click();
    nextFrame();
    expect(rowKeys(el)).toEqual(["c", "a", "b"]);
    expect(th.dataset.sort).toBe("asc");
    th.click();
    nextFrame();
    expect(rowKeys(el)).toEqual(["b", "a", "c"]);
    expect(th.getAttribute("aria-sort")).toBe("descending");
    th.click();
    nextFrame();
    expect(rowKeys(el)).toEqual(["a", "b", "c"]);
    el.querySelector<HTMLElement>('th[data-column="name"]')!.click();
    nextFrame();
    expect(rowKeys(el)).toEqual(["b", "c", "a"]);

    const filter = el.querySelector<HTMLInputElement>(".rtw-table-filter")!;
    filter.value = "P";
    filter.dispatchEvent(new Event("input"));
    nextFrame();
    expect(rowKeys(el)).toEqual(["b", "a"]);
    expect(el.querySelector(".rtw-table-count")!.textContent).toBe("2 of 3 rows");
    filter.value = "10";
    filter.dispatchEvent(new Event("input"));
    nextFrame();
    expect(rowKeys(el)).toEqual(["b"]);
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "d", name: "kiwi", value: 12345 }] });
    filter.value = "2345";
    filter.dispatchEvent(new Event("input"));
    nextFrame();
    expect(rowKeys(el)).toEqual(["d"]);
    expect(cells(el, "d")[2]).toBe("12,345");
    filter.value = "10";
    filter.dispatchEvent(new Event("input"));
    nextFrame();
    // A live update re-sorts and re-filters.
    model.receive({ kind: "delta", seq: 2, upsert: [{ id: "c", name: "fig", value: 10 }] });
    settle();
    expect(rowKeys(el)).toEqual(["b", "c"]);
    cleanup();
  });

  it("sorts by a column named with the empty string", () => {
    const model = tableModel([
      { id: "a", "": 3 },
      { id: "b", "": 1 },
      { id: "c", "": 2 },
    ], { columns: ["id", ""] });
    const { el, cleanup } = mount(model);
    nextFrame();
    const th = el.querySelector<HTMLElement>('th[data-column=""]')!;
    th.click();
    nextFrame();
    expect(rowKeys(el)).toEqual(["b", "c", "a"]);
    expect(th.dataset.sort).toBe("asc");
    cleanup();
  });

  it("sorts from the keyboard", () => {
    const model = tableModel([
      { id: "a", name: "pear", value: 3 },
      { id: "b", name: "apple", value: 10 },
    ]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const th = el.querySelector<HTMLElement>('th[data-column="name"]')!;
    th.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    nextFrame();
    expect(rowKeys(el)).toEqual(["b", "a"]);
    cleanup();
  });

  it("keeps only the visible rows in the DOM for 100,000 rows", () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, value: i * 1.5 }));
    const model = tableModel(rows);
    const { el, cleanup } = mount(model);
    nextFrame();
    const rendered = el.querySelectorAll("tr.rtw-row").length;
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(60);
    expect(el.querySelector(".rtw-table-count")!.textContent).toBe("100,000 rows");
    const scroller = el.querySelector<HTMLElement>(".rtw-table-scroll")!;
    scroller.scrollTop = 26 * 50_000;
    scroller.dispatchEvent(new Event("scroll"));
    nextFrame();
    const keys = rowKeys(el).map(Number);
    expect(keys[0]).toBe(50_000 - OVERSCAN);
    expect(el.querySelectorAll("tr.rtw-row").length).toBeLessThan(60);
    // Spacer rows keep the scroll height of the whole table.
    const pads = el.querySelectorAll<HTMLElement>("tr.rtw-pad");
    const total = parseFloat(pads[0]!.style.height) + parseFloat(pads[1]!.style.height) + keys.length * 26;
    expect(total).toBe(100_000 * 26);
    // Sorting descending on 100k rows puts the last row first.
    el.querySelector<HTMLElement>('th[data-column="value"]')!.click();
    el.querySelector<HTMLElement>('th[data-column="value"]')!.click();
    scroller.scrollTop = 0;
    scroller.dispatchEvent(new Event("scroll"));
    nextFrame();
    expect(rowKeys(el)[0]).toBe("99999");
    cleanup();
  });

  it("renders markup in payloads as text", () => {
    const evil = "<img src=x onerror=alert(1)>";
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", columns: ["id", evil], rows: [{ id: evil, [evil]: evil }] } });
    const { el, cleanup } = mount(model);
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "2", [evil]: evil }] });
    nextFrame();
    expect(el.querySelector("img")).toBeNull();
    expect(cells(el, "2")).toEqual(["2", evil]);
    expect(el.querySelector("th")!.nextElementSibling!.textContent).toContain(evil);
    cleanup();
  });

  it("flashes changed cells briefly", () => {
    const model = tableModel([{ id: "a", name: "alpha", value: 1 }]);
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "a", name: "alpha", value: 2 }] });
    nextFrame();
    const tds = el.querySelectorAll('tr.rtw-row[data-key="a"] td');
    expect(tds[2]!.classList.contains("rtw-flash")).toBe(true);
    expect(tds[1]!.classList.contains("rtw-flash")).toBe(false);
    vi.advanceTimersByTime(FLASH_MS + 50);
    nextFrame();
    expect(tds[2]!.classList.contains("rtw-flash")).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    cleanup();
  });

  it("counts the page's fading cells, and ends highlights without the fade while there are many", () => {
    // Long after any fade an earlier test started (the fading cells are counted page-wide).
    vi.setSystemTime(Date.now() + 3_600_000);
    const t0 = Date.now();
    expect(takeFade(t0, MAX_FADING_CELLS)).toBe(true);
    expect(takeFade(t0 + FADE_MS - 1, 1)).toBe(false);
    expect(takeFade(t0 + FADE_MS, MAX_FADING_CELLS)).toBe(true);
    vi.setSystemTime(t0 + 2 * FADE_MS);

    const model = tableModel([{ id: "a", name: "alpha", value: 1 }]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const td = () => el.querySelectorAll('tr.rtw-row[data-key="a"] td')[2]!;
    const tbody = el.querySelector("tbody")!;
    const flashThenEnd = (value: number, fullPage: boolean): void => {
      model.receive({ kind: "delta", seq: value - 1, upsert: [{ id: "a", name: "alpha", value }] });
      nextFrame();
      expect(td().classList.contains("rtw-flash")).toBe(true);
      vi.advanceTimersByTime(FLASH_MS);
      // Other tables' cells fill the page's budget just before this one's highlight ends.
      if (fullPage) expect(takeFade(Date.now(), MAX_FADING_CELLS)).toBe(true);
      vi.advanceTimersByTime(20);
      nextFrame();
      expect(td().classList.contains("rtw-flash")).toBe(false);
    };
    flashThenEnd(2, false);
    expect(tbody.classList.contains("rtw-no-fade")).toBe(false);
    vi.advanceTimersByTime(FADE_MS);
    flashThenEnd(3, true);
    expect(tbody.classList.contains("rtw-no-fade")).toBe(true);
    vi.advanceTimersByTime(FADE_MS);
    flashThenEnd(4, false);
    expect(tbody.classList.contains("rtw-no-fade")).toBe(false);
    cleanup();
  });

  it("cleanup releases model listeners, DOM listeners, frames and timers", () => {
    const win = countListeners(window);
    const model = tableModel([{ id: "a", name: "alpha", value: 1 }]);
    const { el, cleanup } = mount(model);
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "a", name: "alpha", value: 3 }] });
    model.receive({ kind: "delta", seq: 5 }); // gap: a snapshot retry timer is pending
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(win.count()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(el.children.length).toBe(0);
    win.restore();
  });

  it("change detection compares raw values; text decides only across kinds and for objects", () => {
    const data = new TableData();
    data.reset({ key: "id", rows: [{ id: "a", n: 1, s: "x", o: { v: [1] }, m: 1, z: null, b: true }] });
    data.apply({ kind: "delta", seq: 1, upsert: [{ id: "a", n: 2, s: "x", o: { v: [1] }, m: "1", z: "", b: true }] }, 1000);
    // Flashes are by row id (the key's canonical JSON) and column. n changed; s is equal; o is a
    // new object showing the same JSON; m and z show the same text.
    expect(Array.from(data.flashes.keys())).toEqual(['"a"\0n']);
    data.apply({ kind: "delta", seq: 2, upsert: [{ id: "a", n: 2, s: "y", o: { v: [2] }, m: "1", z: "", b: false }] }, 1100);
    data.apply({ kind: "delta", seq: 3, upsert: [{ id: "a", n: 3, s: "y", o: { v: [2] }, m: "1", z: "", b: false }] }, 1200);
    // Oldest first: a cell that changes again moves to the end with its new time.
    expect(Array.from(data.flashes.entries())).toEqual([
      ['"a"\0s', 1100],
      ['"a"\0o', 1100],
      ['"a"\0b', 1100],
      ['"a"\0n', 1200],
    ]);
  });

  it("with declared columns, inference from upserts waits until the columns are cleared", () => {
    const data = new TableData();
    data.reset({ key: "id", columns: ["id", "a"], rows: [{ id: "1", a: 1 }] });
    data.apply({ kind: "delta", seq: 1, upsert: [{ id: "2", a: 2, extra: "x" }] }, 0);
    expect(data.columns).toEqual(["id", "a"]);
    data.apply({ kind: "delta", seq: 2, columns: [] }, 0);
    expect(data.columns).toEqual(["id", "a", "extra"]);
  });

  it("writes a cell only when its value changed, and keeps its text node", () => {
    const model = tableModel([
      { id: "a", name: "alpha", value: 1 },
      { id: "b", name: "beta", value: 2 },
    ]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const td = (key: string, c: number) => el.querySelectorAll(`tr.rtw-row[data-key="${key}"] td`)[c]!;
    const nodeA = td("a", 2).firstChild;
    const nameB = td("b", 1).firstChild;
    const records: MutationRecord[] = [];
    const observer = new MutationObserver((r) => records.push(...r));
    observer.observe(el, { subtree: true, childList: true, characterData: true, attributes: true });
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "a", name: "alpha", value: 1 }, { id: "b", name: "beta", value: 3 }] });
    nextFrame();
    records.push(...observer.takeRecords());
    observer.disconnect();
    expect(cells(el, "b")).toEqual(["b", "beta", "3"]);
    expect(td("a", 2).firstChild).toBe(nodeA);
    expect(td("b", 1).firstChild).toBe(nameB);
    // The one changed value is one text update; the flash is one class change on that cell.
    expect(records.filter((r) => r.type === "characterData").map((r) => r.target.textContent)).toEqual(["3"]);
    expect(records.filter((r) => r.type === "childList")).toEqual([]);
    expect(records.filter((r) => r.type === "attributes").map((r) => (r.target as Element).textContent)).toEqual(["3"]);
    cleanup();
  });
});

// ---- exploring: column chooser, row detail, group by ----

const headers = (el: HTMLElement) => Array.from(el.querySelectorAll<HTMLElement>("th .rtw-th-label")).map((s) => s.textContent);
const columnBoxes = (el: HTMLElement) => Array.from(el.querySelectorAll<HTMLInputElement>(".rtw-table-columns input"));
const toggleColumn = (el: HTMLElement, name: string) => {
  const item = Array.from(el.querySelectorAll(".rtw-table-columns-item")).find((i) => i.textContent === name)!;
  const box = item.querySelector("input")!;
  box.checked = !box.checked;
  box.dispatchEvent(new Event("change", { bubbles: true }));
};
const groupBySelect = (el: HTMLElement, name: string | null) => {
  const select = el.querySelector<HTMLSelectElement>(".rtw-table-group")!;
  const option = Array.from(select.options).find((o) => (name === null ? o.value === "none" : o.textContent === name))!;
  select.value = option.value;
  select.dispatchEvent(new Event("change"));
};
/** The grouped table as {group label: {header: cell text}}. */
const groupedCells = (el: HTMLElement): Record<string, Record<string, string>> => {
  const names = headers(el);
  const out: Record<string, Record<string, string>> = {};
  for (const tr of Array.from(el.querySelectorAll<HTMLElement>("tr.rtw-row"))) {
    const cellsByName: Record<string, string> = {};
    Array.from(tr.children).forEach((td, i) => (cellsByName[names[i]!] = td.textContent ?? ""));
    out[tr.dataset.key!] = cellsByName;
  }
  return out;
};
const evil = "<img src=x onerror=alert(1)>";
/** A frame, and any a budget put off. */
const settle = () => {
  nextFrame();
  vi.advanceTimersByTime(5000);
  nextFrame();
};

describe("column chooser", () => {
  it("hides and shows columns (the key too); hidden ones stay hidden as rows update, new ones show", () => {
    const model = new FakeModel({ _view: "table", _snapshot: { seq: 0, key: "id", rows: [{ id: "a", name: "alpha", [evil]: 1, __proto__x: 2 }] } });
    const doc = countListeners(document);
    const { el, cleanup } = mount(model);
    nextFrame();
    const button = el.querySelector<HTMLButtonElement>(".rtw-table-columns-button")!;
    const panel = el.querySelector<HTMLElement>(".rtw-table-columns")!;
    expect(panel.hidden).toBe(true);
    const closedListeners = doc.count();
    button.click();
    // Clicks outside are watched only while the list is open.
    expect(doc.count()).toBe(closedListeners + 1);
    expect(panel.hidden).toBe(false);
    expect(button.getAttribute("aria-expanded")).toBe("true");
    expect(Array.from(el.querySelectorAll(".rtw-table-columns-item")).map((i) => i.textContent)).toEqual(["id", "name", evil, "__proto__x"]);
    expect(el.querySelector("img")).toBeNull();
    expect(columnBoxes(el).every((b) => b.checked)).toBe(true);

    toggleColumn(el, evil);
    toggleColumn(el, "id");
    nextFrame();
    expect(headers(el)).toEqual(["name", "__proto__x"]);
    expect(cells(el, "a")).toEqual(["alpha", "2"]);
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "b", name: "beta", [evil]: 3, __proto__x: 4, fresh: "new" }] });
    nextFrame();
    expect(headers(el)).toEqual(["name", "__proto__x", "fresh"]);
    expect(cells(el, "b")).toEqual(["beta", "4", "new"]);
    expect(columnBoxes(el).map((b) => b.checked)).toEqual([false, true, false, true, true]);

    // Escape closes the list; Show all brings every column back.
    el.querySelector(".rtw-table")!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(panel.hidden).toBe(true);
    button.click();
    el.querySelector<HTMLButtonElement>(".rtw-table-columns-all")!.click();
    nextFrame();
    expect(headers(el)).toEqual(["id", "name", evil, "__proto__x", "fresh"]);
    // A click outside closes it.
    document.body.dispatchEvent(new Event("pointerdown", { bubbles: true }));
    expect(panel.hidden).toBe(true);
    expect(doc.count()).toBe(closedListeners);
    button.click();
    cleanup();
    expect(doc.count()).toBe(0);
    doc.restore();
  });
});

describe("row detail", () => {
  const detail = (el: HTMLElement) => el.querySelector<HTMLElement>(".rtw-table-detail")!;
  const field = (el: HTMLElement, name: string) =>
    Array.from(detail(el).querySelectorAll(".rtw-json-entry"))
      .find((e) => e.firstElementChild!.textContent === name)
      ?.lastElementChild?.textContent;

  it("shows the clicked row's fields as a tree, follows its updates, says when it is deleted, closes", () => {
    const model = tableModel([
      { id: "a", name: "alpha", value: 1 },
      { id: "b", name: evil, value: 2 },
    ]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(detail(el).hidden).toBe(true);
    el.querySelector<HTMLElement>('tr.rtw-row[data-key="b"] td')!.click();
    nextFrame();
    expect(detail(el).hidden).toBe(false);
    expect(el.querySelector('tr.rtw-row[data-key="b"]')!.classList.contains("rtw-selected")).toBe(true);
    expect(field(el, "name")).toBe(JSON.stringify(evil));
    expect(field(el, "value")).toBe("2");
    expect(el.querySelector("img")).toBeNull();

    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "b", value: 5, extra: { deep: [1, 2] } }] });
    nextFrame();
    expect(field(el, "value")).toBe("5");
    expect(field(el, "extra")).toContain("{1 key}"); // two levels open
    // An update of another row leaves the tree as it is.
    const tree = detail(el).querySelector(".rtw-json");
    model.receive({ kind: "delta", seq: 2, upsert: [{ id: "a", value: 9 }] });
    nextFrame();
    expect(detail(el).querySelector(".rtw-json")).toBe(tree);

    model.receive({ kind: "delta", seq: 3, delete: ["b"] });
    nextFrame();
    const state = detail(el).querySelector<HTMLElement>(".rtw-table-detail-state")!;
    expect(state.hidden).toBe(false);
    expect(state.textContent).toBe("deleted");
    expect(field(el, "value")).toBe("5");
    // Back again: no longer deleted.
    model.receive({ kind: "delta", seq: 4, upsert: [{ id: "b", name: "again", value: 6 }] });
    nextFrame();
    expect(state.hidden).toBe(true);
    expect(field(el, "value")).toBe("6");

    el.querySelector(".rtw-table-scroll")!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(detail(el).hidden).toBe(true);
    el.querySelector<HTMLElement>('tr.rtw-row[data-key="a"] td')!.click();
    expect(field(el, "value")).toBe("9");
    detail(el).querySelector<HTMLButtonElement>(".rtw-table-detail-close")!.click();
    expect(detail(el).hidden).toBe(true);
    nextFrame();
    expect(el.querySelector(".rtw-selected")).toBeNull();
    cleanup();
  });

  it("opens from the keyboard and steps through the rows with the arrows", () => {
    const model = tableModel([
      { id: "a", name: "alpha", value: 1 },
      { id: "b", name: "beta", value: 2 },
      { id: "c", name: "gamma", value: 3 },
    ]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const scroller = el.querySelector<HTMLElement>(".rtw-table-scroll")!;
    const key = (k: string) => scroller.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
    key("Enter");
    expect(field(el, "name")).toBe('"alpha"');
    key("ArrowDown");
    key("ArrowDown");
    expect(field(el, "name")).toBe('"gamma"');
    key("ArrowDown"); // the last row stays open
    expect(field(el, "name")).toBe('"gamma"');
    key("ArrowUp");
    nextFrame();
    expect(field(el, "name")).toBe('"beta"');
    expect(el.querySelector<HTMLElement>("tr.rtw-selected")!.dataset.key).toBe("b");
    key("Escape");
    expect(detail(el).hidden).toBe(true);
    cleanup();
  });

  it("keeps the nodes the user opened as the row updates", () => {
    const model = tableModel([{ id: "a", name: { first: "x" }, value: 1 }]);
    const { el, cleanup } = mount(model);
    nextFrame();
    el.querySelector<HTMLElement>('tr.rtw-row[data-key="a"] td')!.click();
    const toggle = () => detail(el).querySelector<HTMLButtonElement>(".rtw-json-children .rtw-json-toggle")!;
    // Two levels open at first; close the row's `name`.
    expect(toggle().getAttribute("aria-expanded")).toBe("true");
    toggle().click();
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "a", value: 2 }] });
    nextFrame();
    expect(field(el, "value")).toBe("2");
    expect(toggle().getAttribute("aria-expanded")).toBe("false");
    cleanup();
  });
});

describe("group by", () => {
  it("aggregates per canonical value (1, \"1\" and true apart), with hostile names as plain text", () => {
    const rows = [
      { id: 1, g: 1, price: 10, qty: "2", note: "x" },
      { id: 2, g: "1", price: 20, qty: "3", note: "y" },
      { id: 3, g: true, price: 30, qty: "4", note: "z" },
      { id: 4, g: 1, price: 40, qty: "5", note: "w" },
      { id: 5, g: evil, price: 1.5, qty: null, note: "v" },
      { id: 6, g: "__proto__", price: -2, qty: "1", note: "u" },
    ];
    const data = new TableData();
    data.reset({ key: "id", rows });
    const grouped = groupBy(Array.from(data.rows.values()), "g", data.columns);
    expect(grouped.columns.map((c) => c.label)).toEqual([
      "g",
      "count",
      ...["sum", "mean", "min", "max", "last"].map((a) => `${a}(id)`),
      ...["sum", "mean", "min", "max", "last"].map((a) => `${a}(price)`),
      ...["sum", "mean", "min", "max", "last"].map((a) => `${a}(qty)`),
    ]);
    expect(Array.from(grouped.rows.keys())).toEqual(["1", '"1"', "true", JSON.stringify(evil), '"__proto__"']);
    const one = grouped.rows.get("1")!;
    const ids = Object.fromEntries(grouped.columns.map((c) => [c.label, c.id]));
    expect(one[ids["count"]!]).toBe(2);
    expect(one[ids["sum(price)"]!]).toBe(50);
    expect(one[ids["mean(price)"]!]).toBe(25);
    expect(one[ids["min(price)"]!]).toBe(10);
    expect(one[ids["max(price)"]!]).toBe(40);
    expect(one[ids["last(price)"]!]).toBe(40);
    expect(one[ids["sum(qty)"]!]).toBe(7);
    expect(grouped.rows.get('"1"')![ids["sum(price)"]!]).toBe(20);
    // The group with only a null qty has no figures for it.
    expect(grouped.rows.get(JSON.stringify(evil))![ids["sum(qty)"]!]).toBeNull();
    expect(Object.getPrototypeOf(grouped.rows.get('"__proto__"'))).toBeNull();
  });

  it("groups the view by a column live, with the filter applied, and none returns to rows", () => {
    const model = new FakeModel({
      _view: "table",
      _snapshot: {
        seq: 0,
        key: "id",
        columns: ["id", evil, "constructor", "count"],
        rows: [
          { id: "a", [evil]: 1, constructor: 10, count: "n" },
          { id: "b", [evil]: "1", constructor: 20, count: "n" },
          { id: "c", [evil]: 1, constructor: 30, count: "m" },
          { id: "d", [evil]: true, constructor: 5, count: "m" },
        ],
      },
    });
    const { el, cleanup } = mount(model);
    nextFrame();
    const options = Array.from(el.querySelectorAll<HTMLOptionElement>(".rtw-table-group option")).map((o) => o.textContent);
    expect(options).toEqual(["Group by: none", "id", evil, "constructor", "count"]);
    groupBySelect(el, evil);
    nextFrame();
    expect(el.querySelector("img")).toBeNull();
    expect(headers(el)).toEqual([
      evil,
      "count",
      "sum(constructor)",
      "mean(constructor)",
      "min(constructor)",
      "max(constructor)",
      "last(constructor)",
    ]);
    const groupIds = () => Array.from(el.querySelectorAll<HTMLElement>("tr.rtw-row")).map((tr) => tr.dataset.group);
    expect(groupIds()).toEqual(["1", '"1"', "true"]);
    expect(rowKeys(el)).toEqual(["1", "1", "true"]);
    // The string "1" shows quoted, and not as a number.
    const groupTds = Array.from(el.querySelectorAll("tr.rtw-row")).map((tr) => tr.children[0]!);
    expect(groupTds.map((td) => td.textContent)).toEqual(["1", '"1"', "true"]);
    expect(groupTds.map((td) => td.classList.contains("rtw-num"))).toEqual([true, false, false]);
    expect(Array.from(el.querySelectorAll("tr.rtw-row")).map((tr) => tr.children[1]!.textContent)).toEqual(["2", "1", "1"]);
    expect(el.querySelector(".rtw-table-count")!.textContent).toBe("3 groups · 4 rows");
    const first = el.querySelectorAll("tr.rtw-row")[0]!;
    expect(Array.from(first.children).map((td) => td.textContent)).toEqual(["1", "2", "40", "20", "10", "30", "30"]);

    // Live: an upsert moves a row between groups (it keeps its place in the table's order, before
    // "c", so "c" stays the group's last); a delete shrinks one.
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: "b", [evil]: 1, constructor: 7 }] });
    model.receive({ kind: "delta", seq: 2, delete: ["d"] });
    settle();
    expect(el.querySelectorAll("tr.rtw-row")).toHaveLength(1);
    expect(Array.from(el.querySelectorAll("tr.rtw-row")[0]!.children).map((td) => td.textContent)).toEqual([
      "1",
      "3",
      "47",
      "15.667",
      "7",
      "30",
      "30",
    ]);
    expect(groupIds()).toEqual(["1"]);

    // The filter picks the rows that are grouped.
    const filter = el.querySelector<HTMLInputElement>(".rtw-table-filter")!;
    filter.value = "m";
    filter.dispatchEvent(new Event("input"));
    settle();
    expect(Array.from(el.querySelectorAll("tr.rtw-row")[0]!.children).map((td) => td.textContent)).toEqual([
      "1",
      "1",
      "30",
      "30",
      "30",
      "30",
      "30",
    ]);
    expect(el.querySelector(".rtw-table-count")!.textContent).toBe("1 group · 1 of 3 rows");
    filter.value = "";
    filter.dispatchEvent(new Event("input"));

    // Hiding a column drops its figures; clicking a group shows them in the detail.
    el.querySelector<HTMLButtonElement>(".rtw-table-columns-button")!.click();
    toggleColumn(el, "constructor");
    nextFrame();
    expect(headers(el)).toEqual([evil, "count"]);
    toggleColumn(el, "constructor");
    nextFrame();
    el.querySelector<HTMLElement>("tr.rtw-row td")!.click();
    const entries = Array.from(el.querySelectorAll(".rtw-table-detail .rtw-json-entry")).map((e) => e.textContent);
    expect(entries.slice(0, 3)).toEqual([`${evil}: 1`, "count: 3", "sum(constructor): 47"]);

    groupBySelect(el, null);
    nextFrame();
    expect(el.querySelector<HTMLElement>(".rtw-table-detail")!.hidden).toBe(true);
    expect(headers(el)).toEqual(["id", evil, "constructor", "count"]);
    expect(rowKeys(el)).toEqual(["a", "b", "c"]);
    cleanup();
  });

  it("recomputes at most once a frame and only when rows changed; pause holds it still", () => {
    const model = new FakeModel({
      _view: "table",
      paused: false,
      _snapshot: { seq: 0, key: "id", columns: ["id", "g", "v"], rows: [{ id: 1, g: "x", v: 1 }] },
    });
    const { el, cleanup } = mount(model);
    nextFrame();
    groupBySelect(el, "g");
    nextFrame();
    const view = vi.spyOn(TableData.prototype, "view");
    for (let seq = 1; seq <= 5; seq++) model.receive({ kind: "delta", seq, upsert: [{ id: seq + 1, g: "x", v: seq }] });
    settle();
    // One regroup for the five deltas: the groups' order is computed once, right after them.
    expect(view).toHaveBeenCalledTimes(1);
    expect(groupedCells(el)["x"]!["count"]).toBe("6");
    view.mockClear();
    const scroller = el.querySelector<HTMLElement>(".rtw-table-scroll")!;
    scroller.dispatchEvent(new Event("scroll"));
    nextFrame();
    expect(view).not.toHaveBeenCalled();

    el.querySelector<HTMLButtonElement>(".rtw-pause-button")!.click();
    const before = el.querySelector("tbody")!.innerHTML;
    model.receive({ kind: "delta", seq: 6, upsert: [{ id: 99, g: "y", v: 1 }] });
    nextFrame();
    expect(el.querySelector("tbody")!.innerHTML).toBe(before);
    el.querySelector<HTMLButtonElement>(".rtw-pause-button")!.click();
    model.receive({ kind: "snapshot", seq: 7, key: "id", columns: ["id", "g", "v"], rows: [{ id: 1, g: "x", v: 1 }, { id: 99, g: "y", v: 4 }] });
    nextFrame();
    expect(Object.keys(groupedCells(el))).toEqual(["x", "y"]);
    expect(groupedCells(el)["y"]!["sum(v)"]).toBe("4");
    cleanup();
  });
});

describe("group last: the group's last row in the table's order", () => {
  const lastOf = (data: TableData, group: string): unknown =>
    groupBy(Array.from(data.rows.values()), "g", ["v"]).rows.get(group)?.["last.0"];

  it("an update keeps a row's place, so it does not become its group's last; a new key does", () => {
    const data = new TableData();
    data.apply({ kind: "delta", seq: 1, upsert: [{ id: 1, g: "x", v: 1 }, { id: 2, g: "x", v: 2 }, { id: 3, g: "y", v: 3 }] }, 0);
    expect(lastOf(data, '"x"')).toBe(2);
    // Row 1 changes after row 2 did, but it comes first in the table: row 2 is still the last.
    data.apply({ kind: "delta", seq: 2, upsert: [{ id: 1, g: "x", v: 100 }] }, 0);
    expect(lastOf(data, '"x"')).toBe(2);
    // Row 3 moves into the group: it comes after both, so it is the last now.
    data.apply({ kind: "delta", seq: 3, upsert: [{ id: 3, g: "x", v: 30 }] }, 0);
    expect(lastOf(data, '"x"')).toBe(30);
    expect(lastOf(data, '"y"')).toBeUndefined();
    // A row without a number there is passed over (as pandas skips a missing value); a numeric
    // string counts as its number.
    data.apply({ kind: "delta", seq: 4, upsert: [{ id: 3, g: "x", v: null }, { id: 2, g: "x", v: "2.5" }] }, 0);
    expect(lastOf(data, '"x"')).toBe(2.5);
    // Deleted and upserted again, a key goes to the end, as in the kernel's table.
    data.apply({ kind: "delta", seq: 5, delete: [1] }, 0);
    data.apply({ kind: "delta", seq: 6, upsert: [{ id: 1, g: "x", v: 7 }] }, 0);
    expect(Array.from(data.rows.keys())).toEqual(["2", "3", "1"]);
    expect(lastOf(data, '"x"')).toBe(7);
  });

  it("follows a snapshot's order exactly, then new keys appended after it", () => {
    const data = new TableData();
    data.apply({ kind: "delta", seq: 1, upsert: [{ id: 1, g: "x", v: 1 }, { id: 2, g: "x", v: 2 }] }, 0);
    data.apply({ kind: "delta", seq: 2, upsert: [{ id: 1, g: "x", v: 10 }] }, 0);
    expect(lastOf(data, '"x"')).toBe(2);
    // The snapshot lists row 2 first: row 1 is the group's last, whichever of them changed last.
    data.reset({ key: "id", rows: [{ id: 2, g: "x", v: 30 }, { id: 1, g: "x", v: 10 }] });
    expect(lastOf(data, '"x"')).toBe(10);
    data.apply({ kind: "delta", seq: 3, upsert: [{ id: 2, g: "x", v: 40 }] }, 0);
    expect(lastOf(data, '"x"')).toBe(10);
    data.apply({ kind: "delta", seq: 4, upsert: [{ id: 5, g: "x", v: 50 }] }, 0);
    expect(lastOf(data, '"x"')).toBe(50);
    // The same snapshot again gives the same answer (nothing depends on what the view saw before).
    const again = new TableData();
    again.reset({ key: "id", rows: Array.from(data.rows.values()) });
    expect(lastOf(again, '"x"')).toBe(50);
    data.reset({ key: "id", rows: [{ id: 5, g: "x", v: 50 }, { id: 2, g: "x", v: 40 }] });
    expect(lastOf(data, '"x"')).toBe(40);
  });

  it("in the live grouped view, an update to a group's earlier row leaves its last as it was", () => {
    const model = new FakeModel({
      _view: "table",
      _snapshot: { seq: 0, key: "id", columns: ["id", "g", "v"], rows: [{ id: 2, g: "x", v: 5 }, { id: 1, g: "x", v: 9 }] },
    });
    const { el, cleanup } = mount(model);
    nextFrame();
    groupBySelect(el, "g");
    nextFrame();
    expect(groupedCells(el)["x"]!["last(v)"]).toBe("9");
    model.receive({ kind: "delta", seq: 1, upsert: [{ id: 2, g: "x", v: 6 }] });
    settle();
    expect(groupedCells(el)["x"]!["last(v)"]).toBe("9");
    expect(groupedCells(el)["x"]!["sum(v)"]).toBe("15");
    cleanup();
  });
});
