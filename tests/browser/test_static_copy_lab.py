"""In JupyterLab and Notebook 7 the plain copy of a widget's data (an output of its own, for
exports) stays out of sight wherever the view is drawn: a cell run live, and a notebook saved with
widget state and reopened without running; the view shows once. Untrusted, no widget view is drawn
and the copy is what shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

from ._execute import WIDGET_STATE
from ._jupyter import add_cell, open_notebook
from .conftest import NOTEBOOKS, Feed, Lab

pytestmark = pytest.mark.browser

VIEW = "application/vnd.jupyter.widget-view+json"


def outputs(page: Any, scope: Any) -> dict[str, int]:
    """What the cells in ``scope`` show: drawn views, output areas and copies, visible or not."""
    counts: dict[str, int] = scope.evaluate(
        """(root) => {
          const seen = (el) => el.checkVisibility();
          const all = (sel) => Array.from(root.querySelectorAll(sel));
          return {
            // a view's own parts may be views too: count the outermost
            views: all('.rtw-root').filter((el) => seen(el) && !el.parentElement.closest('.rtw-root'))
              .length,
            copies: all('.rtw-static-copy').length,
            copies_seen: all('.rtw-static-copy').filter(seen).length,
            children_seen: all('.jp-OutputArea-child').filter(seen).length,
          };
        }"""
    )
    return counts


def trust(lab: Lab, name: str) -> None:
    """``jupyter trust`` with the server's own settings (as a user who ran it would have it)."""
    home = lab.root.parent
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_PLATFORM_DIRS="1")
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(lab.root / name)], check=True,
                   env=env, capture_output=True, timeout=60)


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_live_cell_shows_the_view_once_and_not_the_copy(lab: Lab, fresh_page: Any,
                                                          feed: Feed, ui: str) -> None:
    feed.start(rate=20)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, lab.root / "static_copy.ipynb")
    page = fresh_page
    open_notebook(page, lab, "static_copy.ipynb", ui=ui)
    add_cell(page, f"from rt_widgets import RealtimeWidget\nw = RealtimeWidget({feed.url!r})\nw",
             "setup")
    table = add_cell(page, "w.table('mission_update')", "table")
    expect(table.locator(".rtw-root")).to_have_count(1)
    for tag in ("setup", "table"):
        here = page.locator(f"[data-rtw-tag~='{tag}']")
        # The copy is in the page (the saved notebook carries it) but only the view is seen.
        assert outputs(page, here) == {"views": 1, "copies": 1, "copies_seen": 0,
                                       "children_seen": 1}, tag


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_reopened_notebook_shows_the_saved_views_once_and_untrusted_the_copies(
        lab: Lab, fresh_page: Any, ui: str) -> None:
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    views = [o["data"][VIEW]["model_id"] for c in nb.cells if c.cell_type == "code"
             for o in c.outputs if VIEW in o.get("data", {})]
    assert views and all(m in state for m in views)
    (lab.root / "reopened.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    trust(lab, "reopened.ipynb")
    # Trust goes by content: the untrusted copy differs from the trusted one.
    nb.metadata["title"] = "untrusted"
    (lab.root / "reopened_untrusted.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    page = fresh_page
    open_notebook(page, lab, "reopened.ipynb", ui=ui)  # not run: the views are drawn from the saved state
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    expect(notebook.locator(".rtw-root").first).to_be_visible()
    page.wait_for_function(
        "([el, n]) => el.querySelectorAll('.jp-OutputArea-output .rtw-root').length >= n",
        arg=[notebook.element_handle(), len(views)], timeout=30_000, polling=200)
    seen = outputs(page, notebook)
    assert seen["views"] == len(views) and seen["copies"] == len(views), seen
    assert seen["copies_seen"] == 0, seen

    open_notebook(page, lab, "reopened_untrusted.ipynb", ui=ui)
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    expect(notebook.locator(".rtw-static-copy").first).to_be_visible()
    seen = outputs(page, notebook)
    assert seen["views"] == 0 and seen["copies_seen"] == len(views), seen
