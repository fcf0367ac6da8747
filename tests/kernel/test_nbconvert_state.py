"""An offline ``jupyter nbconvert --to html`` of a notebook saved *with* widget state (as JupyterLab
saves it, and as the shipped notebooks are saved) still shows each widget's data as text.

nbconvert renders the widget view of an output whose model is in the saved state, and that view
needs a script from a CDN; the readable copy is an output of its own next to it. The HTML is read
as a browser with no script would show it: scripts dropped, and the copy's own hiding rule (for
live front ends, where a view is drawn next to it) evaluated on the static page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup

from rt_widgets.widgets._static import HIDE_NEXT_TO_A_VIEW, RERUN, VIEW
from tests.browser._execute import WIDGET_STATE, run_notebook
from tests.kernel.test_static_views import CELLS

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("RealtimeWidget", "LiveTable", "LiveMetrics", "ConnectionStatus", "Notifications")


def nbconvert(path: Path) -> str:
    """``jupyter nbconvert --to html`` as a user runs it, with the widget CDN unreachable."""
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)],
                   check=True, capture_output=True, env=env, timeout=120)
    return path.with_suffix(".html").read_text(encoding="utf-8")


def hiding_selectors() -> list[str]:
    rule = re.fullmatch(r"<style>(.*)\{display: none\}</style>", HIDE_NEXT_TO_A_VIEW)
    assert rule is not None
    return rule.group(1).split(",")


def static_page(html: str) -> tuple[BeautifulSoup, list[dict[str, Any]]]:
    """The page as shown with no script, and the widget views it would have drawn with one."""
    soup = BeautifulSoup(html, "html.parser")
    views = [json.loads(s.string) for s in soup.select(f'script[type="{VIEW}"]')]
    # The copy hides itself only next to a drawn view; nothing is drawn here.
    assert not soup.select(".rtw-root")
    for selector in hiding_selectors():
        assert not soup.select(selector), selector
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup, views


def saved_views(nb: Any) -> list[str]:
    """The model ids of the rt_widgets views the notebook's outputs show (not plain ipywidgets)."""
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    ids = [o["data"][VIEW]["model_id"] for c in nb.cells if c.cell_type == "code"
           for o in c.outputs if VIEW in o.get("data", {})]
    assert all(m in state for m in ids)  # so nbconvert draws these as views
    return [m for m in ids if "_view" in state[m]["state"]]


def test_an_export_of_a_notebook_saved_with_widget_state_shows_the_data_as_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    run_notebook(nb, tmp_path)  # outputs and the live widget state, saved as JupyterLab does
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    shown = saved_views(nb)
    assert len(shown) == 5
    # Each widget's cell: the view, then the copy as an output of its own (no text/html in the view).
    for cell in nb.cells[1:]:
        kinds = [sorted(o.get("data", {})) for o in cell.outputs]
        assert kinds == [[VIEW, "text/plain"], ["text/html"]], (cell.source, kinds)

    soup, views = static_page(nbconvert(path))
    # nbconvert chose the views (the state holds their models): offline they draw nothing ...
    assert sorted(v["model_id"] for v in views) == sorted(shown)
    text = soup.get_text(" ")
    copies = soup.select(".rtw-static-copy")
    assert len(copies) == 5
    # ... and the copies say what each widget is, what it held, and how to bring it back.
    for name, copy in zip(NAMES, copies, strict=True):
        words = copy.get_text(" ")
        assert words.startswith(name), words[:200]
        assert RERUN in words and "not live" in words
    assert re.search(r"connected \(\d+ messages received\)", text)
    table = copies[1]
    assert "mission_update messages keyed by id" in table.get_text(" ")
    assert len(table.select("tbody tr")) >= 5 and table.select("th")[0].get_text() == "id"
    assert "cpu" in [td.get_text() for td in copies[2].select("td")]


def test_a_shipped_notebook_exports_its_saved_data_as_text(tmp_path: Path) -> None:
    for name in ("quickstart", "live_metrics"):
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        shown = saved_views(nb)
        assert shown, name
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        soup, views = static_page(nbconvert(path))
        assert {v["model_id"] for v in views} >= set(shown)
        copies = soup.select(".rtw-static-copy")
        assert len(copies) == len(shown), name
        for copy in copies:
            words = copy.get_text(" ")
            assert words.split(" ", 1)[0] in NAMES and RERUN in words, words[:200]
