// Message log: the last messages of a type (or of every type), newest first, each a one-line
// summary that opens into a JSON tree of its payload (a cut-short entry asks the kernel for its
// whole text first). Searchable (types and payload texts) and pausable. Everything the
// server sent is set as text (textContent), never parsed as HTML, and no server string becomes a key of
// a plain object (entries live in a Map by their numeric id).
import type { LogRequest, LogTraits } from "./contract";
import { FrameTask, Scope, type ViewProps, formatNumber, h, isRecord, setHidden, setText } from "./dom";
import { type JsonTreeState, jsonTree } from "./jsontree";
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

/** A logged payload as a value: its text parsed as JSON, objects made with no prototype (a server
 * name is never a key of a plain object); `undefined` when the text is not JSON (a cut-short entry,
 * bytes, an unserialisable value). */
export function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text, (_name, value: unknown) =>
      value !== null && typeof value === "object" && !Array.isArray(value)
        ? Object.assign(Object.create(null) as Record<string, unknown>, value)
        : value,
    );
  } catch {
    return undefined;
  }
}

/** Longest one-line summary of an entry, in characters (the line is cut by CSS before that). */
const SUMMARY_CHARS = 240;

/** A value as one line of JSON (`{"a": 1, "b": [2, 3]}`), stopping once `max` characters are
 * written; null-prototype objects are read like plain ones. */
export function oneLine(value: unknown, max: number = SUMMARY_CHARS): string {
  let out = "";
  const write = (v: unknown): void => {
    if (out.length >= max) return;
    if (v === null || typeof v !== "object") {
      out += v === undefined ? "null" : JSON.stringify(v) ?? String(v);
      return;
    }
    const isArray = Array.isArray(v);
    out += isArray ? "[" : "{";
    const names = isArray ? null : Object.keys(v);
    const n = isArray ? (v as unknown[]).length : names!.length;
    for (let i = 0; i < n && out.length < max; i++) {
      if (i > 0) out += ", ";
      if (isArray) write((v as unknown[])[i]);
      else {
        out += `${JSON.stringify(names![i])}: `;
        write((v as Record<string, unknown>)[names![i]!]);
      }
    }
    out += isArray ? "]" : "}";
  };
  write(value);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** The one-line summary of an entry: its payload as one line when its text is JSON, else its text
 * with each run of white space made one space. */
function summaryOf(entry: Entry): { line: string; value: unknown } {
  const value = entry.truncated ? undefined : parsePayload(entry.text);
  if (value !== undefined) return { line: oneLine(value), value };
  const flat = entry.text.replace(/\s+/g, " ").trim();
  return { line: flat.length > SUMMARY_CHARS ? `${flat.slice(0, SUMMARY_CHARS)}…` : flat, value };
}

interface Shown {
  li: HTMLLIElement;
  toggle: HTMLButtonElement;
  body: HTMLDivElement;
  expanded: boolean;
  /** The payload the body shows (undefined: not JSON, or not parsed yet). */
  value: unknown;
  /** What the body was last built from: the entry's text, or the whole text the kernel sent. */
  built: string | null;
  /** The open nodes of the entry's tree, kept while the entry is. */
  tree: JsonTreeState;
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

  /** The expanded body of an entry: its payload as a JSON tree; for a cut-short entry the whole
   * text once the kernel sent it (asked for on the first expand), parsed when it is JSON. */
  const showBody = (s: Shown, entry: Entry): void => {
    setText(s.toggle, s.expanded ? "▾" : "▸");
    s.toggle.setAttribute("aria-expanded", String(s.expanded));
    s.toggle.setAttribute("aria-label", s.expanded ? "Collapse the message" : "Expand the message");
    s.li.classList.toggle("rtw-log-open", s.expanded);
    setHidden(s.body, !s.expanded);
    if (!s.expanded) return;
    const full = entry.truncated ? data.full.get(entry.id) : entry.text;
    const source = full === undefined ? null : full === null ? "" : full;
    if (source === s.built && s.body.firstChild) return;
    s.built = source;
    if (full === undefined) {
      s.body.replaceChildren(h("pre", { class: "rtw-log-pre", text: entry.text }), h("div", { class: "rtw-muted rtw-log-note", text: "Loading the whole message…" }));
      return;
    }
    if (full === null) {
      s.body.replaceChildren(h("pre", { class: "rtw-log-pre", text: entry.text }), h("div", { class: "rtw-muted rtw-log-note", text: "The whole message is no longer kept." }));
      return;
    }
    const value = full === entry.text && s.value !== undefined ? s.value : parsePayload(full);
    s.body.replaceChildren(
      value === undefined ? h("pre", { class: "rtw-log-pre", text: full }) : jsonTree(value, { expandDepth: 2, state: s.tree }),
    );
  };

  const makeShown = (entry: Entry): Shown => {
    const { line, value } = summaryOf(entry);
    const toggle = h("button", { class: "rtw-btn rtw-log-toggle", type: "button", "data-id": entry.id });
    const head = h("div", { class: "rtw-log-head" }, [
      toggle,
      h("span", { class: "rtw-log-type", text: entry.type }),
      h("time", { class: "rtw-log-time", datetime: entry.time, title: entry.time, text: timeText(entry.time) }),
      h("span", { class: "rtw-log-size", text: entry.truncated ? `${sizeText(entry.size)}, cut short` : sizeText(entry.size) }),
    ]);
    const summary = h("div", { class: "rtw-log-text", title: line, text: line });
    const body = h("div", { class: "rtw-log-body" });
    const li = h("li", { class: "rtw-log-entry", "data-id": entry.id }, [head, summary, body]);
    const s: Shown = { li, toggle, body, expanded: false, value, built: null, tree: new Map() };
    showBody(s, entry);
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
      } else showBody(s, entry);
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
  const flip = (id: number): void => {
    const s = shown.get(id);
    const entry = data.entries.get(id);
    if (!s || !entry) return;
    s.expanded = !s.expanded;
    if (s.expanded && entry.truncated && !data.full.has(id)) {
      const request: LogRequest = { kind: "entry_request", id };
      model.send(request);
    }
    showBody(s, entry);
  };
  // The toggle, the head or the one-line summary opens and closes an entry; clicks inside its
  // tree belong to the tree.
  scope.listen(list, "click", (ev) => {
    const target = ev.target as Element | null;
    if (!target || target.closest(".rtw-log-body")) return;
    const li = target.closest<HTMLElement>(".rtw-log-entry");
    if (li && (target.closest(".rtw-log-head") || target.closest(".rtw-log-text"))) flip(Number(li.dataset.id));
  });

  render();
  return () => scope.dispose();
}

