"""The stores on foreign data: tuple keys, row identity by JSON value, rows missing a key field,
BitMEX-style actions, numeric strings, each message's own time, and the message log."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from rt_widgets.stores import (
    LOG_TEXT_CHARS,
    LogStore,
    MetricsStore,
    TableStore,
    epoch_seconds,
    log_text,
    number_of,
)


def view_of(store: TableStore, deltas: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a view holds after the deltas: rows by the canonical JSON of their key, as js/table.ts
    keys them (json.dumps of a value, or of the list of the key fields' values)."""
    fields = store.key_fields

    def js(value: Any) -> Any:  # JSON.stringify writes the number 1.0 as 1
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return [js(v) for v in value] if isinstance(value, list) else value

    def row_id(key: Any) -> str:
        return json.dumps(js(key), separators=(",", ":"))

    def id_of(row: dict[str, Any]) -> str:
        return row_id(row[fields[0]] if len(fields) == 1 else [row[f] for f in fields])

    rows: dict[str, dict[str, Any]] = {}
    for delta in deltas:
        if delta.get("clear"):
            rows.clear()
        for key in delta.get("delete", []):
            rows.pop(row_id(key), None)
        for row in delta.get("upsert", []):
            rows.setdefault(id_of(row), {}).update(row)
    return rows


# -- keys --------------------------------------------------------------------------------------


def test_json_values_are_distinct_keys_in_the_store_and_in_its_deltas() -> None:
    t = TableStore(key="id")
    rows = [{"id": 1, "v": "int"}, {"id": True, "v": "bool"}, {"id": "1", "v": "str"},
            {"id": 1.5, "v": "float"}, {"id": "1.5", "v": "numeric str"}, {"id": False, "v": "f"},
            {"id": 0, "v": "zero"}, {"id": None, "v": "null"}]
    t.queue_many(rows)
    assert len(t) == 8 and [r["v"] for r in t.rows] == [r["v"] for r in rows]
    assert t.keys == [1, True, "1", 1.5, "1.5", False, 0, None]
    first = t.drain()
    assert first is not None
    t.apply({"id": 1.0, "v": "int again"})  # 1.0 is the JSON number 1: the same row
    t.apply({"id": True, "v": "bool again"})
    assert t.delete("1") and not t.delete("1") and t.delete(False)
    second = t.drain()
    assert second is not None and second["delete"] == ["1", False]
    assert t.get(1) == {"id": 1.0, "v": "int again"} and t.get(True) == {"id": True, "v": "bool again"}
    assert 1 in t and True in t and "1" not in t and [1] not in t
    view = view_of(t, [first, second])
    assert {k: r["v"] for k, r in view.items()} == {
        "1": "int again", "true": "bool again", "1.5": "float", '"1.5"': "numeric str",
        "0": "zero", "null": "null"}


@pytest.mark.parametrize("batched", [True, False])
def test_a_random_feed_of_mixed_key_types_matches_a_reference_by_json_value(batched: bool) -> None:
    rng = random.Random(5)
    values: list[Any] = [0, 1, 2, True, False, "0", "1", "true", 1.5, "1.5", None]
    t = TableStore(key="k", max_rows=1000)
    want: dict[bytes, dict[str, Any]] = {}
    deltas = []
    for step in range(300):
        frame = [{"k": rng.choice(values), "n": step, "x": rng.random()} for _ in range(rng.randint(1, 9))]
        if batched:
            t.queue_many(frame)
        else:
            for row in frame:
                t.queue(row)
        for row in frame:
            want.setdefault(orjson.dumps(row["k"]), {}).update(row)
        if step % 7 == 0:
            delta = t.drain()
            if delta is not None:
                deltas.append(delta)
    final = t.drain()
    if final is not None:
        deltas.append(final)
    got = {orjson.dumps(r["k"]): r for r in t.rows}
    assert {k: r["n"] for k, r in got.items()} == {k: r["n"] for k, r in want.items()}
    view = view_of(t, deltas)
    assert sorted(r["n"] for r in view.values()) == sorted(r["n"] for r in want.values())


