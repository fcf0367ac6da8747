// Message log: the last messages of a type (or of every type), newest first, each as the kernel's
// bounded pretty text. Searchable; a cut-short entry shows its whole text on request. Everything the
// server sent is set as text (textContent), never parsed as HTML, and no server string becomes a key of
// a plain object (entries live in a Map by their numeric id).
import type { LogRequest, LogTraits } from "./contract";
import { FrameTask, Scope, type ViewProps, formatNumber, h, isRecord, setHidden, setText } from "./dom";
import { pauseControl } from "./pause";
import { SeqSync } from "./sync";

/** Entries kept when the state does not say (the kernel's default `limit`). */
const DEFAULT_LIMIT = 200;
/** The most a view keeps whatever the state says. */
const MAX_LIMIT = 5000;

export interface Entry {
  id: number;
  type: string;
  time: string;
  text: string;
  truncated: boolean;
  size: number;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export function toEntry(raw: unknown): Entry | null {
  if (!isRecord(raw) || typeof raw.id !== "number" || !Number.isInteger(raw.id)) return null;
  return {
    id: raw.id,
    type: str(raw.type),
    time: str(raw.time),
    text: str(raw.text),
    truncated: raw.truncated === true,
    size: typeof raw.size === "number" ? raw.size : 0,
  };
}

/** The log's data: entries by id, oldest first, at most `limit`; and what each shows in full. */
export class LogData {
  entries = new Map<number, Entry>();
  limit = DEFAULT_LIMIT;
  total = 0;
  /** Whole texts the kernel sent on request (null: it no longer had the entry). */
  full = new Map<number, string | null>();
  version = 0;

  reset(state: { limit?: unknown; total?: unknown; entries?: unknown }): void {
    const limit = typeof state.limit === "number" && state.limit > 0 ? state.limit : DEFAULT_LIMIT;
    this.limit = Math.min(MAX_LIMIT, Math.floor(limit));
    this.total = typeof state.total === "number" ? state.total : 0;
    this.entries = new Map();
    this.add(Array.isArray(state.entries) ? state.entries : []);
    for (const id of this.full.keys()) if (!this.entries.has(id)) this.full.delete(id);
  }

  add(raw: unknown[], total?: unknown): void {
    for (const item of raw) {
      const entry = toEntry(item);
      if (entry === null) continue;
      this.entries.delete(entry.id);
      this.entries.set(entry.id, entry);
    }
    // Ids grow with each message: the oldest are the smallest. A delta only ever adds newer ones,
    // but a snapshot may bring older ones back: keep the map in id order.
    if (raw.length > 0) {
      const ordered = Array.from(this.entries.values()).sort((a, b) => a.id - b.id);
      const kept = ordered.slice(Math.max(0, ordered.length - this.limit));
      this.entries = new Map(kept.map((e) => [e.id, e]));
      for (const id of this.full.keys()) if (!this.entries.has(id)) this.full.delete(id);
    }
    if (typeof total === "number") this.total = total;
    this.version++;
  }

