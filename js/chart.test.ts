import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChartData, MAX_SERIES, presetLabel } from "./chart";
import { FakeManager, FakeModel } from "./testing/fake_model";
import { countListeners, mount, nextFrame, useFakeClock } from "./testing/helpers";

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z

function points(n: number, from = T0, step = 1): number[] {
  return Array.from({ length: n }, (_, i) => from + i * step);
}

function chartModel(extra: Record<string, unknown> = {}, state: Record<string, unknown> = {}): FakeModel {
  const t = points(600);
  return new FakeModel({
    _view: "chart",
    window: 300,
    paused: false,
    _snapshot: {
      seq: 1,
      series: ["cpu", "mem"],
      columns: [
        { s: 0, t, v: t.map((_, i) => i) },
        { s: 1, v: t.map((_, i) => 1000 + i) },
      ],
      max_series: 32,
      max_points: 10_000,
      dropped_series: 0,
      dropped_points: 0,
      ignored: 0,
      ...state,
    },
    ...extra,
  });
}

/** jsdom has no canvas: a 2D context that accepts every call uPlot makes and counts the strokes. */
let strokes = 0;
function stubCanvas(): void {
  strokes = 0;
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(function () {
    const target: Record<string | symbol, unknown> = {};
    return new Proxy(target, {
      get(obj, prop) {
        if (prop in obj) return obj[prop];
        if (prop === "measureText") return () => ({ width: 10 });
        if (prop === "stroke") return () => void strokes++;
        return () => {};
      },
      set(obj, prop, value) {
        obj[prop] = value;
        return true;
      },
    }) as unknown as CanvasRenderingContext2D;
  } as never);
}

const root = (el: HTMLElement) => el.querySelector<HTMLElement>(".rtw-chart")!;
const range = (el: HTMLElement) => [Number(root(el).dataset.xMin), Number(root(el).dataset.xMax)];
const legendValue = (el: HTMLElement, name: string) =>
  el.querySelector(`.rtw-chart-series[data-series="${name}"] .rtw-chart-value`)!.textContent;
const preset = (el: HTMLElement, w: string) => el.querySelector<HTMLButtonElement>(`.rtw-chart-preset[data-window="${w}"]`)!;
const over = (el: HTMLElement) => el.querySelector<HTMLElement>(".u-over")!;

function mouse(target: EventTarget, type: string, clientX: number, extra: MouseEventInit = {}): void {
  target.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, clientX, clientY: 50, button: 0, ...extra }));
}

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

