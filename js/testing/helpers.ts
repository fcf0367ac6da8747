// Test helpers: render a view against a fake model, count DOM listeners, and a recording canvas context.
import type { RenderProps } from "@anywidget/types";
import { vi } from "vitest";
import { renderView } from "../index";
import type { FakeModel } from "./fake_model";

export interface Rendered {
  el: HTMLElement;
  controller: AbortController;
  cleanup: () => void;
}

/** Render `model` as anywidget would; `presence` (off by default: most tests watch one view's own
 * messages and timers) adds the view's presence lease (presence.ts). */
export function mount(model: FakeModel, { presence = false }: { presence?: boolean } = {}): Rendered {
  const el = document.createElement("div");
  document.body.append(el);
  const controller = new AbortController();
  const props = { model, el, signal: controller.signal } as unknown as RenderProps;
  const cleanup = renderView(props, { presence });
  return { el, controller, cleanup };
}

/** Counts listeners added minus removed on a target, by patching add/removeEventListener. */
export function countListeners(target: EventTarget): { count(): number; keys(): string[]; restore(): void } {
  // jsdom's selector engine adds its own document listeners on first use: start it before counting.
  document.querySelector("div");
  getComputedStyle(document.body);
  const live = new Set<string>();
  const keyOf = (type: string, fn: unknown, opts: unknown): string => {
    const capture = typeof opts === "boolean" ? opts : Boolean((opts as { capture?: boolean } | undefined)?.capture);
    return `${type}|${capture}|${ids.get(fn) ?? register(fn)}`;
  };
  const ids = new Map<unknown, number>();
  const register = (fn: unknown): number => {
    ids.set(fn, ids.size);
    return ids.size - 1;
  };
  const origAdd = target.addEventListener;
  const origRemove = target.removeEventListener;
  const add = vi.spyOn(target, "addEventListener").mockImplementation(function (this: EventTarget, type, fn, opts) {
    live.add(keyOf(type, fn, opts));
    origAdd.call(this, type, fn, opts);
  });
  const remove = vi.spyOn(target, "removeEventListener").mockImplementation(function (this: EventTarget, type, fn, opts) {
    live.delete(keyOf(type, fn, opts));
    origRemove.call(this, type, fn, opts);
  });
  return {
    count: () => live.size,
    keys: () => Array.from(live),
    restore: () => {
      add.mockRestore();
      remove.mockRestore();
    },
  };
}

export interface DrawCall {
  name: string;
  args: unknown[];
}

/** jsdom has no canvas: a context that records the calls a sparkline makes. */
export function stubCanvas(): { calls: DrawCall[]; contexts: Map<HTMLCanvasElement, DrawCall[]> } {
  const calls: DrawCall[] = [];
  const contexts = new Map<HTMLCanvasElement, DrawCall[]>();
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(function (this: HTMLCanvasElement) {
    const own = contexts.get(this) ?? [];
    contexts.set(this, own);
    const record =
      (name: string) =>
      (...args: unknown[]): void => {
        calls.push({ name, args });
        own.push({ name, args });
      };
    const ctx: Record<string, unknown> = {};
    for (const name of ["setTransform", "clearRect", "beginPath", "moveTo", "lineTo", "stroke", "fill", "closePath"]) {
      ctx[name] = record(name);
    }
    return ctx as unknown as CanvasRenderingContext2D;
  } as never);
  return { calls, contexts };
}

export function useFakeClock(): void {
  vi.useFakeTimers({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "requestAnimationFrame", "cancelAnimationFrame"],
  });
}

/** Run the pending animation frame (views render at most once per frame). */
export function nextFrame(): void {
  vi.advanceTimersToNextFrame();
}
