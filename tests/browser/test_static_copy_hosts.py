"""In a host whose output DOM no style rule of the copy matches, a drawn view still hides the plain
copy of its own model, and only that.

The page is our own and mimics VS Code's notebook output webview: every cell a ``.cell_container``
of ``.output_container``s, each output in its own container and ``.output`` node, an HTML output set
as a ``div``'s ``innerHTML``. It holds what a real kernel published for a run notebook (the view
outputs, the copies, the saved widget state) and draws the views with the built bundle through a
widget manager that hands each view what anywidget hands it (the model's methods, no model id).
The last test checks the same in real JupyterLab, where anywidget draws the views."""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

from rt_widgets.widgets._static import COPY_ATTR

from ._execute import WIDGET_STATE, run_notebook
from ._jupyter import add_cell, open_notebook
from .conftest import Feed, Lab, close_page, new_page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "rt_widgets" / "static"
VIEW = "application/vnd.jupyter.widget-view+json"
HIDDEN_ATTR = "data-rtw-copy-hidden"
CELLS = [
    """
import time
from rt_widgets import RealtimeWidget
from rt_widgets.demo import DemoServer

feed = DemoServer(port=0, rate=100, seed=9).start()
w = RealtimeWidget(feed.url)
missions = w.table("mission_update")
deadline = time.monotonic() + 20
while len(missions.rows) < 5 and time.monotonic() < deadline:
    time.sleep(0.05)
""",
    "w",
    "missions",
    "w.status_indicator()",
]

# A minimal widget manager and the webview's layout; the views come from /widget.js.
HOST = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="widget.css"></head>
<body><div id="container"></div>
<script type="module">
class Model {
  constructor(id, attributes, manager) {
    this.model_id = id; this.attributes = attributes; this.widget_manager = manager;
    this.handlers = new Map();
  }
  get(key) { return this.attributes[key]; }
  set(key, value) {
    const old = this.attributes[key];
    this.attributes[key] = value;
    if (old !== value) this.trigger(`change:${key}`, this, value);
  }
  on(event, fn) { this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]); }
  off(event, fn) {
    if (!event) { this.handlers.clear(); return; }
    this.handlers.set(event, (this.handlers.get(event) ?? []).filter((f) => fn && f !== fn));
  }
  trigger(event, ...args) { for (const fn of this.handlers.get(event) ?? []) fn(...args); }
  send() {}
  save_changes() {}
}
class Manager {
  constructor(state) {
    this.models = new Map();
    for (const [id, entry] of Object.entries(state)) {
      this.models.set(id, new Model(id, { ...entry.state }, this));
    }
    // As ipywidgets' DOM widget model does: its layout reference becomes the Layout model.
    for (const model of this.models.values()) {
      const ref = model.attributes.layout;
      if (typeof ref === "string" && ref.startsWith("IPY_MODEL_")) {
        model.attributes.layout = this.models.get(ref.slice(10)) ?? ref;
      }
    }
  }
  async get_model(id) {
    const model = this.models.get(id);
    if (!model) throw new Error(`widget model not found: ${id}`);
    return model;
  }
}
// What anywidget hands a view: bound methods and the manager, no model id.
const proxy = (m) => ({
  get: m.get.bind(m), set: m.set.bind(m), send: m.send.bind(m),
  save_changes: m.save_changes.bind(m), on: (e, f) => m.on(e, f), off: (e, f) => m.off(e, f),
  widget_manager: m.widget_manager,
});
const container = document.getElementById("container");
let top = 0;
const pending = [];
window.addCell = (outputs) => {
  const cell = document.createElement("div");
  cell.className = "cell_container";
  cell.style.position = "relative";
  container.append(cell);
  for (const output of outputs) {
    const box = document.createElement("div");
    box.className = "output_container";
    box.style.overflow = "hidden";
    const node = document.createElement("div");
    node.className = "output";
    node.style.padding = "4px 8px";
    box.append(node);
    cell.append(box);
    const rendered = document.createElement("div");
    node.append(rendered);
    if (output.html !== undefined) rendered.innerHTML = output.html;
    else pending.push({ id: output.model_id, el: rendered });
  }
};
window.drawViews = async (state, skip) => {
  const manager = window.manager ?? (window.manager = new Manager(state));
  const bundle = await import("./widget.js");
  for (const { id, el } of pending.splice(0)) {
    if (skip.includes(id)) continue;
    const model = await manager.get_model(id);
    bundle.default.render({ model: proxy(model), el, signal: new AbortController().signal });
  }
};
window.ready = true;
</script></body></html>
"""

SEEN = """() => {
  const all = (sel) => Array.from(document.querySelectorAll(sel));
  const seen = (el) => el.checkVisibility();
  return {
    copies: all('.rtw-static-copy').length,
    copies_seen: all('.rtw-static-copy').filter(seen).map((el) => el.getAttribute('COPY_ATTR')),
    views_seen: all('.rtw-root').filter((el) => seen(el) && !el.parentElement.closest('.rtw-root'))
      .length,
    containers_seen: all('.output_container').filter(seen).length,
    empty_seen: all('.output_container').filter((el) => seen(el) && el.innerText.trim() === '')
      .length,
  };
}""".replace("COPY_ATTR", COPY_ATTR)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A notebook run by a real kernel: its outputs and its widget state, as saved."""
    workdir = tmp_path_factory.mktemp("hosts")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    return run_notebook(nb, workdir)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[str]:
    """Our VS Code-like page and the built bundle, on a local HTTP server."""
    for name in ("widget.js", "widget.css"):
        shutil.copy(STATIC / name, tmp_path / name)
    (tmp_path / "index.html").write_text(HOST, encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def published(nb: Any) -> list[list[dict[str, str]]]:
    """Each cell's outputs as the webview gets them: a widget view by its model, or HTML."""
    cells = []
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if VIEW in data:
                outputs.append({"model_id": data[VIEW]["model_id"]})
            elif "text/html" in data:
                outputs.append({"html": data["text/html"]})
        if outputs:
            cells.append(outputs)
    return cells


def test_a_drawn_view_hides_its_copy_in_a_page_laid_out_like_vs_code(executed: Any, host: str,
                                                                      browser: Any) -> None:
    state = executed.metadata["widgets"][WIDGET_STATE]["state"]
    cells = published(executed)
    # Each widget's cell: the view, then the copy naming the view's model.
    assert [len(c) for c in cells] == [2, 2, 2], cells
    ids = [c[0]["model_id"] for c in cells]
    for (_view, copy), model_id in zip(cells, ids, strict=True):
        assert f'{COPY_ATTR}="{model_id}"' in copy["html"], copy["html"][:200]
    explorer, table, status = ids
    page = new_page(browser)
    try:
        page.goto(host)
        page.wait_for_function("() => window.ready === true")
        for outputs in cells:
            page.evaluate("(o) => window.addCell(o)", outputs)
        # No style rule of the copy matches this layout: before any view draws, every copy shows.
        before = page.evaluate(SEEN)
        assert before["copies"] == 3 and sorted(before["copies_seen"]) == sorted(ids), before

        # Draw every view but the status indicator's: its copy is all the page has of it.
        page.evaluate("([s, skip]) => window.drawViews(s, skip)", [state, [status]])
        page.wait_for_function(
            "() => document.querySelectorAll('.rtw-static-copy').length === 3 && Array.from("
            "document.querySelectorAll('.rtw-static-copy')).filter((el) => el.checkVisibility())"
            ".length === 1", timeout=20_000, polling=100)
        after = page.evaluate(SEEN)
        assert after["copies_seen"] == [status], after
        assert after["views_seen"] == 2, after
        # The hidden copies' containers went with them: no empty box is left where they were.
        assert after["containers_seen"] == 4 and after["empty_seen"] == 1, after  # status' view
        hidden = page.evaluate(f"() => Array.from(document.querySelectorAll('[{HIDDEN_ATTR}]'))"
                               ".map((el) => [el.className, el.getAttribute('" + HIDDEN_ATTR + "')])")
        assert sorted(hidden) == sorted([["output_container", explorer],
                                         ["output_container", table]]), hidden

        # Outputs rendered later (VS Code renders cells as they scroll into view): a copy of a
        # drawn model is hidden, an unrelated output beside it is not.
        page.evaluate("([c]) => window.addCell([{html: c}, {html: '<p id=\"other\">printed</p>'}])",
                      [cells[1][1]["html"]])
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.rtw-static-copy'))"
            ".filter((el) => el.checkVisibility()).length === 1"
            " && document.querySelectorAll('.rtw-static-copy').length === 4",
            timeout=10_000, polling=100)
        expect(page.locator("#other")).to_be_visible()
        assert not [m for m in page._rtw_console if m.startswith("pageerror")], page._rtw_console
    finally:
        close_page(page)


