"""A table of 5,000 rows in JupyterLab and Chromium holds only its visible window.

Past ``WINDOW_AT`` rows each table view names the window it shows and the kernel sorts and filters
every row and sends only that window's rows and changes. The feed is the test's own websockets
server: 5,000 keyed missions, then 500 updates a second (rows at the top, one at the bottom and a
spread of rows off screen). The view counts all 5,000 rows, holds a few dozen, shows the updates of
the rows on screen, scrolls to the last row, sorts and filters in the kernel; the kernel's comm
traffic for the table (counted by a wrap of ``BaseComm.publish_msg``) carries no row deltas and
stays small.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests._servers import HOST, ServerLoop

from ._helpers import wait_until
from ._jupyter import add_cell, evaluate_py, execute, open_titled_notebook
from .conftest import Lab, shot

pytestmark = pytest.mark.browser

ROWS = 5_000
NOTEBOOK = "window_lab.ipynb"
WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta")
FILTER = "zeta"
# Updated rows: three on screen at the top, the last one, and a spread off screen.
HOT = (1, 2, 3, ROWS - 1)
SPREAD = range(1_000, 1_200)
TICK = 0.02  # seconds between the feed's bursts
PER_TICK = 10  # updates per burst: 500 a second
# A window is the rows in view and a few either side: far fewer than the table's.
MAX_DRAWN_ROWS = 100
MAX_TABLE_BYTES_PER_S = 50_000
MEASURE_S = 4.0


def key(i: int) -> str:
    return f"m-{i:05d}"


def first_row(i: int) -> dict[str, Any]:
    # Distinct non-negative values (7919 and 10007 are coprime); updates are negative.
    return {"id": key(i), "v": (i * 7919) % 10_007, "name": f"{WORDS[(i * 31) % len(WORDS)]} {i}"}


class WindowFeed:
    """Sends every connection the 5,000 rows, then a steady stream of updates; keeps what the rows
    hold now (``state``) and every value each updated row was sent (``sent``)."""

    def __init__(self) -> None:
        self.loop = ServerLoop()
        self.port = 0
        self.lock = threading.Lock()
        self.state = {key(i): first_row(i) for i in range(ROWS)}
        self.sent: dict[str, set[int]] = {}
        self.updates = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    def start(self) -> WindowFeed:
        async def start() -> None:
            self._server = await serve(self._handle, HOST, 0, ping_interval=None)
            self.port = self._server.sockets[0].getsockname()[1]

        self.loop.run(start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        self.loop.run(stop())
        self.loop.close()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {k: dict(r) for k, r in self.state.items()}

    def values_sent(self, k: str) -> set[int]:
        with self.lock:
            return set(self.sent.get(k, ()))

    async def _handle(self, ws: ServerConnection) -> None:
        pinger = asyncio.ensure_future(self._answer_pings(ws))
        try:
            with self.lock:
                rows = [dict(r) for r in self.state.values()]
            for row in rows:
                await ws.send(json.dumps({"type": "mission_update", "payload": row}))
            # Half the updates go to the hot rows in turn, half to the spread.
            targets = [key(HOT[(i // 2) % len(HOT)]) if i % 2 == 0 else key(SPREAD[(i // 2) % len(SPREAD)])
                       for i in range(2 * len(HOT) * len(SPREAD))]
            while True:
                burst = []
                with self.lock:
                    for _ in range(PER_TICK):
                        k = targets[self.updates % len(targets)]
                        self.updates += 1
                        v = -self.updates
                        self.state[k] = {**self.state[k], "v": v}
                        self.sent.setdefault(k, set()).add(v)
                        burst.append({"type": "mission_update", "payload": {"id": k, "v": v}})
                for message in burst:
                    await ws.send(json.dumps(message))
                await asyncio.sleep(TICK)  # the feed's pace, not a wait for something
        except ConnectionClosed:
            pass
        finally:
            pinger.cancel()

    async def _answer_pings(self, ws: ServerConnection) -> None:
        try:
            async for frame in ws:
                message = json.loads(frame)
                if isinstance(message, dict) and message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong", "timestamp": message.get("timestamp")}))
        except ConnectionClosed:
            pass


@pytest.fixture
def window_feed() -> Iterator[WindowFeed]:
    feed = WindowFeed().start()
    yield feed
    feed.stop()


# Counts the kernel's comm messages: when, on which comm, how many bytes, and for each message (and
# each item of a bundle) its kind and how many rows it carries.
METER = """
import json as _json, threading as _th, time as _time
import ipykernel.comm.comm as _bc
_meter = []
_meter_lock = _th.Lock()
_meter_pub = _bc.BaseComm.publish_msg
def _meter_parts(content):
    if not isinstance(content, dict):
        return []
    if content.get("kind") == "bundle":
        return [p for item in content.get("items", ()) for p in _meter_parts(item.get("m"))]
    return [(str(content.get("kind")), len(content.get("upsert") or content.get("rows") or ()))]
