// The plain copy of a widget's data (rt_widgets/widgets/_static.py) is an output of its own, next to
// the widget's view. A style rule in the copy hides it where JupyterLab, Notebook 7 and the classic
// notebook put both in one output area; other hosts lay outputs out their own way (VS Code gives
// each output a container of its own, Colab has its own frames), so a drawn view also hides, here,
// every copy of its own model in its document. Without JavaScript nothing runs and the copy shows.
//
// The copy names its model: `data-rtw-copy="<model_id>"`. anywidget hands a view a model object
// without its model id (get/set/on/off/send/save_changes/widget_manager), so the view asks the widget
// manager for the model of each copy's id and compares: the same model, or the same `layout` (every
// ipywidgets DOM widget has a Layout model of its own; anywidget's model deserializes it to that
// model object, and hosts that keep references as strings give the same "IPY_MODEL_<id>" string).

import type { AnyModel } from "@anywidget/types";
import { isRecord } from "./dom";

export const COPY_ATTR = "data-rtw-copy";
/** Set on the element a view hid (the copy, or the host's wrapper that held only the copy). */
export const HIDDEN_ATTR = "data-rtw-copy-hidden";
/** Past this many distinct copy ids in a document, a view forgets which were its own and asks again. */
const MAX_KNOWN = 1000;
/** How far above a copy its host's wrappers may be hidden with it. */
const MAX_WRAPPERS = 8;
/** Elements that show something without any text or children. */
const SHOWS = "img,svg,canvas,video,audio,iframe,object,embed,input,button,select,textarea,.rtw-root";
const NOTHING_SHOWN = new Set(["STYLE", "SCRIPT", "LINK", "TEMPLATE", "META", "BR"]);

interface Manager {
  get_model(id: string): Promise<unknown>;
}

/** One drawn view that hides the copies of its model. */
interface Watcher {
  model: AnyModel<Record<string, unknown>>;
  /** Copy id -> whether it is this view's model (null: being asked). */
  known: Map<string, boolean | null>;
  /** Hidden element -> the copy it was hidden for. */
  hidden: Map<HTMLElement, HTMLElement>;
  /** The view's element: nothing that holds it is hidden. */
  el: HTMLElement;
  /** Whether the document was searched (once the view's element is in it). */
  scanned: boolean;
}

/** The views hiding each element, and the inline display it had before. */
const holders = new WeakMap<HTMLElement, Held>();

interface Held {
  views: Set<Watcher>;
  display: string;
  priority: string;
  /** On a wrapper hidden with its copy: shows it again if the host adds anything else to it. */
  grows: MutationObserver | null;
}
/** One observer per document, for copies that arrive after the view drew (hosts render outputs lazily). */
const perDocument = new WeakMap<Document, { observer: MutationObserver; watchers: Set<Watcher> }>();

/**
 * Hide every copy of `model` in `el`'s document now and whenever one is added, until the returned
 * cleanup runs; then show again what no other view of the model still hides.
 */
export function hideCopiesOf(model: AnyModel<Record<string, unknown>>, el: HTMLElement): () => void {
  const doc = el.ownerDocument;
  const watcher: Watcher = { model, known: new Map(), hidden: new Map(), el, scanned: false };
  let entry = perDocument.get(doc);
  if (entry === undefined) {
    const watchers = new Set<Watcher>();
    const observer = new MutationObserver((records) => added(records, watchers));
    observer.observe(doc.documentElement, { childList: true, subtree: true });
    entry = { observer, watchers };
    perDocument.set(doc, entry);
  }
  entry.watchers.add(watcher);
  // Until the host puts the view in the page, the output it goes in may look empty: wait for it.
  if (el.isConnected) scan(watcher);
  const mine = entry;
  return () => {
    mine.watchers.delete(watcher);
    if (mine.watchers.size === 0) {
      mine.observer.disconnect();
      perDocument.delete(doc);
    }
    for (const hidden of watcher.hidden.keys()) release(hidden, watcher);
    watcher.hidden.clear();
    watcher.known.clear();
  };
}

function scan(watcher: Watcher): void {
  watcher.scanned = true;
  for (const copy of watcher.el.ownerDocument.querySelectorAll(`[${COPY_ATTR}]`)) consider(watcher, copy);
}

// Runs for every change to the page while a view is drawn, the views' own included: it only looks
// at added elements (a changed text is an added text node, passed over at once).
function added(records: MutationRecord[], watchers: Set<Watcher>): void {
  const copies: Element[] = [];
  let removed = false;
  for (const record of records) {
    if (record.removedNodes.length > 0) removed = true;
    for (const node of record.addedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      const el = node as Element;
      if (el.hasAttribute(COPY_ATTR)) copies.push(el);
      if (el.firstElementChild !== null) for (const copy of el.querySelectorAll(`[${COPY_ATTR}]`)) copies.push(copy);
    }
  }
  for (const watcher of watchers) {
    if (!watcher.scanned) {
      if (watcher.el.isConnected) scan(watcher);
      continue;
    }
    if (removed) {
      for (const hidden of Array.from(watcher.hidden.keys())) {
        if (hidden.isConnected) continue;
        watcher.hidden.delete(hidden);
        release(hidden, watcher);
      }
    }
    for (const copy of copies) consider(watcher, copy);
  }
}

