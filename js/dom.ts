// Shared helpers for every view: element builders that only ever set text as text, and a Scope that
// owns everything a view registers so a single dispose() releases it.
import type { AnyModel, RenderProps } from "@anywidget/types";

export type Cleanup = () => void;

/** What a view is given: a model typed by its contract traits (see contract.ts), its element, the
 * signal that ends it. */
export type ViewProps<T extends Record<string, unknown>> = Pick<RenderProps<T>, "model" | "el" | "signal">;

/**
 * Run the renderer the model's `_view` trait names, from a table of renderers typed by their
 * contract interface. `_view` is the one place a model says which interface it has, so this is the
 * one place an untyped model becomes a typed one. Returns null for a name the table lacks.
 */
export function renderNamed<R extends Record<string, (props: never) => Cleanup>>(
  renderers: R,
  props: ViewProps<Record<string, unknown>>,
): Cleanup | null {
  const name: unknown = props.model.get("_view");
  if (typeof name !== "string" || !Object.hasOwn(renderers, name)) return null;
  const render = renderers[name] as unknown as (props: ViewProps<Record<string, unknown>>) => Cleanup;
  return render(props);
}

/** What Scope.on needs of a model: its event methods. */
export type Evented = Pick<AnyModel, "on" | "off">;

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Create an element; string children become text nodes, so server text can never become markup. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  children: Child[] = [],
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = String(value);
    else if (name === "text") el.textContent = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element with constant attributes (icons are built from code, never parsed). */
export function svg(tag: string, attrs: Record<string, string | number> = {}, children: Element[] = []): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
}

/** Set text only when it changed: writing identical text still costs a DOM mutation per frame. */
export function setText(el: Node, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setHidden(el: HTMLElement, hidden: boolean): void {
  if (el.hidden !== hidden) el.hidden = hidden;
}

/**
 * Owns the listeners, timers and animation frames of one rendered view. Everything registered here is
 * released by dispose(), which render() wires to both its returned cleanup and the abort signal.
 */
export class Scope {
  private cleanups: Cleanup[] = [];
  private timeouts = new Set<ReturnType<typeof setTimeout>>();
  private intervals = new Set<ReturnType<typeof setInterval>>();
  private frames = new Set<number>();
  disposed = false;

  /** Run fn on dispose (immediately if already disposed). */
  add(fn: Cleanup): void {
    if (this.disposed) {
      fn();
      return;
    }
    this.cleanups.push(fn);
  }

  listen<K extends keyof WindowEventMap>(target: Window, type: K, fn: (ev: WindowEventMap[K]) => void, opts?: AddEventListenerOptions): void;
  listen<K extends keyof DocumentEventMap>(target: Document, type: K, fn: (ev: DocumentEventMap[K]) => void, opts?: AddEventListenerOptions): void;
  listen<K extends keyof HTMLElementEventMap>(target: HTMLElement, type: K, fn: (ev: HTMLElementEventMap[K]) => void, opts?: AddEventListenerOptions): void;
  listen(target: EventTarget, type: string, fn: (ev: Event) => void, opts?: AddEventListenerOptions): void {
    if (this.disposed) return;
    target.addEventListener(type, fn, opts);
    this.add(() => target.removeEventListener(type, fn, opts));
  }

  /** model.on with the matching model.off on dispose. */
  on(model: Evented, event: string, fn: (...args: unknown[]) => void): void {
    if (this.disposed) return;
    model.on(event, fn);
    this.add(() => model.off(event, fn));
  }

  timeout(fn: () => void, ms: number): Cleanup {
    if (this.disposed) return () => {};
    const id = setTimeout(() => {
      this.timeouts.delete(id);
      fn();
    }, ms);
    this.timeouts.add(id);
    return () => {
      clearTimeout(id);
      this.timeouts.delete(id);
    };
  }

  interval(fn: () => void, ms: number): Cleanup {
    if (this.disposed) return () => {};
    const id = setInterval(fn, ms);
    this.intervals.add(id);
    return () => {
      clearInterval(id);
      this.intervals.delete(id);
    };
  }

  frame(fn: () => void): Cleanup {
    if (this.disposed) return () => {};
    const id = requestFrame(() => {
      this.frames.delete(id);
      fn();
    });
    this.frames.add(id);
    return () => {
      cancelFrame(id);
      this.frames.delete(id);
    };
  }

  /** A child scope that is disposed with this one, or earlier on its own. */
  child(): Scope {
    const sub = new Scope();
    const release = () => sub.dispose();
    this.add(release);
    sub.add(() => {
      const i = this.cleanups.indexOf(release);
      if (i >= 0) this.cleanups.splice(i, 1);
    });
    return sub;
  }

  /** Dispose when the signal aborts; the abort listener itself is removed on dispose. */
  bindSignal(signal: AbortSignal | undefined): void {
    if (!signal) return;
    if (signal.aborted) {
      this.dispose();
      return;
    }
    const onAbort = () => this.dispose();
    signal.addEventListener("abort", onAbort, { once: true });
    this.add(() => signal.removeEventListener("abort", onAbort));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const id of this.timeouts) clearTimeout(id);
    for (const id of this.intervals) clearInterval(id);
    for (const id of this.frames) cancelFrame(id);
    this.timeouts.clear();
    this.intervals.clear();
    this.frames.clear();
    const fns = this.cleanups.splice(0).reverse();
    for (const fn of fns) {
      try {
        fn();
      } catch (err) {
        console.error("rt_widgets: cleanup failed", err);
      }
    }
  }
}

