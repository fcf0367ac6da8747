"""Readable text in every theme, measured in real Chromium from computed styles.

The explorer (``RealtimeWidget(url)`` displayed, fed by a loopback feed with a table type, a
metrics type, a logged type and notifications, so it shows its status, overview, table, metric
cards, chart and message log) in a real ``marimo run`` app with marimo's dark theme configured,
and in JupyterLab with the ``JupyterLab Dark`` theme (and both in their light themes): every visible text node's colour against its
effective background (the background colours of its ancestors composed) is at least 4.5:1, with
each tab open in turn, the send form open and a paused view's badge shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._jupyter import add_cell, execute, open_notebook, run_all
from ._themes import (
    ExplorerFeed,
    explorer_feed,
    marimo_run,
    measure_explorer,
    report,
    set_lab_theme,
    write_notebook,
)
from .conftest import Lab, close_page, new_page

pytestmark = pytest.mark.browser


@pytest.fixture
def themed_feed() -> Iterator[ExplorerFeed]:
    with explorer_feed() as feed:
        yield feed


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_marimo_text_contrast_is_at_least_4_5(
        theme: str, themed_feed: ExplorerFeed, browser: Any, tmp_path: Path) -> None:
    with marimo_run(themed_feed.url, theme, tmp_path / "marimo") as url:
        page = new_page(browser)
        try:
            page.goto(url)
            explorer = page.locator(".rtw-explorer").first
            explorer.locator(".rtw-status[data-status='connected']").wait_for(timeout=60_000)
            # marimo marks its dark theme on the body and inside the widget's shadow root.
            dark = page.evaluate("document.body.classList.contains('dark')")
            assert dark == (theme == "dark"), f"marimo is not {theme}"
            found = measure_explorer(page, explorer)
            report(f"marimo {theme}", found)
        finally:
            close_page(page)


@pytest.mark.parametrize("theme", ["JupyterLab Dark", "JupyterLab Light"])
def test_jupyterlab_text_contrast_is_at_least_4_5(
        theme: str, lab: Lab, fresh_page: Any, themed_feed: ExplorerFeed) -> None:
    page = fresh_page
    write_notebook(lab, "themes.ipynb", themed_feed.url)
    open_notebook(page, lab, "themes.ipynb")
    run_all(page)
    set_lab_theme(page, theme)
    try:
        cell = add_cell(page, "w = RealtimeWidget(url)\nw", "explorer")
        explorer = cell.locator(".rtw-explorer").first
        explorer.locator(".rtw-status[data-status='connected']").wait_for(timeout=60_000)
        found = measure_explorer(page, explorer)
        report(theme, found)
        execute(page, "w.close()")
    finally:
        set_lab_theme(page, "JupyterLab Light")
