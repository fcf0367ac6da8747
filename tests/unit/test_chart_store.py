"""ChartStore: series from metrics-shaped payloads and from rows, message times, bounds, and the
columns its deltas and snapshots carry."""

from __future__ import annotations

from typing import Any

import pytest

from rt_widgets.chart_store import INBOX_LIMIT, MAX_NAME, ChartStore, parse_time, to_number
from rt_widgets.dispatch import Dispatcher, Timed
from rt_widgets.protocol import Message


def clock(start: float = 1000.0) -> Any:
    now = [start]

    def tick() -> float:
        now[0] += 1.0
        return now[0]

    return tick


def test_every_numeric_field_of_a_metrics_payload_is_a_series() -> None:
    store = ChartStore(clock=clock())
    store.apply({"cpu": 41.5, "mem": "62.5", "host": "a", "up": True, "bad": float("nan")})
    store.apply({"cpu": 43, "mem": 63})
    assert store.names == ["cpu", "mem"]
    assert store.points("cpu") == [(1001.0, 41.5), (1002.0, 43)]
    assert store.points("mem") == [(1001.0, 62.5), (1002.0, 63)]


def test_y_names_the_series_and_counts_what_it_cannot_plot() -> None:
    store = ChartStore(y=["cpu"], clock=clock())
    store.apply({"cpu": 1, "mem": 2})
    store.apply({"cpu": "n/a"})
    store.apply("text")
    assert store.names == ["cpu"]
    assert store.ignored == 2


def test_rows_split_by_a_field() -> None:
    store = ChartStore(y="price", by="symbol", clock=clock())
    store.apply([{"symbol": "AAPL", "price": "187.2"}, {"symbol": "MSFT", "price": 410},
                 {"symbol": "AAPL", "price": 187.5}, {"price": 1}, {"symbol": "X"}])
    assert store.names == ["AAPL", "MSFT"]
    assert [v for _, v in store.points("AAPL")] == [187.2, 187.5]
    assert store.ignored == 2
    both = ChartStore(y=["bid", "ask"], by="sym", clock=clock())
    both.apply({"sym": "EUR", "bid": 1.1, "ask": 1.2})
    assert both.names == ["EUR bid", "EUR ask"]


def test_by_needs_y() -> None:
    with pytest.raises(ValueError, match="y='price', by='symbol'"):
        ChartStore(by="symbol")
    with pytest.raises(ValueError, match="max_points"):
        ChartStore(max_points=0)
    with pytest.raises(ValueError, match="field name"):
        ChartStore(y=[])


def test_the_message_time_is_the_point_time() -> None:
    store = ChartStore(clock=lambda: 5.0)
    store.apply({"v": 1}, "2026-01-01T00:00:00.250Z")
    store.apply({"v": 2}, 1767225600.5)
    store.apply({"v": 3}, "not a time")
    store.apply({"v": 4})
    assert [t for t, _ in store.points("v")] == [1767225600.25, 1767225600.5, 5.0, 5.0]
    assert parse_time("2026-01-01T00:00:00") == 1767225600.0  # no zone: UTC
    assert parse_time(True) is None


def test_numbers() -> None:
    assert [to_number(v) for v in ("1", " -2.5 ", ".5", "1e-3", "0x10", "inf", "", "1" * 80)] == [
        1.0, -2.5, 0.5, 0.001, None, None, None, None]
    assert to_number(None) is None and to_number(float("inf")) is None


def test_bounds_say_what_they_dropped() -> None:
    store = ChartStore(max_series=2, max_points=3, clock=clock())
    for i in range(5):
        store.apply({"a": i, "b": i, "c": i, "d": i})
    assert store.names == ["a", "b"]
    assert [v for _, v in store.points("a")] == [2, 3, 4]
    assert store.dropped_series == 2
    assert store.dropped_points == 10
    snap = store.snapshot()
    assert (snap["max_series"], snap["max_points"], snap["dropped_series"]) == (2, 3, 2)
    long = ChartStore(y="v", by="k", clock=clock())
    long.apply({"k": "x" * 500, "v": 1})
    long.apply({"k": "x" * 600, "v": 2})
    assert len(long.names) == 1 and len(long.names[0]) == MAX_NAME


def test_deltas_carry_only_new_points_in_columns() -> None:
    store = ChartStore(clock=clock())
    assert store.drain() is None
    store.apply({"cpu": 1, "mem": 2}, 10.0)
    store.apply({"cpu": 3, "mem": 4}, 11.0)
    assert store.drain() == {
        "seq": 1, "series": ["cpu", "mem"],
        "append": [{"s": 0, "t": [10.0, 11.0], "v": [1, 3]}, {"s": 1, "v": [2, 4]}]}
    store.apply({"mem": 5}, 12.0)
    store.apply({"cpu": "x"}, 13.0)  # not a number, and not named by y: nothing to report
    assert store.drain() == {"seq": 2, "append": [{"s": 1, "t": [12.0], "v": [5]}]}
    assert store.drain() is None
    snap = store.snapshot()
    assert snap["seq"] == 2 and snap["series"] == ["cpu", "mem"]
    assert snap["columns"] == [{"s": 0, "t": [10.0, 11.0], "v": [1, 3]},
                               {"s": 1, "t": [10.0, 11.0, 12.0], "v": [2, 4, 5]}]


def test_a_delta_sends_at_most_max_points_per_series_and_the_counters_when_they_change() -> None:
    store = ChartStore(y="v", max_points=2, max_series=1, clock=clock())
    for i in range(10):
        store.apply({"v": i})
    store.apply({"w": 1})
    delta = store.drain()
    assert delta is not None
    assert delta["append"] == [{"s": 0, "t": [1009.0, 1010.0], "v": [8, 9]}]
    assert delta["ignored"] == 1 and delta["dropped_points"] == 0
    store.apply({"v": "?"})
    assert store.drain() == {"seq": 2, "dropped_series": 0, "dropped_points": 0, "ignored": 2}


