"""pandas is optional: every notebook that uses it runs to its end in a kernel where pandas cannot be
imported, says how to install it, and still shows its live views."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser._execute import run_notebook

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
USES_PANDAS = sorted(
    path for path in (ROOT / "notebooks").glob("*.ipynb")
    if any("pandas" in cell.source for cell in nbformat.read(path, as_version=4).cells
           if cell.cell_type == "code")
)
# Started in the kernel before anything else: `import pandas` raises ImportError there, and
# importlib.util.find_spec("pandas") is None, as where pandas is not installed.
NO_PANDAS = 'import sys\nsys.modules["pandas"] = None\n'


def test_the_notebooks_that_use_pandas_are_found() -> None:
    assert {p.name for p in USES_PANDAS} >= {"quickstart.ipynb", "live_metrics.ipynb"}


@pytest.mark.parametrize("path", USES_PANDAS, ids=[p.stem for p in USES_PANDAS])
def test_a_notebook_runs_to_its_end_without_pandas(path: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from rt_widgets.demo import DemoServer

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_PANDAS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH")) if p))
    nb = nbformat.read(path, as_version=4)
    with DemoServer(port=0, rate=20) as feed:
        monkeypatch.setenv("RT_WIDGETS_DEMO_URL", feed.url)
        nb.cells.insert(0, nbformat.v4.new_code_cell(
            "import importlib.util\nassert importlib.util.find_spec('pandas') is None"))
        run_notebook(nb, tmp_path)  # raises CellExecutionError with the traceback if a cell fails

    outputs: list[dict[str, Any]] = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "pip install 'rt_widgets[pandas]'" in printed, printed
    assert not [o for o in outputs if o["output_type"] == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "no cell displayed a widget"
