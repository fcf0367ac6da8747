"""Exploring a live table in JupyterLab, in Debian's Chromium: group by, the column chooser, row detail.

A feed of the test's own (a ``websockets`` server on loopback) sends trades whose group values are
hostile (``1`` and ``"1"``, markup, ``__proto__``, ``constructor``). The grouped figures the browser
shows are read from the DOM and compared with a pandas groupby of ``LiveTable.to_pandas()`` read from
the kernel: once the feed stopped, and while the view is paused (it holds still as the kernel moves
on) and after it resumes (from a snapshot). ``last`` too is pandas' ``last``: the value of the
group's last row in the table's order (an update keeps a row's place), not of the row updated most
recently; the feed updates each group's first row last, so the two meanings differ.

A ``LiveSummary`` of the table (``t.group_by("sym")``) shown in a cell displays the figures of its
``to_pandas()`` read from the kernel once the feed stopped, after in-place updates too.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pandas
import pytest
from playwright.sync_api import expect
from websockets.sync.server import ServerConnection, serve

from ._helpers import wait_until
from ._jupyter import add_cell, evaluate_py, execute, open_notebook, run_all, write_feed_notebook
from .conftest import Lab, shot

pytestmark = pytest.mark.browser

NOTEBOOK = "table_explore.ipynb"
GROUPS: list[Any] = [1, "1", "<b>AAPL</b>", "__proto__", "constructor"]
ROWS = 40
FIGURES = ("sum", "mean", "min", "max", "last")
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


def open_feed_notebook(lab: Lab, page: Any, url: str) -> None:
    """Writes the notebook naming the feed's URL, opens it in the page and runs it."""
    write_feed_notebook(lab, NOTEBOOK, url)
    open_notebook(page, lab, NOTEBOOK)
    run_all(page)


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
    frame[list(NUMERIC)] = frame[list(NUMERIC)].astype(float)
    # Grouped as objects, so 1 and "1" stay apart (sort=False: they do not compare).
    grouped = frame.groupby(frame["sym"].astype(object), sort=False)[list(NUMERIC)]
    tables = {f: getattr(grouped, f)() for f in FIGURES}
    sizes = grouped.size()
    out: dict[str, dict[str, float]] = {}
    for value in sizes.index:
        figures = {"count": float(sizes.loc[value])}
        for column in NUMERIC:
            figures.update({f"{f}({column})": float(tables[f].loc[value, column]) for f in FIGURES})
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


def wait_matches(read: Callable[[], dict[str, dict[str, str]]], expected: dict[str, dict[str, float]],
                 message: str, timeout: float = 30) -> None:
    """Polls ``read`` (figures the DOM shows) until they are ``expected``; says how they differ."""
    last: list[list[str]] = [[]]

    def check() -> bool:
        last[0] = mismatches(read(), expected)
        return not last[0]

    try:
        wait_until(check, timeout, message)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {last[0][:10]}") from None


def wait_groups_match(view: Any, expected: dict[str, dict[str, float]]) -> None:
    wait_matches(lambda: view.evaluate(READ_GROUPS), expected, "the grouped view did not match pandas")


def test_group_by_matches_pandas_columns_hide_and_a_row_shows_its_fields(
        lab: Lab, fresh_page: Any, trade_feed: TradeFeed) -> None:
    page = fresh_page
    rng = random.Random(16)
    open_feed_notebook(lab, page, trade_feed.url)
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

    # One more update per group, to the group's first row in the table's order: updated in place,
    # it keeps its place, so (in a group of two rows or more) it is not the group's last.
    held_rows = evaluate_py(page, "t.to_pandas().to_dict('records')")
    last_rows = []
    for g in GROUPS:
        member = next(r["id"] for r in held_rows if r["sym"] == g and type(r["sym"]) is type(g))
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
    # The updated rows are not pandas' last (else this would not tell the two meanings apart).
    differ = [row for row in last_rows
              if expected[json.dumps(row["sym"], separators=(",", ":"))]["last(price)"] != row["price"]]
    assert len(differ) >= 3, (last_rows, expected)
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
    # Resumed, it shows the kernel's rows again (from a snapshot, in the kernel's order: last too).
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