def test_a_tuple_key_keys_rows_by_the_values_of_its_fields() -> None:
    t = TableStore(key=("symbol", "id", "side"))
    assert t.key == ("symbol", "id", "side") and t.key_fields == ("symbol", "id", "side")
    book = [{"symbol": "XBTUSD", "id": 1, "side": "Sell", "size": 10},
            {"symbol": "XBTUSD", "id": 1, "side": "Buy", "size": 20},
            {"symbol": "ETHUSD", "id": 1, "side": "Sell", "size": 30},
            {"symbol": "XBTUSD", "id": True, "side": "Sell", "size": 40}]  # true is not 1
    t.queue_many(book)
    assert len(t) == 4
    first = t.drain()
    t.queue({"symbol": "XBTUSD", "id": 1, "side": "Sell", "size": 11})  # a partial update
    assert t.get(("XBTUSD", 1, "Sell")) == {**book[0], "size": 11}
    assert t.get(["XBTUSD", 1, "Sell"]) == t.get(("XBTUSD", 1, "Sell"))
    assert t.delete(("XBTUSD", True, "Sell"))
    t.apply_delete({"symbol": "ETHUSD", "id": 1, "side": "Sell"})  # a delete row: the keys only
    t.apply_delete(["XBTUSD", 1, "Buy"])  # one key as a list of its values
    second = t.drain()
    assert second is not None
    assert second["delete"] == [["XBTUSD", True, "Sell"], ["ETHUSD", 1, "Sell"], ["XBTUSD", 1, "Buy"]]
    # The changed fields of a row the view holds come with every key field.
    assert second["upsert"] == [{"size": 11, "symbol": "XBTUSD", "id": 1, "side": "Sell"}]
    assert t.keys == [["XBTUSD", 1, "Sell"]]
    assert list(view_of(t, [first or {}, second])) == ['["XBTUSD",1,"Sell"]']
    snap = t.snapshot()
    assert snap["key"] == "symbol" and snap["keys"] == ["symbol", "id", "side"]
    with pytest.raises(ValueError, match="distinct field names"):
        TableStore(key=("a", "a"))
    with pytest.raises(ValueError, match="field name"):
        TableStore(key=())


def test_rows_missing_a_key_field_are_counted_reported_and_not_stored() -> None:
    t = TableStore(key=("symbol", "id"))
    t.queue_many([{"symbol": "A", "id": 1}, {"symbol": "B"}, {"id": 3}, {"symbol": "C", "id": [1]},
                  "text", {"symbol": "D", "id": 4}])
    assert [r["symbol"] for r in t.rows] == ["A", "D"]
    assert t.errors == 4
    assert t.last_error is not None and "not an object" not in t.last_error
    delta = t.drain()
    assert delta is not None and delta["errors"] == 4 and "table row ignored" in delta["last_error"]
    t.queue({"id": 9})
    assert "no 'symbol' field (the table's key)" in (t.last_error or "")
    t.queue({})
    assert "no 'symbol', 'id' fields" in (t.last_error or "")
    assert t.drain() == {"seq": 2, "errors": 6, "last_error": t.last_error}
    assert t.drain() is None  # reported once per change
    assert t.snapshot()["errors"] == 6


# -- actions -----------------------------------------------------------------------------------


def fold(book: dict[tuple[Any, ...], dict[str, Any]], previous: list[str | None], action: str,
         rows: list[dict[str, Any]]) -> None:
    """A plain reading of BitMEX's actions, frame by frame."""
    if action == "partial" and previous[0] != "partial":
        book.clear()
    previous[0] = action
    for row in rows:
        key = (row["symbol"], row["id"], row["side"])
        if action == "delete":
            book.pop(key, None)
        else:
            book.setdefault(key, {}).update(row)


