"""Every notebook runs top to bottom headless, and its HTML export carries the widget state.

The notebooks read the feed URL from RT_WIDGETS_DEMO_URL; here it carries a token in its query,
so the export check also proves that credentials never reach a saved notebook or an export.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbconvert import HTMLExporter

from ._execute import WIDGET_STATE, run_notebook
from .conftest import ARTIFACTS, NOTEBOOKS, REPO, Feed

pytestmark = pytest.mark.browser

NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
# A notebook may be committed without outputs (metadata rt_widgets.saved_outputs: false) when its
# saved widget state would be too large; tests/kernel runs it and checks what it shows.
SAVED_PATHS = [
    p for p in NOTEBOOK_PATHS
    if nbformat.read(p, as_version=4).metadata.get("rt_widgets", {}).get("saved_outputs", True)
]


def assert_live_state(state: dict[str, Any]) -> None:
    """The saved state shows the connection and the data as they were, not as they started."""
    by_view: dict[str, list[dict[str, Any]]] = {}
    for entry in state.values():
        view = entry["state"].get("_view")
        if view:
            by_view.setdefault(view, []).append(entry["state"])
    connections = by_view.get("realtime", [])
    assert connections, "no RealtimeWidget in the saved state"
    assert all(c.get("status") == "connected" for c in connections), [c.get("status") for c in connections]
    for table in by_view.get("table", []):
        assert table["_snapshot"]["rows"], "a table was saved empty"
    for metrics in by_view.get("metrics", []):
        assert metrics["_snapshot"]["latest"], "a metrics panel was saved empty"


def test_the_three_notebooks_exist() -> None:
    names = {p.name for p in NOTEBOOK_PATHS}
    assert {"quickstart.ipynb", "live_metrics.ipynb", "resilience.ipynb"} <= names


@pytest.mark.parametrize("path", SAVED_PATHS, ids=[p.stem for p in SAVED_PATHS])
def test_notebook_runs_and_exports_widget_state(
    path: Path, feed: Feed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    feed.start(rate=20)
    monkeypatch.setenv("RT_WIDGETS_DEMO_URL", feed.url)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    )
    nb = nbformat.read(path, as_version=4)
    run_notebook(nb, tmp_path)  # raises CellExecutionError with the traceback if a cell fails

    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert state, "the executed notebook saved no widget state"
    views = [
        output
        for c in nb.cells
        if c.cell_type == "code"
        for output in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert views, "no cell displayed a widget"
    for view in views:
        model_id = view["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        assert model_id in state, f"the view of {model_id} has no saved state"
    assert_live_state(state)

    html, _ = HTMLExporter().from_notebook_node(nb)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{path.stem}.html").write_text(html)
    assert WIDGET_STATE in html
    saved = nbformat.writes(nb)
    for text, where in ((html, "HTML export"), (saved, "saved notebook")):
        assert feed.token not in text, f"the feed token leaked into the {where}"
        leaks = re.findall(r"token=(?!\*\*\*)[^\s\"'&<]+", text)
        assert not leaks, f"unredacted token parameters in the {where}: {leaks[:3]}"


@pytest.mark.parametrize("path", SAVED_PATHS, ids=[p.stem for p in SAVED_PATHS])
def test_committed_notebook_renders_without_a_kernel(path: Path) -> None:
    """The notebooks in the repository are saved with outputs and widget state."""
    nb: Any = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "saved unexecuted"
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"], (
        "saved with an error output"
    )
    assert not [
        o for c in code for o in c.outputs if o.get("name") == "stderr" and "Traceback" in o.text
    ], "saved with a traceback on stderr"
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    assert state, "no widget state"
    assert_live_state(state)
    text = path.read_text()
    for marker in ("token=", "Authorization", "Bearer "):
        assert marker not in text, f"{path.name} contains {marker!r}"
