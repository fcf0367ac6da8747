// Connection status indicator: reads the status traits of a connection's model (a RealtimeWidget's,
// or any model with the contract's ConnectionTraits) and sends its button and browser events back
// through that model.
import {
  type BrowserEventName,
  type ConnectionCommand,
  type ConnectionTraits,
  type ModelOf,
  type Status,
  type StatusTraits,
  isStatus,
  sendCommand,
} from "./contract";
import { Scope, type ViewProps, finite, formatNumber, h, isRecord, modelId, setHidden, setText, svg } from "./dom";

/** A status the indicator can show: the contract's, or "unknown" for any other value. */
export type Shown = Status | "unknown";

const LABELS: Record<Status, string> = {
  connected: "Connected",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  disconnected: "Disconnected",
  closed: "Closed",
};

/** Longest part of an unknown status shown in the label (the whole value goes in the tooltip). */
const UNKNOWN_SHOWN = 40;

const WATCHED = ["status", "attempt", "next_retry_in", "error", "latency_ms", "queued", "url", "stats"] as const;

/** Countdown refresh period: smooth enough for tenths of a second, cheap enough to ignore. */
export const TICK_MS = 200;

/** A value that is not one of the contract's statuses (a newer or broken kernel) is "unknown":
 * shown as such, never as one of the known states, which would tell the user something false. */
export function statusOf(value: unknown): Shown {
  return isStatus(value) ? value : "unknown";
}

function labelOf(status: Shown, raw: unknown): string {
  if (status !== "unknown") return LABELS[status];
  const text = typeof raw === "string" ? raw : JSON.stringify(raw) ?? String(raw);
  const short = text.length > UNKNOWN_SHOWN ? `${text.slice(0, UNKNOWN_SHOWN)}…` : text;
  return `Unknown status: ${short === "" ? "(empty)" : short}`;
}

export interface IndicatorOptions {
  details: boolean;
  position: "inline" | "fixed";
}

export interface Indicator {
  el: HTMLElement;
  setOptions(opts: IndicatorOptions): void;
}

function icon(status: Shown): SVGElement {
  const common = { fill: "none", stroke: "currentColor", "stroke-width": 2, "stroke-linecap": "round" };
  let parts: Element[];
  switch (status) {
    case "connected":
      parts = [svg("circle", { cx: 8, cy: 8, r: 6, ...common }), svg("circle", { cx: 8, cy: 8, r: 3, fill: "currentColor" })];
      break;
    case "connecting":
    case "reconnecting":
      parts = [
        svg("circle", { cx: 8, cy: 8, r: 6, ...common, opacity: 0.25 }),
        svg("path", { d: "M8 2a6 6 0 0 1 6 6", ...common }),
      ];
      break;
    case "disconnected":
      parts = [svg("circle", { cx: 8, cy: 8, r: 6, ...common }), svg("path", { d: "M4 12L12 4", ...common })];
      break;
    case "closed":
      parts = [svg("circle", { cx: 8, cy: 8, r: 6, ...common }), svg("path", { d: "M5.5 8h5", ...common })];
      break;
    case "unknown":
      parts = [
        svg("circle", { cx: 8, cy: 8, r: 6, ...common, "stroke-dasharray": "2 2" }),
        svg("path", { d: "M6.2 6.3a1.9 1.9 0 1 1 2.6 1.8c-.5.3-.8.6-.8 1.2", ...common }),
        svg("circle", { cx: 8, cy: 11.5, r: 0.9, fill: "currentColor" }),
      ];
      break;
  }
  return svg("svg", { viewBox: "0 0 16 16", width: 14, height: 14, "aria-hidden": "true", class: "rtw-status-svg" }, parts);
}

/** What the indicator needs of its source: the connection traits, their events, and a way to send. */
export type IndicatorSource = Pick<ModelOf<"connection">, "get" | "send" | "on" | "off">;

/**
 * Build the indicator for `source` (a connection's model). Everything it registers belongs to `scope`.
 */
