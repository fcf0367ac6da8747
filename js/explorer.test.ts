import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeManager } from "./testing/fake_model";
import { countListeners, mount, nextFrame, stubCanvas, useFakeClock } from "./testing/helpers";

const flushPromises = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup() {
  const manager = new FakeManager();
  const table = manager.create("t1", {
    _view: "table",
    _snapshot: { seq: 0, key: "id", columns: ["id", "state"], rows: [{ id: "m1", state: "go" }] },
  });
  const metrics = manager.create("m1", {
    _view: "metrics",
    _snapshot: { seq: 0, latest: { cpu: 1 }, history: { cpu: [[1, 1]] }, series: null, thresholds: {} },
  });
  const explorer = manager.create("rt", {
    _view: "realtime",
    status: "connected",
    attempt: 0,
    next_retry_in: null,
    error: null,
    latency_ms: 12,
    queued: 0,
    overview: {
      mission_update: { count: 1200, rate: 12.5, last_seen: Date.now() / 1000 - 3, rates: [1, 3, 2, 5], kind: "table" },
      metrics_update: { count: 40, rate: 1, last_seen: new Date().toISOString(), rates: [1, 1], kind: "metrics" },
      chatter: { count: 2, rate: 0, last_seen: null, rates: [], kind: "raw" },
    },
    children: { mission_update: "IPY_MODEL_t1", metrics_update: "IPY_MODEL_m1" },
  });
  return { manager, table, metrics, explorer };
}

const tabOf = (el: HTMLElement, type: string) => el.querySelector<HTMLElement>(`.rtw-tab[data-type="${type}"]`)!;

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