def test_actions_delete_partial_and_upsert_as_bitmex_means_them() -> None:
    t = TableStore(key=("symbol", "id", "side"))
    row = {"symbol": "XBTUSD", "side": "Sell"}
    t.apply_action([{**row, "id": 1, "size": 5}, {**row, "id": 2, "size": 6}], "partial")
    t.apply_action({**row, "id": 3, "size": 7}, "insert")
    t.apply_action({**row, "id": 1, "size": 8}, "update")
    t.apply_action({**row, "id": 2}, "delete")
    assert [(r["id"], r["size"]) for r in t.rows] == [(1, 8), (3, 7)]
    # A new partial starts afresh; the partial messages that follow it add to it (one per row, as
    # Fields(rows=...) delivers them, or one per subscribed symbol).
    t.apply_action({**row, "id": 10, "size": 1}, "partial")
    t.apply_action({**row, "symbol": "ETHUSD", "id": 11, "size": 2}, "partial")
    assert [r["id"] for r in t.rows] == [10, 11]
    delta = t.drain()
    assert delta is not None and delta["clear"] is True and len(delta["upsert"]) == 2
    # A new link's partial replaces the last one even with nothing between them.
    t.end_partial()
    t.apply_action({**row, "id": 12, "size": 3}, "partial")
    assert [r["id"] for r in t.rows] == [12]
    t.apply_action({**row, "id": 13}, None)  # no action: upsert
    t.apply_action({**row, "id": 14}, "something new")
    assert [r["id"] for r in t.rows] == [12, 13, 14]


def test_a_random_action_feed_matches_a_frame_by_frame_fold() -> None:
    rng = random.Random(11)
    t = TableStore(key=("symbol", "id", "side"))
    want: dict[tuple[Any, ...], dict[str, Any]] = {}
    previous: list[str | None] = [None]
    for step in range(400):
        action = rng.choice(["partial", "insert", "update", "update", "delete"])
        rows = [{"symbol": rng.choice("AB"), "id": rng.randint(1, 6), "side": rng.choice(["Buy", "Sell"]),
                 "size": step} for _ in range(rng.randint(1, 4))]
        fold(want, previous, action, rows)
        for row in rows:  # as Fields(rows="data", action="action") dispatches a frame
            t.apply_action(row, action)
        if step % 5 == 0:
            t.drain()
    assert {(r["symbol"], r["id"], r["side"]): r for r in t.rows} == want


# -- metrics -----------------------------------------------------------------------------------


def test_numeric_strings_are_numbers_and_other_strings_are_ignored() -> None:
    m = MetricsStore(clock=lambda: 5.0)
    m.apply({"p": "192.31", "q": "100", "e": "-1e-3", "s": "BTCUSDT", "x": "12 ", "n": "nan",
             "inf": "1e999", "b": True, "h": "0x1A"})
    assert m.latest == {"p": 192.31, "q": 100.0, "e": -0.001}
    assert m.ignored == 6
    assert number_of("+1.5") == 1.5 and number_of(".5") == 0.5 and number_of("1_000") is None
    assert number_of("1" * 100) is None  # too long to be a price


def test_each_point_is_at_its_message_time_and_histories_read_in_time_order() -> None:
    m = MetricsStore(history=10, clock=lambda: 1000.0)
    # A server that batches: three points arrive at once, each with its own time, one late.
    m.queue_stamped([{"p": 1}, {"p": 3}, {"p": 2}], [100.0, 102.0, 101.0])
    m.queue({"p": "4"}, "1970-01-01T00:01:43Z")  # an envelope's ISO time: 103
    m.queue({"p": 5}, None)  # no time of its own: when it arrived
    m.queue_stamped([{"p": 6}], [None])
    m.queue({"p": 7}, "not a time")  # unreadable: the time it is read at
    assert m.history("p") == [(100.0, 1), (101.0, 2), (102.0, 3), (103.0, 4.0), (1000.0, 5),
                              (1000.0, 6), (1000.0, 7)]
    delta = m.drain()
    assert delta is not None and delta["latest"] == {"p": 7}
    assert [t for t, _ in delta["append"]["p"]] == [100.0, 101.0, 102.0, 103.0, 1000.0, 1000.0, 1000.0]
    assert m.snapshot()["history"]["p"][0] == [100.0, 1]


