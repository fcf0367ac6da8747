// The single bundle for every rt_widgets view: the `_view` trait picks the renderer.
import type { RenderProps } from "@anywidget/types";
import { h, renderNamed } from "./dom";
import { CHILD_VIEWS, renderExplorer } from "./explorer";
import "./styles.css";

/** Every renderer of the bundle, by the `_view` of the contract interface it takes. */
const VIEWS = { realtime: renderExplorer, ...CHILD_VIEWS } as const;

function render(props: RenderProps<Record<string, unknown>>): () => void {
  const cleanup = renderNamed(VIEWS, props);
  if (cleanup === null) {
    const name = String(props.model.get("_view"));
    const note = h("div", { class: "rtw-root rtw-error", text: `rt_widgets: unknown view "${name}".` });
    props.el.append(note);
    return () => note.remove();
  }
  return cleanup;
}

export default { render };
