"""Readable text in every theme, measured in real Chromium from computed styles.

The explorer (``RealtimeWidget(url)`` displayed, fed by a loopback feed with a table type, a
metrics type, a logged type and notifications, so it shows its status, overview, table, metric
cards, chart and message log) in a real ``marimo run`` app with marimo's dark theme configured,
and in JupyterLab with the ``JupyterLab Dark`` theme (and both in their light themes), and on a
plain page (prefers-color-scheme) and VS Code's themes: every visible text node's colour against its
effective background (the background colours of its ancestors composed) is at least 4.5:1, with
each tab open in turn, the send form open and a paused view's badge shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._jupyter import add_cell, execute, open_notebook, run_all, write_feed_notebook
from ._themes import (
    ExplorerFeed,
    explorer_feed,
    marimo_run,
    measure_explorer,
    open_plain_page,
    report,
    set_lab_theme,
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


@pytest.mark.parametrize(("ui", "theme"), [("lab", "JupyterLab Dark"), ("lab", "JupyterLab Light"),
                                           ("notebook", "JupyterLab Dark")])
def test_jupyterlab_text_contrast_is_at_least_4_5(
        ui: str, theme: str, lab: Lab, fresh_page: Any, themed_feed: ExplorerFeed) -> None:
    """JupyterLab, and Notebook 7 (the same theme variables, its own page)."""
    page = fresh_page
    write_feed_notebook(lab, "themes.ipynb", themed_feed.url)
    open_notebook(page, lab, "themes.ipynb", ui=ui)
    run_all(page)
    set_lab_theme(page, theme)
    try:
        cell = add_cell(page, "w = RealtimeWidget(url)\nw", "explorer")
        explorer = cell.locator(".rtw-explorer").first
        explorer.locator(".rtw-status[data-status='connected']").wait_for(timeout=60_000)
        found = measure_explorer(page, explorer)
        report(f"{theme} ({'Notebook 7' if ui == 'notebook' else 'JupyterLab'})", found)
        execute(page, "w.close()")
    finally:
        set_lab_theme(page, "JupyterLab Light")


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize("host", ["plain", "vscode"])
def test_plain_page_and_vscode_text_contrast_is_at_least_4_5(host: str, scheme: str, browser: Any) -> None:
    """A plain page follows prefers-color-scheme (and paints its own background: the page stays
    white); in VS Code the views follow its variables and body class whatever the scheme says."""
    page = new_page(browser)
    try:
        # VS Code's theme must win over the system's scheme: emulate the opposite one.
        opposite = {"dark": "light", "light": "dark"}[scheme]
        page.emulate_media(color_scheme=scheme if host == "plain" else opposite)
        open_plain_page(page, vscode=scheme if host == "vscode" else None)
        explorer = page.locator(".rtw-explorer").first
        explorer.locator(".rtw-status[data-status='connected']").wait_for()

        def toasts(tab: str) -> None:
            if tab == "notification":
                page.evaluate("window.rtwNotify()")
                page.locator(".rtw-toast").first.wait_for()

        found = measure_explorer(page, explorer, toasts)
        assert any("toast" in r["where"] for r in found), "no toast was measured"
        # The views follow the theme (readable alone would pass with a light view on a dark page).
        grey = [sum(map(int, r["background"][4:-1].split(","))) / 3 for r in found]
        mean = sum(grey) / len(grey)
        assert mean < 80 if scheme == "dark" else mean > 180, f"{scheme}: backgrounds average {mean:.0f}/255"
        report(f"{host} page, {scheme}", found)
    finally:
        close_page(page)
