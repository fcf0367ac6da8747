// Presence: every rendered view leases its model's attention, and tells a live view from a saved one.
//
// A view sends `{kind: "presence", view, lease, page}` when it renders and every BEAT_MS after, while its page
// is visible; `lease: 0` when it goes (cleanup, page hidden or closed). With no lease running the kernel
// sends nothing (rt_widgets/widgets/_audience.py). The kernel answers a view's first presence with
// `{kind: "live"}`; anything else from the kernel proves it is live too. A view that hears nothing
// within SAVED_AFTER_MS is a saved one (an HTML export, a notebook reopened without running): it says
// so, with the time of its data, and the controls that would talk to the kernel are disabled.
import type { AnyModel } from "@anywidget/types";
import { pageId } from "./bus";
import { Scope, h, isRecord } from "./dom";

export const BEAT_MS = 2000;
/** Seconds the kernel counts a view after each beat, and LATE (5 s) more, since a busy page beats late: a
 * page gone without a word is let go then. */
export const LEASE_S = 5;
export const SAVED_AFTER_MS = 4000;

/** What presence needs of a model. */
export type PresenceModel = Pick<AnyModel, "get" | "send" | "on" | "off">;

let counter = 0;
function viewId(): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 10);
  return `${Date.now().toString(36)}-${random}-${counter}`;
}

/** The time of a saved view's data, from its model's `as_of` trait, in the reader's time zone. */
export function savedText(asOf: unknown): string {
  const ms = typeof asOf === "string" && asOf !== "" ? Date.parse(asOf) : Number.NaN;
  const when = Number.isNaN(ms) ? "" : ` at ${new Date(ms).toLocaleString()}`;
  return `Saved view${when}, not live. Run the cell to reconnect.`;
}

/**
 * Lease presence for a view rendered into `el`, and mark `el` as saved when no kernel answers (unless
 * `judge` is false: a view inside another, which judges for both). Everything it registers belongs to
 * `scope`; disposing the scope says goodbye.
 */
export function watchPresence(
  model: PresenceModel,
  el: HTMLElement,
  scope: Scope,
  { judge = true }: { judge?: boolean } = {},
): { isLive(): boolean } {
  const id = viewId();
  let live = false;
  let banner: HTMLElement | null = null;

  const lease = (seconds: number): void => {
    try {
      model.send({ kind: "presence", view: id, lease: seconds, page: pageId() });
    } catch {
      // A host without a kernel may refuse: the view is then a saved one.
    }
  };
  const visible = (): boolean => typeof document === "undefined" || document.visibilityState !== "hidden";

  const markLive = (): void => {
    if (live) return;
    live = true;
    el.classList.remove("rtw-saved-view");
    banner?.remove();
    banner = null;
  };
  const markSaved = (): void => {
    if (live || scope.disposed) return;
    el.classList.add("rtw-saved-view");
    banner = h("div", { class: "rtw-root rtw-saved-banner", role: "note", text: savedText(model.get("as_of")) });
    el.prepend(banner);
  };

  scope.on(model, "msg:custom", (msg: unknown) => {
    if (isRecord(msg)) markLive();
  });
  // Any trait the kernel changes proves it is there (a saved view's traits never change).
  scope.on(model, "change", () => markLive());

  let stopBeat: (() => void) | null = null;
  let asked = false;
  const start = (): void => {
    lease(LEASE_S);
    stopBeat ??= scope.interval(() => lease(LEASE_S), BEAT_MS);
    if (!asked && judge) {
      // Judged only once the kernel was asked: a page rendered hidden asks when it is shown.
      asked = true;
      scope.timeout(markSaved, SAVED_AFTER_MS);
    }
  };
  const stop = (): void => {
    stopBeat?.();
    stopBeat = null;
    lease(0);
  };
  scope.listen(document, "visibilitychange", () => (visible() ? start() : stop()));
  scope.listen(window, "pagehide", () => stop());
  scope.add(() => {
    stopBeat?.();
    lease(0);
    banner?.remove();
    el.classList.remove("rtw-saved-view");
  });
  if (visible()) start();
  return { isLive: () => live };
}