describe("explorer view", () => {
  it("shows the status indicator and the overview", async () => {
    const { explorer } = setup();
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    expect(el.querySelector<HTMLElement>(".rtw-explorer .rtw-status")!.dataset.status).toBe("connected");
    const rows = Array.from(el.querySelectorAll<HTMLElement>(".rtw-overview-row"));
    expect(rows.map((r) => r.dataset.type)).toEqual(["mission_update", "metrics_update", "chatter"]);
    const cells = Array.from(rows[0]!.querySelectorAll("td")).map((td) => td.textContent);
    expect(cells.slice(0, 5)).toEqual(["mission_update", "table", "1,200", "12.5", "3 s ago"]);
    expect(rows[0]!.classList.contains("rtw-has-view")).toBe(true);
    expect(rows[2]!.classList.contains("rtw-has-view")).toBe(false);
    explorer.set("status", "reconnecting");
    expect(el.querySelector<HTMLElement>(".rtw-status")!.dataset.status).toBe("reconnecting");
    explorer.set("overview", { chatter: { count: 3, rate: 0.5, last_seen: null, rates: [0, 1], kind: "raw" } });
    nextFrame();
    expect(Array.from(el.querySelectorAll<HTMLElement>(".rtw-overview-row")).map((r) => r.dataset.type)).toEqual(["chatter"]);
    cleanup();
  });

  it("opens a tab per child and renders the child view in it", async () => {
    const { explorer, table, metrics } = setup();
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    expect(Array.from(el.querySelectorAll<HTMLElement>(".rtw-tab")).map((t) => t.dataset.type)).toEqual(["mission_update", "metrics_update"]);
    // The first tab opens by default.
    expect(tabOf(el, "mission_update").getAttribute("aria-selected")).toBe("true");
    nextFrame();
    expect(el.querySelector('.rtw-tab-panel .rtw-table tr.rtw-row[data-key="m1"]')).not.toBeNull();
    expect(table.listenerCount()).toBeGreaterThan(0);

    // Picking a type in the overview opens its tab and cleans up the previous one.
    el.querySelector<HTMLElement>('.rtw-overview-row[data-type="metrics_update"] td')!.click();
    await flushPromises();
    nextFrame();
    expect(tabOf(el, "metrics_update").getAttribute("aria-selected")).toBe("true");
    expect(el.querySelector('.rtw-tab-panel .rtw-metric-card[data-series="cpu"]')).not.toBeNull();
    expect(el.querySelector(".rtw-tab-panel .rtw-table")).toBeNull();
    expect(table.listenerCount()).toBe(0);
    expect(metrics.listenerCount()).toBeGreaterThan(0);

    // A row without a child view does nothing.
    el.querySelector<HTMLElement>('.rtw-overview-row[data-type="chatter"] td')!.click();
    expect(tabOf(el, "metrics_update").getAttribute("aria-selected")).toBe("true");

    tabOf(el, "mission_update").click();
    await flushPromises();
    expect(metrics.listenerCount()).toBe(0);
    expect(el.querySelector(".rtw-tab-panel .rtw-table")).not.toBeNull();
    cleanup();
    expect(table.listenerCount()).toBe(0);
  });

  it("a tab switch before the child model resolves never renders the stale child", async () => {
    const { explorer, table } = setup();
    const { el, cleanup } = mount(explorer); // opens mission_update, resolution pending
    tabOf(el, "metrics_update").click();
    await flushPromises();
    nextFrame();
    expect(table.listenerCount()).toBe(0);
    expect(el.querySelectorAll(".rtw-tab-content")).toHaveLength(1);
    expect(el.querySelector(".rtw-tab-panel .rtw-metrics")).not.toBeNull();
    cleanup();
  });

  it("closes a tab whose child disappears", async () => {
    const { explorer, table } = setup();
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    explorer.set("children", { metrics_update: "IPY_MODEL_m1" });
    await flushPromises();
    expect(table.listenerCount()).toBe(0);
    expect(el.querySelector(".rtw-tab-panel .rtw-table")).toBeNull();
    cleanup();
  });

  it("the send box sends a typed message with a JSON payload", async () => {
    const { explorer } = setup();
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    const type = el.querySelector<HTMLInputElement>(".rtw-send-type")!;
    const payload = el.querySelector<HTMLInputElement>(".rtw-send-payload")!;
    const form = el.querySelector<HTMLFormElement>(".rtw-send-form")!;
    const note = el.querySelector<HTMLElement>(".rtw-send-note")!;
    form.requestSubmit();
    expect(note.dataset.state).toBe("error");
    type.value = "subscribe";
    payload.value = "{not json";
    form.requestSubmit();
    expect(note.textContent).toContain("not valid JSON");
    payload.value = '{"channel": "metrics"}';
    form.requestSubmit();
    type.value = "ping";
    payload.value = "";
    form.requestSubmit();
    expect(explorer.sent).toEqual([
      { kind: "send", type: "subscribe", payload: { channel: "metrics" } },
      { kind: "send", type: "ping", payload: null },
    ]);
    cleanup();
  });

  it("overview rows and tabs work from the keyboard", async () => {
    const { explorer } = setup();
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    const row = el.querySelector<HTMLElement>('.rtw-overview-row[data-type="metrics_update"]')!;
    expect(row.tabIndex).toBe(0);
    row.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    await flushPromises();
    expect(tabOf(el, "metrics_update").getAttribute("aria-selected")).toBe("true");
    cleanup();
  });

  it("the open tab's view leases its own model, and says goodbye when the tab goes", async () => {
    const { explorer, table } = setup();
    const { cleanup } = mount(explorer);
    await flushPromises();
    const leases = () => table.sent.filter((m) => m.kind === "presence").map((m) => m.lease);
    expect(leases()).toEqual([5]);
    // A tab's view does not judge itself saved: no banner of its own when its model stays quiet.
    vi.advanceTimersByTime(4500);
    expect(leases().length).toBeGreaterThan(1);
    const before = document.querySelectorAll(".rtw-tab-view .rtw-saved-banner").length;
    expect(before).toBe(0);
    cleanup();
    expect(leases().at(-1)).toBe(0);
  });

  it("cleanup releases every listener, frame and timer, children included", async () => {
    const win = countListeners(window);
    const doc = countListeners(document);
    const { explorer, table, metrics } = setup();
    explorer.update({ status: "reconnecting", next_retry_in: 2 });
    const { cleanup } = mount(explorer);
    await flushPromises();
    // The explorer's and the open tab's presence (pagehide; visibilitychange) and the explorer's own.
    expect(win.count()).toBe(3);
    expect(doc.count()).toBe(2);
    cleanup();
    expect(win.count()).toBe(0);
    expect(doc.count()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    for (const m of [explorer, table, metrics]) expect(m.listenerCount()).toBe(0);
    win.restore();
    doc.restore();
  });
});
