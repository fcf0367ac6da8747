import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BEAT_MS, LEASE_S, SAVED_AFTER_MS, savedText } from "./presence";
import { pageId } from "./bus";
import { FakeManager } from "./testing/fake_model";
import { countListeners, mount, stubCanvas, useFakeClock } from "./testing/helpers";

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

const presences = (sent: any[]): any[] => sent.filter((m) => m.kind === "presence");

function table(attrs: Record<string, unknown> = {}) {
  const manager = new FakeManager();
  return manager.create("t", { _view: "table", _snapshot: { seq: 0, key: "id", columns: [], rows: [] }, ...attrs });
}

describe("presence", () => {
  it("leases on render, renews every beat and says goodbye on cleanup", () => {
    const model = table();
    const { cleanup } = mount(model, { presence: true });
    const first = presences(model.sent);
    expect(first).toHaveLength(1);
    expect(first[0]).toEqual({ kind: "presence", view: expect.any(String), lease: LEASE_S, page: pageId() });
    vi.advanceTimersByTime(BEAT_MS * 3);
    expect(presences(model.sent)).toHaveLength(4);
    expect(new Set(presences(model.sent).map((m) => m.view)).size).toBe(1);
    cleanup();
    expect(presences(model.sent).at(-1)).toMatchObject({ lease: 0 });
    const count = model.sent.length;
    vi.advanceTimersByTime(BEAT_MS * 3);
    expect(model.sent.length).toBe(count);
  });

  it("stops leasing while the page is hidden and leases again when shown", () => {
    const model = table();
    const { cleanup } = mount(model, { presence: true });
    let state: DocumentVisibilityState = "hidden";
    const spy = vi.spyOn(document, "visibilityState", "get").mockImplementation(() => state);
    document.dispatchEvent(new Event("visibilitychange"));
    expect(presences(model.sent).at(-1)).toMatchObject({ lease: 0 });
    const count = model.sent.length;
    vi.advanceTimersByTime(BEAT_MS * 3);
    expect(model.sent.length).toBe(count);
    state = "visible";
    document.dispatchEvent(new Event("visibilitychange"));
    expect(presences(model.sent).at(-1)).toMatchObject({ lease: LEASE_S });
    spy.mockRestore();
    cleanup();
  });

  it("a view no kernel answers says it is a saved one", () => {
    const model = table({ as_of: "2026-01-02T03:04:05+00:00" });
    const { el, cleanup } = mount(model, { presence: true });
    expect(el.querySelector(".rtw-saved-banner")).toBeNull();
    vi.advanceTimersByTime(SAVED_AFTER_MS);
    const banner = el.querySelector(".rtw-saved-banner");
    expect(banner?.textContent).toBe(savedText("2026-01-02T03:04:05+00:00"));
    expect(banner?.textContent).toMatch(/^Saved view at .+, not live\. Run the cell to reconnect\.$/);
    expect(el.classList.contains("rtw-saved-view")).toBe(true);
    // A kernel that answers late (a busy one) makes it live again.
    model.receive({ kind: "live", view: "x" });
    expect(el.querySelector(".rtw-saved-banner")).toBeNull();
    expect(el.classList.contains("rtw-saved-view")).toBe(false);
    cleanup();
  });

  it("a view the kernel answers stays live", () => {
    const model = table();
    const { el, cleanup } = mount(model, { presence: true });
    model.receive({ kind: "live", view: presences(model.sent)[0].view });
    vi.advanceTimersByTime(SAVED_AFTER_MS * 2);
    expect(el.querySelector(".rtw-saved-banner")).toBeNull();
    cleanup();
  });

  it("says when its data is from only when it knows", () => {
    expect(savedText("")).toBe("Saved view, not live. Run the cell to reconnect.");
    expect(savedText(undefined)).toBe("Saved view, not live. Run the cell to reconnect.");
    expect(savedText("not a date")).toBe("Saved view, not live. Run the cell to reconnect.");
  });

  it.each(["realtime", "status", "table", "metrics", "notifications"])(
    "a %s view releases its lease's listeners and timers, saved or live",
    (view) => {
      const win = countListeners(window);
      const doc = countListeners(document);
      const manager = new FakeManager();
      manager.create("src", { status: "connected", overview: {}, children: {} });
      const model = manager.create("m", { _view: view, source: "IPY_MODEL_src", _snapshot: { seq: 0 } });
      const { el, cleanup } = mount(model, { presence: true });
      vi.advanceTimersByTime(SAVED_AFTER_MS);
      expect(el.querySelector(".rtw-saved-banner")).not.toBeNull();
      cleanup();
      expect(el.children.length).toBe(0);
      expect(win.count()).toBe(0);
      expect(doc.count()).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      expect(model.listenerCount()).toBe(0);
      win.restore();
      doc.restore();
    },
  );
});
