// Notifications: toasts for items that arrive while the view is open, and a history of every item.
import type { Level, NotificationsTraits } from "./contract";
import { FrameTask, Scope, type ViewProps, h, isRecord, setText, toEpochMs } from "./dom";
import { pauseControl } from "./pause";
import { SeqSync } from "./sync";

export type { Level } from "./contract";

/** Auto-dismiss delay per level; null keeps the toast until it is closed. */
export const DISMISS_MS: Record<Level, number | null> = { info: 4000, success: 4000, warning: 8000, error: null };
export const MAX_TOASTS = 5;
/** The kernel bounds its store too; this keeps a long-lived view from growing without limit. */
const MAX_HISTORY = 1000;

export interface Item {
  id: string;
  level: Level;
  title: string;
  message: string;
  timestamp: unknown;
  source: string;
}

export function levelOf(value: unknown): Level {
  return value === "success" || value === "warning" || value === "error" ? value : "info";
}

function str(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function toItem(raw: unknown, fallbackId: number): Item | null {
  if (!isRecord(raw)) return null;
  return {
    id: raw.id === undefined || raw.id === null ? `#${fallbackId}` : String(raw.id),
    level: levelOf(raw.level),
    title: str(raw.title),
    message: str(raw.message),
    timestamp: raw.timestamp,
    source: str(raw.source),
  };
}

function timeText(ts: unknown): string {
  const ms = toEpochMs(ts);
  return ms === null ? "" : new Date(ms).toLocaleTimeString();
}

const ICONS: Record<Level, string> = { info: "ℹ", success: "✓", warning: "!", error: "✕" };

export function renderNotifications({ model, el, signal }: ViewProps<NotificationsTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const toasts = h("div", { class: "rtw-toasts", "aria-live": "polite" });
  const historyList = h("ol", { class: "rtw-history-list", reversed: true });
  const summary = h("summary", { class: "rtw-history-summary" });
  const history = h("details", { class: "rtw-history" }, [summary, historyList]);
  const root = h("div", { class: "rtw-root rtw-notifications" }, [toasts, history]);
  el.append(root);
  scope.add(() => root.remove());

  let items: Item[] = [];
  const ids = new Set<string>();
  /** Toast element → its dismiss timer cancel. */
  const live = new Map<HTMLElement, () => void>();
  let historyDirty = true;

  const dismiss = (toast: HTMLElement): void => {
    live.get(toast)?.();
    live.delete(toast);
    toast.remove();
  };

  const showToast = (item: Item): void => {
    const close = h("button", { class: "rtw-toast-close", type: "button", "aria-label": "Dismiss", title: "Dismiss", text: "×" });
    const toast = h("div", { class: "rtw-toast", "data-level": item.level, "data-id": item.id, role: item.level === "error" ? "alert" : "status" }, [
      h("span", { class: "rtw-toast-icon", "aria-hidden": "true", text: ICONS[item.level] }),
      h("div", { class: "rtw-toast-body" }, [
        item.title ? h("div", { class: "rtw-toast-title", text: item.title }) : null,
        item.message ? h("div", { class: "rtw-toast-message", text: item.message }) : null,
      ]),
      close,
    ]);
    // The close button is the toast's only listener and goes away with the toast element.
    close.addEventListener("click", () => dismiss(toast));
    const ms = DISMISS_MS[item.level];
    live.set(toast, ms === null ? () => {} : scope.timeout(() => dismiss(toast), ms));
    toasts.append(toast);
    // Oldest first out, but a sticky error is kept over transient toasts where possible.
    while (live.size > MAX_TOASTS) {
      const all = Array.from(live.keys());
      const victim = all.find((t) => t.dataset.level !== "error") ?? all[0]!;
      dismiss(victim);
    }
  };

  const renderHistory = (): void => {
    historyDirty = false;
    setText(summary, `History (${items.length})`);
    // The list is only built while open: a closed history costs nothing per update.
    if (!history.open) return;
    historyList.replaceChildren(
      ...items
        .slice()
        .reverse()
        .map((item) =>
          h("li", { class: "rtw-history-item", "data-level": item.level }, [
            h("span", { class: "rtw-history-time", text: timeText(item.timestamp) }),
            h("span", { class: "rtw-history-level", text: item.level }),
            h("span", { class: "rtw-history-title", text: item.title }),
            h("span", { class: "rtw-history-message", text: item.message }),
          ]),
        ),
    );
  };

  const frame = new FrameTask(scope, () => {
    if (historyDirty) renderHistory();
  });

  const add = (raw: unknown[], toast: boolean): void => {
    for (const r of raw) {
      const item = toItem(r, items.length);
      if (!item || ids.has(item.id)) continue;
      ids.add(item.id);
      items.push(item);
      if (toast) showToast(item);
    }
    if (items.length > MAX_HISTORY) {
      for (const old of items.splice(0, items.length - MAX_HISTORY)) ids.delete(old.id);
    }
    historyDirty = true;
    frame.schedule();
  };

  const sync = new SeqSync<"notifications">(model, {
    reset: (state) => {
      items = [];
      ids.clear();
      add(Array.isArray(state.items) ? state.items : [], false);
    },
    apply: (delta) => add(Array.isArray(delta.add) ? delta.add : [], true),
  }, scope);
  root.prepend(pauseControl(model, sync, scope).el);

  scope.listen(history, "toggle", () => {
    historyDirty = true;
    renderHistory();
  });
  scope.add(() => {
    for (const cancel of live.values()) cancel();
    live.clear();
  });

  renderHistory();
  return () => scope.dispose();
}