def _meter_publish(self, msg_type, data=None, metadata=None, buffers=None, **keys):
    if msg_type == "comm_msg" and isinstance(data, dict):
        n = len(_json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or ())
        custom = data.get("method") == "custom"
        parts = _meter_parts(data.get("content")) if custom else [(str(data.get("method")), 0)]
        with _meter_lock:
            _meter.append((_time.monotonic(), self.comm_id, n, parts))
    return _meter_pub(self, msg_type, data=data, metadata=metadata, buffers=buffers, **keys)
_bc.BaseComm.publish_msg = _meter_publish
def _meter_since(since, comm_id):
    with _meter_lock:
        got = [m for m in _meter if m[0] >= since and m[1] == comm_id]
    parts = [p for m in got for p in m[3]]
    return {"now": _time.monotonic(), "msgs": len(got), "bytes": sum(m[2] for m in got),
            "kinds": sorted({p[0] for p in parts}),
            "delta_rows": sum(n for k, n in parts if k in ("delta", "packed")),
            "snapshot_rows": max([n for k, n in parts if k == "snapshot"], default=0)}
"""

TABLE = (
    "w = RealtimeWidget(url, explore=False)\n"
    't = w.table("mission_update", key="id", max_rows=10000)\n'
    "t"
)

# The text of each cell of a row, by column name.
ROW_CELLS = (
    "(tr) => { const ths = [...tr.closest('table').querySelectorAll('thead th')];"
    " const tds = [...tr.querySelectorAll('td')];"
    " return Object.fromEntries(ths.map((th, i) =>"
    "   [th.dataset.column, tds[i] ? tds[i].textContent : null])); }"
)
FIRST_ROWS = (
    "(tbody, n) => [...tbody.querySelectorAll('tr.rtw-row')].filter(tr => tr.dataset.key)"
    ".slice(0, n).map(tr => [tr.dataset.key, tr.children[1] ? tr.children[1].textContent : null])"
)


def shown(v: int) -> str:
    return f"{v:,}"


def wait_for(predicate: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
    """``wait_until``, with a message that says what was seen last."""
    try:
        wait_until(predicate, timeout, "timed out")
    except TimeoutError as e:
        raise AssertionError(f"{describe()} ({e})") from None


def measure_traffic(page: Any, comm: str, since: float, messages_before: int, what: str) -> None:
    """Over MEASURE_S seconds of the kernel's clock from ``since``: the feed's updates reach the
    kernel at hundreds a second and the table's comm sends window messages at a few KB a second."""
    wait_until(lambda: evaluate_py(page, "_meter_since(0, '')")["now"] >= since + MEASURE_S,
               MEASURE_S + 20, "the kernel's clock did not advance")
    sent = evaluate_py(page, f"_meter_since({since!r}, {comm!r})")
    received = evaluate_py(page, "w.stats['messages_in']") - messages_before
    elapsed = sent["now"] - since
    assert received / elapsed >= 300, f"{what}: the feed reached the kernel at {received / elapsed:.0f}/s"
    assert "window" in sent["kinds"], f"{what}: {sent}"
    assert sent["delta_rows"] == 0, f"{what}: deltas carried rows: {sent}"
    assert sent["bytes"] / elapsed < MAX_TABLE_BYTES_PER_S, (
        f"{what}: the table published {sent['bytes'] / elapsed:.0f} B/s while "
        f"{received / elapsed:.0f} rows/s updated: {sent}")


