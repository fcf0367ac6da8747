"""The replicas of public feeds (``rt_widgets.demo.formats``) against ``rt_widgets.Connection`` over
loopback: each format's documented configuration reads every message its replica sent, as a plain
reference decoding of the sent frames does; the subscription frames arrive byte for byte; each
feed's keep-alive works its own way; ``messages="auto"`` sees each format's types; bad input is
counted per mode.
"""

from __future__ import annotations

import collections
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.sync.client import connect as sync_connect

from rt_widgets import Connection
from rt_widgets.demo.__main__ import main as demo_main
from rt_widgets.demo.formats import CONFIG, FORMATS, SUBSCRIPTION, FormatServer, Frame
from rt_widgets.protocol import Message
from tests.conftest import assert_stays, wait_until

ROOT = Path(__file__).resolve().parents[2]
MakeConn = Callable[..., Connection]
MakeReplica = Callable[..., FormatServer]
Decoded = tuple[str, Any, float | None, int | None, str | None]  # type, payload, timestamp, seq, action


def replica_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rt_widgets-formats" and t.is_alive()]


@pytest.fixture
def replica() -> Iterator[MakeReplica]:
    made: list[FormatServer] = []

    def make(name: str, **options: Any) -> FormatServer:
        options.setdefault("seed", 7)
        options.setdefault("rate", 0)
        options.setdefault("heartbeat", None)  # only the tests about heartbeats want them
        server = FormatServer(name, port=0, **options).start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
    assert replica_threads() == []


def collect(conn: Connection) -> list[Message]:
    seen: list[Message] = []
    conn.on("*", seen.append)
    return seen


def subscribed(make_conn: MakeConn, feed: FormatServer, subscription: tuple[Any, ...] | None = None,
               url: str | None = None, **options: Any) -> tuple[Connection, list[Message]]:
    """A started Connection with the format's documented options (unless ``messages`` is given),
    subscribed as the real service expects, once the replica has answered."""
    if "messages" not in options:
        options = {**FORMATS[feed.name].options(), **options}
    conn = make_conn(url or feed.url, **options)
    seen = collect(conn)
    subscription = SUBSCRIPTION[feed.name] if subscription is None else subscription
    for message in subscription:
        conn.subscribe(message)
    conn.start()
    feed.wait_subscribed(frames=len(subscription))
    return conn, seen


# -- plain reference decodings of the documented configurations ---------------------------------


def iso_seconds(text: Any) -> float | None:
    return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None


def ms(value: Any) -> float | None:
    return value / 1000 if isinstance(value, int | float) else None


def decode_binance(v: Any) -> list[Decoded]:
    # Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms")
    data = v.get("data") if isinstance(v, dict) else None
    kind = data.get("e") if isinstance(data, dict) else None
    stamp = ms(data.get("E")) if isinstance(data, dict) else None
    return [(kind if isinstance(kind, str) else "message", data, stamp, None, None)]


def decode_coinbase(v: dict[str, Any]) -> list[Decoded]:
    # Fields(type="type", seq="sequence", timestamp="time", time_unit="iso")
    seq = v.get("sequence")
    return [(v["type"], v, iso_seconds(v.get("time")), seq if isinstance(seq, int) else None, None)]


def decode_kraken(v: dict[str, Any]) -> list[Decoded]:
    # Fields(type="channel", rows="data", timestamp="timestamp", time_unit="iso")
    kind = v.get("channel", "message")
    rows = v.get("data")
    if isinstance(rows, list):
        return [(kind, row, iso_seconds(row.get("timestamp")), None, None) for row in rows]
    return [(kind, v, iso_seconds(v.get("timestamp")), None, None)]


def decode_kraken1(v: Any) -> list[Decoded]:
    # lambda v: [(v[-2], v[1])] if isinstance(v, list) else [(v.get("event", "message"), v)]
    if isinstance(v, list):
        return [(v[-2], v[1], None, None, None)]
    return [(v.get("event", "message"), v, None, None, None)]