def test_in_jupyterlab_the_view_itself_hides_its_copy(lab: Lab, fresh_page: Any,
                                                      feed: Feed) -> None:
    """anywidget hands the view no model id: that the view found its copy through the widget
    manager shows in the marker it sets (the style rule alone sets none)."""
    feed.start(rate=20)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, lab.root / "static_copy_hosts.ipynb")
    page = fresh_page
    open_notebook(page, lab, "static_copy_hosts.ipynb")
    add_cell(page, f"from rt_widgets import RealtimeWidget\nw = RealtimeWidget({feed.url!r})", "setup")
    table = add_cell(page, "w.table('mission_update')", "table")
    expect(table.locator(".rtw-root")).to_have_count(1)
    copy = table.locator(".rtw-static-copy")
    expect(copy).to_have_count(1)
    model_id = copy.get_attribute(COPY_ATTR)
    assert model_id
    marked = table.locator(f".jp-OutputArea-child[{HIDDEN_ATTR}]")
    expect(marked).to_have_count(1)
    assert marked.get_attribute(HIDDEN_ATTR) == model_id
    assert page.evaluate("(el) => el.checkVisibility()", copy.element_handle()) is False
    # Another cell's view of another model leaves this copy's marker alone, and the reverse.
    status = add_cell(page, "w.status_indicator()", "status")
    expect(status.locator(f".jp-OutputArea-child[{HIDDEN_ATTR}]")).to_have_count(1)
    other = status.locator(f".jp-OutputArea-child[{HIDDEN_ATTR}]").get_attribute(HIDDEN_ATTR)
    assert other and other != model_id
    expect(marked).to_have_count(1)
