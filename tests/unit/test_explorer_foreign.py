"""The explorer model on the shapes of public feeds (shared/feeds.md): the key it infers for each,
numeric strings as metrics, the message log for everything else, and a key found in repeats."""

from __future__ import annotations

from typing import Any

import pytest

from rt_widgets.explorer import (
    MAX_AUTO_VIEWS,
    SAMPLE_SIZE,
    Explorer,
    ViewPlan,
    infer_key,
    infer_kind,
    is_number,
    repeating_key,
)

# (feed, type, payload as its documented configuration dispatches it, kind, key)
SHAPES: list[tuple[str, str, Any, str, str | None]] = [
    ("binance trade", "trade", {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345,
                                "p": "0.001", "q": "100", "T": 1672515782136, "m": True, "M": True},
     "table", "s"),
    ("binance bookTicker", "message", {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000",
                                       "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"},
     "table", "s"),
    ("coinbase ticker", "ticker", {"type": "ticker", "trade_id": 20153558, "sequence": 3262786978,
                                   "time": "2017-09-02T17:05:49.250000Z", "product_id": "BTC-USD",
                                   "price": "4388.01000000", "side": "buy",
                                   "last_size": "0.03000000", "best_bid": "4388",
                                   "best_ask": "4388.01"}, "table", "product_id"),
    ("kraken v2 trade", "trade", {"symbol": "BTC/USD", "side": "buy", "price": 23536.3,
                                  "qty": 0.001, "ord_type": "limit", "trade_id": 12345,
                                  "timestamp": "2023-02-09T20:19:35.396Z"}, "table", "symbol"),
    ("kraken v1 trade", "trade", [["5541.20000", "0.15850568", "1534614057.321597", "s", "l", ""]],
     "log", None),
    ("kraken v1 heartbeat", "heartbeat", {"event": "heartbeat"}, "log", None),
    ("bitmex book", "orderBookL2_25", {"symbol": "XBTUSD", "id": 8796323950, "side": "Sell",
                                       "size": 36760}, "table", "id"),
    ("bitmex trade", "trade", {"timestamp": "2023-01-01T00:00:00.000Z", "symbol": "XBTUSD",
                               "side": "Buy", "size": 100, "price": 27000.5,
                               "trdMatchID": "00000001-0000-4000-8000-000000000001"},
     "table", "symbol"),
    ("bitstamp trade", "trade", {"microtimestamp": "1580336751488517", "amount": 0.00598803,
                                 "price": 9334.73, "type": 1, "id": 104007706,
                                 "timestamp": "1580336751"}, "table", "id"),
    ("okx ticker", "tickers", [{"instType": "SPOT", "instId": "BTC-USDT", "last": "9999.99",
                                "ts": "1597026383085"}], "table", "instId"),
    ("bybit trade", "publicTrade.BTCUSDT", {"T": 1672304486865, "s": "BTCUSDT", "S": "Buy",
                                            "v": "0.001", "p": "16578.50", "i": "20f43950-…",
                                            "BT": False}, "table", "s"),
    ("finnhub trade", "trade", {"c": ["1", "8", "24", "12"], "p": 122.1, "s": "TSLA",
                                "t": 1672348887195, "v": 1}, "table", "s"),
    ("finnhub ping", "ping", {"type": "ping"}, "log", None),
    ("polygon trade", "T", {"ev": "T", "sym": "AAPL", "x": 4, "i": "12345", "p": 192.31, "s": 100,
                            "c": [12], "t": 1748476801234}, "table", "sym"),
    ("polygon status", "status", {"ev": "status", "status": "connected",
                                  "message": "Connected Successfully"}, "log", None),
    ("alpaca trade", "t", {"T": "t", "i": 96921, "S": "AAPL", "x": "D", "p": 126.55, "s": 1,
                           "t": "2021-02-22T15:51:44.208Z", "c": ["@", "I"], "z": "C"},
     "table", "S"),
    ("hyperliquid trade", "trades", [{"coin": "SOL", "side": "B", "px": "101.5", "sz": "2",
                                      "hash": "0x…", "time": 1700000000000, "tid": 1}],
     "table", "coin"),
    ("nostr event", "message", ["EVENT", "sub1", {"id": "36c8…", "kind": 7}], "log", None),
    ("home assistant", "event", {"id": 5, "type": "event", "event": {"event_type": "x"}},
     "table", "id"),
    ("a price as strings", "price", {"bid": "192.31", "ask": "192.35", "last": "-1e-3"},
     "metrics", None),
    ("our envelope's metrics", "metrics_update", {"cpu": 41.5, "mem": 62}, "metrics", None),
    ("text frame", "text", "hello", "log", None),
    ("binary frame", "binary", b"\x00\x01", "log", None),
]


@pytest.mark.parametrize(("feed", "type", "payload", "kind", "key"), SHAPES,
                         ids=[s[0] for s in SHAPES])
def test_each_feed_shape_gets_its_natural_view_and_key(feed: str, type: str, payload: Any,
                                                       kind: str, key: str | None) -> None:
    assert infer_kind(type, payload) == kind
    assert infer_key(payload) == key
    plan = Explorer().observe(type, payload, 1.0)
    assert plan == ViewPlan(kind, type, [payload], key)  # type: ignore[arg-type]