describe("chart view", () => {
  it("draws every series with a legend of live values over the window", () => {
    const { el, cleanup } = mount(chartModel());
    nextFrame();
    expect(el.querySelector(".uplot")).not.toBeNull();
    expect(strokes).toBeGreaterThan(0);
    const names = Array.from(el.querySelectorAll<HTMLElement>(".rtw-chart-series")).map((b) => b.dataset.series);
    expect(names).toEqual(["cpu", "mem"]);
    expect(legendValue(el, "cpu")).toBe("599");
    expect(legendValue(el, "mem")).toBe("1,599");
    // Following live data: the last 5 minutes up to the newest point.
    expect(range(el)).toEqual([T0 + 599 - 300, T0 + 599]);
    expect(root(el).dataset.mode).toBe("live");
    expect(preset(el, "300").getAttribute("aria-pressed")).toBe("true");
    cleanup();
  });

  it("appends the points of each delta and follows them", () => {
    const model = chartModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 2, append: [{ s: 0, t: [T0 + 600, T0 + 601], v: [7, 8] }, { s: 1, v: [9, 10] }] });
    model.receive({ kind: "delta", seq: 3, series: ["disk"], append: [{ s: 2, t: [T0 + 602], v: [0.5] }] });
    nextFrame();
    expect(legendValue(el, "cpu")).toBe("8");
    expect(legendValue(el, "mem")).toBe("10");
    expect(legendValue(el, "disk")).toBe("0.5");
    expect(range(el)[1]).toBe(T0 + 602);
    cleanup();
  });

  it("switches the window between the presets", () => {
    const { el, cleanup } = mount(chartModel());
    nextFrame();
    expect(Array.from(el.querySelectorAll(".rtw-chart-preset")).map((b) => b.textContent)).toEqual(["1 min", "5 min", "15 min", "All"]);
    preset(el, "60").click();
    nextFrame();
    expect(range(el)).toEqual([T0 + 599 - 60, T0 + 599]);
    expect(preset(el, "60").getAttribute("aria-pressed")).toBe("true");
    expect(preset(el, "300").getAttribute("aria-pressed")).toBe("false");
    preset(el, "all").click();
    nextFrame();
    expect(range(el)).toEqual([T0, T0 + 599]);
    cleanup();
  });

  it("takes its window from the kernel, and offers an odd one as a preset", () => {
    const model = chartModel({ window: 45 });
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(preset(el, "45").textContent).toBe("45 s");
    expect(range(el)).toEqual([T0 + 599 - 45, T0 + 599]);
    model.set("window", null);
    nextFrame();
    expect(range(el)).toEqual([T0, T0 + 599]);
    expect(presetLabel(7200)).toBe("2 h");
    cleanup();
  });

  it("toggles series from the legend", () => {
    const { el, cleanup } = mount(chartModel());
    nextFrame();
    const cpu = el.querySelector<HTMLButtonElement>('.rtw-chart-series[data-series="cpu"]')!;
    expect(cpu.getAttribute("aria-pressed")).toBe("true");
    cpu.click();
    nextFrame();
    expect(cpu.getAttribute("aria-pressed")).toBe("false");
    // Hidden series leave the hover readout too.
    mouse(over(el), "mousemove", 300);
    nextFrame();
    const rows = Array.from(el.querySelectorAll(".rtw-chart-tooltip-row .rtw-chart-name")).map((n) => n.textContent);
    expect(rows).not.toContain("cpu");
    cpu.click();
    nextFrame();
    expect(cpu.getAttribute("aria-pressed")).toBe("true");
    cleanup();
  });

  it("shows the values under the cursor", () => {
    const { el, cleanup } = mount(chartModel());
    nextFrame();
    mouse(over(el), "mouseenter", 300);
    mouse(over(el), "mousemove", 300);
    nextFrame();
    const tooltip = el.querySelector<HTMLElement>(".rtw-chart-tooltip")!;
    expect(tooltip.hidden).toBe(false);
    const names = Array.from(tooltip.querySelectorAll(".rtw-chart-tooltip-row .rtw-chart-name")).map((n) => n.textContent);
    expect(names).toEqual(["cpu", "mem"]);
    const values = Array.from(tooltip.querySelectorAll(".rtw-chart-tooltip-row .rtw-chart-value")).map((n) => Number(n.textContent!.replace(",", "")));
    expect(values[1]! - values[0]!).toBe(1000);
    mouse(over(el), "mouseleave", -1);
    nextFrame();
    expect(tooltip.hidden).toBe(true);
    cleanup();
  });

  it("uses a log scale on demand and says which values it cannot show", () => {
    const model = chartModel({}, { series: ["v"], columns: [{ s: 0, t: points(4), v: [-1, 0, 10, 100] }] });
    const { el, cleanup } = mount(model);
    nextFrame();
    const log = el.querySelector<HTMLInputElement>(".rtw-chart-log")!;
    log.checked = true;
    log.dispatchEvent(new Event("change"));
    nextFrame();
    expect(el.querySelector(".rtw-chart-notes")!.textContent).toContain("2 values ≤ 0 not shown on the log scale");
    model.receive({ kind: "delta", seq: 2, append: [{ s: 0, t: [T0 + 10], v: [-5] }] });
    nextFrame();
    expect(el.querySelector(".rtw-chart-notes")!.textContent).toContain("3 values ≤ 0");
    log.checked = false;
    log.dispatchEvent(new Event("change"));
    nextFrame();
    expect(el.querySelector<HTMLElement>(".rtw-chart-notes")!.hidden).toBe(true);
    cleanup();
  });

  it("zooms into a dragged range, holds it while data arrives, and a double-click resets it", () => {
    const model = chartModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    const [min0, max0] = range(el);
    mouse(over(el), "mousedown", 100);
    mouse(over(el), "mousemove", 300);
    mouse(document, "mouseup", 300);
    nextFrame();
    expect(root(el).dataset.mode).toBe("zoomed");
    const [min1, max1] = range(el);
    expect(min1).toBeGreaterThan(min0!);
    expect(max1).toBeLessThan(max0!);
    expect(el.querySelector<HTMLElement>(".rtw-chart-reset")!.hidden).toBe(false);
    model.receive({ kind: "delta", seq: 2, append: [{ s: 0, t: [T0 + 700], v: [1] }] });
    nextFrame();
    expect(range(el)).toEqual([min1, max1]);
    // Shift-drag pans: the same span, earlier.
    mouse(over(el), "mousedown", 300, { shiftKey: true });
    mouse(document, "mousemove", 400);
    mouse(document, "mouseup", 400);
    nextFrame();
    const [min2, max2] = range(el);
    expect(min2).toBeLessThan(min1!);
    expect(max2! - min2!).toBeCloseTo(max1! - min1!, 6);
    over(el).dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    nextFrame();
    expect(root(el).dataset.mode).toBe("live");
    expect(range(el)).toEqual([T0 + 700 - 300, T0 + 700]);
    expect(el.querySelector<HTMLElement>(".rtw-chart-reset")!.hidden).toBe(true);
    cleanup();
  });

  it("says what the bounds dropped", () => {
    const model = chartModel({}, { dropped_series: 3, ignored: 2, max_points: 600 });
    const { el, cleanup } = mount(model);
    nextFrame();
    const notes = el.querySelector(".rtw-chart-notes")!.textContent!;
    expect(notes).toContain("3 more series not shown (at most 32 series).");
    expect(notes).toContain("Showing the last 600 points of each series.");
    expect(notes).toContain("2 values ignored");
    cleanup();
  });

  it("shows server text as text", () => {
    const model = chartModel({}, { series: ['<img src=x onerror="alert(1)">'], columns: [{ s: 0, t: [T0], v: [1] }] });
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector(".rtw-chart-name")!.textContent).toBe('<img src=x onerror="alert(1)">');
    cleanup();
  });

  it("waits for data before drawing", () => {
    const model = chartModel({}, { series: [], columns: [] });
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(el.querySelector<HTMLElement>(".rtw-chart-empty")!.hidden).toBe(false);
    expect(el.querySelector(".uplot")).toBeNull();
    model.receive({ kind: "delta", seq: 2, series: ["a"], append: [{ s: 0, t: [T0], v: [1] }] });
    nextFrame();
    expect(el.querySelector<HTMLElement>(".rtw-chart-empty")!.hidden).toBe(true);
    expect(el.querySelector(".uplot")).not.toBeNull();
    cleanup();
  });

  it("releases every listener and the uPlot instance on cleanup", () => {
    const win = countListeners(window);
    const doc = countListeners(document);
    const model = chartModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    mouse(over(el), "mousedown", 300, { shiftKey: true });
    expect(doc.count()).toBeGreaterThan(0);
    cleanup();
    expect(el.querySelector(".uplot")).toBeNull();
    expect(el.children.length).toBe(0);
    expect(win.count()).toBe(0);
    expect(doc.count()).toBe(0);
    expect(model.listenerCount()).toBe(0);
    win.restore();
    doc.restore();
  });

  it("stops on the abort signal too", () => {
    const model = chartModel();
    const { el, controller } = mount(model);
    nextFrame();
    controller.abort();
    expect(el.querySelector(".uplot")).toBeNull();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("chart pause", () => {
  it("holds the picture still, counts the updates waiting, and resume shows the current state", () => {
    const model = chartModel();
    const { el, cleanup } = mount(model);
    nextFrame();
    const button = el.querySelector<HTMLButtonElement>(".rtw-pause-button")!;
    button.click();
    expect(model.sent).toContainEqual({ kind: "pause" });
    model.set("paused", true);
    const before = el.querySelector(".rtw-chart")!.innerHTML;
    model.receive({ kind: "delta", seq: 2, append: [{ s: 0, t: [T0 + 600], v: [42] }] });
    model.receive({ kind: "waiting", count: 3 });
    nextFrame();
    expect(legendValue(el, "cpu")).toBe("599");
    expect(el.querySelector(".rtw-pause-badge")!.textContent).toBe("3 updates waiting");
    expect(el.querySelector(".rtw-chart-legend")!.innerHTML).toBe(new DOMParser().parseFromString(before, "text/html").querySelector(".rtw-chart-legend")!.innerHTML);
    button.click();
    expect(model.sent).toContainEqual({ kind: "resume" });
    model.set("paused", false);
    const t = points(650);
    model.receive({ kind: "snapshot", seq: 4, series: ["cpu", "mem"], columns: [{ s: 0, t, v: t.map(() => 5) }, { s: 1, v: t.map(() => 6) }],
      max_series: 32, max_points: 10_000, dropped_series: 0, dropped_points: 0, ignored: 0 });
    nextFrame();
    expect(legendValue(el, "cpu")).toBe("5");
    expect(range(el)[1]).toBe(T0 + 649);
    expect(el.querySelector<HTMLElement>(".rtw-pause-badge")!.hidden).toBe(true);
    cleanup();
  });
});

describe("ChartData", () => {
  const delta = (seq: number, extra: Record<string, unknown>) => ({ kind: "delta" as const, seq, ...extra });

  it("aligns series of their own times, in time order", () => {
    const data = new ChartData();
    data.reset({ series: ["a", "b"], columns: [{ s: 0, t: [1, 3], v: [10, 30] }, { s: 1, t: [2, 3], v: [20, 31] }] });
    expect(data.xs).toEqual([1, 2, 3]);
    expect(data.raw).toEqual([[10, null, 30], [null, 20, 31]]);
    data.apply(delta(2, { append: [{ s: 1, t: [1.5], v: [15] }, { s: 0, t: [4], v: [40] }] }));
    expect(data.xs).toEqual([1, 1.5, 2, 3, 4]);
    expect(data.raw).toEqual([[10, null, null, 30, 40], [null, 15, 20, 31, null]]);
    expect(data.latest(0)).toBe(40);
    expect(data.latest(1)).toBe(31);
    expect(data.valueAt(0, 2)).toBe(10);
  });

  it("keeps max_points per series, dropping the oldest, and compacts the table", () => {
    const data = new ChartData();
    data.reset({ series: ["a"], columns: [], max_points: 3 });
    for (let i = 0; i < 10_000; i++) data.apply(delta(i + 2, { append: [{ s: 0, t: [i], v: [i] }] }));
    expect(data.counts[0]).toBe(3);
    expect(data.rows).toBe(3);
    expect(data.xs.length).toBeLessThan(5000);
    expect(data.raw[0]!.slice(data.head)).toEqual([9997, 9998, 9999]);
    expect(data.start).toBe(9997);
    expect(data.full).toBe(true);
  });

  it("refuses series past its own bound and names past the kernel's", () => {
    const data = new ChartData();
    const names = Array.from({ length: MAX_SERIES + 5 }, (_, i) => `s${i}`);
    data.reset({ series: names, columns: [{ s: MAX_SERIES + 1, t: [1], v: [1] }, { s: 99, t: [1], v: [1] }] });
    expect(data.names.length).toBe(MAX_SERIES);
    expect(data.refused).toBe(2);
  });

  it("ignores what is not a number", () => {
    const data = new ChartData();
    data.reset({ series: ["a"], columns: [{ s: 0, t: [1, 2, "3", 4] as unknown as number[], v: [1, null, 3, "x"] as unknown as number[] }] });
    expect(data.xs).toEqual([1]);
  });
});

describe("the explorer's charts", () => {
  const flushPromises = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };

  function explorer(extra: Record<string, unknown>) {
    const manager = new FakeManager();
    manager.create("m1", {
      _view: "metrics",
      paused: false,
      _snapshot: { seq: 0, latest: { cpu: 1 }, history: { cpu: [[T0, 1]] }, series: null, thresholds: {}, history_size: 300 },
    });
    const chart = chartModel();
    manager.models.set("c1", chart);
    manager.models.set("c2", chartModel());
    return manager.create("rt", {
      _view: "realtime", status: "connected", attempt: 0, next_retry_in: null, error: null, latency_ms: null, queued: 0,
      stats: {}, url: "", overview: {}, children: {}, charts: {}, ...extra,
    });
  }

  it("shows a type's chart under its cards, and a chart alone as its own tab", async () => {
    const model = explorer({
      children: { metrics_update: "IPY_MODEL_m1" },
      charts: { metrics_update: "IPY_MODEL_c1", trade: "IPY_MODEL_c2" },
    });
    const { el, cleanup } = mount(model);
    await flushPromises();
    nextFrame();
    const tabs = Array.from(el.querySelectorAll<HTMLElement>(".rtw-tab")).map((t) => t.dataset.type);
    expect(tabs).toEqual(["metrics_update", "trade"]);
    const views = Array.from(el.querySelectorAll(".rtw-tab-content > .rtw-tab-view > .rtw-root")).map((v) => v.className);
    expect(views).toEqual(["rtw-root rtw-metrics", "rtw-root rtw-chart"]);
    el.querySelector<HTMLElement>('.rtw-tab[data-type="trade"]')!.click();
    await flushPromises();
    nextFrame();
    expect(Array.from(el.querySelectorAll(".rtw-tab-content .rtw-root")).map((v) => v.className)).toEqual(["rtw-root rtw-chart"]);
    cleanup();
    expect(el.querySelector(".uplot")).toBeNull();
  });

  it("adds a chart that arrives later to the open tab", async () => {
    const model = explorer({ children: { metrics_update: "IPY_MODEL_m1" } });
    const { el, cleanup } = mount(model);
    await flushPromises();
    expect(el.querySelector(".rtw-chart")).toBeNull();
    model.set("charts", { metrics_update: "IPY_MODEL_c1" });
    await flushPromises();
    nextFrame();
    expect(el.querySelector(".rtw-tab-content .rtw-metrics")).not.toBeNull();
    expect(el.querySelector(".rtw-tab-content .rtw-chart")).not.toBeNull();
    cleanup();
  });
});
