import { afterEach, describe, expect, it, vi } from "vitest";
import { FRAME_BUDGET_MS, FrameTask, Scope, cellText, formatAgo, formatCompact, formatNumber, h, modelId, toEpochMs } from "./dom";
import { FakeModel } from "./testing/fake_model";
import { useFakeClock } from "./testing/helpers";

afterEach(() => vi.useRealTimers());

describe("dom helpers", () => {
  it("h() puts strings in as text nodes", () => {
    const el = h("div", { class: "x", title: "<b>" }, ["<img src=x onerror=alert(1)>", h("span", { text: "<i>" })]);
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector("i")).toBeNull();
    expect(el.textContent).toBe("<img src=x onerror=alert(1)><i>");
    expect(el.title).toBe("<b>");
  });

  it("formats numbers and cells", () => {
    expect(formatNumber(1234.5678)).toBe("1,234.568");
    expect(formatNumber(0.0000001)).toBe("1.000e-7");
    expect(formatNumber(0)).toBe("0");
    expect(formatCompact(0.5)).toBe("0.5");
    expect(cellText(null)).toBe("");
    expect(cellText(true)).toBe("true");
    expect(cellText({ a: [1] })).toBe('{"a":[1]}');
    expect(cellText(Number.NaN)).toBe("NaN");
  });

  it("reads model references and timestamps", () => {
    expect(modelId("IPY_MODEL_abc")).toBe("abc");
    expect(modelId("")).toBeNull();
    expect(modelId(null)).toBeNull();
    expect(toEpochMs(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toEpochMs(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(toEpochMs("2026-01-01T00:00:00Z")).toBe(Date.UTC(2026, 0, 1));
    expect(toEpochMs("nope")).toBeNull();
    expect(formatAgo(1000, 6500)).toBe("5 s ago");
    expect(formatAgo(0, 125_000)).toBe("2 min ago");
  });

  it("Scope releases listeners, timers and frames, children first and once", () => {
    useFakeClock();
    const scope = new Scope();
    const model = new FakeModel();
    const target = document.createElement("div");
    const clicks: number[] = [];
    scope.listen(target, "click", () => clicks.push(1));
    scope.on(model, "change:x", () => clicks.push(2));
    scope.timeout(() => clicks.push(3), 100);
    scope.interval(() => clicks.push(4), 100);
    scope.frame(() => clicks.push(5));
    const child = scope.child();
    child.timeout(() => clicks.push(6), 100);
    child.dispose();
    expect(vi.getTimerCount()).toBe(3);
    scope.dispose();
    scope.dispose();
    target.click();
    model.set("x", 1);
    vi.advanceTimersByTime(500);
    expect(clicks).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    expect(model.listenerCount()).toBe(0);
    // Registering after dispose is a no-op, and add() runs at once.
    let ran = false;
    scope.add(() => (ran = true));
    scope.timeout(() => clicks.push(7), 1);
    expect(ran).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an aborted signal disposes the scope", () => {
    const scope = new Scope();
    const controller = new AbortController();
    scope.bindSignal(controller.signal);
    controller.abort();
    expect(scope.disposed).toBe(true);
  });

  it("FrameTask paces draws after a frame over budget; every delta is applied, the next draw shows the latest", () => {
    useFakeClock();
    const scope = new Scope();
    const applied: number[] = [];
    const drawn: number[][] = [];
    let drawCost = 0;
    const task = new FrameTask(scope, () => {
      drawn.push([...applied]);
      vi.setSystemTime(Date.now() + drawCost); // the draw takes drawCost ms on the fake clock
    });
    const deliver = (n: number, cost = 0): void => {
      task.measure(() => {
        applied.push(n);
        vi.setSystemTime(Date.now() + cost);
      });
      task.schedule();
    };

    // Within budget: one draw per frame, however many deltas arrived.
    deliver(1);
    deliver(2);
    vi.advanceTimersToNextFrame();
    expect(drawn).toEqual([[1, 2]]);

    // A draw over budget: the next draw waits as long again (20 ms, more than a frame); deltas keep
    // being applied.
    drawCost = 20;
    deliver(3);
    vi.advanceTimersToNextFrame();
    expect(drawn.length).toBe(2);
    drawCost = 0;
    deliver(4);
    vi.advanceTimersToNextFrame();
    deliver(5);
    expect(drawn.length).toBe(2); // intermediate draws skipped
    expect(applied).toEqual([1, 2, 3, 4, 5]);
    expect(task.paced).toBe(1);
    vi.advanceTimersByTime(20);
    vi.advanceTimersToNextFrame();
    expect(drawn).toEqual([[1, 2], [1, 2, 3], [1, 2, 3, 4, 5]]);

    // Back within budget: a draw every frame again.
    deliver(6);
    vi.advanceTimersToNextFrame();
    expect(drawn.at(-1)).toEqual([1, 2, 3, 4, 5, 6]);

    // Slow delta handling counts too: 2 x 15 ms of applying plus a cheap draw is over the budget.
    expect(2 * 15).toBeGreaterThan(FRAME_BUDGET_MS);
    deliver(7, 15);
    deliver(8, 15);
    vi.advanceTimersToNextFrame();
    expect(drawn.length).toBe(5);
    deliver(9);
    vi.advanceTimersToNextFrame();
    expect(drawn.length).toBe(5);
    vi.advanceTimersByTime(2 * 15);
    vi.advanceTimersToNextFrame();
    expect(drawn.at(-1)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(task.paced).toBe(2);
    scope.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });
});
