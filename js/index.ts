// The single bundle for every rt_widgets view: the `_view` trait picks the renderer.
import type { RenderProps } from "@anywidget/types";
import { h } from "./dom";
import { CHILD_VIEWS, renderExplorer } from "./explorer";
import "./styles.css";

const VIEWS: Record<string, (props: Pick<RenderProps, "model" | "el" | "signal">) => () => void> = {
  realtime: renderExplorer,
  ...CHILD_VIEWS,
};

function render(props: RenderProps): () => void {
  const name = String(props.model.get("_view"));
  const view = VIEWS[name];
  if (!view) {
    const note = h("div", { class: "rtw-root rtw-error", text: `rt_widgets: unknown view "${name}".` });
    props.el.append(note);
    return () => note.remove();
  }
  return view(props);
}

export default { render };