def decode_bitmex(v: dict[str, Any]) -> list[Decoded]:
    # Fields(type="table", rows="data", action="action", timestamp="timestamp", time_unit="iso")
    kind, action = v.get("table", "message"), v.get("action")
    if isinstance(v.get("data"), list):
        return [(kind, row, iso_seconds(row.get("timestamp")), None, action) for row in v["data"]]
    return [(kind, v, iso_seconds(v.get("timestamp")), None, action)]


def decode_finnhub(v: dict[str, Any]) -> list[Decoded]:
    # Fields(type="type", rows="data", timestamp="t", time_unit="ms")
    if isinstance(v.get("data"), list):
        return [(v["type"], row, ms(row.get("t")), None, None) for row in v["data"]]
    return [(v["type"], v, ms(v.get("t")), None, None)]


def decode_polygon(v: list[dict[str, Any]]) -> list[Decoded]:
    # Fields(type="ev", timestamp="t", time_unit="ms"): a top-level array is a batch
    return [(e["ev"], e, ms(e.get("t")), None, None) for e in v]


REFERENCE: dict[str, Callable[[Any], list[Decoded]]] = {
    "binance": decode_binance, "coinbase": decode_coinbase, "kraken": decode_kraken,
    "kraken1": decode_kraken1, "bitmex": decode_bitmex, "finnhub": decode_finnhub,
    "polygon": decode_polygon,
}


def reference(name: str, frames: list[Frame]) -> list[Decoded]:
    return [m for frame in frames for m in REFERENCE[name](frame.value)]


def as_decoded(message: Message) -> Decoded:
    stamp = message.timestamp
    assert stamp is None or isinstance(stamp, float)
    return (message.type, message.payload, stamp, message.seq, message.action)


def same_messages(got: list[Decoded], want: list[Decoded]) -> None:
    """Equal but for timestamps, which may differ in the last bit (x * 1e-3 against x / 1000)."""
    assert [(t, p, s, a) for t, p, _ts, s, a in got] == [(t, p, s, a) for t, p, _ts, s, a in want]
    for (*_a, got_ts, _s, _x), (*_b, want_ts, _t, _y) in zip(got, want, strict=True):
        assert (got_ts is None) == (want_ts is None)
        if got_ts is not None and want_ts is not None:
            assert got_ts == pytest.approx(want_ts, abs=1e-6)


def settled(feed: FormatServer, seen: list[Message], decode: Callable[[list[Frame]], list[Any]],
            client: int = 1, timeout: float = 10.0) -> tuple[list[Frame], list[Any]]:
    """Wait until the client has as many messages as the frames the server wrote to it decode to
    (both read together, so a heartbeat in flight cannot pair one list with the other)."""
    def both() -> tuple[list[Frame], list[Any]] | None:
        frames = [f for f in feed.sent_to(client)]
        want = decode(frames)
        return (frames, want) if len(seen) == len(want) else None

    result = wait_until(both, timeout, message=lambda: f"client has {len(seen)} messages, server wrote "
                        f"{len(decode(feed.sent_to(client)))}")
    assert result is not None
    return result


