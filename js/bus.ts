// The page bus: the views on one browser page share the kernel's messages.
//
// Every view's presence names its page (`pageId()`, one random id per JavaScript realm). A data view
// whose every view is on one page has its deltas sent with the others of that page: one `bundle`
// message per frame-clock tick, on the comm of one of them (rt_widgets/sync.py). The view that receives
// it hands each item to the views registered here under the item's `to`, their model's `_route` trait.
// A view that misses an item (its carrier went) sees a gap in its seq and asks for a snapshot, as after
// any lost delta. The bus lives on `globalThis`, so that every copy of this bundle on the page (hosts
// may load a widget's module once per model) shares it; its shape is therefore kept minimal.
import { type Scope, isRecord } from "./dom";

/** What takes a message the bus hands out: the message and its own buffers. */
export type BusHandler = (msg: unknown, buffers: unknown[]) => void;

interface Bus {
  page: string;
  routes: Map<string, Set<BusHandler>>;
  /** Bundles already handed out (a carrier rendered twice on the page gets each one twice). */
  seen: WeakSet<object>;
  /** Items handed to a view so far (for tests and benchmarks). */
  handed?: number;
}

const KEY = "__rtw_bus_1";

function isBus(value: unknown): value is Bus {
  return isRecord(value) && typeof value["page"] === "string" && value["routes"] instanceof Map
    && value["seen"] instanceof WeakSet;
}

function newPageId(): string {
  const random = Math.random().toString(36).slice(2, 12);
  return `p-${Date.now().toString(36)}-${random}`;
}

/** This page's bus (made on first use). */
export function pageBus(): Bus {
  const global = globalThis as unknown as Record<string, unknown>;
  const existing = global[KEY];
  if (isBus(existing)) return existing;
  const bus: Bus = { page: newPageId(), routes: new Map(), seen: new WeakSet() };
  global[KEY] = bus;
  return bus;
}

/** The id every view on this page names in its presence. */
export function pageId(): string {
  return pageBus().page;
}

/** Take the messages for `route` (a model's `_route`) while `scope` lives. No route: nothing. */
export function joinBus(route: unknown, handler: BusHandler, scope: Scope): void {
  if (typeof route !== "string" || route === "" || scope.disposed) return;
  const routes = pageBus().routes;
  let handlers = routes.get(route);
  if (handlers === undefined) {
    handlers = new Set();
    routes.set(route, handlers);
  }
  const own = handlers;
  own.add(handler);
  scope.add(() => {
    own.delete(handler);
    if (own.size === 0 && routes.get(route) === own) routes.delete(route);
  });
}

/** Hand each item of a `bundle` message to the views of its route on this page. */
export function deliverBundle(msg: Record<string, unknown>, buffers: unknown): void {
  const bus = pageBus();
  if (bus.seen.has(msg)) return;
  bus.seen.add(msg);
  const items = msg["items"];
  if (!Array.isArray(items)) return;
  const all: unknown[] = Array.isArray(buffers) ? buffers : [];
  for (const item of items) {
    if (!isRecord(item) || typeof item["to"] !== "string") continue;
    const handlers = bus.routes.get(item["to"]);
    if (handlers === undefined) continue; // not on this page (or gone): its seq shows the gap
    const indexes: unknown[] = Array.isArray(item["b"]) ? item["b"] : [];
    const own = indexes.map((i) => (typeof i === "number" ? all[i] : undefined));
    bus.handed = (bus.handed ?? 0) + 1;
    for (const handler of [...handlers]) {
      try {
        handler(item["m"], own);
      } catch (err) {
        console.error("rt_widgets: a view failed on a bundled message", err);
      }
    }
  }
}
