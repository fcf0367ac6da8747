import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LogData, oneLine, parsePayload } from "./log";
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

  it("shows each entry as a one-line summary that opens into a JSON tree of its payload", () => {
    const pretty = JSON.stringify({ event: "login", actor: { name: "ada", roles: ["reader", "writer"] }, ok: true, n: null }, null, 2);
    const model = logModel([entry(1, pretty, { type: "audit" }), entry(2, '"just text"', { type: "text" })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(texts(el)).toEqual(['"just text"', '{"event": "login", "actor": {"name": "ada", "roles": ["reader", "writer"]}, "ok": true, "n": null}']);
    const li = el.querySelector<HTMLElement>('.rtw-log-entry[data-id="1"]')!;
    const body = li.querySelector<HTMLElement>(".rtw-log-body")!;
    const toggle = li.querySelector<HTMLButtonElement>(".rtw-log-toggle")!;
    expect(body.hidden).toBe(true);
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    toggle.click();
    expect(body.hidden).toBe(false);
    expect(li.classList.contains("rtw-log-open")).toBe(true);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    // Two levels open: the payload's fields and the actor's.
    const keys = Array.from(body.querySelectorAll(".rtw-json-key")).map((k) => k.textContent);
    expect(keys).toEqual(["event", "actor", "name", "roles", "ok", "n"]);
    expect(body.querySelector(".rtw-json-string")!.textContent).toBe('"login"');
    expect(body.querySelector(".rtw-json-boolean")!.textContent).toBe("true");
    expect(model.sent).toEqual([]); // a whole entry needs nothing from the kernel
    // A node opened in the tree stays open while the log redraws with newer entries.
    const roles = Array.from(body.querySelectorAll<HTMLElement>(".rtw-json-node")).find((n) => n.querySelector(".rtw-json-summary")!.textContent === "[2 items]")!;
    roles.querySelector<HTMLButtonElement>(".rtw-json-toggle")!.click();
    model.receive({ kind: "delta", seq: 1, add: [entry(3, "{}")], total: 3 });
    nextFrame();
    expect(el.querySelector('.rtw-log-entry[data-id="1"] .rtw-log-body')).toBe(body);
    expect(body.querySelectorAll(".rtw-json-index").length).toBe(2);
    // Clicks inside the tree do not close the entry; the head does.
    body.querySelector<HTMLElement>(".rtw-json-key")!.click();
    expect(body.hidden).toBe(false);
    li.querySelector<HTMLElement>(".rtw-log-type")!.click();
    expect(body.hidden).toBe(true);
    // The summary line opens it too.
    li.querySelector<HTMLElement>(".rtw-log-text")!.click();
    expect(body.hidden).toBe(false);
    cleanup();
  });

  it("a payload that is not JSON shows its text", () => {
    const model = logModel([entry(1, "<3 bytes: 01 02 03>", { type: "binary" })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(texts(el)).toEqual(["<3 bytes: 01 02 03>"]);
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    expect(el.querySelector(".rtw-log-body .rtw-json")).toBeNull();
    expect(el.querySelector(".rtw-log-body .rtw-log-pre")!.textContent).toBe("<3 bytes: 01 02 03>");
    cleanup();
  });

  it("a cut-short entry asks the kernel for its whole text, shows it as a tree, and searches it", () => {
    const model = logModel([entry(1, '{\n  "note": "aaaa…"\n}', { truncated: true }), entry(2, '"short"')]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(texts(el)).toEqual(['"short"', '{ "note": "aaaa…" }']);
    expect(el.querySelector('.rtw-log-entry[data-id="1"] .rtw-log-size')!.textContent).toContain("cut short");
    const toggle = el.querySelector<HTMLButtonElement>('.rtw-log-entry[data-id="1"] .rtw-log-toggle')!;
    toggle.click();
    expect(model.sent).toEqual([{ kind: "entry_request", id: 1 }]);
    const body = el.querySelector<HTMLElement>('.rtw-log-entry[data-id="1"] .rtw-log-body')!;
    expect(body.textContent).toContain("Loading the whole message");
    const full = `{\n  "note": "${"a".repeat(500)}needle"\n}`;
    model.receive({ kind: "entry", id: 1, text: full });
    nextFrame();
    expect(body.querySelector(".rtw-json-key")!.textContent).toBe("note");
    expect(body.querySelector<HTMLElement>(".rtw-json-string")!.title).toBe(`${"a".repeat(500)}needle`);
    const search = el.querySelector<HTMLInputElement>(".rtw-log-search")!;
    search.value = "needle";
    search.dispatchEvent(new Event("input"));
    nextFrame();
    expect(Array.from(el.querySelectorAll<HTMLElement>(".rtw-log-entry")).map((li) => li.dataset.id)).toEqual(["1"]);
    // Closing and opening again needs no second request.
    toggle.click();
    toggle.click();
    expect(model.sent.length).toBe(1);
    expect(body.querySelector(".rtw-json-key")!.textContent).toBe("note");
    cleanup();
  });

  it("an entry the kernel no longer keeps says so", () => {
    const model = logModel([entry(7, "cut…", { truncated: true })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    model.receive({ kind: "entry", id: 7, text: null });
    nextFrame();
    expect(el.querySelector(".rtw-log-body")!.textContent).toContain("no longer kept");
    cleanup();
  });

  it("pause holds the log still, counts what waits, and resume shows the current messages", () => {
    const model = logModel([entry(1, "1"), entry(2, "2")], { seq: 1 });
    model.set("paused", false);
    const { el, cleanup } = mount(model);
    nextFrame();
    const button = el.querySelector<HTMLButtonElement>(".rtw-pause-button")!;
    const badge = el.querySelector<HTMLElement>(".rtw-pause-badge")!;
    button.click();
    expect(model.sent).toEqual([{ kind: "pause" }]);
    const list = el.querySelector(".rtw-log-list")!;
    const before = list.innerHTML;
    model.receive({ kind: "delta", seq: 2, add: [entry(3, "3")], total: 3 });
    model.receive({ kind: "waiting", count: 7 });
    nextFrame();
    expect(list.innerHTML).toBe(before);
    expect(badge.textContent).toBe("7 updates waiting");
    // Search still works on what is held.
    const search = el.querySelector<HTMLInputElement>(".rtw-log-search")!;
    search.value = "2";
    search.dispatchEvent(new Event("input"));
    nextFrame();
    expect(texts(el)).toEqual(["2"]);
    search.value = "";
    search.dispatchEvent(new Event("input"));
    button.click();
    expect(model.sent).toEqual([{ kind: "pause" }, { kind: "resume" }]);
    expect(badge.hidden).toBe(true);
    model.receive({ kind: "snapshot", seq: 9, limit: 5, total: 9, entries: [5, 6, 7, 8, 9].map((i) => entry(i, String(i))) });
    nextFrame();
    expect(texts(el)).toEqual(["9", "8", "7", "6", "5"]);
    expect(el.querySelector(".rtw-log-count")!.textContent).toBe("last 5 of 9 messages");
    cleanup();
  });

  it("parses payloads into objects with no prototype: a server name is never a key of a plain object", () => {
    const value = parsePayload('{"__proto__": {"polluted": 1}, "constructor": "c", "a": [{"b": 1}]}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.keys(value)).toEqual(["__proto__", "constructor", "a"]);
    expect(Object.getPrototypeOf((value.a as unknown[])[0])).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parsePayload("{not json")).toBeUndefined();
    expect(oneLine(value)).toBe('{"__proto__": {"polluted": 1}, "constructor": "c", "a": [{"b": 1}]}');
    expect(oneLine({ s: "x".repeat(500) }, 20)).toBe('{"s": "xxxxxxxxxxxxx…');
  });

  it("renders server text as text, never as HTML", () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const model = logModel([entry(1, hostile, { type: "<b>type</b>", time: "<i>t</i>" })]);
    const { el, cleanup } = mount(model);
    nextFrame();
    expect(el.querySelector("img, script, b, i")).toBeNull();
    expect(texts(el)).toEqual([hostile]);
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    expect(el.querySelector(".rtw-log-pre")!.textContent).toBe(hostile);
    expect(el.querySelector("img, script, b, i")).toBeNull();
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
