// The single bundle for every rt_widgets view: the `_view` trait picks the renderer.
import type { RenderProps } from "@anywidget/types";
import { Scope, h, renderNamed } from "./dom";
import { CHILD_VIEWS, renderExplorer } from "./explorer";
import { watchPresence } from "./presence";
import { hideCopiesOf } from "./static_copy";
import "./styles.css";

/** Every renderer of the bundle, by the `_view` of the contract interface it takes. */
const VIEWS = { realtime: renderExplorer, ...CHILD_VIEWS } as const;

export interface RenderOptions {
  /** Lease the model's attention and tell a saved view (presence.ts); tests of one view turn it off. */
  presence: boolean;
}

function render(props: RenderProps<Record<string, unknown>>): () => void {
  return renderView(props, { presence: true });
}

/** `render`, with the presence of the view optional. */
export function renderView(props: RenderProps<Record<string, unknown>>, options: RenderOptions): () => void {
  const presence = new Scope();
  presence.bindSignal(props.signal);
  if (options.presence) watchPresence(props.model, props.el, presence);
  const cleanup = withPresence(renderNamed(VIEWS, props), presence);
  // A drawn view hides the plain copy of its data that travels next to it (static_copy.ts).
  if (cleanup !== null) presence.add(hideCopiesOf(props.model, props.el));
  if (cleanup === null) {
    const name = String(props.model.get("_view"));
    const note = h("div", { class: "rtw-root rtw-error", text: `rt_widgets: unknown view "${name}".` });
    props.el.append(note);
    return () => note.remove();
  }
  return cleanup;
}

/** The view's cleanup, which also ends its presence (the kernel stops sending when none is left). */
function withPresence(cleanup: (() => void) | null, presence: Scope): (() => void) | null {
  if (cleanup === null) {
    presence.dispose();
    return null;
  }
  return () => {
    presence.dispose();
    cleanup();
  };
}

export default { render };
