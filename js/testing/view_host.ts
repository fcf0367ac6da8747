// A long-lived Node process that runs the real views in jsdom and is fed, over stdin, the comm
// messages a kernel's widgets sent (one JSON command a line; one JSON answer a line on stdout).
// tests/reliability/test_hostile_views.py builds it with esbuild and drives it.
//
// Commands (each may carry an "id", echoed in its answer):
//   {"op": "feed", "messages": [{"comm_id", "msg_type", "data"}, ...]}
//       comm_open makes a model (its state as given) and renders the realtime, table and metrics
//       ones; comm_msg applies an update or delivers a custom message. Answers {"ok": true}.
//   {"op": "collect", "filter": str}
//       what the views hold: per table model its rows (in the view's order), columns and what its
//       DOM shows; per metrics model its latest values and cards; every error a view raised.
//   {"op": "reset"}  removes every view and model.
// jsdom must exist before any view module is evaluated: they are loaded once it does.
import { JSDOM, VirtualConsole } from "jsdom";
import { createInterface } from "node:readline";

declare const process: {
  stdin: unknown;
  stdout: { write(text: string): boolean };
  stderr: { write(text: string): boolean };
  exit(code: number): never;
};

/** Errors a view raised (uncaught in an event or frame, or reported on the console). */
export const errors: string[] = [];
/** Browser APIs jsdom does not have that a view touched (not a fault of the view). */
export const missing: string[] = [];

const virtualConsole = new VirtualConsole();
virtualConsole.on("jsdomError", (err: Error) => {
  const text = String(err?.stack ?? err);
  if (text.startsWith("Error: Not implemented")) missing.push(text.split("\n")[0]!);
  else errors.push(`uncaught: ${text}`);
});
const dom = new JSDOM("<!doctype html><html><body></body></html>", {
  pretendToBeVisual: true,
  url: "http://localhost/",
  virtualConsole,
});
const win = dom.window as unknown as Record<string, unknown>;

// Node's own timers, console and process stay; the DOM (events and abort signals included, which
// jsdom checks are its own) is jsdom's.
const KEEP = new Set([
  "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate",
  "queueMicrotask", "console", "process", "global", "globalThis", "performance", "crypto",
  "TextEncoder", "TextDecoder", "structuredClone", "URL", "URLSearchParams",
]);
const g = globalThis as unknown as Record<string, unknown>;
for (const name of Object.getOwnPropertyNames(win)) {
  if (KEEP.has(name) || name.startsWith("_")) continue;
  try {
    Object.defineProperty(g, name, { configurable: true, writable: true, value: win[name] });
  } catch {
    // a read-only global of Node's: keep it
  }
}
g.window = win;
g.self = win;

// jsdom has no canvas: a 2D context that accepts every call and property (uPlot and the sparklines
// draw into it).
function anything(): unknown {
  const props = new Map<PropertyKey, unknown>();
  const fn = function () {} as unknown as object;
  const proxy: unknown = new Proxy(fn, {
    get(_t, prop) {
      if (props.has(prop)) return props.get(prop);
      if (prop === Symbol.toPrimitive) return () => 0;
      if (prop === "then") return undefined;
      if (prop === "measureText") return () => ({ width: 0, actualBoundingBoxAscent: 0, actualBoundingBoxDescent: 0 });
      if (prop === "getImageData") return () => ({ data: new Uint8ClampedArray(4) });
      return proxy;
    },
    set(_t, prop, value) {
      props.set(prop, value);
      return true;
    },
    apply() {
      return proxy;
    },
  });
  return proxy;
}
const HTMLCanvas = win.HTMLCanvasElement as { prototype: { getContext: unknown } };
HTMLCanvas.prototype.getContext = function (this: unknown) {
  return anything();
};

// Server strings reach the console only through a view's own reports: keep stdout for answers.
const consoleError = (...args: unknown[]): void => {
  errors.push(`console.error: ${args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(" ")}`);
};
console.error = consoleError;
console.log = (...args: unknown[]) => void process.stderr.write(`${args.map(String).join(" ")}\n`);
console.warn = console.log;

async function main(): Promise<void> {
  // The stand-ins the vitest runs use (matchMedia, Path2D), then the views.
  await import("./view_host_setup");
  g.matchMedia = win.matchMedia;
  const { ViewHost } = await import("./view_host_views");
  const host = new ViewHost(dom.window as unknown as Window, errors, missing);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let answer: unknown;
    let id: unknown = null;
    try {
      const command = JSON.parse(line) as { id?: unknown };
      id = command.id ?? null;
      answer = await host.handle(command as never);
    } catch (err) {
      answer = { ok: false, error: String((err as Error)?.stack ?? err) };
    }
    // The command's id comes back with its answer: a caller that gave up on one can tell.
    process.stdout.write(`${JSON.stringify({ ...(answer as object), id })}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`view host: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
