import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Scope } from "./dom";
import { SeqSync } from "./sync";
import { FakeModel } from "./testing/fake_model";
import { mount, nextFrame, stubCanvas, useFakeClock } from "./testing/helpers";

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

const badge = (el: HTMLElement) => el.querySelector<HTMLElement>(".rtw-pause-badge")!;
const button = (el: HTMLElement) => el.querySelector<HTMLButtonElement>(".rtw-pause-button")!;

function tableModel(): FakeModel {
  return new FakeModel({
    _view: "table",
    paused: false,
    _snapshot: { seq: 1, key: "id", columns: ["id", "n"], rows: [{ id: "a", n: 1 }, { id: "b", n: 2 }] },
  });
}

describe("pause on a table", () => {
  it("holds the DOM still, counts what waits, and resume jumps to the current state", () => {
    const model = tableModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(button(el).textContent).toBe("Pause");
    expect(badge(el).hidden).toBe(true);
    button(el).click();
    expect(model.sent).toEqual([{ kind: "pause" }]);
    expect(button(el).getAttribute("aria-pressed")).toBe("true");
    expect(badge(el).textContent).toBe("Paused");
    model.set("paused", true); // the kernel's answer changes nothing more
    const tbody = el.querySelector("tbody")!;
    const before = tbody.innerHTML;
    for (let seq = 2; seq < 10; seq++) model.receive({ kind: "delta", seq, upsert: [{ id: "a", n: seq }, { id: `new${seq}`, n: 0 }] });
    model.update({ _snapshot: { seq: 20, key: "id", columns: ["id", "n"], rows: [{ id: "z", n: 0 }] } });
    model.receive({ kind: "waiting", count: 1 });
    model.receive({ kind: "waiting", count: 1234 });
    nextFrame();
    vi.advanceTimersByTime(1000);
    nextFrame();
    expect(tbody.innerHTML).toBe(before);
    expect(badge(el).textContent).toBe("1,234 updates waiting");
    // Local interactions still work on the held rows.
    expect(el.querySelector(".rtw-table-count")!.textContent).toBe("2 rows");

    button(el).click();
    expect(model.sent).toEqual([{ kind: "pause" }, { kind: "resume" }]);
    expect(badge(el).hidden).toBe(true);
    model.set("paused", false);
    // Deltas that arrive before the resume's snapshot wait for it.
    model.receive({ kind: "delta", seq: 32, upsert: [{ id: "c", n: 3 }] });
    model.receive({ kind: "snapshot", seq: 31, key: "id", columns: ["id", "n"], rows: [{ id: "a", n: 9 }, { id: "b", n: 2 }] });
    nextFrame();
    expect(Array.from(el.querySelectorAll<HTMLElement>("tr.rtw-row")).map((r) => r.dataset.key)).toEqual(["a", "b", "c"]);
    expect(el.querySelector('tr.rtw-row[data-key="a"] td:nth-child(2)')!.textContent).toBe("9");
    cleanup();
  });

  it("follows a pause and a resume from the kernel", () => {
    const model = tableModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    model.set("paused", true);
    expect(button(el).textContent).toBe("Resume");
    model.receive({ kind: "delta", seq: 2, upsert: [{ id: "a", n: 5 }] });
    nextFrame();
    expect(el.querySelector('tr.rtw-row[data-key="a"] td:nth-child(2)')!.textContent).toBe("1");
    model.set("paused", false);
    expect(button(el).textContent).toBe("Pause");
    model.receive({ kind: "snapshot", seq: 2, key: "id", columns: ["id", "n"], rows: [{ id: "a", n: 5 }] });
    nextFrame();
    expect(el.querySelector('tr.rtw-row[data-key="a"] td:nth-child(2)')!.textContent).toBe("5");
    expect(model.sent).toEqual([]);
    cleanup();
  });

  it("starts held when the model is paused", () => {
    const model = tableModel();
    model.attrs.paused = true;
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(button(el).getAttribute("aria-pressed")).toBe("true");
    expect(badge(el).hidden).toBe(false);
    cleanup();
  });
});

describe("pause on the other views", () => {
  it("holds metrics cards still", () => {
    const model = new FakeModel({
      _view: "metrics",
      paused: false,
      _snapshot: { seq: 1, latest: { cpu: 1 }, history: { cpu: [[1, 1]] }, series: null, thresholds: {}, history_size: 300 },
    });
    const { el, cleanup } = mount(model);
    nextFrame();
    button(el).click();
    model.receive({ kind: "delta", seq: 2, latest: { cpu: 99 }, append: { cpu: [[2, 99]] } });
    model.receive({ kind: "waiting", count: 1 });
    nextFrame();
    expect(el.querySelector(".rtw-metric-value")!.textContent).toBe("1");
    expect(badge(el).textContent).toBe("1 update waiting");
    button(el).click();
    model.receive({ kind: "snapshot", seq: 2, latest: { cpu: 99 }, history: { cpu: [[1, 1], [2, 99]] }, series: null, thresholds: {}, history_size: 300 });
    nextFrame();
    expect(el.querySelector(".rtw-metric-value")!.textContent).toBe("99");
    cleanup();
  });

  it("holds notifications back: no toast while paused", () => {
    const model = new FakeModel({ _view: "notifications", paused: false, _snapshot: { seq: 0, items: [] } });
    const { el, cleanup } = mount(model);
    nextFrame();
    button(el).click();
    model.receive({ kind: "delta", seq: 1, add: [{ id: 1, level: "info", title: "t", message: "m", timestamp: "", source: "s" }] });
    nextFrame();
    expect(el.querySelectorAll(".rtw-toast").length).toBe(0);
    button(el).click();
    model.receive({ kind: "snapshot", seq: 1, items: [{ id: 1, level: "info", title: "t", message: "m", timestamp: "", source: "s" }] });
    nextFrame();
    expect(el.querySelector(".rtw-history-summary")!.textContent).toBe("History (1)");
    cleanup();
  });
});

describe("SeqSync hold and release", () => {
  it("asks for a snapshot when the kernel sends none after a resume, and takes one of its own seq", () => {
    const model = new FakeModel({ _snapshot: { seq: 3, items: [] } });
    const applied: number[] = [];
    const resets: number[] = [];
    const scope = new Scope();
    const sync = new SeqSync<"notifications">(model, {
      reset: (s) => resets.push(s.seq ?? -1),
      apply: (d) => applied.push(d.seq),
    }, scope);
    sync.hold();
    model.receive({ kind: "delta", seq: 4, add: [] });
    expect(applied).toEqual([]);
    sync.release();
    expect(sync.waiting).toBe(true);
    vi.advanceTimersByTime(3000);
    expect(model.sent).toEqual([{ kind: "snapshot_request" }]);
    // Nothing changed while paused: a snapshot of the view's own seq ends the wait.
    model.receive({ kind: "snapshot", seq: 3, items: [] });
    expect(sync.waiting).toBe(false);
    expect(resets).toEqual([3, 3]);
    model.receive({ kind: "delta", seq: 4, add: [] });
    expect(applied).toEqual([4]);
    scope.dispose();
    expect(model.listenerCount()).toBe(0);
  });
});