function requestFrame(fn: () => void): number {
  if (typeof requestAnimationFrame === "function") return requestAnimationFrame(() => fn());
  return setTimeout(fn, 16) as unknown as number;
}

function cancelFrame(id: number): void {
  if (typeof cancelAnimationFrame === "function") cancelAnimationFrame(id);
  else clearTimeout(id);
}

/** Work in one frame (deltas applied since the last draw, plus the draw) beyond which draws are paced. */
export const FRAME_BUDGET_MS = 8;
/** The longest a paced draw waits: even a very slow view shows its latest state a few times a second. */
export const MAX_PACE_MS = 250;

/**
 * Coalesces any number of schedule() calls into one run per animation frame: a burst of deltas costs
 * one render, whatever the message rate.
 *
 * Adaptive pacing: when the deltas applied since the last draw (timed through measure()) plus the draw
 * itself took more than FRAME_BUDGET_MS, the next draw waits until the page has had as long again for
 * everything else (input, more deltas). Deltas keep being applied to the data as they arrive; only the
 * intermediate draws are skipped, and the draw that follows shows the latest state.
 *
 * Times come from Date.now(): millisecond resolution is plenty against the budget, and it is the clock
 * the tests fake.
 */
export class FrameTask {
  private pending: Cleanup | null = null;
  /** Milliseconds of measured work since the last draw. */
  private work = 0;
  private notBefore = -Infinity;
  /** Draws skipped by pacing since the view was created (for tests and benchmarks). */
  paced = 0;

  constructor(
    private scope: Scope,
    private fn: () => void,
  ) {}

  /** Run fn (applying a delta, say) and count its time against the frame budget. */
  measure<T>(fn: () => T): T {
    const t0 = Date.now();
    try {
      return fn();
    } finally {
      this.work += Math.max(0, Date.now() - t0);
    }
  }

  schedule(): void {
    if (this.pending || this.scope.disposed) return;
    const wait = this.notBefore - Date.now();
    if (wait > 0) {
      this.paced++;
      this.pending = this.scope.timeout(() => {
        this.pending = null;
        this.schedule();
      }, wait);
      return;
    }
    this.pending = this.scope.frame(() => this.run());
  }

  private run(): void {
    this.pending = null;
    const t0 = Date.now();
    try {
      this.fn();
    } finally {
      const end = Date.now();
      const cost = this.work + Math.max(0, end - t0);
      this.work = 0;
      this.notBefore = cost > FRAME_BUDGET_MS ? end + Math.min(cost, MAX_PACE_MS) : -Infinity;
    }
  }
}

/** Model ids arrive as "IPY_MODEL_<id>" references; the widget manager wants the bare id. */
export function modelId(ref: unknown): string | null {
  if (typeof ref !== "string" || ref === "") return null;
  return ref.startsWith("IPY_MODEL_") ? ref.slice("IPY_MODEL_".length) : ref;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function finite(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const compactFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  // Grouped decimals would show 1e-7 as "0" and 1e21 as a wall of digits.
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e15)) return value.toExponential(3);
  return numberFormat.format(value);
}

/** Shorter form for KPI values and rates. */
export function formatCompact(value: number): string {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 0.01)) return value.toPrecision(3);
  return compactFormat.format(value);
}

/** Any cell value as display text; objects are shown as JSON, never interpreted. */
/** A cell's text, always a string: JSON for objects, and for what JSON cannot spell (a function, a
 * symbol, a bigint, a cycle) whatever `String` gives, or nothing. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? formatNumber(value) : String(value);
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "function" || typeof value === "symbol") return "";
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    try {
      return String(value);
    } catch {
      return "";
    }
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

/** A field of a server object, read as data: only its own fields count, so a row without a
 * `constructor` or `toString` field has no such value (rather than Object.prototype's functions). */
export function own(obj: Record<string, unknown>, name: string): unknown {
  return hasOwn.call(obj, name) ? obj[name] : undefined;
}

/** Whether a server object has a field of its own by that name. */
export function hasField(obj: Record<string, unknown>, name: string): boolean {
  return hasOwn.call(obj, name);
}

/** Sets a field as data: `__proto__` becomes a field of that name, never the object's prototype. */
export function setField(obj: Record<string, unknown>, name: string, value: unknown): void {
  if (name === "__proto__") Object.defineProperty(obj, name, { value, writable: true, enumerable: true, configurable: true });
  else obj[name] = value;
}

/** Longest name or value shown whole; longer text is cut, and the whole of it is its title. */
export const MAX_SHOWN_CHARS = 200;

/** Server text as shown: at most MAX_SHOWN_CHARS characters and an ellipsis. */
export function clip(text: string): string {
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/** Timestamps may be epoch seconds, epoch milliseconds or ISO strings; returns epoch ms. */
export function toEpochMs(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value > 1e12 ? value : value * 1000;
  if (typeof value === "string" && value !== "") {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

export function formatAgo(ms: number, now: number = Date.now()): string {
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 1) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

const NUMERIC = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** A value as a number: a finite number, or a numeric string ("192.31", as exchanges send prices;
 * the same strings the kernel counts as numbers); null for anything else (booleans included). */
export function numeric(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && value.length <= 64 && NUMERIC.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