def test_timed_handlers_get_each_message_time_on_every_dispatch_path() -> None:
    d = Dispatcher()
    seen: list[tuple[Any, Any]] = []
    batches: list[tuple[list[Any], list[Any]]] = []
    unsubscribe = d.on("m", Timed(lambda p, t: seen.append((p, t)),
                                  lambda ps, ts: batches.append((ps, ts))))
    d.dispatch(Message("m", 1, 2.5))
    d.dispatch_object({"type": "m", "payload": 2, "timestamp": "2026-01-01T00:00:00Z"}, "m")
    d.dispatch_object({"type": "m", "payload": 3, "timestamp": 7}, "m")  # not the envelope's
    assert seen == [(1, 2.5), (2, "2026-01-01T00:00:00Z"), (3, None)]
    frame = [{"type": "m", "payload": 4, "timestamp": "a"}, {"type": "m", "payload": 5}]
    assert d.dispatch_batch(frame, "pong")
    assert batches == [([4, 5], ["a", None])]
    with pytest.raises(ValueError, match="one message type"):
        d.on("*", Timed(lambda p, t: None, lambda ps, ts: None))
    unsubscribe()
    d.dispatch(Message("m", 9))
    assert len(seen) == 3


def test_a_failing_timed_handler_is_counted_and_the_others_still_run() -> None:
    d = Dispatcher()
    seen: list[Any] = []

    def boom(payload: Any, timestamp: Any) -> None:
        raise RuntimeError("boom")

    d.on("m", Timed(boom, lambda ps, ts: None))
    d.on("m", seen.append)
    d.dispatch(Message("m", 1))
    assert seen == [1] and d.handler_errors == 1


def _pair(**options: Any) -> tuple[ChartStore, ChartStore]:
    return ChartStore(**options, clock=clock()), ChartStore(**options, clock=clock())


# Metrics payloads of known series (one column per series), then a new series, numeric strings,
# bools, NaN, a list payload, text, an empty dict and a missing field: each batch of the queue
# path must end as the same store as the payload-by-payload path.
_MIXED: list[Any] = (
    [{"cpu": i, "mem": i / 2} for i in range(300)]
    + [{"cpu": 1, "mem": 2, "disk": 3}, {"cpu": "4", "mem": 5}, {"cpu": True, "mem": 6},
       {"cpu": float("nan"), "mem": 7}, [{"cpu": 8}, {"mem": 9}], "text", {}, {"mem": 10}]
    + [{"mem": i, "cpu": -i, "disk": 0.5} for i in range(40)]
)


@pytest.mark.parametrize("options", [
    {}, {"y": ["cpu", "disk"]}, {"y": ["cpu", "cpu"]}, {"max_series": 1, "max_points": 5},
    {"y": "cpu", "by": "host"}, {"max_points": 1},
])
def test_queued_payloads_end_as_applied_ones(options: dict[str, Any]) -> None:
    applied, queued = _pair(**options)
    # Now (None), epoch seconds, and ISO texts that repeat for a while (a feed's tick), or not.
    stamps = [None if i % 3 == 1 else 1_700_000_000.0 + i if i % 3 == 2
              else f"2026-01-01T00:00:{i // 30:02d}.5Z" if i % 5 else "soon"
              for i in range(len(_MIXED))]
    rows = [dict(p, host=f"h{i % 3}") if isinstance(p, dict) else p for i, p in enumerate(_MIXED)]
    payloads = rows if "by" in options else _MIXED
    deltas: tuple[list[Any], list[Any]] = ([], [])
    for i, (payload, stamp) in enumerate(zip(payloads, stamps, strict=True)):
        applied.apply(payload, stamp)
        if i % 2:
            queued.queue(payload, stamp)
        else:
            queued.queue_many([payload], [stamp])
        if i % 97 == 0:  # a flush now and then, between the queued ones
            deltas[0].append(applied.drain())
            deltas[1].append(queued.drain())
    deltas[0].append(applied.drain())
    deltas[1].append(queued.drain())
    assert deltas[0] == deltas[1]
    assert queued.snapshot() == applied.snapshot()
    assert (queued.names, queued.dropped_series, queued.dropped_points, queued.ignored) == (
        applied.names, applied.dropped_series, applied.dropped_points, applied.ignored)


def test_queued_payloads_wait_at_most_inbox_limit_and_every_read_sees_them() -> None:
    store = ChartStore(clock=lambda: 5.0)
    store.queue({"cpu": 1})
    assert store.names == ["cpu"] and store.points("cpu") == [(5.0, 1)]
    store.queue("text")
    assert store.ignored == 1
    store.queue({"cpu": 2}, 7.0)
    assert len(store) == 2 and store.dirty
    for i in range(3 * INBOX_LIMIT + 5):
        store.queue({"cpu": i})
        assert len(store._inbox) < INBOX_LIMIT  # bounded while nobody reads the store
    store.queue_many([{"cpu": 1}, {"cpu": 2}])
    with pytest.raises(ValueError, match="2 payloads but 1 timestamps"):
        store.queue_many([{"cpu": 1}, {"cpu": 2}], [None])
    assert len(store.points("cpu")) == 2 + 3 * INBOX_LIMIT + 5 + 2
    # Applying at once keeps the order of what was queued before.
    store.queue({"cpu": 100}, 8.0)
    store.apply({"cpu": 200}, 9.0)
    assert store.points("cpu")[-2:] == [(8.0, 100), (9.0, 200)]
