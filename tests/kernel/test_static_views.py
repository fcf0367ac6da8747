"""Honest static views: an executed notebook exported with ``nbconvert --to html`` shows each
widget's data as text (no script needed), worded as a copy, with how to get the live view back; and
the shipped notebooks replay a recorded session where no demo feed can run."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from tests.browser._execute import run_notebook

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]

CELLS = [
    """
import time
from rt_widgets import RealtimeWidget
from rt_widgets.demo import DemoServer

feed = DemoServer(port=0, rate=100, seed=9).start()
w = RealtimeWidget(feed.url)
missions = w.table("mission_update")
metrics = w.metrics("metrics_update")
deadline = time.monotonic() + 20
while (len(missions.rows) < 5 or len(metrics.latest) < 3) and time.monotonic() < deadline:
    time.sleep(0.05)
""",
    "w",
    "missions",
    "metrics",
    "w.status_indicator()",
    "w.notifications()",
]


def execute(cells: list[str], workdir: Path) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    # As JupyterLab saves by default: outputs, no widget state.
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def test_an_offline_html_export_shows_the_saved_data_as_text(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    nb = execute(CELLS, tmp_path)
    html, _ = HTMLExporter().from_notebook_node(nb)
    text = re.sub(r"<script.*?</script>", "", html, flags=re.S)  # what shows with no script at all
    outputs = {c.source: c.outputs for c in nb.cells}
    plain = {src: out[0]["data"]["text/plain"] for src, out in outputs.items()
             if out and "data" in out[0]}
    # Each widget names its type, what it held, and how to get the live view back.
    for name in ("RealtimeWidget", "LiveTable", "LiveMetrics", "ConnectionStatus", "Notifications"):
        assert f"<strong>{name}</strong>" in text, name
    assert text.count("Run the cell for the live view.") >= 5
    # The status is a past copy, never a live claim.
    assert re.search(r"connected \(\d+ messages received\)", text)
    assert re.search(r"a copy of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, made when the cell ran", text,
                     re.IGNORECASE)
    assert "mission_update messages keyed by id" in text
    assert "<th>series</th><th>latest</th>" in text and "<td>cpu</td>" in text
    # The rows themselves, as the table held them when its cell ran.
    table = text.split("mission_update messages keyed by id", 1)[1].split("</table>", 1)[0]
    assert len(re.findall(r"<tr><td>", table)) >= 5, table[:2000]
    assert "<th>id</th>" in table
    assert plain["w"].startswith("RealtimeWidget: ws://127.0.0.1:")
    assert "token" not in plain["w"]
    assert plain["metrics"].startswith("LiveMetrics: metrics_update messages,")


def test_the_notebooks_replay_a_recorded_session_where_no_feed_can_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    # No socket can be served in this kernel: the demo feed cannot start.
    (site / "sitecustomize.py").write_text(
        "import rt_widgets.demo.lab as _lab\n"
        "def _refuse(*a, **k):\n"
        "    raise OSError('this kernel may not open a listening socket')\n"
        "import rt_widgets.demo as _demo\n"
        "_demo.DemoServer.start = _refuse\n"
        "_lab._port_open = lambda *a, **k: False\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.delenv("RT_WIDGETS_DEMO_URL", raising=False)
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks" / "recordings", work / "recordings")
    for name in ("quickstart", "live_metrics"):
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(
            "print('REPLAYED', w._replaying, w.connection.stats()['messages_in'] > 0)"))
        run_notebook(nb, work)  # raises CellExecutionError with the traceback if a cell fails
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                          for o in c.outputs if o["output_type"] == "stream")
        assert "replaying recordings/demo.jsonl.gz" in printed, printed
        assert "REPLAYED demo.jsonl.gz True" in printed, printed