  /** Entries to show, newest first, that contain `needle` (case-insensitive) in their type or text
   * (the whole text when it was fetched). */
  view(needle: string): Entry[] {
    const wanted = needle.trim().toLowerCase();
    const out: Entry[] = [];
    const all = Array.from(this.entries.values());
    for (let i = all.length - 1; i >= 0; i--) {
      const e = all[i]!;
      if (wanted !== "") {
        const text = this.full.get(e.id) ?? e.text;
        if (!e.type.toLowerCase().includes(wanted) && !text.toLowerCase().includes(wanted)) continue;
      }
      out.push(e);
    }
    return out;
  }
}

interface Shown {
  li: HTMLLIElement;
  pre: HTMLPreElement;
  toggle: HTMLButtonElement;
  expanded: boolean;
  /** What the pre shows now. */
  text: string;
}

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function timeText(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toLocaleTimeString();
}

export function renderLog({ model, el, signal }: ViewProps<LogTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const data = new LogData();

  const search = h("input", {
    class: "rtw-input rtw-log-search",
    type: "search",
    placeholder: "Search messages…",
    "aria-label": "Search messages",
  });
  const count = h("span", { class: "rtw-log-count", role: "status" });
  const list = h("ol", { class: "rtw-log-list" });
  const empty = h("div", { class: "rtw-muted rtw-log-empty", text: "No messages yet." });
  const toolbar = h("div", { class: "rtw-toolbar" }, [search, h("span", { class: "rtw-spacer" }), count]);
  const root = h("div", { class: "rtw-root rtw-log" }, [toolbar, list, empty]);
  el.append(root);
  scope.add(() => root.remove());

  const shown = new Map<number, Shown>();
  let needle = "";
  let renderedVersion = -1;
  let renderedNeedle = "";

  const showText = (s: Shown, entry: Entry): void => {
    let text = entry.text;
    if (s.expanded) {
      const full = data.full.get(entry.id);
      text = full === undefined ? entry.text : full === null ? `${entry.text}\n(the whole message is no longer kept)` : full;
    }
    if (text !== s.text) {
      s.text = text;
      s.pre.textContent = text;
    }
    setText(s.toggle, s.expanded ? "Show less" : "Show all");
    s.toggle.setAttribute("aria-expanded", String(s.expanded));
    setHidden(s.toggle, !entry.truncated);
  };

  const makeShown = (entry: Entry): Shown => {
    const pre = h("pre", { class: "rtw-log-text" });
    const toggle = h("button", { class: "rtw-btn rtw-log-toggle", type: "button", "data-id": entry.id });
    const head = h("div", { class: "rtw-log-head" }, [
      h("span", { class: "rtw-log-type", text: entry.type }),
      h("time", { class: "rtw-log-time", datetime: entry.time, title: entry.time, text: timeText(entry.time) }),
      h("span", { class: "rtw-log-size rtw-muted", text: sizeText(entry.size) }),
      h("span", { class: "rtw-spacer" }),
      toggle,
    ]);
    const li = h("li", { class: "rtw-log-entry", "data-id": entry.id }, [head, pre]);
    const s: Shown = { li, pre, toggle, expanded: false, text: "" };
    showText(s, entry);
    return s;
  };

  const render = (): void => {
    if (renderedVersion === data.version && renderedNeedle === needle) return;
    renderedVersion = data.version;
    renderedNeedle = needle;
    const entries = data.view(needle);
    const wanted: HTMLLIElement[] = [];
    const ids = new Set<number>();
    for (const entry of entries) {
      let s = shown.get(entry.id);
      if (!s) {
        s = makeShown(entry);
        shown.set(entry.id, s);
      } else showText(s, entry);
      ids.add(entry.id);
      wanted.push(s.li);
    }
    for (const id of Array.from(shown.keys())) if (!data.entries.has(id)) shown.delete(id);
    let same = list.children.length === wanted.length;
    for (let i = 0; same && i < wanted.length; i++) same = list.children[i] === wanted[i];
    if (!same) list.replaceChildren(...wanted);
    const kept = data.entries.size;
    const total = Math.max(data.total, kept);
    const base = total > kept ? `last ${formatNumber(kept)} of ${formatNumber(total)} messages` : `${formatNumber(kept)} ${kept === 1 ? "message" : "messages"}`;
    setText(count, needle.trim() === "" ? base : `${formatNumber(entries.length)} found · ${base}`);
    setHidden(empty, kept !== 0);
  };

  const frame = new FrameTask(scope, render);

  const sync = new SeqSync<"log">(model, {
    reset: (state) => {
      frame.measure(() => data.reset(state));
      frame.schedule();
    },
    apply: (delta) => {
      frame.measure(() => data.add(Array.isArray(delta.add) ? delta.add : [], delta.total));
      frame.schedule();
    },
  }, scope);
  toolbar.append(pauseControl(model, sync, scope).el);

  scope.on(model, "msg:custom", (msg: unknown) => {
    if (!isRecord(msg) || msg.kind !== "entry" || typeof msg.id !== "number") return;
    data.full.set(msg.id, typeof msg.text === "string" ? msg.text : null);
    data.version++;
    frame.schedule();
  });

  scope.listen(search, "input", () => {
    needle = search.value;
    frame.schedule();
  });
  scope.listen(list, "click", (ev) => {
    const button = (ev.target as Element | null)?.closest<HTMLElement>(".rtw-log-toggle");
    const id = Number(button?.dataset.id);
    const s = shown.get(id);
    const entry = data.entries.get(id);
    if (!s || !entry) return;
    s.expanded = !s.expanded;
    if (s.expanded && !data.full.has(id)) {
      const request: LogRequest = { kind: "entry_request", id };
      model.send(request);
    }
    showText(s, entry);
  });

  render();
  return () => scope.dispose();
}

