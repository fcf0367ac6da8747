"""Exploring a live table in JupyterLab, in Debian's Chromium: group by, the column chooser, row detail.

A feed of the test's own (a ``websockets`` server on loopback) sends trades whose group values are
hostile (``1`` and ``"1"``, markup, ``__proto__``, ``constructor``). The grouped figures the browser
shows are read from the DOM and compared with a pandas groupby of ``LiveTable.to_pandas()`` read from
the kernel: once the feed stopped, and while the view is paused (it holds still as the kernel moves
on) and after it resumes. ``last`` is checked against the feed itself: it is the value of the row
updated most recently, which the kernel's insertion-ordered rows do not tell.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import nbformat
import pandas
import pytest
from playwright.sync_api import expect
from websockets.sync.server import ServerConnection, serve

from ._helpers import wait_until
from ._jupyter import add_cell, evaluate_py, execute, open_notebook, run_all
from .conftest import Lab, shot

pytestmark = pytest.mark.browser

NOTEBOOK = "table_explore.ipynb"
GROUPS: list[Any] = [1, "1", "<b>AAPL</b>", "__proto__", "constructor"]
ROWS = 40
FIGURES = ("sum", "mean", "min", "max")
NUMERIC = ("id", "price", "qty")


class TradeFeed:
    """A loopback WebSocket server that sends what the test hands it, as envelope batches."""

    def __init__(self) -> None:
        self._clients: list[ServerConnection] = []
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.sent = 0
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self._clients.append(ws)
        self.connected.set()
        try:
            for frame in ws:
                message = json.loads(frame)
                if isinstance(message, dict) and message.get("type") == "ping":
                    ws.send(json.dumps({"type": "pong", "timestamp": _now()}))
        finally:
            with self._lock:
                self._clients.remove(ws)

    def send(self, rows: list[dict[str, Any]], batch: int = 50) -> None:
        with self._lock:
            clients = list(self._clients)
        assert clients, "no client is connected to the feed"
        for start in range(0, len(rows), batch):
            frame = json.dumps([{"type": "trade", "payload": row, "timestamp": _now()}
                                for row in rows[start:start + batch]])
            for ws in clients:
                ws.send(frame)
        self.sent += len(rows)

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture
def trade_feed() -> Iterator[TradeFeed]:
    feed = TradeFeed()
    yield feed
    feed.close()


def write_notebook(lab: Lab, url: str) -> None:
    """A one-cell notebook (tagged ``setup``) in the server's root that names the feed's URL."""
    setup = nbformat.v4.new_code_cell(f"from rt_widgets import RealtimeWidget\n\nurl = {url!r}",
                                      id="setup", metadata={"tags": ["setup"]})
    notebook = nbformat.v4.new_notebook(
        cells=[setup], metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                "name": "python3"}})
    nbformat.write(notebook, str(lab.root / NOTEBOOK))


def trades(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` whole rows over ids 1..ROWS (a row's group may change), then one row in each group."""
    out = [{"id": rng.randint(1, ROWS), "sym": rng.choice(GROUPS), "price": round(rng.uniform(1, 500), 2),
            "qty": rng.randint(1, 100)} for _ in range(n)]
    out += [{"id": i + 1, "sym": g, "price": round(rng.uniform(1, 500), 2), "qty": rng.randint(1, 100)}
            for i, g in enumerate(GROUPS)]
    return out


# The grouped table as the DOM shows it: {group value as canonical JSON: {header: cell text}}.
READ_GROUPS = """
(root) => {
  const names = Array.from(root.querySelectorAll('th .rtw-th-label')).map((s) => s.textContent);
  const out = {};
  for (const tr of root.querySelectorAll('tr.rtw-row')) {
    const cells = {};
    Array.from(tr.children).forEach((td, i) => { cells[names[i]] = td.textContent; });
    out[tr.dataset.group] = cells;
  }
  return out;
}
"""


def shown_number(text: str) -> float:
    return float(text.replace(",", ""))


def kernel_groups(page: Any) -> dict[str, dict[str, float]]:
    """A pandas groupby of the kernel's rows: {group as canonical JSON: {figure(column): value}}."""
    records = evaluate_py(page, "t.to_pandas().to_dict('records')")
    frame = pandas.DataFrame(records)
    # Grouped as objects, so 1 and "1" stay apart (sort=False: they do not compare).
    grouped = frame.groupby(frame["sym"].astype(object), sort=False)
    out: dict[str, dict[str, float]] = {}
    for value, rows in grouped:
        figures = {"count": float(len(rows))}
        for column in NUMERIC:
            series = rows[column].astype(float)
            figures.update({f"{f}({column})": float(getattr(series, f)()) for f in FIGURES})
        out[json.dumps(value, separators=(",", ":"))] = figures
    return out


def mismatches(shown: dict[str, dict[str, str]], expected: dict[str, dict[str, float]]) -> list[str]:
    """How the DOM's figures differ from the expected ones (numbers are shown to 3 decimals)."""
    if set(shown) != set(expected):
        return [f"groups {sorted(shown)} != {sorted(expected)}"]
    wrong = []
    for group, figures in expected.items():
        for name, value in figures.items():
            text = shown[group].get(name)
            if text is None or not math.isclose(shown_number(text), value, rel_tol=1e-9, abs_tol=5.1e-4):
                wrong.append(f"{group} {name}: shown {text!r}, expected {value}")
    return wrong


def wait_groups_match(view: Any, expected: dict[str, dict[str, float]], timeout: float = 30) -> None:
    last: list[list[str]] = [[]]

    def check() -> bool:
        last[0] = mismatches(view.evaluate(READ_GROUPS), expected)
        return not last[0]

    try:
        wait_until(check, timeout, "the grouped view did not match pandas")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {last[0][:10]}") from None


