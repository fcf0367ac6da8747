"""The quickstart flow in Notebook 7 (the /notebooks/ UI served by the same server)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ._jupyter import cell, evaluate_py, open_notebook, run_all
from ._views import sparkline_pixels, wait_sparklines, wait_text_change
from .conftest import Feed, Lab, shot

pytestmark = pytest.mark.browser


def test_quickstart_in_notebook_7(lab: Lab, fresh_page: Any, feed: Feed) -> None:
    feed.start(rate=20)
    page = fresh_page
    open_notebook(page, lab, "quickstart.ipynb", ui="notebook")
    assert "/notebooks/" in page.url
    run_all(page)

    indicator = cell(page, "explorer").locator(".rtw-status").first
    expect(indicator).to_have_attribute("data-status", "connected", timeout=30_000)
    expect(indicator.locator(".rtw-latency")).to_have_text(re.compile(r"\d+\s*ms"), timeout=30_000)
    table = cell(page, "table")
    expect(table.locator("tr.rtw-row").first).to_be_visible()
    wait_text_change(page, table.locator(".rtw-table").first)
    metrics = cell(page, "metrics")
    expect(metrics.locator(".rtw-metric-card[data-series] canvas").first).to_be_visible()
    wait_sparklines(page, metrics)
    assert max(sparkline_pixels(metrics)) > 20
    assert evaluate_py(page, "len(missions.to_pandas()) > 0") is True
    shot(page, "notebook7-quickstart")
