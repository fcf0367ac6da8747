"""Views on one page share messages, in JupyterLab and Chromium: a dashboard of a dozen views of one
feed gets their deltas in bundles (one comm message per tick for all of them, counted on the page's
iopub channel), and every view keeps updating from them, in sequence (no view asks for a snapshot
once it is up)."""

from __future__ import annotations

from typing import Any

from ._helpers import wait_until
from ._jupyter import add_cell, evaluate_py, js, open_titled_notebook
from .conftest import Lab, shot

NOTEBOOK = "bundles.ipynb"
SETUP = """
import os
import ipywidgets
from rt_widgets import RealtimeWidget, LiveTable
from rt_widgets.widgets import _audience
w = RealtimeWidget(os.environ["RT_WIDGETS_DEMO_URL"], explore=False)
views = [LiveTable(w.connection, "mission_update", key="id", max_rows=50) for _ in range(8)]
views += [w.metrics("metrics_update"), w.chart("metrics_update")]
ipywidgets.GridBox(views, layout=ipywidgets.Layout(grid_template_columns="repeat(5, 1fr)"))
"""

COUNT = (
    "const kernel = rtwPanel().sessionContext.session.kernel;"
    "window.rtwBundles = []; window.rtwComm = [];"
    "kernel.iopubMessage.connect((_, msg) => {"
    "  if (msg.header.msg_type !== 'comm_msg') return;"
    "  window.rtwComm.push(performance.now());"
    "  const c = msg.content.data && msg.content.data.content;"
    "  if (c && c.kind === 'bundle') window.rtwBundles.push(c.items.length);"
    "});"
)

# The text of every view, in order (a table's cells, the metric cards, a chart's last point).
TEXTS = (
    "() => [...document.querySelectorAll('.rtw-table, .rtw-metrics, .rtw-chart')].map(el =>"
    "  el.classList.contains('rtw-chart') ? (el.querySelector('[data-x-max]') || el).outerHTML.length"
    "  + ':' + JSON.stringify([...el.querySelectorAll('[data-x-max]')].map(e => e.dataset.xMax))"
    "  : [...el.querySelectorAll('td, .rtw-metric-value')].map(e => e.textContent).join('|'))"
)


def test_a_dashboards_views_update_from_shared_messages(lab: Lab, fresh_page: Any) -> None:
    page = fresh_page
    open_titled_notebook(page, lab, NOTEBOOK, "Shared messages")
    page.evaluate(js(COUNT))
    add_cell(page, SETUP, "setup")
    page.locator(".rtw-table td").first.wait_for()
    wait_until(lambda: page.locator(".rtw-table").count() == 8
               and page.locator(".rtw-metrics .rtw-metric-card").count() > 0, 30,
               "the dashboard's views did not render")
    # Every view's presence named this page: the kernel groups them all.
    wait_until(lambda: evaluate_py(page, "sorted({str(v._group) for v in views})") != ["None"], 20,
               "the views were not grouped by page")
    groups = evaluate_py(page, "sorted({str(v._group) for v in views})")
    assert len(groups) == 1 and groups != ["None"], groups
    wait_until(lambda: page.evaluate("window.rtwBundles.length") >= 10, 30, "no bundle reached the page")

    # Over a steady window: bundles carry several views each, and every view shows new data.
    requests = evaluate_py(page, "_audience.counts().get('snapshot:request', 0)")
    before = page.evaluate(TEXTS)
    n_bundles = page.evaluate("window.rtwBundles.length")
    changed: set[int] = set()

    def all_changed() -> bool:
        now = page.evaluate(TEXTS)
        changed.update(i for i, (a, b) in enumerate(zip(before, now, strict=True)) if a != b)
        return len(changed) == len(before)

    wait_until(all_changed, 20,
               lambda: f"views {sorted(set(range(len(before))) - changed)} did not update")
    wait_until(lambda: page.evaluate("window.rtwBundles.length") >= n_bundles + 20, 20,
               "fewer than 20 bundles in the window")
    sizes = page.evaluate("window.rtwBundles").__getitem__(slice(n_bundles, None))
    assert sizes and max(sizes) >= 5, sizes
    assert len(before) == 10
    # No view lost its sequence in the window (a lost or misrouted bundle would make it ask).
    assert evaluate_py(page, "_audience.counts().get('snapshot:request', 0)") == requests
    assert page.locator(".rtw-error").count() == 0
    shot(page, "bundles-dashboard")