def test_group_by_matches_pandas_columns_hide_and_a_row_shows_its_fields(
        lab: Lab, fresh_page: Any, trade_feed: TradeFeed) -> None:
    page = fresh_page
    rng = random.Random(16)
    write_notebook(lab, trade_feed.url)
    open_notebook(page, lab, NOTEBOOK)
    run_all(page)
    table_cell = add_cell(
        page, 'w = RealtimeWidget(url, explore=False)\nt = w.table("trade", key="id")\nt', "table")
    view = table_cell.locator(".rtw-table").first
    expect(view).to_be_visible(timeout=60_000)
    assert trade_feed.connected.wait(30), "the kernel did not connect to the feed"

    # The rows arrive as deltas while the view is showing, so it knows which row changed last.
    feed_rows = trades(rng, 400)
    trade_feed.send(feed_rows)
    wait_until(lambda: evaluate_py(page, "w.stats['messages_in']") >= trade_feed.sent, 30,
               "the kernel did not receive the feed")
    expect(view.locator(".rtw-table-count")).to_have_text(f"{ROWS} rows", timeout=30_000)

    # One more update per group, each to a row that stays in it: that row is the group's last.
    final: dict[Any, dict[str, Any]] = {}
    for row in feed_rows:
        final[row["id"]] = row
    last_rows = []
    for g in GROUPS:
        member = min(i for i, r in final.items() if r["sym"] == g and type(r["sym"]) is type(g))
        last_rows.append({"id": member, "sym": g, "price": round(rng.uniform(1, 500), 2),
                          "qty": rng.randint(1, 100)})
    trade_feed.send(last_rows)
    wait_until(lambda: evaluate_py(page, "w.stats['messages_in']") >= trade_feed.sent, 30,
               "the kernel did not receive the last updates")

    # Group by the symbol.
    select = view.locator(".rtw-table-group")
    options = select.locator("option").all_text_contents()
    assert options == ["Group by: none", "id", "sym", "price", "qty"], options
    select.select_option(label="sym")
    expect(view.locator("tr.rtw-row")).to_have_count(len(GROUPS))
    expected = kernel_groups(page)
    for row in last_rows:
        key = json.dumps(row["sym"], separators=(",", ":"))
        expected[key].update({"last(id)": row["id"], "last(price)": row["price"], "last(qty)": row["qty"]})
    wait_groups_match(view, expected)
    assert view.locator("img, b").count() == 0, "group values are text"
    expect(view.locator(".rtw-table-count")).to_have_text(f"{len(GROUPS)} groups · {ROWS} rows")
    shot(page, "table-grouped")

    # Paused, the grouped view holds still while the kernel takes in more rows.
    held = view.locator("tbody").inner_text()
    view.locator(".rtw-pause-button").click()
    wait_until(lambda: evaluate_py(page, "t.paused") is True, 10, "the kernel did not pause the view")
    trade_feed.send(trades(rng, 200))
    wait_until(lambda: evaluate_py(page, "w.stats['messages_in']") >= trade_feed.sent, 30,
               "the kernel stopped receiving while paused")
    moved = kernel_groups(page)
    assert mismatches(view.evaluate(READ_GROUPS), moved), "the kernel's rows should have moved on"
    assert view.locator("tbody").inner_text() == held
    # Resumed, it shows the kernel's rows again (from a snapshot, which does not tell which row of
    # a group changed last: only the other figures are compared).
    view.locator(".rtw-pause-button").click()
    wait_groups_match(view, moved)

    # The column chooser hides qty: its figures go, and so does its column in the rows.
    view.locator(".rtw-table-columns-button").click()
    chooser = view.locator(".rtw-table-columns")
    expect(chooser).to_be_visible()
    expect(chooser.locator(".rtw-table-columns-item")).to_have_text(["id", "sym", "price", "qty"])
    chooser.locator(".rtw-table-columns-item", has_text="qty").locator("input").uncheck()
    expect(view.locator("th .rtw-th-label", has_text="sum(qty)")).to_have_count(0)
    expect(view.locator("th .rtw-th-label", has_text="sum(price)")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(chooser).to_be_hidden()
    select.select_option(label="Group by: none")
    expect(view.locator("th .rtw-th-label")).to_have_text(["id", "sym", "price"])
    first = view.locator("tr.rtw-row").first
    expect(first.locator("td")).to_have_count(3)

    # A row click shows all its fields (the hidden one too) as a tree, and follows the row live.
    row_id = int(first.get_attribute("data-key") or "0")
    first.locator("td").first.click()
    detail = view.locator(".rtw-table-detail")
    expect(detail).to_be_visible()
    kernel_row = evaluate_py(page, f"[r for r in t.rows if r['id'] == {row_id}][0]")
    entries = detail.locator(".rtw-json-entry")
    expect(entries).to_have_count(len(kernel_row))
    expect(entries.locator(".rtw-json-key")).to_have_text(list(kernel_row))
    shown = {k: v for k, v in zip(entries.locator(".rtw-json-key").all_text_contents(),
                                  [e.locator(":scope > :last-child").text_content()
                                   for e in entries.all()], strict=True)}
    for name, value in kernel_row.items():
        assert json.loads(shown[name] or "null") == value, (name, shown[name], value)
    shot(page, "table-detail")
    trade_feed.send([{**kernel_row, "price": 12345.5}])
    expect(detail.locator(".rtw-json-entry", has_text="price").locator(".rtw-json-number")).to_have_text(
        "12345.5", timeout=15_000)
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    execute(page, "w.close()")
