// Pause and resume for every data view: a button that holds the picture still and a badge with the
// number of updates waiting (the kernel sends only that count while paused), and resume, which drops
// the held picture for a fresh snapshot.
//
// The kernel owns the `paused` trait, so every view of one model agrees: a view that pauses holds at
// once and tells the kernel; a `paused` change from the kernel (view.pause() in Python, or another
// view of the model) holds or releases this view too.
import { type ToView, sendDataRequest } from "./contract";
import { type Scope, finite, formatNumber, h, isRecord, setHidden, setText } from "./dom";
import type { DataInterface, SeqSync, SyncModel } from "./sync";

export interface PauseControl {
  /** The button and its badge, for the view's toolbar. */
  el: HTMLElement;
  /** Whether the view is holding still. */
  readonly held: boolean;
  /** Updates the kernel reported waiting since the pause. */
  readonly waiting: number;
  pause(): void;
  resume(): void;
}

type Waiting = Extract<ToView<"table">, { kind: "waiting" }>;

/** A pause control for a data view whose updates go through `sync`; `onChange(held)` runs after each
 * change (a view may dim itself, stop following live data...). */
export function pauseControl<I extends DataInterface>(
  model: SyncModel<I>,
  sync: SeqSync<I>,
  scope: Scope,
  onChange: (held: boolean) => void = () => {},
): PauseControl {
  const label = document.createTextNode("");
  const button = h("button", { class: "rtw-btn rtw-pause-button", type: "button" }, [label]);
  const badge = h("span", { class: "rtw-pause-badge", role: "status", "aria-live": "polite" });
  const el = h("span", { class: "rtw-pause" }, [button, badge]);
  let held = false;
  let waiting = 0;

  const render = (): void => {
    setText(label, held ? "Resume" : "Pause");
    button.title = held ? "Show the current data again and follow it live" : "Hold the picture still (the kernel keeps the data)";
    button.setAttribute("aria-pressed", String(held));
    el.classList.toggle("rtw-paused", held);
    setHidden(badge, !held);
    setText(badge, waiting === 0 ? "Paused" : `${formatNumber(waiting)} ${waiting === 1 ? "update" : "updates"} waiting`);
  };

  const hold = (tell: boolean): void => {
    if (held) return;
    held = true;
    waiting = 0;
    sync.hold();
    if (tell) sendDataRequest(model, { kind: "pause" });
    render();
    onChange(true);
  };

  const release = (tell: boolean): void => {
    if (!held) return;
    held = false;
    waiting = 0;
    if (tell) sendDataRequest(model, { kind: "resume" });
    sync.release();
    render();
    onChange(false);
  };

  scope.listen(button, "click", () => (held ? release(true) : hold(true)));
  scope.on(model, "change:paused", () => {
    if (model.get("paused") === true) hold(false);
    else release(false);
  });
  scope.on(model, "msg:custom", (msg: unknown) => {
    if (!held || !isRecord(msg) || msg.kind !== "waiting") return;
    const count = finite((msg as Partial<Waiting>).count);
    if (count === null || count < 0) return;
    waiting = count;
    render();
  });

  render();
  if (model.get("paused") === true) hold(false);
  return {
    el,
    get held() {
      return held;
    },
    get waiting() {
      return waiting;
    },
    pause: () => hold(true),
    resume: () => release(true),
  };
}
