import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LogData } from "./log";
import { FakeModel } from "./testing/fake_model";
import { countListeners, mount, nextFrame, useFakeClock } from "./testing/helpers";

function entry(id: number, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type: "trade", time: "2026-01-01T00:00:00.000Z", text, truncated: false, size: text.length, ...extra };
}

function logModel(entries: Record<string, unknown>[], extra: Record<string, unknown> = {}): FakeModel {
  return new FakeModel({ _view: "log", message_type: "trade", _snapshot: { seq: 0, limit: 5, total: entries.length, entries, ...extra } });
}

const texts = (el: HTMLElement): string[] => Array.from(el.querySelectorAll(".rtw-log-text")).map((p) => p.textContent ?? "");

beforeEach(() => {
  document.body.replaceChildren();
  useFakeClock();
});
afterEach(() => vi.useRealTimers());

describe("log view", () => {
  it("shows the newest message first, and only the last `limit`", () => {
    const model = logModel([entry(1, "one"), entry(2, "two")]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(texts(el)).toEqual(["two", "one"]);
    expect(el.querySelector(".rtw-log-count")!.textContent).toBe("2 messages");
    model.receive({ kind: "delta", seq: 1, add: [3, 4, 5, 6].map((i) => entry(i, `m${i}`)), total: 6 });
    nextFrame();
    expect(texts(el)).toEqual(["m6", "m5", "m4", "m3", "two"]);
    expect(el.querySelector(".rtw-log-count")!.textContent).toBe("last 5 of 6 messages");
    cleanup();
  });

  it("searches types and texts, case-insensitively", () => {
    const model = logModel([entry(1, '{"s": "BTCUSDT"}'), entry(2, '{"s": "ETHUSDT"}'), entry(3, "x", { type: "heartbeat" })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const search = el.querySelector<HTMLInputElement>(".rtw-log-search")!;
    search.value = "btc";
    search.dispatchEvent(new Event("input"));
    nextFrame();
    expect(texts(el)).toEqual(['{"s": "BTCUSDT"}']);
    expect(el.querySelector(".rtw-log-count")!.textContent).toBe("1 found · 3 messages");
    search.value = "HEART";
    search.dispatchEvent(new Event("input"));
    nextFrame();
    expect(texts(el)).toEqual(["x"]);
    search.value = "";
    search.dispatchEvent(new Event("input"));
    nextFrame();
    expect(texts(el).length).toBe(3);
    cleanup();
  });

  it("a cut-short entry asks the kernel for its whole text, shows it, and searches it", () => {
    const model = logModel([entry(1, '{"note": "aaaa…"}', { truncated: true }), entry(2, "short")]);
    const { el, cleanup } = mount(model);
    nextFrame();
    const toggles = Array.from(el.querySelectorAll<HTMLButtonElement>(".rtw-log-toggle"));
    expect(toggles.map((t) => t.hidden)).toEqual([true, false]); // newest first: only entry 1 was cut
    const toggle = toggles[1]!;
    expect(toggle.textContent).toBe("Show all");
    toggle.click();
    expect(model.sent).toEqual([{ kind: "entry_request", id: 1 }]);
    const full = `{\n  "note": "${"a".repeat(500)}needle"\n}`;
    model.receive({ kind: "entry", id: 1, text: full });
    nextFrame();
    expect(texts(el)[1]).toBe(full);
    expect(toggle.textContent).toBe("Show less");
    const search = el.querySelector<HTMLInputElement>(".rtw-log-search")!;
    search.value = "needle";
    search.dispatchEvent(new Event("input"));
    nextFrame();
    expect(texts(el)).toEqual([full]);
    // Collapsing shows the short text again; opening again needs no second request.
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    expect(texts(el)).toEqual(['{"note": "aaaa…"}']);
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    expect(model.sent.length).toBe(1);
    cleanup();
  });

  it("an entry the kernel no longer keeps says so", () => {
    const model = logModel([entry(7, "cut…", { truncated: true })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    model.receive({ kind: "entry", id: 7, text: null });
    nextFrame();
    expect(texts(el)[0]).toContain("no longer kept");
    cleanup();
  });

  it("renders server text as text, never as HTML", () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const model = logModel([entry(1, hostile, { type: "<b>type</b>", time: "<i>t</i>" })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(el.querySelector("img, script, b, i")).toBeNull();
    expect(texts(el)).toEqual([hostile]);
    expect(el.querySelector(".rtw-log-type")!.textContent).toBe("<b>type</b>");
    model.receive({ kind: "entry", id: 1, text: hostile });
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
    cleanup();
  });

  it("keeps entries in a Map by id: a server type named like an Object property is plain data", () => {
    const data = new LogData();
    data.reset({ limit: 3, entries: [entry(2, "b", { type: "__proto__" }), entry(1, "a", { type: "constructor" })] });
    expect(data.view("").map((e) => e.type)).toEqual(["__proto__", "constructor"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    data.add([{ id: "x" }, null, entry(3, "c"), entry(4, "d")], 9);
    expect(data.view("").map((e) => e.id)).toEqual([4, 3, 2]);
    expect(data.total).toBe(9);
  });

  it("a sequence gap asks for a snapshot; cleanup removes everything", () => {
    const listeners = countListeners(document);
    const model = logModel([]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(el.querySelector(".rtw-log-empty")!.hasAttribute("hidden")).toBe(false);
    model.receive({ kind: "delta", seq: 2, add: [entry(1, "late")], total: 1 });
    expect(model.sent).toEqual([{ kind: "snapshot_request" }]);
    cleanup();
    expect(el.children.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(listeners.count()).toBe(0);
    listeners.restore();
  });
});