/** Hide `copy` if it is of the watcher's model; ask the widget manager when that is not known yet. */
function consider(watcher: Watcher, copy: Element): void {
  const id = copy.getAttribute(COPY_ATTR);
  if (id === null || id === "") return;
  const known = watcher.known.get(id);
  if (known === true) hide(watcher, copy);
  if (known !== undefined) return;
  if (watcher.known.size >= MAX_KNOWN) watcher.known.clear();
  watcher.known.set(id, null);
  void isModel(watcher.model, id).then((mine) => {
    if (!watcher.known.has(id)) return; // the view is gone, or forgot
    watcher.known.set(id, mine);
    if (!mine) return;
    const doc = copy.ownerDocument;
    for (const each of doc.querySelectorAll(`[${COPY_ATTR}]`)) {
      if (each.getAttribute(COPY_ATTR) === id) hide(watcher, each);
    }
  });
}

/** Whether the model with id `id` is `model` (see the top of the file). */
export async function isModel(model: AnyModel<Record<string, unknown>>, id: string): Promise<boolean> {
  const own = (model as unknown as Record<string, unknown>)["model_id"];
  if (typeof own === "string") return own === id;
  const manager = (model as unknown as { widget_manager?: unknown }).widget_manager;
  if (!isRecord(manager) || typeof manager["get_model"] !== "function") return false;
  let other: unknown;
  try {
    other = await (manager as unknown as Manager).get_model(id);
  } catch {
    return false; // no such model here: a copy from another kernel or a closed widget
  }
  if (other === model) return true;
  if (!isRecord(other) || typeof other["get"] !== "function") return false;
  const theirs = (other["get"] as (key: string) => unknown).call(other, "layout");
  const ours = model.get("layout" as never) as unknown;
  if (typeof ours === "string") return ours !== "" && ours === theirs;
  return typeof ours === "object" && ours !== null && ours === theirs;
}

function hide(watcher: Watcher, copy: Element): void {
  if (!(copy instanceof HTMLElement) || !copy.isConnected) return;
  const target = outermostAlone(copy, watcher.el);
  if (watcher.hidden.has(target)) return;
  let held = holders.get(target);
  if (held === undefined) {
    held = {
      views: new Set(),
      display: target.style.getPropertyValue("display"),
      priority: target.style.getPropertyPriority("display"),
      grows: target === copy ? null : new MutationObserver((records) => grew(target, copy, records)),
    };
    holders.set(target, held);
    held.grows?.observe(target, { childList: true, subtree: true });
    target.style.setProperty("display", "none", "important");
    target.setAttribute(HIDDEN_ATTR, copy.getAttribute(COPY_ATTR) ?? "");
  }
  held.views.add(watcher);
  watcher.hidden.set(target, copy);
}

/** Something besides the copy was added to a wrapper hidden with it: hide again, only as far up as
 * still holds nothing else. */
function grew(target: HTMLElement, copy: HTMLElement, records: MutationRecord[]): void {
  if (!records.some((r) => r.addedNodes.length > 0 && !copy.contains(r.target))) return;
  const views = Array.from(holders.get(target)?.views ?? []);
  for (const view of views) {
    view.hidden.delete(target);
    release(target, view);
  }
  for (const view of views) hide(view, copy);
}

function release(target: HTMLElement, watcher: Watcher): void {
  const held = holders.get(target);
  if (held === undefined) return;
  held.views.delete(watcher);
  if (held.views.size > 0) return;
  holders.delete(target);
  held.grows?.disconnect();
  if (held.display === "") target.style.removeProperty("display");
  else target.style.setProperty("display", held.display, held.priority);
  target.removeAttribute(HIDDEN_ATTR);
}

/**
 * The copy, or the outermost of the host's wrappers around it that show nothing else (so that no
 * empty gap is left where it was); never the body, nor a wrapper that also holds other output.
 */
export function outermostAlone(copy: HTMLElement, view: Element): HTMLElement {
  let current = copy;
  for (let level = 0; level < MAX_WRAPPERS; level++) {
    const parent = current.parentElement;
    if (parent === null || parent === parent.ownerDocument.body || parent === parent.ownerDocument.documentElement) break;
    if (parent.contains(view) || !showsOnly(parent, current)) break;
    current = parent;
  }
  return current;
}

/** Whether `parent` shows nothing but `child`. */
function showsOnly(parent: HTMLElement, child: HTMLElement): boolean {
  for (const node of parent.childNodes) {
    if (node === child) continue;
    if (node.nodeType === Node.TEXT_NODE) {
      if ((node.textContent ?? "").trim() !== "") return false;
    } else if (node instanceof HTMLElement || node instanceof SVGElement) {
      if (!showsNothing(node)) return false;
    }
  }
  return true;
}

/** An element that can show nothing now and never grows unseen: an empty leaf (a prompt), a style. */
function showsNothing(el: Element): boolean {
  if (NOTHING_SHOWN.has(el.tagName.toUpperCase()) || el.hasAttribute(HIDDEN_ATTR)) return true;
  // An empty element with children may be an output still being drawn (a widget view): it counts.
  return el.childElementCount === 0 && !el.matches(SHOWS) && (el.textContent ?? "").trim() === "";
}
