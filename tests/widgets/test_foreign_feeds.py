"""RealtimeWidget on the replicas of public feeds (``rt_widgets.demo.formats``) over loopback, each
with its documented one line of configuration: the table asked for, and the explorer's own table
(keyed by the field it infers), equal a plain fold of the frames the server sent, in the kernel and
in what the view holds; every type has a view; metrics points keep their messages' own times."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rt_widgets.demo.formats import FORMATS, SUBSCRIPTION, FormatServer, Frame
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

Rows = list[dict[str, Any]]
# What one sent frame holds for a table: (action, rows) pairs (action None: upsert).
Decode = Callable[[Any], list[tuple[str | None, Rows]]]


def binance(v: Any) -> list[tuple[str | None, Rows]]:
    data = v.get("data") if isinstance(v, dict) else None
    return [(None, [data])] if isinstance(data, dict) and data.get("e") == "trade" else []


def coinbase(v: Any) -> list[tuple[str | None, Rows]]:
    return [(None, [v])] if isinstance(v, dict) and v.get("type") == "ticker" else []


def kraken(v: Any) -> list[tuple[str | None, Rows]]:
    ok = isinstance(v, dict) and v.get("channel") == "trade" and isinstance(v.get("data"), list)
    return [(None, v["data"])] if ok else []


def bitmex(v: Any) -> list[tuple[str | None, Rows]]:
    ok = isinstance(v, dict) and v.get("table") == "orderBookL2" and isinstance(v.get("data"), list)
    return [(v["action"], v["data"])] if ok else []


def finnhub(v: Any) -> list[tuple[str | None, Rows]]:
    ok = isinstance(v, dict) and v.get("type") == "trade" and isinstance(v.get("data"), list)
    return [(None, v["data"])] if ok else []


def polygon(v: Any) -> list[tuple[str | None, Rows]]:
    return [(None, [e for e in v if e.get("ev") == "T"])] if isinstance(v, list) else []


# name: (decode, the type of its table, the key asked for, the key the explorer infers,
#        subscription frames as the real service takes them)
CASES: dict[str, tuple[Decode, str, str | tuple[str, ...], str, tuple[Any, ...]]] = {
    "binance": (binance, "trade", "t", "s", (
        {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade", "bnbbtc@trade"], "id": 1},)),
    "coinbase": (coinbase, "ticker", "trade_id", "product_id", (
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD", "ETH-BTC"], "channels": ["ticker"]},)),
    "kraken": (kraken, "trade", "trade_id", "symbol", (
        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"]},
         "req_id": 1},)),
    "bitmex": (bitmex, "orderBookL2", ("symbol", "id", "side"), "id", SUBSCRIPTION["bitmex"]),
    "finnhub": (finnhub, "trade", ("s", "t", "p", "v"), "s", SUBSCRIPTION["finnhub"]),
    "polygon": (polygon, "T", "i", "sym", (
        {"action": "auth", "params": "<your key>"}, {"action": "subscribe", "params": "T.AAPL,T.MSFT"})),
}


def key_of(row: dict[str, Any], key: str | tuple[str, ...]) -> str:
    fields = (key,) if isinstance(key, str) else key
    return json.dumps([row[f] for f in fields])


def fold(frames: list[Frame], decode: Decode, key: str | tuple[str, ...]) -> Rows:
    """The table the frames make, by a plain reading of their documented shapes: rows upserted
    by key (the JSON of its values) in first-insertion order; BitMEX's delete removes, and the
    first partial after anything else starts afresh."""
    table: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    for frame in frames:
        for action, rows in decode(frame.value):
            if action == "partial" and previous != "partial":
                table.clear()
            previous = action
            for row in rows:
                k = key_of(row, key)
                if action == "delete":
                    table.pop(k, None)
                else:
                    table.setdefault(k, {}).update(row)
    return list(table.values())


def view_rows(spy: CommSpy, table: Any) -> Rows:
    """The rows the view holds: its first state, then every delta in order (as js/table.ts)."""
    keys = tuple(spy.view_state(table)["_snapshot"].get("keys") or ("id",))
    state: dict[str, dict[str, Any]] = {}
    first = next(p for p in spy.messages(table) if p.msg_type == "comm_open")
    for row in first.data["state"]["_snapshot"]["rows"]:
        state[key_of(row, keys)] = dict(row)
    for _, delta in spy.custom(table, "delta"):
        if delta.get("clear"):
            state.clear()
        for k in delta.get("delete", []):
            state.pop(json.dumps(k if len(keys) > 1 else [k]), None)
        for row in delta.get("upsert", []):
            state.setdefault(key_of(row, keys), {}).update(row)
    return list(state.values())


@pytest.fixture
def replica() -> Iterator[Callable[..., FormatServer]]:
    made: list[FormatServer] = []

    def make(name: str, **options: Any) -> FormatServer:
        options.setdefault("seed", 3)
        server = FormatServer(name, port=0, rate=0, heartbeat=None, **options).start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.mark.parametrize("name", list(CASES))
def test_each_format_fills_its_table_as_a_fold_of_what_the_server_sent(
        name: str, replica: Callable[..., FormatServer], make_widget: Any,
        comm_spy: CommSpy) -> None:
    decode, type, key, inferred, subscription = CASES[name]
    feed = replica(name)
    fmt = FORMATS[name]
    url = feed.url + (f"?{fmt.query}" if fmt.query else "")
    asked = make_widget(url, fps=50, **fmt.options())  # a table of its own key
    table = asked.table(type, key=key)
    explored = make_widget(url, fps=50, **fmt.options())  # zero views asked for
    for widget in (asked, explored):
        for message in subscription:
            widget.subscribe(message)
    feed.wait_subscribed(clients=2, frames=len(subscription))
    feed.emit(300)
    # Both clients subscribed alike, so each got the same updates; either's frames will do.
    clients = (1, 2)

    def settled(view: Any, k: str | tuple[str, ...]) -> bool:
        rows = view.rows
        return bool(rows) and any(rows == fold(feed.sent_to(c), decode, k) for c in clients)

    wait_until(lambda: settled(table, key), 15,
               message=lambda: f"{name}: {len(table)} rows, want {len(fold(feed.sent_to(1), decode, key))}")
    wait_until(lambda: type in explored.overview and explored.overview[type]["kind"] == "table", 10)
    auto = explored.table(type)  # the explorer's own table, whatever its key
    assert auto.key == inferred
    wait_until(lambda: settled(auto, inferred), 15,
               message=lambda: f"{name}: the explorer's table has {len(auto)} rows")
    for widget in (asked, explored):
        stats = widget.connection.stats()
        assert stats["decode_errors"] == 0 and stats["handler_errors"] == 0
    # The view holds the same rows once the frame clock has sent the last delta.
    for view in (table, auto):
        wait_until(lambda v=view: view_rows(comm_spy, v) == v.rows, 10)  # type: ignore[misc]
    # Every type the explorer saw has a view: none is only a count.
    wait_until(lambda: set(explored.overview) <= set(explored.children), 10,
               message=lambda: f"{set(explored.overview) - set(explored.children)} have no view")
    kinds = {t: o["kind"] for t, o in explored.overview.items()}
    assert kinds[type] == "table" and "raw" not in kinds.values()


def test_bitmex_book_replaces_its_contents_with_each_new_partial(
        replica: Callable[..., FormatServer], make_widget: Any) -> None:
    feed = replica("bitmex")
    w = make_widget(feed.url, fps=50, **FORMATS["bitmex"].options())
    book = w.table("orderBookL2", key=("symbol", "id", "side"))
    w.subscribe({"op": "subscribe", "args": ["orderBookL2:XBTUSD"]})
    feed.wait_subscribed(frames=1)
    feed.emit(50)
    wait_until(lambda: book.rows == fold(feed.sent_to(1), bitmex, book.key), 10)
    # A reconnect: the new link's subscription brings a new partial, which replaces the book.
    feed.close_clients(1012)
    wait_until(lambda: feed.connections == 2, 15)
    feed.wait_subscribed(frames=1)
    feed.emit(30)
    frames = feed.sent_to(2)
    assert next(f.value.get("action") for f in frames if isinstance(f.value, dict)
                and f.value.get("table") == "orderBookL2") == "partial"
    wait_until(lambda: book.rows == fold(frames, bitmex, book.key), 10,
               message=lambda: f"{len(book)} rows, want {len(fold(frames, bitmex, book.key))}")
    assert book.errors == 0


def test_metrics_points_keep_the_time_of_each_message_not_of_its_frame(
        replica: Callable[..., FormatServer], make_widget: Any) -> None:
    # Finnhub batches trades in one frame; each row has its own time ("t", in ms), out of order.
    # The replica's clock runs from 2020 on, a second per reading: far from the arrival times.
    ticks = itertools.count()
    feed = replica("finnhub", clock=lambda: 1_600_000_000.0 + next(ticks))
    w = make_widget(feed.url + "?token=sandbox", fps=50, **FORMATS["finnhub"].options())
    metrics = w.metrics("trade", history=1000)
    w.subscribe({"type": "subscribe", "symbol": "AAPL"})
    feed.wait_subscribed(frames=1)
    feed.emit(40)
    rows = [row for f in feed.sent_to(1) for _, rs in finnhub(f.value) for row in rs]
    wait_until(lambda: len(metrics.history.get("p", [])) == len(rows), 10)
    points = metrics.history["p"]
    assert [t for t, _ in points] == pytest.approx(sorted(row["t"] / 1000 for row in rows))
    assert points[-1][0] < 1_700_000_000  # not when they arrived
    assert len({t for t, _ in points}) > len(rows) // 2  # nor piled up at a few instants
    assert sorted(v for _, v in points) == sorted(row["p"] for row in rows)


def test_numeric_strings_become_metric_values(replica: Callable[..., FormatServer],
                                              make_widget: Any) -> None:
    feed = replica("coinbase")
    w = make_widget(feed.url, fps=50, **FORMATS["coinbase"].options())
    metrics = w.metrics("ticker")
    w.subscribe(SUBSCRIPTION["coinbase"][0])
    feed.wait_subscribed(frames=1)
    feed.emit(20)
    last = [f.value for f in feed.sent_to(1) if f.value.get("type") == "ticker"][-1]
    wait_until(lambda: metrics.latest.get("price") == float(last["price"]), 10)
    assert metrics.latest["best_bid"] == float(last["best_bid"])
    assert "product_id" not in metrics.latest and metrics.ignored > 0  # "BTC-USD" is no number
