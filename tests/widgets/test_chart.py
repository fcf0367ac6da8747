"""LiveChart against a real loopback server, observed through the comm spy: series from metrics
payloads and from rows with by=, the messages' own times, bounds, compact deltas, the explorer's
chart for numbers, and that everything it sends fits the contract."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rt_widgets import Fields
from rt_widgets.widgets import LiveChart
from rt_widgets.widgets._contract import contract
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy
from tests.widgets.test_contract import fits_fields


def frame(type: str, payload: Any, timestamp: str = "2026-01-01T00:00:00Z") -> str:
    return json.dumps({"type": type, "payload": payload, "timestamp": timestamp})


def connected(w: Any, server: Any) -> None:
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)


def view_points(comm_spy: CommSpy, chart: LiveChart) -> dict[str, list[tuple[float, float]]]:
    """What the chart view holds after the last snapshot message (or the initial trait) and the
    deltas after it."""
    state = comm_spy.view_state(chart).get("_snapshot", {})
    names: list[str] = list(state.get("series", []))
    points: dict[str, list[tuple[float, float]]] = {n: [] for n in names}

    def take(columns: list[dict[str, Any]]) -> None:
        t: list[float] = []
        for column in columns:
            t = column.get("t", t)
            points[names[column["s"]]] += list(zip(t, column["v"], strict=True))

    take(state.get("columns", []))
    seq = state.get("seq", 0)
    for _, message in comm_spy.custom(chart):
        if message["kind"] == "snapshot" and message["seq"] >= seq:
            seq = message["seq"]
            names[:] = message["series"]
            points.clear()
            points.update({n: [] for n in names})
            take(message["columns"])
        elif message["kind"] == "delta" and message["seq"] > seq:
            seq = message["seq"]
            for name in message.get("series", []):
                names.append(name)
                points[name] = []
            take(message.get("append", []))
    return points


def test_every_numeric_field_is_a_series_at_its_message_time(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    chart = w.chart("metrics_update")
    assert w.chart("metrics_update") is chart
    connected(w, server)
    server.send(frame("metrics_update", {"cpu": 41.5, "mem": "62", "host": "a"},
                      "2026-01-01T00:00:01Z"),
                frame("metrics_update", {"cpu": 43, "mem": 63}, "2026-01-01T00:00:02.5Z"))
    wait_until(lambda: len(chart.points("mem")) == 2, 10)
    t0 = 1767225600.0
    assert chart.series == ["cpu", "mem"]
    assert chart.points("cpu") == [(t0 + 1, 41.5), (t0 + 2.5, 43)]
    assert chart.data["mem"] == [(t0 + 1, 62.0), (t0 + 2.5, 63)]
    wait_until(lambda: view_points(comm_spy, chart) == chart.data, 10)
    # The deltas carry the new points only, in columns; series of one payload share their times.
    deltas = [d for _, d in comm_spy.custom(chart, "delta")]
    assert all("t" not in column for d in deltas for column in d["append"][1:])
    assert sum(len(c["v"]) for d in deltas for c in d["append"]) == 4
    assert comm_spy.view_state(chart)["window"] == 300.0


def test_rows_split_into_a_series_per_symbol(ws_server: Any, make_widget: Any,
                                             comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False,
                    messages=Fields(type="e", timestamp="T", time_unit="ms"))
    prices = w.chart("trade", y="price", by="symbol", window=60)
    connected(w, server)
    server.send(json.dumps({"e": "trade", "T": 1767225600000, "symbol": "AAPL", "price": "187.2"}),
                json.dumps({"e": "trade", "T": 1767225601000, "symbol": "MSFT", "price": 410.5}),
                json.dumps({"e": "trade", "T": 1767225602000, "symbol": "AAPL", "price": "x"}))
    wait_until(lambda: prices.dropped["ignored"] == 1, 10)
    assert prices.series == ["AAPL", "MSFT"]
    assert prices.points("AAPL") == [(1767225600.0, 187.2)]
    assert prices.points("MSFT") == [(1767225601.0, 410.5)]
    wait_until(lambda: view_points(comm_spy, prices) == prices.data, 10)
    assert comm_spy.view_state(prices)["window"] == 60.0
    assert repr(prices) == "LiveChart(type='trade', y=('price',), by='symbol', series=['AAPL', 'MSFT'])"
    frame_ = prices.to_pandas() if _has_pandas() else None
    if frame_ is not None:
        assert list(frame_["series"]) == ["AAPL", "MSFT"]


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def test_bounds_are_kept_and_said(ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    chart = w.chart("m", max_series=2, max_points=3)
    connected(w, server)
    server.send(*[frame("m", {"a": i, "b": i, "c": i}) for i in range(6)])
    wait_until(lambda: chart.dropped["points"] == 6, 10)
    assert chart.series == ["a", "b"]
    assert [v for _, v in chart.points("a")] == [3, 4, 5]
    assert chart.dropped == {"series": 1, "points": 6, "ignored": 0}
    wait_until(lambda: any(d.get("dropped_series") == 1
                           for _, d in comm_spy.custom(chart, "delta")), 10)
    comm_spy.from_front_end(chart, {"kind": "snapshot_request"})
    snap = wait_until(lambda: comm_spy.custom(chart, "snapshot"), 10)[-1][1]
    assert (snap["max_series"], snap["max_points"], snap["dropped_series"]) == (2, 3, 1)


def test_arguments_are_checked(ws_server: Any, make_widget: Any) -> None:
    w = make_widget(ws_server().url, explore=False)
    with pytest.raises(ValueError, match="window"):
        w.chart("m", window=0)
    with pytest.raises(ValueError, match="y="):
        w.chart("m", by="symbol")
    with pytest.raises(ValueError, match="max_points"):
        w.chart("m", max_points=-1)
    chart = w.chart("m", window=None)
    assert chart.window is None
    chart.window = 60
    assert chart.window == 60.0
    with pytest.raises(ValueError, match="window"):
        chart.window = -5
    with pytest.raises(TypeError, match="colour"):
        LiveChart(w.connection, "m", colour="red")


def test_the_explorer_charts_numbers_under_their_cards(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50)
    connected(w, server)
    server.send(frame("metrics_update", {"cpu": 1, "mem": 2}),
                frame("mission_update", {"id": 1, "progress": 0.5}))
    state = wait_until(lambda: (s := comm_spy.view_state(w)).get("charts") and
                       {"metrics_update", "mission_update"} <= set(s["children"]) and s, 10)
    chart = w.chart("metrics_update")
    assert state["charts"] == {"metrics_update": f"IPY_MODEL_{chart.model_id}"}
    assert state["children"]["metrics_update"] == f"IPY_MODEL_{w.metrics('metrics_update').model_id}"
    # The message that decided the kind is on the chart too.
    wait_until(lambda: chart.series == ["cpu", "mem"], 10)
    # A chart asked for by hand joins the type's tab.
    prices = w.chart("mission_update", y="progress")
    wait_until(lambda: comm_spy.view_state(w)["charts"].get("mission_update")
               == f"IPY_MODEL_{prices.model_id}", 10)
    w.close()
    assert chart.closed and prices.closed


def test_everything_the_chart_sends_fits_the_contract(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    chart = w.chart("m", max_series=1)
    connected(w, server)
    server.send(frame("m", {"a": 1, "b": 2}), frame("m", {"a": "3"}), frame("m", "text"))
    wait_until(lambda: chart.dropped["ignored"] == 1, 10)
    comm_spy.from_front_end(chart, {"kind": "snapshot_request"})
    chart.pause()
    server.send(frame("m", {"a": 4}))
    wait_until(lambda: comm_spy.custom(chart, "waiting"), 10)
    chart.resume()
    wait_until(lambda: len(comm_spy.custom(chart, "snapshot")) == 2, 10)
    w.close()
    c = contract()
    interface = c["interfaces"]["chart"]
    state = {k: v for k, v in comm_spy.view_state(chart).items() if k in interface["traits"]}
    problems = fits_fields(state, interface["traits"], "chart", c)
    kinds = set()
    for _, message in comm_spy.custom(chart):
        kinds.add(message["kind"])
        body = {k: v for k, v in message.items() if k != "kind"}
        problems += fits_fields(body, interface["to_view"][message["kind"]],
                                f"chart.{message['kind']}", c)
    assert problems == []
    assert kinds == {"delta", "snapshot", "waiting"}
