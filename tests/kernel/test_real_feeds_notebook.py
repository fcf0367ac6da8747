"""notebooks/real_feeds.ipynb: one section per public feed the replicas serve, each with the real
service's URL, the format's documented line of configuration and its subscription; run top to
bottom in a real kernel (it starts its own replicas on loopback), every section's table and metrics
fill and every type its explorer saw has a view."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbconvert import HTMLExporter

from rt_widgets.demo.formats import FORMATS
from tests.browser._execute import run_notebook

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "real_feeds.ipynb"
SECTIONS = ("binance", "coinbase", "kraken", "bitmex", "finnhub", "polygon")
REPORT = "real-feeds:"
# Appended to the notebook: wait, with a deadline, for each section's views to fill, then report
# what they hold.
CHECK = f"""
import json as _json, time as _time
_sections = {list(SECTIONS)!r}
_views = {{n: (globals()[n + "_table"], globals()[n + "_metrics"], globals()[n]) for n in _sections}}
_views["auto"] = (None, None, auto)
def _report():
    out = {{}}
    for n, (table, metrics, w) in _views.items():
        out[n] = {{"rows": len(table) if table is not None else None,
                  "latest": sorted(metrics.latest) if metrics is not None else None,
                  "types": {{t: o["kind"] for t, o in w.overview.items()}},
                  "viewless": sorted(set(w.overview) - set(w.children)),
                  "decode_errors": w.connection.stats()["decode_errors"]}}
    return out
_deadline = _time.monotonic() + 60
while True:
    _seen = _report()
    if all((s["rows"] or s["rows"] is None) and (s["latest"] or s["latest"] is None)
           and s["types"] and not s["viewless"] for s in _seen.values()):
        break
    if _time.monotonic() > _deadline:
        break
    _time.sleep(0.05)
print({REPORT!r} + _json.dumps(_seen))
"""


def cells(tag: str) -> list[Any]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


@pytest.mark.parametrize("name", SECTIONS)
def test_each_section_shows_the_real_url_the_line_of_configuration_and_its_views(name: str) -> None:
    fmt = FORMATS[name]
    source = "\n".join(c.source for c in cells(name))
    assert f"# Real service: {fmt.real_url.split('?')[0]}" in source
    assert fmt.config in source, f"{name}: the documented configuration is not in the notebook"
    assert f'replica("{name}")' in source
    assert f"{name}.subscribe(" in source and f"{name}_table = {name}.table(" in source
    assert f"{name}_metrics = {name}.metrics(" in source


def test_the_notebook_runs_top_to_bottom_and_every_section_fills(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK))
    run_notebook(nb, tmp_path)  # raises CellExecutionError with the traceback if a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o["output_type"] == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    line = next(ln for ln in printed.splitlines() if ln.startswith(REPORT))
    seen: dict[str, Any] = json.loads(line[len(REPORT):])
    for name in SECTIONS:
        section = seen[name]
        assert section["rows"] > 0, f"{name}: the table stayed empty: {section}"
        assert section["latest"], f"{name}: no metrics: {section}"
        assert section["viewless"] == [] and "raw" not in section["types"].values(), section
        assert section["decode_errors"] == 0, section
    assert seen["bitmex"]["types"]["orderBookL2"] == "table"
    # With no configuration, Coinbase's tickers and heartbeats are tables by product.
    assert seen["auto"]["types"]["ticker"] == "table" and seen["auto"]["viewless"] == []
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) >= 3 * len(SECTIONS)
    # Finnhub's key travels in its URL (the replica takes "sandbox"): never into what is saved.
    html, _ = HTMLExporter().from_notebook_node(nb)
    for text in (html, nbformat.writes(nb)):
        assert "sandbox" not in text
        assert not re.findall(r"token=(?!\*\*\*)[^\s\"'&<]+", text)


def test_the_notebook_is_committed_clean() -> None:
    """Saved without outputs (its widget state would be megabytes), so never with a stale one."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["rt_widgets"]["saved_outputs"] is False
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and not any(c.outputs or c.execution_count for c in code)
    assert "widgets" not in nb.metadata
