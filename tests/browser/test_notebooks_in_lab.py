"""The live-metrics and resilience notebooks, run in JupyterLab."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ._jupyter import cell, open_notebook, run_all
from ._views import wait_sparklines, wait_text_change
from .conftest import Feed, Lab, shot

pytestmark = pytest.mark.browser

# Records every value any element's data-status takes, from now on.
WATCH_STATUSES = """
() => {
  window.__rtwStatuses = new Set();
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.classList && r.target.classList.contains('rtw-status')) {
        window.__rtwStatuses.add(r.target.getAttribute('data-status'));
      }
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-status']});
}
"""


def test_live_metrics_notebook(lab: Lab, fresh_page: Any, feed: Feed) -> None:
    feed.start(rate=20)
    page = fresh_page
    open_notebook(page, lab, "live_metrics.ipynb")
    run_all(page)
    expect(cell(page, "setup").locator(".rtw-status")).to_have_attribute("data-status", "connected")
    metrics = cell(page, "metrics")
    # set_series chose four of the six series.
    expect(metrics.locator(".rtw-metric-card[data-series]")).to_have_count(4)
    wait_sparklines(page, metrics)
    # The gauge follows the LiveStore through traitlets.dlink.
    gauge = cell(page, "store").locator(".progress .progress-bar").first
    expect(gauge).to_be_visible()
    page.wait_for_function(
        "([el, before]) => el.style.width !== before",
        arg=[gauge.element_handle(), gauge.evaluate("(el) => el.style.width")],
        timeout=15_000,
        polling=100,
    )
    wait_text_change(page, metrics.locator(".rtw-metric-card").first)
    shot(page, "live-metrics")


def test_resilience_notebook_shows_the_chaos(lab: Lab, fresh_page: Any) -> None:
    page = fresh_page
    open_notebook(page, lab, "resilience.ipynb")
    page.evaluate(WATCH_STATUSES)
    run_all(page, timeout_ms=180_000)
    indicator = cell(page, "setup").locator(".rtw-status")
    expect(indicator).to_have_attribute("data-status", "connected")
    seen = set(page.evaluate("() => Array.from(window.__rtwStatuses)"))
    assert {"connected", "reconnecting"} <= seen, seen
    expect(cell(page, "queue")).to_contain_text("the feed received, in order: [1, 2, 3, 4, 5]")
    # The counters table follows w.stats live.
    counters = cell(page, "stats").locator(".widget-html-content").first
    expect(counters).to_contain_text("reconnects")
    wait_text_change(page, counters)
    shot(page, "resilience")