export function createIndicator(source: IndicatorSource, scope: Scope, opts: IndicatorOptions): Indicator {
  let options = opts;
  const iconBox = h("span", { class: "rtw-status-icon" });
  const labelEl = h("span", { class: "rtw-status-label" });
  const latency = h("span", { class: "rtw-latency rtw-chip", title: "Round-trip time" });
  const attempt = h("span", { class: "rtw-attempt rtw-chip" });
  const countdown = h("span", { class: "rtw-countdown rtw-chip" });
  const queued = h("span", { class: "rtw-queued rtw-chip", title: "Messages waiting to be sent" });
  const stats = h("span", { class: "rtw-stats rtw-chip" });
  const reconnect = h("button", { class: "rtw-btn rtw-reconnect", type: "button", text: "Reconnect" });
  const disconnect = h("button", { class: "rtw-btn rtw-disconnect", type: "button", text: "Disconnect" });
  const error = h("div", { class: "rtw-error", role: "status" });
  const retry = h("button", { class: "rtw-btn rtw-try-again", type: "button", text: "Try again" });
  const banner = h("div", { class: "rtw-offline-banner", role: "alert" }, [
    h("span", { class: "rtw-offline-text", text: "You're offline. Live updates are paused." }),
    retry,
  ]);
  const line = h("div", { class: "rtw-status-line" }, [
    iconBox,
    labelEl,
    latency,
    attempt,
    countdown,
    queued,
    stats,
    h("span", { class: "rtw-spacer" }),
    reconnect,
    disconnect,
  ]);
  const el = h("div", { class: "rtw-root rtw-status" }, [banner, line, error]);

  let shown: Shown | null = null;
  let browserOffline = typeof navigator !== "undefined" && navigator.onLine === false;
  let retryAt: number | null = null;
  let stopTicking: (() => void) | null = null;

  const send = (msg: ConnectionCommand): void => {
    try {
      sendCommand(source, msg);
    } catch (err) {
      console.error("rt_widgets: could not send", msg, err);
    }
  };
  scope.listen(reconnect, "click", () => send({ kind: "reconnect" }));
  scope.listen(retry, "click", () => send({ kind: "reconnect" }));
  scope.listen(disconnect, "click", () => send({ kind: "disconnect" }));

  const markRetry = (): void => {
    const secs = finite(source.get("next_retry_in"));
    retryAt = secs === null ? null : Date.now() + Math.max(0, secs) * 1000;
  };

  const renderCountdown = (): void => {
    const status = statusOf(source.get("status"));
    const active = options.details && status === "reconnecting" && retryAt !== null;
    setHidden(countdown, !active);
    if (!active || retryAt === null) return;
    const left = Math.max(0, retryAt - Date.now()) / 1000;
    setText(countdown, left > 0 ? `retry in ${left.toFixed(1)} s` : "retrying…");
  };

  const syncTicker = (): void => {
    // Tick only while a countdown is on screen: an idle indicator holds no timer at all.
    const want = options.details && statusOf(source.get("status")) === "reconnecting" && retryAt !== null;
    if (want && !stopTicking) stopTicking = scope.interval(renderCountdown, TICK_MS);
    else if (!want && stopTicking) {
      stopTicking();
      stopTicking = null;
    }
  };

  const render = (): void => {
    const raw = source.get("status");
    const status = statusOf(raw);
    const label = labelOf(status, raw);
    const details = options.details;
    el.dataset.status = status;
    el.dataset.position = options.position;
    el.classList.toggle("rtw-fixed", options.position === "fixed");
    el.classList.toggle("rtw-details", details);
    const url = source.get("url");
    el.title = typeof url === "string" && url !== "" ? `${label} · ${url}` : label;
    if (shown !== status) {
      iconBox.replaceChildren(icon(status));
      shown = status;
    }
    iconBox.classList.toggle("rtw-spin", status === "connecting" || status === "reconnecting");
    setText(labelEl, label);

    const ms = finite(source.get("latency_ms"));
    setHidden(latency, !details || ms === null || status !== "connected");
    if (ms !== null) setText(latency, `${Math.round(ms)} ms`);

    const n = finite(source.get("attempt")) ?? 0;
    setHidden(attempt, !details || n <= 0);
    setText(attempt, `attempt ${n}`);

    const q = finite(source.get("queued")) ?? 0;
    setHidden(queued, !details || q <= 0);
    setText(queued, `${q} queued`);

    renderStats(stats, source.get("stats"), details);

    const err = source.get("error");
    const errText = typeof err === "string" ? err : "";
    setHidden(error, !details || errText === "");
    setText(error, errText);
    error.title = errText;

    reconnect.disabled = status === "closed" || status === "connecting";
    disconnect.disabled = status === "closed" || status === "disconnected";
    // Compact mode keeps only what a user can act on (an unknown status may need a reconnect too).
    setHidden(reconnect, !details && status !== "disconnected" && status !== "reconnecting" && status !== "unknown");
    setHidden(disconnect, !details);

    // Live updates are paused whenever the link is down and not by the user's final close.
    const down = status === "disconnected" || status === "reconnecting";
    setHidden(banner, !(down || (browserOffline && status !== "closed")));
    renderCountdown();
    syncTicker();
  };

  for (const name of WATCHED) {
    scope.on(source, `change:${name}`, () => {
      if (name === "next_retry_in") markRetry();
      render();
    });
  }

  const relay = (event: BrowserEventName): void => send({ kind: "browser", event });
  scope.listen(window, "online", () => {
    browserOffline = false;
    relay("online");
    render();
  });
  scope.listen(window, "offline", () => {
    browserOffline = true;
    relay("offline");
    render();
  });
  scope.listen(document, "visibilitychange", () => relay(document.visibilityState === "hidden" ? "hidden" : "visible"));

  markRetry();
  render();
  return {
    el,
    setOptions(next: IndicatorOptions): void {
      options = next;
      render();
    },
  };
}

