"""The quickstart notebook in JupyterLab against the bundled demo feed, end to end.

One page and one kernel serve the whole module (opening JupyterLab and starting a kernel is
the slow part); every test first re-establishes the state it needs.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ._helpers import wait_until
from ._jupyter import add_cell, cell, evaluate_py, execute, js, open_notebook, predicate, run_all
from ._views import sparkline_pixels, wait_sparklines, wait_text_change
from .conftest import SCREENSHOTS, Feed, Lab, close_page, new_page, readme_pictures, shot

pytestmark = pytest.mark.browser

CONNECT_MS = 45_000  # a reconnect after a few failed attempts can wait up to ~15 s of backoff


def picture(target: Any, name: str) -> None:
    """A README picture (docs/screenshots/) when RT_WIDGETS_SCREENSHOTS=1."""
    if readme_pictures():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


@pytest.fixture(scope="module")
def page(lab: Lab, browser: Any, feed: Feed) -> Iterator[Any]:
    feed.start(rate=20)
    lab.shutdown_kernels()
    p = new_page(browser)
    open_notebook(p, lab, "quickstart.ipynb")
    # More room for the widgets: the file browser is not part of the story.
    p.evaluate(js("await window.jupyterapp.commands.execute('application:toggle-left-area');"))
    run_all(p)
    yield p
    close_page(p)
    lab.shutdown_kernels()


def status(page: Any, tag: str = "explorer") -> Any:
    return cell(page, tag).locator(".rtw-status").first


def expect_connected(page: Any, tag: str = "explorer", timeout: int = CONNECT_MS) -> None:
    expect(status(page, tag)).to_have_attribute("data-status", "connected", timeout=timeout)


def test_connects_and_shows_live_data(page: Any) -> None:
    explorer = cell(page, "explorer")
    expect_connected(page)
    expect(status(page).locator(".rtw-status-label")).to_contain_text(re.compile("connected", re.I))
    # The latency appears after the first heartbeat round trip.
    expect(status(page).locator(".rtw-latency")).to_have_text(re.compile(r"\d+(\.\d+)?\s*ms"), timeout=30_000)

    table = cell(page, "table")
    rows = table.locator("tr.rtw-row")
    expect(rows.first).to_be_visible()
    # The feed sends every mission on connect; the visible ones are drawn.
    wait_until(lambda: rows.count() >= 5, 15, "fewer than 5 table rows were drawn")
    unkeyed = table.evaluate(
        "(root) => Array.from(root.querySelectorAll('tr.rtw-row')).filter((r) => !r.dataset.key).length"
    )
    assert unkeyed == 0, "every row carries its key"
    wait_text_change(page, table.locator(".rtw-table").first)

    metrics = cell(page, "metrics")
    expect(metrics.locator(".rtw-metric-card[data-series]").first).to_be_visible()
    wait_sparklines(page, metrics)
    painted = sparkline_pixels(metrics)
    assert painted and max(painted) > 20, f"sparklines look blank: {painted}"

    # The explorer shows the stream of every type it saw.
    expect(explorer).to_contain_text("mission_update")
    expect(explorer).to_contain_text("metrics_update")

    # The kernel side holds the same rows; the notebook's pandas cell produced a frame.
    assert evaluate_py(page, "len(missions.to_pandas()) > 0") is True
    assert evaluate_py(page, "int(missions.to_pandas()['id'].is_unique)") == 1

    shot(page, "quickstart-connected")
    explorer.scroll_into_view_if_needed()
    picture(page, "quickstart")
    picture(explorer.locator(".jp-OutputArea-output").first, "explorer")
    picture(status(page, "status"), "status-connected")
    picture(metrics.locator(".jp-OutputArea-output").first, "metrics")


def test_connecting_state_and_toast(page: Any, feed: Feed) -> None:
    # A port that accepts TCP but never answers the handshake holds a client in "connecting".
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        pending = add_cell(
            page,
            f"pending = RealtimeWidget('ws://127.0.0.1:{port}/ws', open_timeout=60)\n"
            "pending.status_indicator()",
            "pending",
        )
        expect(pending.locator(".rtw-status")).to_have_attribute("data-status", "connecting")
        picture(pending.locator(".rtw-status"), "status-connecting")
        execute(page, "pending.close()")
        assert evaluate_py(page, "pending.status") == "closed"
        # Closing a widget closes its views too.
        expect(pending.locator(".rtw-status")).to_have_count(0)

    notice = {
        "type": "notification",
        "payload": {
            "level": "warning",
            "title": "Latency rising",
            "message": "Ground link latency is 180 ms",
        },
        "timestamp": "2026-01-01T00:00:00Z",
    }
    assert feed.server.broadcast_raw(json.dumps(notice)) >= 1
    toast = cell(page, "notifications").locator(".rtw-toast[data-level='warning']")
    expect(toast.filter(has_text="Ground link latency is 180 ms")).to_be_visible()
    picture(cell(page, "notifications").locator(".jp-OutputArea-output").first, "toast")


def test_feed_outage_queues_sends_and_flushes_them_in_order(page: Any, running_feed: Feed) -> None:
    expect_connected(page)
    running_feed.stop()

    indicator = status(page)
    expect(indicator).to_have_attribute("data-status", "reconnecting", timeout=20_000)
    expect(indicator.locator(".rtw-attempt")).to_have_text(re.compile(r"attempt \d+"), timeout=20_000)
    expect(indicator.locator(".rtw-countdown")).to_have_text(
        re.compile(r"retry in \d+(\.\d+)? s"), timeout=20_000
    )
    expect(cell(page, "explorer").locator(".rtw-offline-banner").first).to_be_visible()
    shot(page, "outage-reconnecting")
    picture(status(page, "status"), "status-reconnecting")

    for n in (1, 2, 3):
        execute(page, f"w.send('echo', {{'order': {n}}})")
    expect(indicator.locator(".rtw-queued")).to_contain_text("3", timeout=10_000)
    assert evaluate_py(page, "w.queued") == 3

    server = running_feed.start(rate=20)
    expect_connected(page)
    received = server.wait_for_received(3, type="echo", timeout=10)
    assert [m["payload"]["order"] for m in received[:3]] == [1, 2, 3]
    expect(cell(page, "explorer").locator(".rtw-offline-banner").first).to_be_hidden()
    expect(indicator.locator(".rtw-queued")).to_be_hidden()


def test_reconnect_and_disconnect_buttons(page: Any) -> None:
    expect_connected(page)
    indicator = status(page)
    before = evaluate_py(page, "w.stats['reconnects']")
    indicator.locator("button.rtw-reconnect").click()
    wait_until(
        lambda: evaluate_py(page, "w.stats['reconnects']") > before,
        20,
        "the Reconnect button did not make a new connection",
    )
    expect_connected(page)

    indicator.locator("button.rtw-disconnect").click()
    expect(indicator).to_have_attribute("data-status", "disconnected", timeout=10_000)
    expect(cell(page, "explorer").locator(".rtw-offline-banner").first).to_be_visible()
    assert evaluate_py(page, "w.status") == "disconnected"
    # Disconnected means no retries: the state holds.
    shot(page, "buttons-disconnected")
    picture(status(page, "status"), "status-disconnected")

    execute(page, "w.connect()")
    expect_connected(page)


def test_status_survives_new_views_and_reload(page: Any, lab: Lab) -> None:
    expect_connected(page)
    second = add_cell(page, "w.status_indicator()", "second-status")
    expect(second.locator(".rtw-status")).to_have_attribute("data-status", "connected")

    # A view of the same explorer in a panel of its own ("Create New View for Cell Output").
    page.evaluate(
        js(
            "const nb = rtwPanel().content;"
            "nb.activeCellIndex = nb.widgets.findIndex("
            "  (c) => (c.model.getMetadata('tags') || []).includes('explorer'));"
            "await window.jupyterapp.commands.execute('notebook:create-output-view');"
        )
    )
    detached = page.locator(".jp-LinkedOutputView .rtw-status").first
    expect(detached).to_have_attribute("data-status", "connected")

    # Every view follows the kernel's state.
    execute(page, "w.disconnect()")
    for view in (status(page), second.locator(".rtw-status"), detached):
        expect(view).to_have_attribute("data-status", "disconnected", timeout=10_000)
    execute(page, "w.connect()")
    for view in (status(page), second.locator(".rtw-status"), detached):
        expect(view).to_have_attribute("data-status", "connected", timeout=CONNECT_MS)

    # A saved notebook reopened on the live kernel re-renders every view from the kernel's state.
    page.evaluate(js("await window.jupyterapp.commands.execute('docmanager:save');"))
    page.reload()
    open_notebook(page, lab, "quickstart.ipynb")
    expect_connected(page)
    expect(cell(page, "second-status").locator(".rtw-status")).to_have_attribute("data-status", "connected")
    expect(cell(page, "table").locator("tr.rtw-row").first).to_be_visible()
    wait_text_change(page, cell(page, "table").locator(".rtw-table").first)


def test_server_text_is_rendered_as_text(page: Any, feed: Feed) -> None:
    expect_connected(page)
    hostile_name = "<img src=x onerror=\"window.__rtwPwned='img'\">"
    hostile_status = "<script>window.__rtwPwned='script'</script>"
    message = {
        "type": "mission_update",
        "payload": {"id": 999, "name": hostile_name, "status": hostile_status, "progress": 1},
        "timestamp": "2026-01-01T00:00:00Z",
    }
    toast = {
        "type": "notification",
        "payload": {"level": "error", "title": hostile_name, "message": hostile_status},
        "timestamp": "2026-01-01T00:00:00Z",
    }
    assert feed.server.broadcast_raw(json.dumps(message)) >= 1
    assert feed.server.broadcast_raw(json.dumps(toast)) >= 1

    # Only visible rows are drawn: the filter box brings the new row into view.
    table = cell(page, "table")
    table.locator(".rtw-table-filter").fill("onerror")
    row = table.locator("tr.rtw-row[data-key='999']")
    expect(row).to_contain_text(hostile_name)
    expect(row).to_contain_text(hostile_status)
    expect(cell(page, "notifications").locator(".rtw-toast").filter(has_text=hostile_name)).to_have_count(
        1, timeout=10_000
    )
    # A real <img src=x onerror> in the page proves such an error handler has had time to run.
    page.evaluate(
        "() => new Promise((done) => { const img = document.createElement('img');"
        " img.onerror = () => { img.remove(); done(); }; img.src = 'x-missing.png';"
        " document.body.appendChild(img); })"
    )
    assert page.evaluate("() => window.__rtwPwned === undefined"), "server text ran as code"
    widgets = page.locator(".jp-Notebook .rtw-table, .jp-Notebook .rtw-toast")
    assert widgets.count() >= 2
    assert page.locator(".jp-Notebook [class*='rtw-'] img").count() == 0
    assert page.locator(".jp-Notebook [class*='rtw-'] script").count() == 0
    table.locator(".rtw-table-filter").fill("")


def test_views_update_while_the_kernel_is_busy(page: Any) -> None:
    expect_connected(page)
    busy = add_cell(page, "import time\ntime.sleep(15)", "busy", wait=False)
    page.wait_for_function(
        predicate("return rtwPanel().sessionContext.session.kernel.status === 'busy';"),
        polling=50,
    )
    wait_text_change(page, cell(page, "table").locator(".rtw-table").first, timeout_ms=10_000)
    wait_text_change(page, cell(page, "metrics").locator(".rtw-metric-card").first, 10_000)
    still_busy = page.evaluate(js("return rtwPanel().sessionContext.session.kernel.status;"))
    assert still_busy == "busy", "the views must have changed while the cell was still running"
    expect(busy.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=30_000)
    expect_connected(page)