def test_keys_are_strings_or_integer_ids_never_numbers_spelt_as_strings() -> None:
    assert infer_key({"s": "1.5", "sym": "AAPL"}) == "sym"  # a numeric "s" is a price, say
    assert infer_key({"s": 100, "sym": "AAPL"}) == "sym"  # Polygon's "s" is a size
    assert infer_key({"id": True, "order_id": 7}) == "order_id"
    assert infer_key({"id": {"a": 1}}) is None and infer_key({"symbol": ""}) is None
    assert infer_key([{"id": 1}, {"id": 2}, {"x": 3}]) is None  # every row must have it
    assert infer_key({"orderId": 5, "clientOrderId": "c"}) == "orderId"


def test_numbers_and_numeric_strings() -> None:
    assert [is_number(v) for v in (1, 1.5, "192.31", "-1e-3", "+2", ".5")] == [True] * 6
    assert [is_number(v) for v in (True, "BTC", "1.2.3", "12 ", "nan", float("inf"), None,
                                   "9" * 65)] == [False] * 8


def test_a_string_field_that_repeats_while_others_vary_keys_a_table() -> None:
    rows = [{"name": n, "temp": t, "unit": "C"} for n, t in
            [("pump-1", 20), ("pump-2", 21), ("pump-1", 22), ("pump-3", 19), ("pump-2", 18),
             ("pump-1", 17)]]
    assert repeating_key("reading", rows) == "name"
    # Constant fields, the type itself, unique values and numbers are no keys.
    assert repeating_key("reading", [{"kind": "reading", "v": i} for i in range(8)]) is None
    assert repeating_key("r", [{"uid": f"u{i}", "v": i} for i in range(8)]) is None
    assert repeating_key("r", [{"level": "1.5", "v": i} for i in range(8)]) is None
    assert repeating_key("r", [{"state": "on"}] * 8) is None  # nothing else varies
    assert repeating_key("reading", rows[:5]) is None  # too few to tell
    # Polygon's status replies: a word that repeats once in four is no key.
    status = [{"ev": "status", "status": s, "message": m} for s, m in [
        ("connected", "Connected Successfully"), ("auth_success", "authenticated"),
        ("success", "subscribed to: T.AAPL"), ("success", "subscribed to: Q.AAPL"),
        ("success", "subscribed to: T.MSFT"), ("error", "unknown")]]
    assert repeating_key("status", status) is None


def test_a_logged_type_becomes_a_table_once_its_key_shows_with_every_message_so_far() -> None:
    ex = Explorer()
    rows = [{"name": f"pump-{i % 2}", "temp": 20 + i} for i in range(6)]
    assert ex.observe("reading", rows[0], 1.0) == ViewPlan("log", "reading", [rows[0]])
    assert [ex.observe("reading", row, 1.1) for row in rows[1:5]] == [None] * 4
    # The sixth message shows "name" repeating: a table of all of them, which takes the tab.
    extra = {"name": "pump-1", "temp": 99}
    assert ex.observe_many("reading", [rows[5], extra], 1.2) == ViewPlan(
        "table", "reading", [*rows, extra], "name")
    assert ex.types["reading"].kind == "table" and ex.types["reading"].count == 7
    assert ex.observe("reading", {"name": "x"}, 1.3) is None  # settled: only counted
    assert ex.overview(2.0, 1000.0)["reading"]["kind"] == "table"


def test_a_logged_type_stays_a_log_when_nothing_shows_within_the_sample() -> None:
    ex = Explorer()
    plans = [ex.observe("event", {"uid": f"u{i}", "n": i}, 1.0 + i) for i in range(SAMPLE_SIZE + 5)]
    assert plans[0] == ViewPlan("log", "event", [{"uid": "u0", "n": 0}])
    assert plans[1:] == [None] * (SAMPLE_SIZE + 4)
    assert ex.types["event"].samples is None and ex.types["event"].kind == "log"
    # A payload that decides after the sample is over changes nothing: the sample is bounded.
    assert ex.observe("event", {"id": 1}, 99.0) is None


def test_empty_payloads_are_logged_then_numbers_make_metrics() -> None:
    ex = Explorer()
    assert ex.observe("tick", None, 1.0) == ViewPlan("log", "tick", [None])
    assert ex.observe("tick", {"p": "1.5"}, 1.1) == ViewPlan("metrics", "tick", [{"p": "1.5"}])
    assert ex.types["tick"].kind == "metrics"


def test_every_type_gets_a_view_up_to_the_limit() -> None:
    ex = Explorer()
    payloads: list[Any] = ["text", 1, [1, 2], {"x": "y"}, None, {"id": 1}, {"v": 1}]
    plans = [ex.observe(f"t{i}", payloads[i % len(payloads)], 1.0) for i in range(MAX_AUTO_VIEWS)]
    assert all(p is not None for p in plans)
    assert ex.observe("one-more", "text", 1.0) is None and ex.types["one-more"].kind == "log"
