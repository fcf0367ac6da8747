// A collapsible JSON tree for server values (a table row's fields, a logged message).
//
// Everything shown is set as text. Names are read with Object.keys and values through own(), so a
// field named `__proto__`, `constructor` or `toString` is just a field. Nodes are built when opened:
// a closed object or array costs one line whatever its size, and an open one shows at most
// `maxChildren` entries until "… K more" is clicked.
import { h, own } from "./dom";

/** Which nodes the user opened or closed, by path: pass the same map to the next jsonTree call for a
 * changed value and the same nodes stay open (a live row re-rendered keeps its expansion). */
export type JsonTreeState = Map<string, boolean>;

export interface JsonTreeOptions {
  /** Levels open at first: 0 shows the root closed, 1 (the default) its direct entries. */
  expandDepth?: number;
  /** Entries shown per object or array before a "… K more" button (default 100). */
  maxChildren?: number;
  /** Longest string or name shown whole (default 200); longer ones are cut, whole on hover and on click. */
  maxChars?: number;
  /** Open/closed nodes kept across renders (see JsonTreeState). */
  state?: JsonTreeState;
}

interface Ctx {
  expandDepth: number;
  maxChildren: number;
  maxChars: number;
  state: JsonTreeState;
}

/** The kind of a value, also its CSS class suffix (`rtw-json-string`...). */
export function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const t = typeof value;
  if (t === "string" || t === "number" || t === "boolean" || t === "undefined" || t === "object") return t;
  return "other";
}

/** A string cut to `max` characters and an ellipsis; the whole string is its title, and a click
 * shows it whole (and a second click cut again). */
function clipped(text: string, max: number, cls: string, quote: boolean): HTMLElement {
  const show = (s: string, cut: boolean): string => {
    if (!quote) return cut ? `${s}…` : s;
    const q = JSON.stringify(s);
    return cut ? `${q.slice(0, -1)}…"` : q;
  };
  if (text.length <= max) return h("span", { class: cls, text: show(text, false) });
  const short = show(text.slice(0, max), true);
  const el = h("span", { class: `${cls} rtw-json-clipped`, text: short, title: text, tabindex: "0", role: "button" });
  let whole = false;
  const toggle = (ev: Event): void => {
    ev.stopPropagation();
    whole = !whole;
    el.textContent = whole ? show(text, false) : short;
    el.setAttribute("aria-expanded", String(whole));
  };
  el.setAttribute("aria-expanded", "false");
  el.addEventListener("click", toggle);
  el.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      toggle(ev);
    }
  });
  return el;
}

function scalarText(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  try {
    return String(value);
  } catch {
    return "?";
  }
}

/** A closed node's summary. An object's size is known only by listing its names, which costs as
 * much as the object is large: it is counted when the node is first opened. */
function summary(value: object, isArray: boolean, names: readonly string[] | null): string {
  const n = isArray ? (value as unknown[]).length : names?.length;
  if (n === undefined) return "{…}";
  return isArray ? `[${n} ${n === 1 ? "item" : "items"}]` : `{${n} ${n === 1 ? "key" : "keys"}}`;
}

function valueNode(value: unknown, path: (string | number)[], ancestors: object[], ctx: Ctx): HTMLElement {
  const kind = jsonKind(value);
  if (kind === "string") return clipped(value as string, ctx.maxChars, "rtw-json-string", true);
  if (kind !== "object" && kind !== "array") return h("span", { class: `rtw-json-${kind}`, text: scalarText(value) });
  const obj = value as object;
  if (ancestors.includes(obj)) return h("span", { class: "rtw-json-other", text: "[circular]" });
  const isArray = kind === "array";
  const id = JSON.stringify(path);
  const toggle = h("button", { class: "rtw-json-toggle", type: "button", "aria-label": "Expand" });
  const sum = h("span", { class: "rtw-json-summary", text: summary(obj, isArray, null) });
  const node = h("span", { class: `rtw-json-node rtw-json-${kind}` }, [toggle, sum]);
  let children: HTMLElement | null = null;

  const build = (): HTMLElement => {
    const list = h("div", { class: "rtw-json-children", role: "group" });
    const names: string[] = isArray ? [] : Object.keys(obj);
    const total = isArray ? (obj as unknown[]).length : names.length;
    sum.textContent = summary(obj, isArray, names);
    const inner = [...ancestors, obj];
    let shown = 0;
    const more = h("button", { class: "rtw-btn rtw-json-more", type: "button" });
    const showMore = (): void => {
      const end = Math.min(total, shown + ctx.maxChildren);
      const entries: HTMLElement[] = [];
      for (let i = shown; i < end; i++) {
        const name = isArray ? i : names[i]!;
        const v = isArray ? (obj as unknown[])[i] : own(obj as Record<string, unknown>, names[i]!);
        const key = isArray
          ? h("span", { class: "rtw-json-index", text: String(i) })
          : clipped(names[i]!, ctx.maxChars, "rtw-json-key", false);
        entries.push(h("div", { class: "rtw-json-entry" }, [key, h("span", { class: "rtw-json-colon", text: ": " }), valueNode(v, [...path, name], inner, ctx)]));
      }
      shown = end;
      more.before(...entries);
      const left = total - shown;
      more.textContent = `… ${left} more`;
      more.hidden = left === 0;
    };
    list.append(more);
    more.addEventListener("click", (ev) => {
      ev.stopPropagation();
      showMore();
    });
    showMore();
    if (total === 0) list.append(h("span", { class: "rtw-json-empty", text: isArray ? "empty array" : "empty object" }));
    return list;
  };

  const setOpen = (open: boolean): void => {
    toggle.setAttribute("aria-expanded", String(open));
    toggle.setAttribute("aria-label", open ? "Collapse" : "Expand");
    toggle.textContent = open ? "▾" : "▸";
    node.classList.toggle("rtw-json-open", open);
    if (open && !children) {
      children = build();
      node.append(children);
    }
    if (children) children.hidden = !open;
  };
  const flip = (ev: Event): void => {
    ev.stopPropagation();
    const open = toggle.getAttribute("aria-expanded") !== "true";
    ctx.state.set(id, open);
    setOpen(open);
  };
  toggle.addEventListener("click", flip);
  sum.addEventListener("click", flip);
  setOpen(ctx.state.get(id) ?? path.length < ctx.expandDepth);
  return node;
}

/**
 * A JSON tree of `value`: objects and arrays open and close, scalars carry their kind as a class
 * (`rtw-json-string`, `-number`, `-boolean`, `-null`), strings show quoted.
 *
 *     panel.append(jsonTree(row, { expandDepth: 2 }));
 */
export function jsonTree(value: unknown, opts: JsonTreeOptions = {}): HTMLElement {
  const ctx: Ctx = {
    expandDepth: Math.max(0, opts.expandDepth ?? 1),
    maxChildren: Math.max(1, Math.floor(opts.maxChildren ?? 100)),
    maxChars: Math.max(1, Math.floor(opts.maxChars ?? 200)),
    state: opts.state ?? new Map(),
  };
  return h("div", { class: "rtw-json" }, [valueNode(value, [], [], ctx)]);
}