# A displayed table view's rows: [[the `key` column's cell text, {header: cell text}]] (pairs, not
# an object keyed by cell text: a "__proto__" team would set its prototype).
READ_ROWS = """
(root, key) => {
  const names = Array.from(root.querySelectorAll('th .rtw-th-label')).map((s) => s.textContent);
  const out = [];
  for (const tr of root.querySelectorAll('tr.rtw-row')) {
    const cells = new Map();
    Array.from(tr.children).forEach((td, i) => { cells.set(names[i], td.textContent); });
    out.push([cells.get(key), Array.from(cells)]);
  }
  return out;
}
"""
TEAMS = ["red", "<b>blue</b>", "__proto__", "constructor"]


def summary_expected(page: Any) -> dict[str, dict[str, float]]:
    """``summary.to_pandas()`` read from the kernel: {team: {column: value}} (NaN left out)."""
    records = evaluate_py(page, "s.to_pandas().reset_index().to_dict('records')")
    out: dict[str, dict[str, float]] = {}
    for record in records:
        team = record.pop("team")
        out[team] = {k: float(v) for k, v in record.items()
                     if v is not None and not (isinstance(v, float) and math.isnan(v))}
    return out


def wait_summary_matches(view: Any, expected: dict[str, dict[str, float]]) -> None:
    wait_matches(lambda: {team: dict(cells) for team, cells in view.evaluate(READ_ROWS, "team")},
                 expected, "the displayed summary did not match summary.to_pandas()")


def test_a_displayed_live_summary_shows_the_figures_of_its_to_pandas(
        lab: Lab, fresh_page: Any, trade_feed: TradeFeed) -> None:
    page = fresh_page
    rng = random.Random(7)
    open_feed_notebook(lab, page, trade_feed.url)
    execute(page, 'w = RealtimeWidget(url, explore=False)\nt = w.table("trade", key="id")')
    assert trade_feed.connected.wait(30), "the kernel did not connect to the feed"

    def score(i: int) -> dict[str, Any]:
        return {"id": i, "team": rng.choice(TEAMS), "points": rng.randint(0, 50),
                "time": round(rng.uniform(10, 99), 3)}

    trade_feed.send([score(rng.randint(1, 30)) for _ in range(300)] +
                    [{**score(i + 1), "team": team} for i, team in enumerate(TEAMS)])
    wait_until(lambda: evaluate_py(page, "w.stats['messages_in']") >= trade_feed.sent, 30,
               "the kernel did not receive the feed")
    summary_cell = add_cell(page, 's = t.group_by("team")\ns', "summary")
    view = summary_cell.locator(".rtw-table").first
    expect(view).to_be_visible(timeout=60_000)
    # The feed stopped: the view shows what the kernel's summary holds.
    expected = summary_expected(page)
    assert set(expected) == set(TEAMS), expected
    assert {"count", "points_sum", "points_mean", "points_min", "points_max", "points_last",
            "time_last"} <= set(expected["red"]), expected["red"]
    wait_summary_matches(view, expected)
    assert view.locator("img, b").count() == 0, "group values are text"
    expect(view.locator("tr.rtw-row")).to_have_count(len(TEAMS))

    # Live, as rows update in place (each team's first row) and move between teams.
    held = evaluate_py(page, "t.to_pandas().to_dict('records')")
    firsts = [next(r for r in held if r["team"] == team) for team in TEAMS]
    trade_feed.send([{**r, "points": 1000 + n} for n, r in enumerate(firsts)] + [score(3), score(11)])
    wait_until(lambda: evaluate_py(page, "w.stats['messages_in']") >= trade_feed.sent, 30,
               "the kernel did not receive the updates")
    wait_until(lambda: evaluate_py(page, "max(r['points'] for r in t.rows)") >= 1000, 30,
               "the kernel's table did not take the updates")
    moved = summary_expected(page)
    assert moved != expected, "the updates should have changed the summary"
    wait_summary_matches(view, moved)
    execute(page, "w.close()")
