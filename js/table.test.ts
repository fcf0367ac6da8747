import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FLASH_MS, OVERSCAN, TableData } from "./table";
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
    nextFrame();
    expect(rowKeys(el)).toEqual(["b", "c"]);
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