def test_iso_times_are_read_only_for_points_that_are_read() -> None:
    reads: list[str] = []
    m = MetricsStore(history=3, clock=lambda: 0.0)
    stamps = [f"2026-01-01T00:00:{i:02d}Z" for i in range(50)]
    m.queue_stamped([{"v": i} for i in range(50)], stamps)
    # The batch pass keeps the last 3 points; only those are ever parsed.
    import rt_widgets.stores as stores

    real = stores.epoch_seconds
    try:
        stores.epoch_seconds = lambda value: reads.append(value) or real(value)  # type: ignore[assignment]
        points = m.history("v")
    finally:
        stores.epoch_seconds = real  # type: ignore[assignment]
    assert [v for _, v in points] == [47, 48, 49] and len(reads) == 3
    assert epoch_seconds("2026-01-01T00:00:00") == epoch_seconds("2026-01-01T00:00:00+00:00")
    assert epoch_seconds("1700000000000") == 1_700_000_000.0 and epoch_seconds([1]) is None


def test_queue_stamped_needs_a_time_per_payload() -> None:
    with pytest.raises(ValueError, match="2 payloads but 1 timestamps"):
        MetricsStore().queue_stamped([{}, {}], [1.0])


# -- the message log ---------------------------------------------------------------------------


def test_log_keeps_the_last_n_and_drains_what_is_new() -> None:
    log = LogStore(limit=3, clock=lambda: 0.0)
    assert log.drain() is None
    for i in range(5):
        log.add("tick", {"n": i}, 1_700_000_000.0 + i if i % 2 else None)
    assert len(log) == 3 and log.total == 5
    delta = log.drain()
    assert delta is not None and [e["id"] for e in delta["add"]] == [3, 4, 5] and delta["total"] == 5
    assert delta["add"][1]["time"] == "2023-11-14T22:13:23.000Z"  # its own time
    assert delta["add"][0]["time"] == "1970-01-01T00:00:00.000Z"  # its arrival
    assert log.drain() is None
    log.add_many("tick", [{"n": i} for i in range(10)], [None] * 10)
    assert [e["id"] for e in log.snapshot()["entries"]] == [13, 14, 15] and log.total == 15
    assert log.full(15) == '{\n  "n": 9\n}' and log.full(3) is None and log.full(True) is None  # type: ignore[arg-type]


def test_log_text_is_bounded_and_says_what_it_cut() -> None:
    text, cut = log_text({"id": 1, "name": "x" * 500, "k" * 300: 1, "rows": list(range(1000)),
                          "deep": [[[[[[[[1]]]]]]]]})
    assert cut and len(text) <= LOG_TEXT_CHARS + 1
    assert "x" * 200 + "…" in text and "x" * 201 not in text
    assert "k" * 60 + "…" in text and "more]" in text and "[…]" in text
    huge, cut = log_text([{"a": "b" * 150} for _ in range(1000)])
    assert cut and len(huge) <= LOG_TEXT_CHARS + 1
    small, cut = log_text({"s": "BTCUSDT", "p": "0.001"})
    assert small == '{"s": "BTCUSDT", "p": "0.001"}' and not cut
    assert log_text(b"\x00\xff")[0] == "<2 bytes: 00 ff>"
    assert log_text("<b>not markup</b>") == ('"<b>not markup</b>"', False)


def test_log_drains_within_a_size_budget_newest_first() -> None:
    log = LogStore(limit=200, clock=lambda: 0.0)
    for i in range(200):
        log.add("big", {"i": i, "blob": "z" * 1500})
    delta = log.drain()
    assert delta is not None
    ids = [e["id"] for e in delta["add"]]
    assert ids[-1] == 200 and ids == sorted(ids) and len(ids) < 200  # the newest, within budget
    assert sum(len(e["text"]) for e in delta["add"]) <= 64_000 + 2_100