/** Messages in/out at a glance; every counter in the tooltip. */
function renderStats(el: HTMLElement, value: unknown, details: boolean): void {
  const inbound = isRecord(value) ? finite(value.messages_in) : null;
  setHidden(el, !details || inbound === null);
  if (!isRecord(value) || inbound === null) return;
  const out = finite(value.messages_out) ?? 0;
  const bad = finite(value.decode_errors) ?? 0;
  setText(el, `↓ ${formatNumber(inbound)} ↑ ${formatNumber(out)}${bad > 0 ? ` · ${formatNumber(bad)} bad` : ""}`);
  el.classList.toggle("rtw-warn", bad > 0);
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && v !== undefined && typeof v !== "object") lines.push(`${k}: ${typeof v === "number" ? formatNumber(v) : String(v)}`);
  }
  el.title = lines.join("\n");
}

function optionsOf(model: ModelOf<"status">): IndicatorOptions {
  const details: unknown = model.get("details");
  return {
    details: details === undefined ? true : Boolean(details),
    position: model.get("position") === "fixed" ? "fixed" : "inline",
  };
}

/** The "status" view: a ConnectionStatus model whose `source` trait references a connection's model. */
export function renderStatus({ model, el, signal }: ViewProps<StatusTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const host = h("div", { class: "rtw-status-host" });
  el.append(host);
  scope.add(() => host.remove());

  let bound: Scope | null = null;
  let indicator: Indicator | null = null;
  let token = 0;

  const bind = async (): Promise<void> => {
    const mine = ++token;
    bound?.dispose();
    bound = null;
    indicator = null;
    host.replaceChildren();
    const id = modelId(model.get("source"));
    if (id === null) {
      host.append(h("div", { class: "rtw-root rtw-status rtw-status-missing", "data-status": "disconnected", text: "No connection to show." }));
      return;
    }
    let source: ModelOf<"connection">;
    try {
      source = await model.widget_manager.get_model<ConnectionTraits>(id);
    } catch (err) {
      if (mine === token && !scope.disposed) {
        host.append(h("div", { class: "rtw-error", text: `Connection widget ${id} not found: ${String(err)}` }));
      }
      return;
    }
    if (mine !== token || scope.disposed) return;
    bound = scope.child();
    indicator = createIndicator(source, bound, optionsOf(model));
    host.append(indicator.el);
  };

  scope.on(model, "change:source", () => void bind());
  scope.on(model, "change:details", () => indicator?.setOptions(optionsOf(model)));
  scope.on(model, "change:position", () => indicator?.setOptions(optionsOf(model)));
  void bind();
  return () => scope.dispose();
}
