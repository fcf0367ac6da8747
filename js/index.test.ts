import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "./index";
import { FakeManager } from "./testing/fake_model";
import { countListeners, mount, stubCanvas, useFakeClock } from "./testing/helpers";

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

describe("entry point", () => {
  it("exports render as the default anywidget module", () => {
    expect(typeof widget.render).toBe("function");
  });

  it.each([
    ["realtime", ".rtw-explorer"],
    ["status", ".rtw-status-host"],
    ["table", ".rtw-table"],
    ["metrics", ".rtw-metrics"],
    ["notifications", ".rtw-notifications"],
  ])("dispatches %s and cleans up completely", async (view, selector) => {
    const win = countListeners(window);
    const doc = countListeners(document);
    const manager = new FakeManager();
    manager.create("src", { status: "reconnecting", next_retry_in: 1, overview: {}, children: {} });
    const model = manager.create("m", { _view: view, source: "IPY_MODEL_src", _snapshot: { seq: 0 }, status: "connected" });
    const { el, cleanup } = mount(model);
    await Promise.resolve();
    expect(el.querySelector(selector)).not.toBeNull();
    cleanup();
    cleanup(); // idempotent
    expect(el.children.length).toBe(0);
    expect(win.count()).toBe(0);
    expect(doc.count()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    for (const m of manager.models.values()) expect(m.listenerCount()).toBe(0);
    win.restore();
    doc.restore();
  });

  it("reports an unknown view instead of failing", () => {
    const manager = new FakeManager();
    const { el, cleanup } = mount(manager.create("x", { _view: "nope" }));
    expect(el.textContent).toContain('unknown view "nope"');
    cleanup();
    expect(el.children.length).toBe(0);
  });
});
