// Server text must reach the page as text, never as markup. Two checks: no view source uses an API
// that parses a string as HTML, and every view fed hostile strings in every text field renders them
// literally without creating a single element from them.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeManager, FakeModel } from "./testing/fake_model";
import { mount, nextFrame, stubCanvas, useFakeClock } from "./testing/helpers";

// The project does not install @types/node: type the two fs functions used here locally.
interface Fs {
  readdirSync(path: string): string[];
  readFileSync(path: string, encoding: "utf8"): string;
}
const loadFs = async (): Promise<Fs> => {
  const name: string = "node:fs";
  return (await import(/* @vite-ignore */ name)) as Fs;
};

// jsdom's URL does not resolve file: URLs, so the directory is cut from the string.
const SOURCE_DIR = decodeURIComponent(import.meta.url.replace(/^file:\/\//, "").replace(/[^/]*$/, ""));

// Every API that turns a string into DOM nodes (or a document) by parsing it as HTML.
const HTML_SINKS: [string, RegExp][] = [
  ["innerHTML", /\binnerHTML\b/],
  ["outerHTML", /\bouterHTML\b/],
  ["insertAdjacentHTML", /\binsertAdjacentHTML\b/],
  ["document.write", /\bdocument\s*\.\s*write(ln)?\b/],
  ["DOMParser", /\bDOMParser\b/],
  ["createContextualFragment", /\bcreateContextualFragment\b/],
  ["setHTMLUnsafe", /\b(set|parse)HTMLUnsafe\b/],
  ["srcdoc", /\bsrcdoc\b/],
];

// Usages allowed because their argument is a constant in the source, not data. Format:
// "file:api" -> why. Empty: no view uses any of these APIs at all.
const ALLOWED: Record<string, string> = {};

const IMG = `<img src=x onerror="window.__pwned=1">`;
const SCRIPT = `<script>window.__pwned=1</script>`;
const SVG = `<svg onload="window.__pwned=1"></svg>`;
const PAYLOADS = [IMG, SCRIPT, SVG];
const evil = (i: number): string => PAYLOADS[i % PAYLOADS.length]!;

/** Elements that only parsing server text could create, and the event-handler attributes it would carry. */
function injected(root: ParentNode): string[] {
  const found: string[] = [];
  for (const el of Array.from(root.querySelectorAll("img, script, iframe, object, embed"))) found.push(el.outerHTML);
  // The status icon is the only SVG a view builds, from constants (dom.ts `svg`).
  for (const el of Array.from(root.querySelectorAll("svg"))) {
    if (!el.classList.contains("rtw-status-svg")) found.push(el.outerHTML);
  }
  for (const el of Array.from(root.querySelectorAll("*"))) {
    for (const attr of Array.from(el.attributes)) {
      if (attr.name.toLowerCase().startsWith("on")) found.push(`${el.tagName} ${attr.name}=${attr.value}`);
    }
  }
  return found;
}

/** The text a user sees plus attribute values (titles, data-*), where server strings may land too. */
function shownText(root: Element): string {
  const parts = [root.textContent ?? ""];
  for (const el of Array.from(root.querySelectorAll("*"))) {
    for (const attr of Array.from(el.attributes)) parts.push(attr.value);
  }
  return parts.join("\n");
}

function expectClean(el: HTMLElement, mustShow: string[]): void {
  expect(injected(document.body)).toEqual([]);
  expect((window as unknown as { __pwned?: unknown }).__pwned).toBeUndefined();
  const text = shownText(el);
  for (const s of mustShow) expect(text, `"${s}" should appear literally`).toContain(s);
}

const flushPromises = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

beforeEach(() => {
  document.body.replaceChildren();
  delete (window as unknown as { __pwned?: unknown }).__pwned;
  useFakeClock();
  stubCanvas();
});
afterEach(() => vi.useRealTimers());

describe("view sources", () => {
  it("use no API that parses strings as HTML (outside the allow-list)", async () => {
    const fs = await loadFs();
    const files = fs.readdirSync(SOURCE_DIR).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"));
    // The views are here: an empty or wrong directory must fail, not pass vacuously.
    for (const view of ["status.ts", "table.ts", "metrics.ts", "notifications.ts", "log.ts", "explorer.ts", "dom.ts", "index.ts"]) {
      expect(files).toContain(view);
    }
    const hits: string[] = [];
    for (const file of files) {
      const lines = fs.readFileSync(`${SOURCE_DIR}${file}`, "utf8").split("\n");
      lines.forEach((line, i) => {
        for (const [api, re] of HTML_SINKS) {
          if (re.test(line) && !(`${file}:${api}` in ALLOWED)) hits.push(`${file}:${i + 1} ${api}: ${line.trim()}`);
        }
      });
    }
    expect(hits).toEqual([]);
  });

  it("the oracle notices markup parsed from a string (jsdom builds the elements)", () => {
    // Proves `injected` would catch a view that used innerHTML: it is not blind in this environment.
    const box = document.createElement("div");
    box.innerHTML = PAYLOADS.join("");
    document.body.append(box);
    expect(injected(document.body).length).toBeGreaterThanOrEqual(3);
    box.remove();
  });
});

describe("hostile server text is rendered as text", () => {
  it("table: column names, row cells and keys", () => {
    const columns = ["id", IMG, SCRIPT, SVG];
    const row = (id: string) => ({ id, [IMG]: SCRIPT, [SCRIPT]: IMG, [SVG]: `${IMG}${SCRIPT}` });
    const model = new FakeModel({ _view: "table", message_type: IMG, _snapshot: { seq: 0, key: "id", columns, rows: [row(IMG)] } });
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, upsert: [row(SCRIPT), row(SVG)], columns });
    nextFrame();
    expect(el.querySelectorAll("tr.rtw-row")).toHaveLength(3);
    const cellTexts = Array.from(el.querySelectorAll("tr.rtw-row td")).map((td) => td.textContent);
    expect(cellTexts).toContain(IMG);
    expect(cellTexts).toContain(SCRIPT);
    expect(cellTexts).toContain(`${IMG}${SCRIPT}`);
    const heads = Array.from(el.querySelectorAll("th")).map((th) => th.textContent ?? "");
    for (const name of [IMG, SCRIPT, SVG]) expect(heads.some((t) => t.includes(name))).toBe(true);
    expectClean(el, PAYLOADS);
    cleanup();
  });

  it("metrics: series names in latest, history and thresholds", () => {
    const model = new FakeModel({
      _view: "metrics",
      _snapshot: {
        seq: 0,
        latest: { [IMG]: 1, [SCRIPT]: 2 },
        history: { [IMG]: [[1, 0], [2, 1]], [SCRIPT]: [[1, 2]] },
        series: null,
        thresholds: { [IMG]: { above: 0.5 } },
      },
    });
    const { el, cleanup } = mount(model);
    nextFrame();
    model.receive({ kind: "delta", seq: 1, latest: { [SVG]: 3, [IMG]: 5 }, append: { [SVG]: [[3, 3]], [IMG]: [[3, 5]] } });
    nextFrame();
    const names = Array.from(el.querySelectorAll(".rtw-metric-name")).map((n) => n.textContent);
    expect(names).toEqual(expect.arrayContaining(PAYLOADS));
    expectClean(el, PAYLOADS);
    cleanup();
  });

  it("notifications: title, message, source, level and id of toasts and history", () => {
    const model = new FakeModel({
      _view: "notifications",
      _snapshot: { seq: 0, items: [{ id: IMG, level: SCRIPT, title: SVG, message: IMG, timestamp: SCRIPT, source: IMG }] },
    });
    const { el, cleanup } = mount(model);
    nextFrame();
    const add = PAYLOADS.map((p, i) => ({ id: `${evil(i + 1)}#${i}`, level: "error", title: p, message: evil(i + 2), timestamp: p, source: p }));
    model.receive({ kind: "delta", seq: 1, add });
    nextFrame();
    const titles = Array.from(el.querySelectorAll(".rtw-toast-title")).map((t) => t.textContent);
    const messages = Array.from(el.querySelectorAll(".rtw-toast-message")).map((t) => t.textContent);
    expect(titles).toEqual(expect.arrayContaining(PAYLOADS));
    expect(messages).toEqual(expect.arrayContaining(PAYLOADS));
    expectClean(el, PAYLOADS);
    cleanup();
  });

  it("log: types, times and texts of entries, and an entry's whole text", () => {
    const entries = PAYLOADS.map((p, i) => ({ id: i + 1, type: p, time: evil(i + 1), text: evil(i + 2), truncated: true, size: 1 }));
    const model = new FakeModel({ _view: "log", message_type: IMG, _snapshot: { seq: 0, limit: 10, total: 3, entries } });
    const { el, cleanup } = mount(model);
    nextFrame();
    el.querySelector<HTMLButtonElement>(".rtw-log-toggle")!.click();
    model.receive({ kind: "entry", id: 3, text: PAYLOADS.join("\n") });
    model.receive({ kind: "delta", seq: 1, add: [{ id: 4, type: SCRIPT, time: IMG, text: SVG, truncated: false, size: 2 }], total: 4 });
    nextFrame();
    expectClean(el, PAYLOADS);
    cleanup();
  });

  it("status: error text, URL, status value and stats", async () => {
    const manager = new FakeManager();
    manager.create("src", {
      _view: "realtime",
      status: "reconnecting",
      attempt: 3,
      next_retry_in: 2,
      error: IMG,
      latency_ms: 5,
      queued: 2,
      url: `ws://h/${SCRIPT}`,
      stats: { messages_in: 1, messages_out: 0, decode_errors: 1, last_error: SVG },
      overview: {},
      children: {},
    });
    const view = manager.create("st", { _view: "status", source: "IPY_MODEL_src", details: true, position: "inline" });
    const { el, cleanup } = mount(view);
    await flushPromises();
    nextFrame();
    expect(el.querySelector(".rtw-status .rtw-error")!.textContent).toBe(IMG);
    const src = await manager.get_model("src");
    src.update({ error: SCRIPT, status: IMG });
    nextFrame();
    expect(el.querySelector(".rtw-status .rtw-error")!.textContent).toBe(SCRIPT);
    expectClean(el, [SCRIPT, `ws://h/${SCRIPT}`, SVG]);
    cleanup();
  });

  it("explorer: type names and kinds in the overview, tab names, child views", async () => {
    const manager = new FakeManager();
    manager.create("t", { _view: "table", _snapshot: { seq: 0, key: "id", columns: ["id", IMG], rows: [{ id: SCRIPT, [IMG]: SVG }] } });
    manager.create("m", { _view: "metrics", _snapshot: { seq: 0, latest: { [SVG]: 1 }, history: { [SVG]: [[1, 1]] }, series: null, thresholds: {} } });
    manager.create("n", { _view: "notifications", _snapshot: { seq: 0, items: [] } });
    const row = (kind: string) => ({ count: 1, rate: 1, last_seen: new Date().toISOString(), rates: [1], kind });
    const explorer = manager.create("rt", {
      _view: "realtime",
      status: "connected",
      attempt: 0,
      next_retry_in: null,
      error: SVG,
      latency_ms: 1,
      queued: 0,
      url: "ws://h/ws",
      stats: {},
      overview: { [IMG]: row("table"), [SCRIPT]: row("metrics"), [SVG]: row("notifications"), raw: row(IMG) },
      children: { [IMG]: "IPY_MODEL_t", [SCRIPT]: "IPY_MODEL_m", [SVG]: "IPY_MODEL_n" },
    });
    const { el, cleanup } = mount(explorer);
    await flushPromises();
    nextFrame();
    const types = Array.from(el.querySelectorAll(".rtw-overview-row .rtw-type")).map((t) => t.textContent);
    expect(types).toEqual(expect.arrayContaining([IMG, SCRIPT, SVG]));
    const tabs = Array.from(el.querySelectorAll<HTMLElement>(".rtw-tab"));
    expect(tabs.map((t) => t.textContent)).toEqual([IMG, SCRIPT, SVG]);
    for (const tab of tabs) {
      tab.click();
      await flushPromises();
      nextFrame();
      expectClean(el, [IMG, SCRIPT, SVG]);
    }
    // The notifications tab is open: a toast arrives with hostile text.
    const notes = await manager.get_model("n");
    notes.receive({ kind: "delta", seq: 1, add: [{ id: "1", level: "info", title: IMG, message: SCRIPT, timestamp: "", source: SVG }] });
    nextFrame();
    expect(el.querySelector(".rtw-toast-title")?.textContent).toBe(IMG);
    expectClean(el, [IMG, SCRIPT, SVG]);
    cleanup();
  });
});