def test_a_large_table_holds_its_visible_window(
    lab: Lab, fresh_page: Any, window_feed: WindowFeed
) -> None:
    page = fresh_page
    open_titled_notebook(page, lab, NOTEBOOK, "Visible window")
    add_cell(page, METER + f"\nfrom rt_widgets import RealtimeWidget\nurl = {window_feed.url!r}", "meter")
    table_cell = add_cell(page, TABLE, "table")
    view = table_cell.locator(".rtw-table").first
    count = view.locator(".rtw-table-count")
    expect(count).to_have_text(f"{ROWS:,} rows", timeout=60_000)
    wait_until(lambda: evaluate_py(page, "[t._windowed, len(t)]") == [True, ROWS], 30,
               "the kernel's table is not windowed at 5,000 rows")
    comm = evaluate_py(page, "t.comm.comm_id")
    since = evaluate_py(page, "_meter_since(0, '')")["now"]
    messages_before = evaluate_py(page, "w.stats['messages_in']")

    # A second view of the table, made once it is windowed, starts windowed too (from the trait).
    second = add_cell(page, "t", "second").locator(".rtw-table").first
    expect(second.locator(".rtw-table-count")).to_have_text(f"{ROWS:,} rows", timeout=10_000)
    expect(second.locator("tr.rtw-row").first).to_have_attribute("data-key", key(0), timeout=10_000)
    expect(second.locator(".rtw-table-group")).to_be_enabled()

    # Columns as the feed sent them; the v column is the second.
    head = view.locator("thead th")
    expect(head).to_have_count(3)
    assert [head.nth(i).get_attribute("data-column") for i in range(3)] == ["id", "v", "name"]
    expect(view.locator(".rtw-table-group")).to_be_enabled()

    # The view holds its window: the first rows, a few dozen of them.
    tbody = view.locator("tbody")
    rows = view.locator("tr.rtw-row")
    expect(rows.first).to_have_attribute("data-key", key(0))
    firsts = tbody.evaluate(FIRST_ROWS, 3)
    assert [k for k, _ in firsts] == [key(0), key(1), key(2)], firsts
    assert firsts[0][1] == shown(first_row(0)["v"]), firsts
    assert 0 < rows.count() < MAX_DRAWN_ROWS, f"{rows.count()} rows in the DOM for {ROWS:,}"

    # Updates to a row on screen show: its value becomes one the feed sent it (all negative).
    hot = view.locator(f"tr.rtw-row[data-key='{key(HOT[0])}']")

    def hot_updated() -> bool:
        text = hot.evaluate(ROW_CELLS)["v"]
        return text is not None and text.startswith("-") and \
            int(text.replace(",", "")) in window_feed.values_sent(key(HOT[0]))

    wait_until(hot_updated, 20, "an update to a row on screen did not show")
    seen = hot.evaluate(ROW_CELLS)["v"]
    wait_until(lambda: hot.evaluate(ROW_CELLS)["v"] != seen, 20, "the row on screen stopped updating")

    # Steady state: 500 updates a second, and the table's comm carries little.
    measure_traffic(page, comm, since, messages_before, "in table order")

    # Scrolled to the bottom: the last row, with a value the feed sent it.
    scroller = view.locator(".rtw-table-scroll")
    scroller.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    last = view.locator(f"tr.rtw-row[data-key='{key(ROWS - 1)}']")
    expect(last).to_be_visible()
    wait_until(lambda: int(last.evaluate(ROW_CELLS)["v"].replace(",", ""))
               in window_feed.values_sent(key(ROWS - 1)), 20,
               "the last row does not show a value the feed sent it")
    expect(view.locator(f"tr.rtw-row[data-key='{key(0)}']")).to_have_count(0)
    assert rows.count() < MAX_DRAWN_ROWS, "scrolling must not accumulate rows"
    expect(count).to_have_text(f"{ROWS:,} rows")

    # Sorted by v in the kernel: ascending puts an updated row (negative) first, descending the
    # largest values the feed holds now.
    scroller.evaluate("(el) => { el.scrollTop = 0; }")
    expect(rows.first).to_have_attribute("data-key", key(0))
    v_head = view.locator("thead th[data-column='v']")
    v_head.click()
    expect(v_head).to_have_attribute("data-sort", "asc")
    updated = {key(i) for i in (*HOT, *SPREAD)}

    def smallest_first() -> bool:
        k, text = tbody.evaluate(FIRST_ROWS, 1)[0]
        return k in updated and text.startswith("-")

    wait_for(smallest_first, 20, lambda: f"ascending by v starts {tbody.evaluate(FIRST_ROWS, 3)}")
    # The order follows the updates (the smallest value is the newest), at the same small cost.
    firsts_seen: set[tuple[str, str]] = set()

    def first_moves() -> bool:
        firsts_seen.add(tuple(tbody.evaluate(FIRST_ROWS, 1)[0]))
        return len(firsts_seen) >= 3

    wait_until(first_moves, 20, "the first row of the ascending order did not follow the updates")
    at = evaluate_py(page, "_meter_since(0, '')")["now"]
    measure_traffic(page, comm, at, evaluate_py(page, "w.stats['messages_in']"), "sorted by v")
    v_head.click()
    expect(v_head).to_have_attribute("data-sort", "desc")

    def largest(state: dict[str, dict[str, Any]], n: int) -> list[list[str]]:
        top = sorted(state.values(), key=lambda r: -int(r["v"]))[:n]
        return [[r["id"], shown(r["v"])] for r in top]

    wait_for(lambda: tbody.evaluate(FIRST_ROWS, 3) == largest(window_feed.snapshot(), 3), 20,
             lambda: f"descending by v starts {tbody.evaluate(FIRST_ROWS, 3)}, "
                     f"the feed's largest are {largest(window_feed.snapshot(), 3)}")
    assert rows.count() < MAX_DRAWN_ROWS

    # Filtered in the kernel: the count says how many rows of the 5,000 match, the rows shown
    # match, still sorted.
    def matching() -> dict[str, dict[str, Any]]:
        return {k: r for k, r in window_feed.snapshot().items() if FILTER in r["name"]}

    kept = len(matching())
    assert 0 < kept < ROWS
    view.locator(".rtw-table-filter").fill(FILTER)
    expect(count).to_have_text(f"{kept:,} of {ROWS:,} rows")
    wait_for(lambda: tbody.evaluate(FIRST_ROWS, 3) == largest(matching(), 3), 20,
             lambda: f"the filtered rows start {tbody.evaluate(FIRST_ROWS, 3)}, "
                     f"expected {largest(matching(), 3)}")
    names = rows.evaluate_all("(trs) => trs.filter(tr => tr.dataset.key)"
                              ".map(tr => tr.children[2].textContent)")
    assert names and all(FILTER in n for n in names), names
    assert rows.count() < MAX_DRAWN_ROWS

    # Grouped in the kernel: the filtered rows by v (one row each), every group sent, counted.
    select = view.locator(".rtw-table-group")
    select.select_option(label="v")
    groups = min(kept, 1000)
    expect(count).to_have_text(f"{groups:,} {'group' if groups == 1 else 'groups'} · "
                               f"{groups:,} of {ROWS:,} rows", timeout=20_000)
    expect(view.locator("thead th[data-column='count']")).to_have_count(1)
    assert rows.count() < MAX_DRAWN_ROWS
    select.select_option(value="none")
    expect(count).to_have_text(f"{kept:,} of {ROWS:,} rows", timeout=20_000)

    # Over the whole windowed run: no delta carried rows, snapshots held at most the newest 50.
    windowed = evaluate_py(page, f"_meter_since({since!r}, {comm!r})")
    assert windowed["delta_rows"] == 0, windowed
    assert windowed["snapshot_rows"] <= 50, windowed
    assert evaluate_py(page, "t._windowed") is True
    errors = [line for line in page._rtw_console if line.startswith("pageerror")]
    assert not errors, errors
    assert page.locator(".rtw-error").count() == 0
    shot(page, "window-table")
    execute(page, "w.close()")
