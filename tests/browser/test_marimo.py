"""marimo: ``marimo run`` an app whose cells show rt_widgets through ``mo.ui.anywidget``, in real
Chromium. The views render and update live; closing the page ends the session, marimo closes the
session's comms, and the widget closes its connection: the feed sees the disconnect."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._helpers import free_port, port_open, wait_until
from .conftest import ARTIFACTS, REPO, _stop_process, close_page, new_page, shot

APP = textwrap.dedent('''
    import marimo

    app = marimo.App()


    @app.cell
    def _():
        import os

        import marimo as mo

        from rt_widgets import RealtimeWidget

        w = RealtimeWidget(os.environ["RT_WIDGETS_DEMO_URL"])
        # The explorer makes the table on the I/O thread from the first message: the cell below
        # then shows that view, whose comm must belong to this session.
        import time

        deadline = time.monotonic() + 20
        while "mission_update" not in w.children and time.monotonic() < deadline:
            time.sleep(0.05)
        return mo, w


    @app.cell
    def _(mo, w):
        mo.vstack([
            mo.ui.anywidget(w.status_indicator()),
            mo.ui.anywidget(w.table("mission_update")),
            mo.ui.anywidget(w.metrics("metrics_update")),
        ])
        return


    if __name__ == "__main__":
        app.run()
''')


@pytest.fixture
def demo() -> Iterator[Any]:
    from rt_widgets.demo import DemoServer

    with DemoServer(port=0, rate=100, seed=12) as server:
        yield server


@pytest.fixture
def marimo_app(demo: Any, tmp_path: Path) -> Iterator[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    port = free_port()
    env = dict(os.environ, RT_WIDGETS_DEMO_URL=demo.url,
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "marimo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1",
         "--port", str(port), "--no-token", "--session-ttl", "1", "--no-sandbox", "--no-check"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 60,
                   "marimo run did not listen")
        assert proc.poll() is None, "marimo run exited; see test-artifacts/marimo.log"
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop_process(proc)
        log.close()


def test_marimo_app_renders_live_and_closing_the_page_closes_the_connection(
        marimo_app: str, demo: Any, browser: Any) -> None:
    page = new_page(browser)
    try:
        page.goto(marimo_app)
        page.locator(".rtw-status[data-status='connected']").first.wait_for(timeout=60_000)
        rows = page.locator(".rtw-table tbody tr")
        try:
            wait_until(lambda: rows.count() >= 5, 30, "the live table shows no rows")
        except TimeoutError:
            shot(page, "FAILED-marimo")
            (ARTIFACTS / "FAILED-marimo.console.txt").write_text("\n".join(page._rtw_console))
            raise
        assert demo.clients == 1
        # Live: the received-message counter of the status indicator keeps climbing.
        stats = page.locator(".rtw-status .rtw-stats").first

        def received() -> int:
            text = stats.text_content() or ""
            return int(text.split("↓", 1)[1].split("↑", 1)[0].strip().replace(",", "") or 0)

        first = received()
        wait_until(lambda: received() > first + 20, 20, "the view stopped updating")
        assert page.locator(".rtw-metric-card").count() >= 3
        # The table and the metrics keep updating too: on one page, their deltas come bundled on
        # one of their comms and the page hands them out (js/bus.ts).
        for view in (".rtw-table tbody", ".rtw-metrics .rtw-metric-grid"):
            shown = page.locator(view).first
            before = shown.text_content()
            wait_until(lambda v=shown, b=before: v.text_content() != b, 20, f"{view} stopped updating")
        # A bundle forms when both are due in one tick (at this feed's rate, now and then).
        wait_until(lambda: page.evaluate("() => globalThis.__rtw_bus_1?.handed ?? 0") > 0, 30,
                   "no bundled delta was handed to a view")
        assert page.locator(".rtw-saved-banner").count() == 0
        shot(page, "marimo-app")
    finally:
        closed_at = time.monotonic()
        close_page(page)
    wait_until(lambda: demo.clients == 0, 20,
               "the widget's connection outlived the marimo session")
    print(f"marimo: page closed -> feed saw the disconnect in {time.monotonic() - closed_at:.1f} s")
