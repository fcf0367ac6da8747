import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TOASTS } from "./notifications";
import { FakeModel } from "./testing/fake_model";
import { mount, nextFrame, useFakeClock } from "./testing/helpers";

const item = (id: string, level: string, title = `t${id}`, message = `m${id}`) => ({
  id,
  level,
  title,
  message,
  timestamp: "2026-01-01T12:00:00Z",
  source: "notification",
});

function model(items: unknown[] = []): FakeModel {
  return new FakeModel({ _view: "notifications", _snapshot: { seq: 0, items } });
}

const toasts = (el: HTMLElement) => Array.from(el.querySelectorAll<HTMLElement>(".rtw-toast"));

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
});
afterEach(() => vi.useRealTimers());

describe("notifications view", () => {
  it("shows toasts only for items added by deltas", () => {
    const m = model([item("old", "info")]);
    const { el, cleanup } = mount(m);
    expect(toasts(el)).toHaveLength(0);
    m.receive({ kind: "delta", seq: 1, add: [item("1", "success", "Saved", "All good")] });
    const [t] = toasts(el);
    expect(t!.dataset.level).toBe("success");
    expect(t!.querySelector(".rtw-toast-title")!.textContent).toBe("Saved");
    expect(t!.querySelector(".rtw-toast-message")!.textContent).toBe("All good");
    cleanup();
  });

  it("auto-dismisses by level; errors stay until closed", () => {
    const m = model();
    const { el, cleanup } = mount(m);
    m.receive({ kind: "delta", seq: 1, add: [item("i", "info"), item("w", "warning"), item("e", "error")] });
    expect(toasts(el).map((t) => t.dataset.level)).toEqual(["info", "warning", "error"]);
    vi.advanceTimersByTime(4100);
    expect(toasts(el).map((t) => t.dataset.level)).toEqual(["warning", "error"]);
    vi.advanceTimersByTime(4000);
    expect(toasts(el).map((t) => t.dataset.level)).toEqual(["error"]);
    vi.advanceTimersByTime(60_000);
    expect(toasts(el)).toHaveLength(1);
    toasts(el)[0]!.querySelector<HTMLButtonElement>(".rtw-toast-close")!.click();
    expect(toasts(el)).toHaveLength(0);
    cleanup();
  });

  it("closing a toast cancels its timer", () => {
    const m = model();
    const { el, cleanup } = mount(m);
    m.receive({ kind: "delta", seq: 1, add: [item("a", "info")] });
    nextFrame();
    expect(vi.getTimerCount()).toBe(1);
    toasts(el)[0]!.querySelector<HTMLButtonElement>(".rtw-toast-close")!.click();
    expect(vi.getTimerCount()).toBe(0);
    cleanup();
  });

  it("keeps at most five toasts visible", () => {
    const m = model();
    const { el, cleanup } = mount(m);
    m.receive({ kind: "delta", seq: 1, add: Array.from({ length: 8 }, (_, i) => item(String(i), "info")) });
    expect(toasts(el)).toHaveLength(MAX_TOASTS);
    expect(toasts(el)[0]!.dataset.id).toBe("3");
    cleanup();
  });

  it("lists every item in the history, newest first, as text", () => {
    const evil = "<img src=x onerror=alert(1)>";
    const m = model([item("1", "info"), item("2", "warning")]);
    const { el, cleanup } = mount(m);
    m.receive({ kind: "delta", seq: 1, add: [item("3", "error", evil, evil)] });
    m.receive({ kind: "delta", seq: 2, add: [item("3", "error")] }); // duplicate id
    nextFrame();
    const history = el.querySelector<HTMLDetailsElement>(".rtw-history")!;
    expect(history.querySelector("summary")!.textContent).toBe("History (3)");
    history.open = true;
    history.dispatchEvent(new Event("toggle"));
    const rows = Array.from(history.querySelectorAll(".rtw-history-item"));
    expect(rows.map((r) => r.querySelector(".rtw-history-level")!.textContent)).toEqual(["error", "warning", "info"]);
    expect(rows[0]!.querySelector(".rtw-history-title")!.textContent).toBe(evil);
    expect(toasts(el)[0]!.querySelector(".rtw-toast-message")!.textContent).toBe(evil);
    expect(el.querySelector("img")).toBeNull();
    cleanup();
  });

  it("cleanup clears dismiss timers and listeners", () => {
    const m = model();
    const { cleanup } = mount(m);
    m.receive({ kind: "delta", seq: 1, add: [item("a", "info"), item("b", "warning")] });
    expect(vi.getTimerCount()).toBeGreaterThan(1);
    cleanup();
    expect(vi.getTimerCount()).toBe(0);
    expect(m.listenerCount()).toBe(0);
  });
});
