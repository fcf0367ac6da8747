import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { COLOR_POLL_MS } from "./sparkline";
import { FakeModel } from "./testing/fake_model";
import { type DrawCall, countListeners, mount, nextFrame, stubCanvas, useFakeClock } from "./testing/helpers";

function metricsModel(extra: Record<string, unknown> = {}): FakeModel {
  return new FakeModel({
    _view: "metrics",
    _snapshot: {
      seq: 0,
      latest: { cpu: 42, mem: 1024 },
      history: { cpu: [[1, 40], [2, 41], [3, 42]], mem: [[1, 1000], [2, 1024]] },
      series: null,
      thresholds: { cpu: { above: 90 } },
      ...extra,
    },
  });
}

const card = (el: HTMLElement, name: string) => el.querySelector<HTMLElement>(`.rtw-metric-card[data-series="${name}"]`);
const count = (calls: DrawCall[], name: string) => calls.filter((c) => c.name === name).length;

let canvas: ReturnType<typeof stubCanvas>;
beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  canvas = stubCanvas();
});
afterEach(() => vi.useRealTimers());

describe("metrics view", () => {
  it("shows a card per series with value, change and a sparkline", () => {
    const { el, cleanup } = mount(metricsModel());
    nextFrame();
    expect(Array.from(el.querySelectorAll<HTMLElement>(".rtw-metric-card")).map((c) => c.dataset.series)).toEqual(["cpu", "mem"]);
    const cpu = card(el, "cpu")!;
    expect(cpu.querySelector(".rtw-metric-name")!.textContent).toBe("cpu");
    expect(cpu.querySelector(".rtw-metric-value")!.textContent).toBe("42");
    expect(cpu.querySelector(".rtw-metric-change")!.textContent).toBe("▲ +1");
    const cpuCalls = canvas.contexts.get(cpu.querySelector("canvas")!)!;
    expect(count(cpuCalls, "beginPath")).toBe(1);
    expect(count(cpuCalls, "moveTo")).toBe(1);
    expect(count(cpuCalls, "lineTo")).toBe(2);
    expect(count(cpuCalls, "stroke")).toBe(1);
    cleanup();
  });

  it("sizes the canvas for devicePixelRatio", () => {
    vi.spyOn(window, "devicePixelRatio", "get").mockReturnValue(2);
    const { el, cleanup } = mount(metricsModel());
    nextFrame();
    const c = card(el, "cpu")!.querySelector("canvas")!;
    expect(c.width).toBe(320);
    expect(c.height).toBe(72);
    expect(canvas.contexts.get(c)!.find((d) => d.name === "setTransform")!.args).toEqual([2, 0, 0, 2, 0, 0]);
    cleanup();
  });

  it("redraws every card when the theme's colours change, read once a second with every view's", () => {
    const { el, cleanup } = mount(metricsModel());
    nextFrame();
    const strokes = () => count(canvas.calls, "stroke");
    expect(strokes()).toBe(2);
    vi.advanceTimersByTime(COLOR_POLL_MS);
    nextFrame();
    expect(strokes()).toBe(2); // the same colours: nothing to redraw
    el.querySelector<HTMLElement>(".rtw-root")!.style.setProperty("--rtw-accent", "rgb(1, 2, 3)");
    vi.advanceTimersByTime(COLOR_POLL_MS);
    nextFrame();
    expect(strokes()).toBe(4);
    cleanup();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("redraws only the cards that changed, once per frame", () => {
    const model = metricsModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    canvas.calls.length = 0;
    for (let i = 1; i <= 5; i++) {
      model.receive({ kind: "delta", seq: i, latest: { cpu: 42 + i }, append: { cpu: [[3 + i, 42 + i]] } });
    }
    nextFrame();
    expect(count(canvas.calls, "beginPath")).toBe(1);
    expect(count(canvas.calls, "lineTo")).toBe(7);
    expect(card(el, "cpu")!.querySelector(".rtw-metric-value")!.textContent).toBe("47");
    expect(card(el, "cpu")!.querySelector(".rtw-metric-change")!.textContent).toBe("▲ +1");
    expect(card(el, "mem")!.querySelector(".rtw-metric-value")!.textContent).toBe("1,024");
    cleanup();
  });

  it("colours a card past its threshold", () => {
    const model = metricsModel({ thresholds: { cpu: { above: 90 }, mem: { below: 100 } } });
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(card(el, "cpu")!.classList.contains("rtw-alert")).toBe(false);
    model.receive({ kind: "delta", seq: 1, latest: { cpu: 95, mem: 50 } });
    nextFrame();
    expect(card(el, "cpu")!.classList.contains("rtw-alert")).toBe(true);
    expect(card(el, "mem")!.classList.contains("rtw-alert")).toBe(true);
    expect(card(el, "cpu")!.querySelector(".rtw-metric-change")!.textContent).toBe("▲ +53");
    model.receive({ kind: "delta", seq: 2, latest: { cpu: 10 } });
    nextFrame();
    expect(card(el, "cpu")!.classList.contains("rtw-alert")).toBe(false);
    expect(card(el, "cpu")!.querySelector(".rtw-metric-change")!.classList.contains("rtw-down")).toBe(true);
    cleanup();
  });

  it("the series chooser picks the cards; the state's series is the initial selection", () => {
    const model = metricsModel({ series: ["mem"] });
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(card(el, "cpu")).toBeNull();
    expect(card(el, "mem")).not.toBeNull();
    const boxes = Array.from(el.querySelectorAll<HTMLInputElement>(".rtw-series-chooser input[type=checkbox]"));
    expect(boxes.map((b) => [b.value, b.checked])).toEqual([["cpu", false], ["mem", true]]);
    boxes[0]!.checked = true;
    boxes[0]!.dispatchEvent(new Event("change", { bubbles: true }));
    boxes[1]!.checked = false;
    boxes[1]!.dispatchEvent(new Event("change", { bubbles: true }));
    nextFrame();
    expect(card(el, "cpu")).not.toBeNull();
    expect(card(el, "mem")).toBeNull();
    cleanup();
  });

  it("follows a series selection changed in the kernel", () => {
    const model = metricsModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, series: ["cpu"], thresholds: {} });
    nextFrame();
    expect(card(el, "cpu")).not.toBeNull();
    expect(card(el, "mem")).toBeNull();
    model.receive({ kind: "delta", seq: 2, series: null, thresholds: {} });
    nextFrame();
    expect(card(el, "mem")).not.toBeNull();
    cleanup();
  });

  it("keeps the history bounded", () => {
    const model = metricsModel({ history_size: 4 });
    const { el, cleanup } = mount(model);
    nextFrame();
    canvas.calls.length = 0;
    model.receive({ kind: "delta", seq: 1, latest: { cpu: 9 }, append: { cpu: [[4, 1], [5, 2], [6, 3], [7, 9]] } });
    nextFrame();
    expect(count(canvas.calls, "moveTo") + count(canvas.calls, "lineTo")).toBe(4);
    expect(card(el, "cpu")!.querySelector(".rtw-metric-value")!.textContent).toBe("9");
    cleanup();
  });

  it("new series appear as cards", () => {
    const model = metricsModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, latest: { "<b>x</b>": 1 }, append: { "<b>x</b>": [[5, 1]] } });
    nextFrame();
    expect(card(el, "<b>x</b>")!.querySelector(".rtw-metric-name")!.textContent).toBe("<b>x</b>");
    expect(el.querySelector("b")).toBeNull();
    cleanup();
  });

  it("cleanup releases listeners, frames and timers", () => {
    const win = countListeners(window);
    const model = metricsModel();
    const { cleanup } = mount(model);
    model.receive({ kind: "delta", seq: 1, latest: { cpu: 1 } });
    expect(vi.getTimerCount()).toBeGreaterThan(0); // the pending frame
    cleanup();
    expect(vi.getTimerCount()).toBe(0);
    expect(model.listenerCount()).toBe(0);
    expect(win.count()).toBe(0);
    win.restore();
  });

  it("touches the DOM only where the shown text or state changed", () => {
    const model = metricsModel({ thresholds: { cpu: { above: 90 } } });
    const { el, cleanup } = mount(model);
    nextFrame();
    const cpu = card(el, "cpu")!;
    expect(cpu.title).toBe("alert above 90");
    const valueNode = cpu.querySelector(".rtw-metric-value")!.firstChild;
    const records: MutationRecord[] = [];
    const observer = new MutationObserver((r) => records.push(...r));
    observer.observe(el, { subtree: true, childList: true, characterData: true, attributes: true });
    // Same latest value, one more point: only the canvas redraws.
    model.receive({ kind: "delta", seq: 1, latest: { cpu: 42 }, append: { cpu: [[4, 42]] } });
    nextFrame();
    records.push(...observer.takeRecords());
    expect(records).toEqual([]);
    // A new value: two text updates in place (value and change), no node or attribute churn.
    model.receive({ kind: "delta", seq: 2, latest: { cpu: 45 }, append: { cpu: [[5, 45]] } });
    nextFrame();
    records.push(...observer.takeRecords());
    observer.disconnect();
    expect(records.map((r) => [r.type, r.target.textContent])).toEqual([
      ["characterData", "45"],
      ["characterData", "▲ +3"],
    ]);
    expect(cpu.querySelector(".rtw-metric-value")!.firstChild).toBe(valueNode);
    cleanup();
  });

  it("paces redraws when a frame goes over budget, and never drops a point", () => {
    // A slow canvas: each stroke costs 60 ms on the fake clock, so two cards cost 120 ms, over budget.
    const stub = vi.mocked(HTMLCanvasElement.prototype.getContext);
    const makeCtx = stub.getMockImplementation()!;
    stub.mockImplementation(function (this: HTMLCanvasElement, ...args: unknown[]) {
      const ctx = (makeCtx as (...a: unknown[]) => CanvasRenderingContext2D).apply(this, args);
      const stroke = ctx.stroke.bind(ctx);
      ctx.stroke = () => {
        stroke();
        vi.setSystemTime(Date.now() + 60);
      };
      return ctx;
    } as never);
    const model = metricsModel();
    const { el, cleanup } = mount(model);
    nextFrame(); // first draw: 120 ms
    const value = () => card(el, "cpu")!.querySelector(".rtw-metric-value")!.textContent;
    const strokes = () => count(canvas.calls, "stroke");
    expect(strokes()).toBe(2);
    let seq = 0;
    let t = 3;
    const send = (): void => {
      seq++;
      t++;
      model.receive({ kind: "delta", seq, latest: { cpu: t, mem: t }, append: { cpu: [[t, t]], mem: [[t, t]] } });
    };
    send();
    nextFrame(); // a 120 ms draw: over budget
    expect(strokes()).toBe(4);
    expect(value()).toBe("4");
    send();
    nextFrame();
    send();
    nextFrame();
    // Paced: the frames after the slow one did not draw; the data still took every delta.
    expect(strokes()).toBe(4);
    expect(value()).toBe("4");
    vi.advanceTimersByTime(120);
    nextFrame();
    // One draw of the latest state: the latest value, and all 3 + 3 cpu points in the sparkline.
    expect(strokes()).toBe(6);
    expect(value()).toBe("6");
    const cpuCalls = canvas.contexts.get(card(el, "cpu")!.querySelector("canvas")!)!;
    const lastPath = cpuCalls.slice(cpuCalls.map((c) => c.name).lastIndexOf("beginPath"));
    expect(count(lastPath, "moveTo") + count(lastPath, "lineTo")).toBe(6);
    cleanup();
    expect(vi.getTimerCount()).toBe(0);
  });
});