def exact_frame(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


# -- the documented configuration, per format -----------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "text"])
@pytest.mark.parametrize("name", list(FORMATS))
def test_the_documented_configuration_reads_every_message_the_replica_sent(
    name: str, form: str, replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica(name)
    # The real service's subscription, as a dict or as JSON text spelled differently from orjson.
    subscription = tuple(json.dumps(m, indent=1) if form == "text" else m for m in SUBSCRIPTION[name])
    conn, seen = subscribed(make_conn, feed, subscription)
    emitted = feed.emit(60)
    assert len(emitted) >= 60

    frames, want = settled(feed, seen, lambda fs: reference(name, fs))
    same_messages([as_decoded(m) for m in seen], want)
    stats = conn.stats()
    assert stats["decode_errors"] == 0
    assert stats["handler_errors"] == 0
    assert stats["messages_in"] == len(want)
    # What the server received first is exactly what was passed to subscribe(), byte for byte.
    received = feed.received[: len(subscription)]
    assert [f.data for f in received] == [exact_frame(m) for m in subscription]
    assert all(f.text for f in received)
    # Every update reached the client: the data frames it got are the ones emit() wrote.
    assert [f.data for f in frames if f in emitted] == [f.data for f in emitted]


def test_each_formats_configuration_is_one_line_that_builds_fresh_options() -> None:
    for name, fmt in FORMATS.items():
        assert "\n" not in CONFIG[name]
        first, second = fmt.options(), fmt.options()
        assert set(first) >= {"messages"}
        Connection("ws://127.0.0.1:9/unused", **first).stop()  # Connection accepts them as they are
        assert first["messages"] is not second["messages"]  # a protocol object serves one link


# -- zero configuration ------------------------------------------------------------------------


def auto_decode(value: Any, text: bool = True) -> list[tuple[str, Any]]:
    """design.md, messages="auto", applied by hand to one frame's decoded value."""
    fields = ("type", "event", "e", "ev", "T", "channel", "topic", "table", "stream", "op", "kind",
              "method", "action")

    def one(obj: dict[str, Any]) -> tuple[str, Any]:
        if isinstance(obj.get("type"), str) and "payload" in obj:
            return obj["type"], obj["payload"]
        return next((obj[f] for f in fields if isinstance(obj.get(f), str)), "message"), obj

    if isinstance(value, dict):
        return [one(value)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [one(v) for v in value]
    if isinstance(value, str | bytes):
        return [("text" if text else "binary", value)]
    return [("message", value)]


#: What messages="auto" yields per format, as the report's table shows it.
AUTO_TYPES = {
    "binance": {"message", "btcusdt@trade", "ethusdt@trade"},  # the stream name; the ack
    "coinbase": {"subscriptions", "ticker"},
    "kraken": {"update", "subscribe"},  # "type" comes first: status and trades are both "update"
    "kraken1": {"systemStatus", "subscriptionStatus", "message"},  # every array is a "message"
    "bitmex": {"message", "orderBookL2"},  # the welcome and the ack have no type field
    "finnhub": {"trade"},
    "polygon": {"status", "T", "Q"},
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_zero_configuration_sees_each_formats_types_with_counts(
    name: str, replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica(name)
    counts: collections.Counter[str] = collections.Counter()
    conn = make_conn(feed.url)  # messages="auto"
    seen = collect(conn)
    conn.on_any(lambda kind, payload: counts.update([kind]))
    for message in SUBSCRIPTION[name]:
        conn.subscribe(message)
    conn.start()
    feed.wait_subscribed(frames=len(SUBSCRIPTION[name]))
    feed.emit(40)

    _frames, want = settled(feed, seen, lambda fs: [m for f in fs for m in auto_decode(f.value, f.text)])
    assert [(m.type, m.payload) for m in seen] == want
    assert counts == collections.Counter(kind for kind, _payload in want)
    assert set(counts) == AUTO_TYPES[name]
    stats = conn.stats()
    assert stats["decode_errors"] == 0
    assert stats["messages_in"] == sum(counts.values())
    # auto never sends an application ping to a feed that has not shown it speaks the envelope
    assert len(feed.received) == len(SUBSCRIPTION[name])


# -- heartbeats, the way each service does them ---------------------------------------------------


def test_binance_websocket_pings_are_answered_and_no_application_ping_is_sent(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica("binance", ping_interval=0.05)
    conn, _seen = subscribed(make_conn, feed, heartbeat_interval=0.1)
    wait_until(lambda: feed.pongs >= 3, 5, message=lambda: f"{feed.pongs} pongs")
    wait_until(lambda: conn.latency_ms is not None, 5)
    assert_stays(lambda: len(feed.received) == 1, 0.3)  # the SUBSCRIBE frame, nothing else
    assert conn.state.value == "connected"
    assert feed.connections == 1


def test_polygon_websocket_pings_are_answered(replica: MakeReplica, make_conn: MakeConn) -> None:
    feed = replica("polygon", ping_interval=0.05)
    conn, seen = subscribed(make_conn, feed, heartbeat_interval=0.1)
    wait_until(lambda: feed.pongs >= 3, 5)
    wait_until(lambda: conn.latency_ms is not None, 5)
    statuses = [m.payload["status"] for m in seen if m.type == "status"]
    assert statuses == ["connected", "auth_success", "success", "success"]
    assert len(feed.received) == 2  # auth, subscribe


def test_kraken_ping_is_answered_with_pong_and_its_idle_heartbeat_arrives(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    # The client's {"method": "ping"} when idle, as its heartbeat_message.
    feed = replica("kraken")
    conn, seen = subscribed(make_conn, feed, heartbeat_interval=0.1)
    pings = feed.wait_for_received(2, match=lambda f: f.data == b'{"method":"ping"}')
    assert pings
    pong = wait_until(lambda: [m for m in seen if m.payload.get("method") == "pong"], 5)[0]
    assert pong.type == "message" and set(pong.payload) == {"method", "time_in", "time_out"}
    wait_until(lambda: conn.latency_ms is not None, 5)
    # The server's {"channel": "heartbeat"} on a subscribed link idle for its period.
    beating = replica("kraken", heartbeat=0.05)
    _conn, beats = subscribed(make_conn, beating, heartbeat_interval=5.0)
    wait_until(lambda: sum(m.type == "heartbeat" for m in beats) >= 3, 5)
    assert [m.payload for m in beats if m.type == "heartbeat"][:3] == [{"channel": "heartbeat"}] * 3


def test_kraken_v1_ping_and_heartbeat(replica: MakeReplica, make_conn: MakeConn) -> None:
    feed = replica("kraken1", heartbeat=0.05)
    conn, seen = subscribed(make_conn, feed, heartbeat_interval=5.0)
    wait_until(lambda: sum(m.type == "heartbeat" for m in seen) >= 3, 5)
    quiet = replica("kraken1")
    conn, seen = subscribed(make_conn, quiet, heartbeat_interval=0.1)
    quiet.wait_for_received(2, match=lambda f: f.data == b'{"event":"ping"}')
    wait_until(lambda: any(m.type == "pong" for m in seen), 5)
    wait_until(lambda: conn.latency_ms is not None, 5)


def test_bitmex_text_ping_gets_a_text_pong(replica: MakeReplica, make_conn: MakeConn) -> None:
    feed = replica("bitmex")
    conn, seen = subscribed(make_conn, feed, heartbeat_interval=0.1)
    pings = feed.wait_for_received(2, match=lambda f: f.data == b"ping")
    assert all(f.text for f in pings)
    pong = wait_until(lambda: [m for m in seen if m.type == "text"], 5)[0]
    assert pong.payload == "pong"
    assert next(f for f in feed.sent_to(1) if f.data == b"pong").text
    wait_until(lambda: conn.latency_ms is not None, 5)
    assert conn.stats()["decode_errors"] == 0


def test_finnhub_server_pings_are_messages_and_need_no_answer(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica("finnhub", heartbeat=0.05)
    conn, seen = subscribed(make_conn, feed, heartbeat_interval=0.1)
    wait_until(lambda: sum(m.type == "ping" for m in seen) >= 3, 5)
    assert next(m.payload for m in seen if m.type == "ping") == {"type": "ping"}
    wait_until(lambda: conn.latency_ms is not None, 5)
    assert len(feed.received) == 2  # the two subscriptions: nothing answers a ping


def test_finnhub_needs_a_token(replica: MakeReplica, make_conn: MakeConn) -> None:
    feed = replica("finnhub")
    conn = make_conn(feed.base_url + "/", max_attempts=1)
    conn.start()
    error = wait_until(lambda: conn.last_error, 5)
    assert "401" in error
    conn.wait_for_state("disconnected", timeout=5)
    assert feed.connections == 0


def test_coinbase_heartbeat_channel(replica: MakeReplica, make_conn: MakeConn) -> None:
    feed = replica("coinbase", heartbeat=0.05)
    subscription = ({"type": "subscribe", "product_ids": ["ETH-USD"], "channels": ["heartbeat"]},)
    conn, seen = subscribed(make_conn, feed, subscription, heartbeat_interval=0.1)
    beats = wait_until(lambda: [m for m in seen if m.type == "heartbeat"][3:], 5)
    assert {m.payload["product_id"] for m in beats} == {"ETH-USD"}
    assert all(isinstance(m.seq, int) and isinstance(m.timestamp, float) for m in beats)
    wait_until(lambda: conn.latency_ms is not None, 5)
    assert seen[0].type == "subscriptions"
    assert seen[0].payload["channels"] == [{"name": "heartbeat", "product_ids": ["ETH-USD"]}]


def test_coinbase_closes_a_link_that_does_not_subscribe_in_time(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica("coinbase", subscribe_timeout=0.2)
    conn = make_conn(feed.url, **FORMATS["coinbase"].options())
    seen = collect(conn)
    conn.start()
    wait_until(lambda: conn.stats()["last_close_code"] == 1000, 5)
    error = seen[0]
    assert error.type == "error" and "subscribe within 0.2 s" in error.payload["reason"]
    assert feed.sent_to(1)[0].kind == "reply"


# -- sequence gaps, book actions -------------------------------------------------------------------


def test_coinbase_sequence_gaps_are_counted_as_the_sent_sequences_show(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica("coinbase", seed=3)
    conn, seen = subscribed(make_conn, feed)
    feed.emit(400)
    frames, _want = settled(feed, seen, lambda fs: reference("coinbase", fs))
    sequences = [f.value["sequence"] for f in frames if f.value["type"] == "ticker"]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(sequences))
    assert gaps > 0  # the replica's ticker skips some of the product's sequence numbers
    assert conn.stats()["gaps"] == gaps
    assert [m.seq for m in seen if m.type == "ticker"] == sequences


def fold_book(book: dict[tuple[Any, ...], dict[str, Any]], action: str, rows: list[dict[str, Any]],
              keys: tuple[str, ...] = ("symbol", "id", "side")) -> None:
    for row in rows:
        key = tuple(row[k] for k in keys)
        if action in ("partial", "insert"):
            book[key] = dict(row)
        elif action == "update":
            book[key].update(row)
        elif action == "delete":
            del book[key]
        else:
            raise AssertionError(f"unknown action {action!r}")


@pytest.mark.parametrize("via", ["op", "url"])
def test_bitmex_book_from_partial_insert_update_delete_matches_a_fold_of_what_was_sent(
    via: str, replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica("bitmex", seed=11)
    book: dict[tuple[Any, ...], dict[str, Any]] = {}
    previous: list[str | None] = [None]

    def on_row(message: Message) -> None:  # a handler-side table, row by row, by Message.action
        assert message.action is not None
        if message.action == "partial" and previous[0] != "partial":
            book.clear()  # the first row of a partial: the table starts afresh
        previous[0] = message.action
        fold_book(book, message.action, [message.payload])

    options = FORMATS["bitmex"].options()
    url = feed.url + "?subscribe=orderBookL2:XBTUSD" if via == "url" else feed.url
    conn = make_conn(url, **options)
    seen = collect(conn)
    conn.on("*", lambda m: on_row(m) if m.type == "orderBookL2" else None)
    if via == "op":
        conn.subscribe({"op": "subscribe", "args": ["orderBookL2:XBTUSD"]})
    conn.start()
    feed.wait_subscribed()
    emitted = feed.emit(300)
    frames, _want = settled(feed, seen, lambda fs: reference("bitmex", fs))

    want: dict[tuple[Any, ...], dict[str, Any]] = {}
    actions: collections.Counter[str] = collections.Counter()
    for frame in frames:
        value = frame.value
        if value.get("table") == "orderBookL2":
            fold_book(want, value["action"], value["data"])
            actions[value["action"]] += 1
    assert actions["partial"] == 1 and min(actions["insert"], actions["update"], actions["delete"]) > 20
    assert book == want
    assert len(emitted) == 300
    prices = sorted((row["side"], row["price"]) for row in book.values())
    assert max(p for s, p in prices if s == "Buy") < min(p for s, p in prices if s == "Sell")
    assert conn.stats()["decode_errors"] == 0


# -- bad input, per mode -------------------------------------------------------------------------


def test_a_fields_path_missing_from_a_message_gives_the_default_type_and_is_counted(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    # Binance's bookTicker has no "e": with type="data.e" it is a "message", counted as unmatched.
    feed = replica("binance")
    url = feed.base_url + "/stream?streams=btcusdt@trade/btcusdt@bookTicker"
    conn, seen = subscribed(make_conn, feed, (), url=url)
    trades: list[Any] = []
    conn.on("trade", trades.append)
    feed.emit(80)
    frames, _want = settled(feed, seen, lambda fs: reference("binance", fs))
    book_tickers = [f for f in frames if f.value["stream"] == "btcusdt@bookTicker"]
    assert book_tickers and len(book_tickers) < len(frames)
    assert conn.stats()["unmatched"] == len(book_tickers)
    assert [m.payload for m in seen if m.type == "message"] == [f.value["data"] for f in book_tickers]
    assert all(m.timestamp is None for m in seen if m.type == "message")
    assert trades == [f.value["data"] for f in frames if f.value["stream"] == "btcusdt@trade"]
    assert conn.stats()["decode_errors"] == 0


def test_a_messages_function_that_raises_loses_that_frame_only(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    # Kraken v1's documented callable calls .get on a frame that is not JSON: that frame is lost.
    feed = replica("kraken1")
    conn, seen = subscribed(make_conn, feed)
    before = feed.emit(20)
    feed.push("maintenance in 5 minutes")
    after = feed.emit(20)
    wait_until(lambda: conn.stats()["handler_errors"] == 1 and len(seen) == 2 + 40, 5,
               message=lambda: f"{conn.stats()}, {len(seen)} messages")
    assert [m.payload for m in seen if m.type == "trade"] == [f.value[1] for f in before + after]
    assert conn.stats()["decode_errors"] == 0


def test_non_json_text_is_a_text_message_under_auto_and_a_decode_error_under_envelope(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    feed = replica("finnhub")
    auto, auto_seen = subscribed(make_conn, feed, messages="auto")
    strict, strict_seen = subscribed(make_conn, feed, messages="envelope")
    feed.wait_subscribed(clients=2)
    feed.push("hello, not JSON")
    feed.push(b"\xff\xfe binary")
    wait_until(lambda: len(auto_seen) == 2 and strict.stats()["decode_errors"] == 2, 5,
               message=lambda: f"auto {auto_seen}, envelope {strict.stats()}")
    assert [(m.type, m.payload) for m in auto_seen] == [("text", "hello, not JSON"),
                                                      ("binary", b"\xff\xfe binary")]
    assert auto.stats()["decode_errors"] == 0
    assert strict_seen == []


# -- the replicas themselves -----------------------------------------------------------------------


def run_session(name: str, seed: int, clock: Callable[[], float]) -> list[bytes]:
    with FormatServer(name, port=0, seed=seed, rate=0, heartbeat=None, ping_interval=None,
                      clock=clock) as feed, sync_connect(feed.url, max_queue=None) as ws:
        for message in SUBSCRIPTION[name]:
            ws.send(orjson.dumps(message).decode())
        feed.wait_subscribed(frames=len(SUBSCRIPTION[name]))
        feed.emit(30)
        return [f.data for f in feed.sent]


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_seed_and_a_clock_repeat_the_very_bytes(name: str) -> None:
    def clock() -> float:
        return 1_700_000_000.25

    first, again, other = (run_session(name, seed, clock) for seed in (5, 5, 6))
    assert first == again
    assert first != other
    assert replica_threads() == []


def test_rate_streams_updates_without_emit(replica: MakeReplica, make_conn: MakeConn) -> None:
    feed = replica("polygon", rate=200)
    _conn, seen = subscribed(make_conn, feed)
    wait_until(lambda: sum(m.type in ("T", "Q") for m in seen) >= 50, 10)
    feed.set_rate(0)
    with pytest.raises(ValueError, match="rate must be >= 0"):
        feed.set_rate(-1)


def test_server_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown format 'nasdaq'"):
        FormatServer("nasdaq", port=0)
    with pytest.raises(ValueError, match="loopback only"):
        FormatServer("binance", "0.0.0.0", port=0)
    with pytest.raises(ValueError, match="ping_interval must be > 0"):
        FormatServer("binance", port=0, ping_interval=0)
    with pytest.raises(RuntimeError, match="not running"):
        FormatServer("binance", port=0).emit(1)


def test_emit_needs_a_subscriber(replica: MakeReplica) -> None:
    feed = replica("kraken")
    with pytest.raises(RuntimeError, match="no client of the kraken replica is subscribed"):
        feed.emit(1)


def test_replicas_answer_bad_subscriptions_as_their_services_do(
    replica: MakeReplica, make_conn: MakeConn
) -> None:
    cases = {
        "binance": ({"method": "SUBSCRIBE", "params": ["dogeusdt@trade"], "id": 9}, "code"),
        "coinbase": ({"type": "subscribe", "product_ids": ["BTC-XYZ"], "channels": ["ticker"]}, "reason"),
        "kraken": ({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}}, "error"),
        "kraken1": ({"event": "subscribe", "pair": ["XBT/XYZ"], "subscription": {"name": "trade"}},
                    "errorMessage"),
        "bitmex": ({"op": "subscribe", "args": ["orderBookL3:XBTUSD"]}, "error"),
        "polygon": ({"action": "subscribe", "params": "T.AAPL"}, "message"),  # before auth
    }
    def refusals(seen: list[Message], field: str) -> list[Any]:
        return [m.payload for m in seen if isinstance(m.payload, dict) and field in m.payload
                and m.payload.get("status") not in ("connected",)]

    for name, (request, field) in cases.items():
        feed = replica(name)
        conn = make_conn(feed.url, messages="auto")
        seen = collect(conn)
        conn.subscribe(request)
        conn.start()
        feed.wait_for_received(1)
        wait_until(lambda: refusals(seen, field), 5, message=name)  # noqa: B023 (waited for here)
        assert feed.topics() == {1: set()}, name


def test_the_command_line_serves_a_format_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_widgets.demo", "--format", "bitmex", "--port", "0", "--seed", "1",
         "--quiet"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("BitMEX: ") and "ws://127.0.0.1:" in first
        url = next(word for word in first.split() if word.startswith("ws://"))
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[1].strip() == f"Connection(url, {CONFIG['bitmex']})"
        with sync_connect(url) as ws:
            assert "Welcome" in str(ws.recv(timeout=5))
            ws.send("ping")
            assert ws.recv(timeout=5) == "pong"
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_command_line_refuses_demo_only_flags_with_a_format(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--format", "binance", "--batch", "3"], ["--format", "binance", "--path", "/x"],
                 ["--heartbeat", "1"], ["--format", "nyse"]):
        with pytest.raises(SystemExit) as exited:
            demo_main(argv)
        assert exited.value.code == 2, argv
    err = capsys.readouterr().err
    assert "--batch: only for the demo feed" in err
    assert "--ping-interval and --heartbeat go with --format" in err
