import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeManager, type FakeModel } from "./testing/fake_model";
import { countListeners, mount, useFakeClock } from "./testing/helpers";

const flushPromises = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function source(manager: FakeManager, attrs: Record<string, any> = {}): FakeModel {
  return manager.create("src1", {
    _view: "realtime",
    status: "connected",
    attempt: 0,
    next_retry_in: null,
    error: null,
    latency_ms: 42.4,
    queued: 0,
    url: "ws://example.test/ws",
    overview: {},
    children: {},
    ...attrs,
  });
}

async function mountStatus(attrs: Record<string, any> = {}, opts: Record<string, any> = {}) {
  const manager = new FakeManager();
  const src = source(manager, attrs);
  const view = manager.create("status1", { _view: "status", source: "IPY_MODEL_src1", details: true, position: "inline", ...opts });
  const rendered = mount(view);
  await flushPromises();
  const root = rendered.el.querySelector<HTMLElement>(".rtw-status")!;
  return { manager, src, view, root, ...rendered };
}

const q = (root: HTMLElement, sel: string) => root.querySelector<HTMLElement>(sel)!;

beforeEach(() => {
  document.body.replaceChildren();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("status indicator", () => {
  it.each([
    ["connected", "Connected"],
    ["connecting", "Connecting…"],
    ["reconnecting", "Reconnecting…"],
    ["disconnected", "Disconnected"],
    ["closed", "Closed"],
  ])("renders %s", async (status, label) => {
    const { root, cleanup } = await mountStatus({ status });
    expect(root.dataset.status).toBe(status);
    expect(q(root, ".rtw-status-label").textContent).toBe(label);
    const spinning = q(root, ".rtw-status-icon").classList.contains("rtw-spin");
    expect(spinning).toBe(status === "connecting" || status === "reconnecting");
    expect(q(root, ".rtw-offline-banner").hidden).toBe(status !== "disconnected" && status !== "reconnecting");
    expect(q(root, ".rtw-latency").hidden).toBe(status !== "connected");
    cleanup();
  });

  it.each([
    ["paused", "Unknown status: paused"],
    ["", "Unknown status: (empty)"],
    [42, "Unknown status: 42"],
    [null, "Unknown status: null"],
    ["x".repeat(60), `Unknown status: ${"x".repeat(40)}…`],
  ])("shows a status outside the contract (%j) as unknown, not as disconnected", async (status, label) => {
    const { root, cleanup } = await mountStatus({ status });
    expect(root.dataset.status).toBe("unknown");
    expect(q(root, ".rtw-status-label").textContent).toBe(label);
    expect(root.title.startsWith(label)).toBe(true);
    expect(root.textContent).not.toContain("Disconnected");
    // Nothing is claimed about the link: no spinner, no offline banner, no latency.
    expect(q(root, ".rtw-status-icon").classList.contains("rtw-spin")).toBe(false);
    expect(q(root, ".rtw-status-icon svg")).not.toBeNull();
    expect(q(root, ".rtw-offline-banner").hidden).toBe(true);
    expect(q(root, ".rtw-latency").hidden).toBe(true);
    cleanup();
  });

  it("lets the user act on an unknown status and recovers when a known one arrives", async () => {
    const { root, src, cleanup } = await mountStatus({ status: "suspended" }, { details: false });
    const reconnect = q(root, "button.rtw-reconnect");
    expect(reconnect.hidden).toBe(false);
    reconnect.click();
    expect(src.sent).toEqual([{ kind: "reconnect" }]);
    src.set("status", "connected");
    expect(root.dataset.status).toBe("connected");
    expect(q(root, ".rtw-status-label").textContent).toBe("Connected");
    expect(reconnect.hidden).toBe(true);
    cleanup();
  });

  it("follows trait changes of the source model", async () => {
    const { root, src, cleanup } = await mountStatus();
    expect(q(root, ".rtw-latency").textContent).toBe("42 ms");
    src.update({ status: "reconnecting", attempt: 3, error: "close code 1011", queued: 7 });
    expect(root.dataset.status).toBe("reconnecting");
    expect(q(root, ".rtw-attempt").textContent).toBe("attempt 3");
    expect(q(root, ".rtw-attempt").hidden).toBe(false);
    expect(q(root, ".rtw-error").textContent).toBe("close code 1011");
    expect(q(root, ".rtw-queued").textContent).toBe("7 queued");
    expect(q(root, ".rtw-queued").hidden).toBe(false);
    src.update({ status: "connected", attempt: 0, error: null, queued: 0, latency_ms: 7.6 });
    expect(q(root, ".rtw-queued").hidden).toBe(true);
    expect(q(root, ".rtw-error").hidden).toBe(true);
    expect(q(root, ".rtw-attempt").hidden).toBe(true);
    expect(q(root, ".rtw-latency").textContent).toBe("8 ms");
    cleanup();
  });

  it("shows message counters and flags undecodable frames", async () => {
    const { root, src, cleanup } = await mountStatus({ stats: { messages_in: 1234, messages_out: 5, decode_errors: 0, last_error: null } });
    const chip = q(root, ".rtw-stats");
    expect(chip.hidden).toBe(false);
    expect(chip.textContent).toBe("↓ 1,234 ↑ 5");
    expect(chip.title).toContain("messages_in: 1,234");
    src.set("stats", { messages_in: 1300, messages_out: 5, decode_errors: 2 });
    expect(chip.textContent).toBe("↓ 1,300 ↑ 5 · 2 bad");
    expect(chip.classList.contains("rtw-warn")).toBe(true);
    cleanup();
  });

  it("renders server text as text", async () => {
    const { root, cleanup } = await mountStatus({ status: "disconnected", error: "<img src=x onerror=alert(1)>" });
    expect(q(root, ".rtw-error").textContent).toBe("<img src=x onerror=alert(1)>");
    expect(root.querySelector("img")).toBeNull();
    cleanup();
  });

  it("counts down to the next retry and stops ticking when connected", async () => {
    useFakeClock();
    const { root, src, cleanup } = await mountStatus({ status: "reconnecting", attempt: 2, next_retry_in: 3 });
    const countdown = q(root, ".rtw-countdown");
    expect(countdown.hidden).toBe(false);
    expect(countdown.textContent).toBe("retry in 3.0 s");
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(countdown.textContent).toBe("retry in 2.0 s");
    vi.advanceTimersByTime(1400);
    expect(countdown.textContent).toBe("retry in 0.6 s");
    vi.advanceTimersByTime(1000);
    expect(countdown.textContent).toBe("retrying…");
    // A new wait restarts from the value received, relative to when it arrived.
    src.set("next_retry_in", 5);
    expect(countdown.textContent).toBe("retry in 5.0 s");
    src.update({ status: "connected", next_retry_in: null, attempt: 0 });
    expect(countdown.hidden).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    cleanup();
  });

  it("holds no timer unless reconnecting", async () => {
    useFakeClock();
    const { src, cleanup } = await mountStatus({ status: "connected" });
    expect(vi.getTimerCount()).toBe(0);
    src.update({ status: "reconnecting", next_retry_in: 1.5 });
    expect(vi.getTimerCount()).toBe(1);
    cleanup();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sends reconnect, disconnect and try-again through the source model", async () => {
    const { root, src, view, cleanup } = await mountStatus({ status: "disconnected" });
    q(root, "button.rtw-reconnect").click();
    q(root, "button.rtw-disconnect").click(); // disabled while disconnected: no message
    q(root, ".rtw-offline-banner button").click();
    expect(src.sent).toEqual([{ kind: "reconnect" }, { kind: "reconnect" }]);
    src.set("status", "connected");
    q(root, "button.rtw-disconnect").click();
    expect(src.sent.at(-1)).toEqual({ kind: "disconnect" });
    expect(view.sent).toEqual([]);
    cleanup();
  });

  it("relays browser online/offline and visibility events", async () => {
    const { root, src, cleanup } = await mountStatus({ status: "connected" });
    window.dispatchEvent(new Event("offline"));
    expect(q(root, ".rtw-offline-banner").hidden).toBe(false);
    window.dispatchEvent(new Event("online"));
    expect(q(root, ".rtw-offline-banner").hidden).toBe(true);
    const vis = vi.spyOn(document, "visibilityState", "get");
    vis.mockReturnValue("hidden");
    document.dispatchEvent(new Event("visibilitychange"));
    vis.mockReturnValue("visible");
    document.dispatchEvent(new Event("visibilitychange"));
    expect(src.sent).toEqual([
      { kind: "browser", event: "offline" },
      { kind: "browser", event: "online" },
      { kind: "browser", event: "hidden" },
      { kind: "browser", event: "visible" },
    ]);
    cleanup();
    window.dispatchEvent(new Event("offline"));
    expect(src.sent).toHaveLength(4);
  });

  it("details off shows a compact indicator; position fixed is applied", async () => {
    const { root, view, cleanup } = await mountStatus({ status: "reconnecting", attempt: 4, next_retry_in: 2 }, { details: false });
    expect(q(root, ".rtw-attempt").hidden).toBe(true);
    expect(q(root, ".rtw-countdown").hidden).toBe(true);
    expect(q(root, "button.rtw-disconnect").hidden).toBe(true);
    expect(q(root, "button.rtw-reconnect").hidden).toBe(false);
    view.set("details", true);
    expect(q(root, ".rtw-attempt").hidden).toBe(false);
    expect(root.dataset.position).toBe("inline");
    view.set("position", "fixed");
    expect(root.dataset.position).toBe("fixed");
    expect(root.classList.contains("rtw-fixed")).toBe(true);
    cleanup();
  });

  it("says so when there is no source, or it cannot be found", async () => {
    const manager = new FakeManager();
    const none = mount(manager.create("s0", { _view: "status", source: null }));
    await flushPromises();
    expect(none.el.textContent).toContain("No connection to show.");
    none.cleanup();
    const lost = mount(manager.create("s1", { _view: "status", source: "IPY_MODEL_gone" }));
    await flushPromises();
    expect(lost.el.querySelector(".rtw-error")!.textContent).toContain("gone");
    lost.cleanup();
    expect(lost.el.children.length).toBe(0);
  });

  it("rebinds when the source changes", async () => {
    const { manager, view, el, cleanup } = await mountStatus({ status: "connected" });
    manager.create("src2", { status: "closed" });
    view.set("source", "IPY_MODEL_src2");
    await flushPromises();
    expect(el.querySelector<HTMLElement>(".rtw-status")!.dataset.status).toBe("closed");
    expect(manager.models.get("src1")!.listenerCount()).toBe(0);
    cleanup();
  });

  it.each(["cleanup", "abort"])("releases every listener and timer on %s", async (how) => {
    useFakeClock();
    const win = countListeners(window);
    const doc = countListeners(document);
    const { src, view, controller, cleanup, el } = await mountStatus({ status: "reconnecting", next_retry_in: 4 });
    expect(win.count()).toBe(2);
    expect(doc.count()).toBe(1);
    expect(src.listenerCount()).toBeGreaterThan(0);
    expect(vi.getTimerCount()).toBe(1);
    if (how === "cleanup") cleanup();
    else controller.abort();
    expect(win.count()).toBe(0);
    expect(doc.count()).toBe(0);
    expect(src.listenerCount()).toBe(0);
    expect(view.listenerCount()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(el.querySelector(".rtw-status")).toBeNull();
    win.restore();
    doc.restore();
  });
});
