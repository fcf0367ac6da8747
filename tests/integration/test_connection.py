"""The connection core against real `websockets` servers on 127.0.0.1: connect, reconnect with the
backoff policy, dispatch, heartbeat, the offline queue, and the state machine."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from rt_widgets import Backoff, Connection, ConnectionState, Message, SendState
from tests._servers import WsServer
from tests.conftest import assert_stays, wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]


class StateLog:
    """Every on_state transition, with what `state` said while the callback ran."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.transitions: list[tuple[str, str]] = []
        self.seen_state: list[str] = []
        self.seen_stats: list[dict[str, Any]] = []
        self.times: list[float] = []
        self._lock = threading.Lock()
        conn.on_state(self)

    def __call__(self, old: ConnectionState, new: ConnectionState) -> None:
        with self._lock:
            self.transitions.append((str(old), str(new)))
            self.seen_state.append(str(self.conn.state))
            self.seen_stats.append(self.conn.stats())
            self.times.append(time.monotonic())

    def news(self) -> list[str]:
        with self._lock:
            return [new for _, new in self.transitions]


def connected(conn: Connection, timeout: float = 5.0) -> None:
    conn.wait_for_state("connected", timeout=timeout)


def test_connects_sends_text_frames_and_receives(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    assert conn.state == ConnectionState.DISCONNECTED
    conn.start()
    connected(conn)
    handle = conn.send("hello", {"n": 1})
    assert handle.wait(5) == SendState.SENT
    wait_until(lambda: server.messages("hello"), 5)
    message = server.messages("hello")[0]
    assert message["payload"] == {"n": 1}
    assert isinstance(message["timestamp"], str)
    # The wire protocol is JSON in text frames.
    assert all(isinstance(f, str) for f in server.raw_frames), [type(f) for f in server.raw_frames]
    greetings: list[Any] = []
    conn.on("greeting", greetings.append)
    server.send({"type": "greeting", "payload": "hi"})
    wait_until(lambda: greetings, 5)
    assert greetings == ["hi"]
    stats = conn.stats()
    assert stats["messages_out"] >= 1 and stats["bytes_out"] > 0
    assert stats["reconnects"] == 0 and stats["attempt"] == 0


def test_wait_for_returns_the_payload_of_the_next_message(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.on_connect = ['{"type": "welcome", "payload": {"motd": "hi"}}']
    conn = make_conn(server.url)
    got: list[Any] = []
    conn.on("welcome", got.append)
    conn.start()
    wait_until(lambda: got, 5)
    assert got == [{"motd": "hi"}]
    assert conn.stats()["messages_in"] >= 1 and conn.stats()["bytes_in"] > 0


def test_state_transitions_for_a_server_restart(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.05, maximum=0.2))
    log = StateLog(conn)
    conn.start()
    connected(conn)
    server.kill()
    wait_until(lambda: conn.state == "reconnecting", 5)
    server.restart()
    wait_until(lambda: log.news().count("connected") == 2, 10, message=lambda: str(log.transitions))
    assert log.news() == ["connecting", "connected", "reconnecting", "connected"]
    assert log.transitions[0] == ("disconnected", "connecting")
    # When a callback runs, `state` and `stats()` already show the new state.
    assert log.seen_state == log.news()
    assert [s["reconnects"] for s in log.seen_stats] == [0, 0, 0, 1]
    assert log.seen_stats[2]["last_close_code"] == 1006
    assert log.seen_stats[2]["attempt"] >= 1, "the drop already counts when `reconnecting` is seen"
    assert conn.stats()["reconnects"] == 1
    conn.stop()
    assert log.news()[-1] == "closed"
    assert conn.state == ConnectionState.CLOSED


def test_reconnect_delays_follow_the_backoff_policy_without_jitter(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    backoff = Backoff(initial=0.1, maximum=0.4, multiplier=2.0, jitter="none")
    conn = make_conn(server.url, backoff=backoff, stable_after=60.0)
    conn.start()
    connected(conn)
    killed_at = time.monotonic()
    server.kill(record=True)
    wait_until(lambda: len(server.attempt_times()) >= 1 + 5, 10)
    refused = [a.time for a in server.attempts if not a.handshake]
    server.restart()
    connected(conn, timeout=5)
    gaps = [b - a for a, b in itertools.pairwise(refused)][:4]
    first = refused[0] - killed_at
    print(f"\nfirst retry after {first:.3f} s; gaps {[round(g, 3) for g in gaps]}")
    # The dropped link counts as a failure (it was up < stable_after): delay n=0 first, then the
    # attempt after each refused try waits bound(1), bound(2), bound(3) (capped).
    assert 0.1 - 0.02 <= first <= 0.1 + 0.3
    for gap, expected in zip(gaps, [0.2, 0.4, 0.4, 0.4], strict=True):
        assert expected - 0.02 <= gap <= expected + 0.3, (gaps, expected)
    assert conn.stats()["reconnects"] == 1


def test_reconnect_delays_with_full_jitter_stay_within_bounds(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    backoff = Backoff(initial=0.05, maximum=0.2, multiplier=2.0, jitter="full")
    conn = make_conn(server.url, backoff=backoff, stable_after=60.0)
    conn.start()
    connected(conn)
    server.kill(record=True)
    wait_until(lambda: len(server.attempt_times()) >= 1 + 21, 15)
    refused = [a.time for a in server.attempts if not a.handshake]
    server.restart()
    connected(conn, timeout=5)
    gaps = [b - a for a, b in itertools.pairwise(refused)][:20]
    print(f"\nfull-jitter gaps {[round(g, 3) for g in gaps]}")
    # Scheduling noise on a busy machine only ever lengthens a gap.
    margin = 0.25
    for i, gap in enumerate(gaps):
        assert gap <= backoff.bound(i + 1) + margin, (i, gaps)
    capped = gaps[3:]
    # Uniform in [0, 0.2]: the draws vary, and their mean sits near 0.1 (a policy that ignored the
    # jitter or the cap would sit at 0.2 or above).
    assert statistics.pstdev(capped) > 0.02, capped
    assert 0.03 < statistics.fmean(capped) < 0.16, capped


def test_dispatch_by_type_and_wildcard_in_order(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    calls: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def rec(name: str) -> Callable[[Any], None]:
        def handler(arg: Any) -> None:
            with lock:
                calls.append((name, arg))

        return handler

    conn.on("*", rec("star1"))
    conn.on("tick", rec("tick1"))
    off = conn.on("tick", rec("tick-off"))
    conn.on("tick", rec("tick2"))
    conn.on("other", rec("other"))
    conn.on("*", rec("star2"))
    off()
    conn.start()
    connected(conn)
    server.send(
        {"type": "tick", "payload": {"v": 1}, "timestamp": "2026-01-01T00:00:00Z", "seq": 4},
        {"type": "done"},
    )
    wait_until(lambda: any(n == "star2" and a.type == "done" for n, a in list(calls)), 5)
    with lock:
        tick_calls = [(n, a) for n, a in calls if n.startswith("tick") or a.type == "tick"]
    assert [n for n, _ in tick_calls] == ["tick1", "tick2", "star1", "star2"]
    assert tick_calls[0][1] == {"v": 1}
    star = tick_calls[2][1]
    assert isinstance(star, Message)
    assert (star.type, star.payload, star.timestamp, star.seq) == (
        "tick", {"v": 1}, "2026-01-01T00:00:00Z", 4,
    )
    assert not any(n == "tick-off" for n, _ in calls)
    # Application pongs feed the heartbeat; they are never dispatched.
    assert not any(isinstance(a, Message) and a.type == "pong" for _, a in calls)


def test_raising_handler_is_counted_and_others_still_run(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    seen: list[Any] = []

    def bad(payload: Any) -> None:
        raise RuntimeError("handler bug")

    async def bad_async(payload: Any) -> None:
        raise ValueError("async handler bug")

    conn.on("tick", bad)
    conn.on("tick", bad_async)
    conn.on("tick", seen.append)
    conn.start()
    connected(conn)
    server.send(*({"type": "tick", "payload": i} for i in range(3)))
    wait_until(lambda: len(seen) == 3 and conn.stats()["handler_errors"] == 6, 5,
               message=lambda: f"seen={seen} stats={conn.stats()}")
    assert seen == [0, 1, 2]
    assert conn.state == "connected" and conn.stats()["reconnects"] == 0


def test_async_handlers_run_on_the_io_loop(ws_server: MakeServer, make_conn: MakeConn) -> None:
    from rt_widgets.iothread import get_loop

    server = ws_server()
    conn = make_conn(server.url)
    ran: list[tuple[Any, bool]] = []

    async def handler(payload: Any) -> None:
        await asyncio.sleep(0)
        ran.append((payload, asyncio.get_running_loop() is get_loop()))

    conn.on("job", handler)
    conn.start()
    connected(conn)
    server.send({"type": "job", "payload": "a"}, {"type": "job", "payload": "b"})
    wait_until(lambda: len(ran) == 2, 5)
    assert sorted(ran) == [("a", True), ("b", True)]
    assert conn.stats()["handler_errors"] == 0


def test_store_style_handler_sees_every_message_in_order(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    rows: dict[int, dict[str, Any]] = {}
    order: list[int] = []

    def upsert(payload: dict[str, Any]) -> None:
        rows.setdefault(payload["id"], {}).update(payload)
        order.append(payload["n"])

    conn.on("row", upsert)
    conn.start()
    connected(conn)
    frames: list[Any] = []
    n = 0
    for i in range(300):
        if i % 3 == 0:
            batch = []
            for _ in range(10):
                batch.append({"type": "row", "payload": {"id": n % 50, "n": n}})
                n += 1
            frames.append(batch)
        else:
            frames.append({"type": "row", "payload": {"id": n % 50, "n": n}})
            n += 1
    server.send(*frames)
    wait_until(lambda: len(order) == n, 10, message=lambda: f"{len(order)} of {n}")
    assert order == list(range(n))
    assert all(rows[k]["n"] == max(i for i in range(n) if i % 50 == k) for k in rows)
    assert conn.stats()["decode_errors"] == 0


def test_heartbeat_keeps_an_idle_link_alive(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, heartbeat_interval=0.2, heartbeat_timeout=0.3)
    conn.start()
    connected(conn)
    assert_stays(
        lambda: conn.state == "connected" and conn.stats()["reconnects"] == 0, 2.0,
        message=lambda: str(conn.stats()),
    )
    print(f"\n2 s of idle: {server.pings} app pings, {server.protocol_pings} protocol pings; "
          f"latency_ms={conn.latency_ms}")
    assert server.pings + server.protocol_pings >= 6, "an idle link is pinged every heartbeat_interval"
    assert server.connection_count == 1
    assert conn.latency_ms is not None and conn.latency_ms >= 0
    assert conn.stats()["latency_ms"] == conn.latency_ms


def test_heartbeat_detects_a_half_open_link(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    interval, timeout = 0.2, 0.3
    conn = make_conn(
        server.url,
        heartbeat_interval=interval,
        heartbeat_timeout=timeout,
        backoff=Backoff(initial=0.05, maximum=0.1),
    )
    log = StateLog(conn)
    conn.start()
    connected(conn)
    silenced = time.monotonic()
    server.stop_reading()
    wait_until(lambda: "reconnecting" in log.news(), 5)
    detected = log.times[log.news().index("reconnecting")] - silenced
    print(f"\nhalf-open link detected after {detected:.3f} s (bound {interval + timeout} s + margin)")
    assert detected <= interval + timeout + 0.5
    wait_until(lambda: log.news().count("connected") == 2, 5)
    assert conn.stats()["reconnects"] == 1
    assert server.connection_count == 2


def test_latency_is_measured_and_survives_a_reconnect(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url, heartbeat_interval=0.1, heartbeat_timeout=1.0,
                     backoff=Backoff(initial=0.05, maximum=0.1))
    latency_on_connect: list[float | None] = []

    def watch(old: ConnectionState, new: ConnectionState) -> None:
        if new == "connected":
            latency_on_connect.append(conn.latency_ms)

    conn.on_state(watch)
    assert conn.latency_ms is None
    conn.start()
    connected(conn)
    assert latency_on_connect == [None]
    wait_until(lambda: conn.latency_ms is not None, 5)
    server.kill()
    server.restart()
    wait_until(lambda: len(latency_on_connect) == 2, 5)
    # At the moment the new link is up no pong has crossed it yet: the value is the old link's.
    assert latency_on_connect[1] is not None


def test_sends_made_while_down_arrive_in_order_exactly_once_after_subscriptions(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.05, maximum=0.2))
    conn.subscribe("subscribe", {"channel": "metrics"})
    conn.subscribe("subscribe", {"channel": "alerts"})
    conn.start()
    connected(conn)
    wait_until(lambda: len(server.messages("subscribe")) == 2, 5)
    server.kill()
    wait_until(lambda: conn.state == "reconnecting", 5)
    handles = [conn.send("data", {"i": i}) for i in range(1000)]
    assert conn.stats()["queued"] == 1000
    assert all(h.state == "queued" for h in handles)
    server.restart()
    wait_until(lambda: all(h.done for h in handles), 15,
               message=lambda: f"{sum(h.done for h in handles)} done; {conn.stats()}")
    assert all(h.state == "sent" for h in handles)
    wait_until(lambda: len(server.messages("data")) >= 1000, 10)
    second = [m for idx, m in server.messages_by_connection() if idx == 1]
    data = [m["payload"]["i"] for m in second if m["type"] == "data"]
    assert data == list(range(1000)), "every queued send arrives once, in order"
    assert len(server.messages("data")) == 1000
    first_data = next(k for k, m in enumerate(second) if m["type"] == "data")
    subs = [m for m in second[:first_data] if m["type"] == "subscribe"]
    assert [m["payload"]["channel"] for m in subs] == ["metrics", "alerts"]
    assert conn.stats()["queued"] == 0 and conn.stats()["dropped"] == 0


def test_send_accepts_a_message_dict(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    conn.start()
    connected(conn)
    assert conn.send({"type": "cmd", "payload": [1, 2], "id": "x1"}).wait(5) == "sent"
    wait_until(lambda: server.messages("cmd"), 5)
    assert server.messages("cmd")[0]["payload"] == [1, 2]
    assert server.messages("cmd")[0]["id"] == "x1"


def test_disconnect_stays_down_until_connect(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.01, maximum=0.02))
    conn.start()
    connected(conn)
    conn.disconnect()
    conn.wait_for_state("disconnected", timeout=5)
    wait_until(lambda: server.open_connections == 0, 5)
    assert_stays(lambda: server.connection_count == 1 and conn.state == "disconnected", 0.3)
    conn.connect()
    connected(conn)
    assert server.connection_count == 2


def test_sync_api_start_stop(ws_server: MakeServer) -> None:
    server = ws_server()
    with Connection(server.url) as conn:
        conn.wait_for_state("connected", timeout=5)
        assert conn.send("x", 1).wait(5) == "sent"
    assert conn.state == "closed"
    with pytest.raises(RuntimeError):
        conn.send("x", 2)


async def test_async_api_context_manager(ws_server: MakeServer) -> None:
    server = ws_server()
    async with Connection(server.url) as conn:
        await conn.await_state("connected", timeout=5)
        waiter = asyncio.ensure_future(conn.await_message("welcome", timeout=5))
        await asyncio.sleep(0)  # let the waiter register its handler before the message is sent
        server.send({"type": "welcome", "payload": 7})
        assert await waiter == 7
        assert conn.send("x", 1) is not None
    assert conn.state == "closed"
    wait_until(lambda: server.messages("x"), 5)


def test_a_client_that_only_sends_still_pings(ws_server: MakeServer, make_conn: MakeConn) -> None:
    """Idle means no inbound frame: outbound traffic alone does not prove the server is alive."""
    server = ws_server()
    conn = make_conn(server.url, heartbeat_interval=0.2, heartbeat_timeout=0.5)
    conn.start()
    connected(conn)
    pings_before = server.pings + server.protocol_pings
    deadline = time.monotonic() + 1.2
    i = 0
    while time.monotonic() < deadline:
        conn.send("out", i)
        i += 1
        wait_until(lambda n=i: len(server.messages("out")) >= n, 5)
    pings = server.pings + server.protocol_pings - pings_before
    print(f"\n{i} sends in 1.2 s of outbound-only traffic; {pings} pings")
    assert pings >= 3
    assert conn.stats()["reconnects"] == 0


def test_pongs_count_as_messages_in(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    # The envelope's application ping is sent unasked only under messages="envelope" (under "auto",
    # once the feed has shown it speaks the envelope).
    conn = make_conn(server.url, messages="envelope", heartbeat_interval=0.1, heartbeat_timeout=0.5)
    conn.start()
    connected(conn)
    wait_until(lambda: server.pings >= 3, 5)
    wait_until(lambda: conn.stats()["messages_in"] >= 2, 5, message=lambda: str(conn.stats()))


def test_queued_sends_expire_after_queue_ttl(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, queue_ttl=0.2, backoff=Backoff(initial=0.05, maximum=0.1))
    conn.start()
    connected(conn)
    server.kill()
    wait_until(lambda: conn.state == "reconnecting", 5)
    handles = [conn.send("late", i) for i in range(5)]
    wait_until(lambda: all(h.done for h in handles), 5)
    assert [str(h.state) for h in handles] == ["expired"] * 5
    assert all(h.reason for h in handles)
    assert conn.stats()["expired"] == 5 and conn.stats()["queued"] == 0
    server.restart()
    connected(conn)
    conn.send("fresh", 1).wait(5)
    wait_until(lambda: server.messages("fresh"), 5)
    assert server.messages("late") == []


def test_overflow_error_raises_while_offline(ws_server: MakeServer, make_conn: MakeConn) -> None:
    from rt_widgets import QueueFullError

    server = ws_server()
    conn = make_conn(server.url, queue_limit=2, overflow="error",
                     backoff=Backoff(initial=0.05, maximum=0.1))
    conn.start()
    connected(conn)
    server.kill()
    wait_until(lambda: conn.state == "reconnecting", 5)
    first = [conn.send("q", i) for i in range(2)]
    with pytest.raises(QueueFullError):
        conn.send("q", 2)
    server.restart()
    assert [h.wait(5) for h in first] == ["sent", "sent"]
    wait_until(lambda: len(server.messages("q")) == 2, 5)
    assert [m["payload"] for m in server.messages("q")] == [0, 1]


def test_user_reconnect_resets_the_attempt_counter(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(503)
    conn = make_conn(server.url, backoff=Backoff(initial=0.01, maximum=0.01, jitter="none"))
    conn.start()
    wait_until(lambda: conn.attempt >= 3, 5)
    server.behave()
    connected(conn)
    conn.reconnect()
    wait_until(lambda: server.connection_count == 2 and conn.state == "connected", 5)
    assert conn.attempt == 0
    assert conn.stats()["attempt"] == 0


def test_unsubscribed_messages_are_not_replayed(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.01, maximum=0.05))
    conn.subscribe("subscribe", {"channel": "keep"})
    stop_replay = conn.subscribe("subscribe", {"channel": "once"})
    conn.start()
    connected(conn)
    wait_until(lambda: len(server.messages("subscribe")) == 2, 5)
    stop_replay()
    server.kill()
    server.restart()
    wait_until(lambda: len(server.messages("subscribe")) == 3, 5)
    conn.send("marker", None).wait(5)
    wait_until(lambda: server.messages("marker"), 5)
    second = [m["payload"]["channel"] for i, m in server.messages_by_connection()
              if i == 1 and m["type"] == "subscribe"]
    assert second == ["keep"]


def test_sends_and_subscriptions_made_before_start_go_out_in_order(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    handles = [conn.send("early", i) for i in range(10)]
    conn.subscribe("subscribe", {"channel": "c"})
    assert all(h.state == "queued" for h in handles)
    conn.start()
    assert [h.wait(5) for h in handles] == ["sent"] * 10
    wait_until(lambda: len(server.messages()) >= 11, 5)
    kinds = [(m["type"], m["payload"]) for m in server.messages()]
    assert kinds[0] == ("subscribe", {"channel": "c"})
    assert kinds[1:11] == [("early", i) for i in range(10)]


def test_concurrent_senders_each_keep_their_order(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, queue_limit=10_000)
    conn.start()
    connected(conn)
    go = threading.Event()

    def sender(name: int) -> None:
        go.wait(5)
        for i in range(500):
            conn.send("par", {"t": name, "i": i})

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(10)
    wait_until(lambda: len(server.messages("par")) == 2000, 10,
               message=lambda: f"{len(server.messages('par'))} of 2000: {conn.stats()}")
    got = [m["payload"] for m in server.messages("par")]
    for name in range(4):
        assert [p["i"] for p in got if p["t"] == name] == list(range(500))
    assert conn.stats()["dropped"] == 0


def test_handlers_may_send_and_stop_from_the_io_thread(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    conn.on("question", lambda payload: conn.send("answer", payload * 2))
    conn.on("quit", lambda payload: conn.stop())
    conn.start()
    connected(conn)
    server.send(*({"type": "question", "payload": i} for i in range(5)))
    wait_until(lambda: len(server.messages("answer")) == 5, 5)
    assert [m["payload"] for m in server.messages("answer")] == [0, 2, 4, 6, 8]
    server.send({"type": "quit"})
    wait_until(lambda: conn.state == "closed", 5)
    wait_until(lambda: server.open_connections == 0, 5)


def test_a_failing_state_callback_does_not_break_the_state_machine(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.01, maximum=0.05))

    def broken(old: ConnectionState, new: ConnectionState) -> None:
        raise RuntimeError("callback bug")

    conn.on_state(broken)
    log = StateLog(conn)
    conn.start()
    connected(conn)
    server.kill()
    server.restart()
    wait_until(lambda: log.news().count("connected") == 2, 5, message=lambda: str(log.news()))
    assert log.news() == ["connecting", "connected", "reconnecting", "connected"]


def test_a_fragmented_message_is_joined_before_it_is_decoded(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    got: list[Any] = []
    conn.on("frag", got.append)
    conn.start()
    connected(conn)
    server.send_fragments('{"type": "frag", ', '"payload": {"text": "h\u00e9', 'llo"}}')
    server.send({"type": "frag", "payload": "after"})
    wait_until(lambda: len(got) == 2, 5)
    assert got == [{"text": "h\u00e9llo"}, "after"]
    stats = conn.stats()
    assert stats["messages_in"] == 2 and stats["decode_errors"] == 0


def test_messages_sent_as_the_link_opens_reach_handlers_in_order_once_connected(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    """A server that streams at once, while the client still sends its subscriptions: nothing is lost
    or reordered, and handlers only run once the connection says it is connected."""
    server = ws_server()
    server.on_connect = [f'{{"type": "early", "payload": {i}}}' for i in range(200)]
    conn = make_conn(server.url)
    for channel in range(20):
        conn.subscribe("subscribe", {"channel": channel})
    got: list[int] = []
    states: set[str] = set()

    def on_early(payload: int) -> None:
        got.append(payload)
        states.add(str(conn.state))

    conn.on("early", on_early)
    conn.start()
    wait_until(lambda: len(got) == 200, 5)
    assert got == list(range(200))
    assert states == {"connected"}
    wait_until(lambda: len(server.messages("subscribe")) == 20, 5)


def test_compressed_messages_are_received_whole_and_in_order(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    """permessage-deflate, as servers built on websockets enable by default: single messages, an
    array frame and a fragmented message all arrive decompressed, in order."""
    server = ws_server(compression="deflate")
    conn = make_conn(server.url)
    got: list[Any] = []
    conn.on("z", got.append)
    conn.start()
    connected(conn)
    server.send({"type": "z", "payload": "x" * 5000},
                [{"type": "z", "payload": i} for i in range(100)])
    server.send_fragments('{"type": "z", ', '"payload": "last"}')
    wait_until(lambda: len(got) == 102, 5)
    assert got == ["x" * 5000, *range(100), "last"]
    assert server.extensions() == [["permessage-deflate"]]
    assert conn.stats()["decode_errors"] == 0


async def test_a_failing_message_callback_loses_that_message_not_the_link(
    ws_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    from websockets.asyncio.client import connect

    from rt_widgets.frames import FrameConnection, Payload, frame_connection_factory

    server = ws_server()
    got: list[bytes] = []
    third = asyncio.Event()

    def sink(data: Payload, text: bool) -> None:
        if data == b"boom":
            raise RuntimeError("a bug in the message path")
        got.append(bytes(data))
        if len(got) == 2:
            third.set()

    factory: Any = frame_connection_factory(sink)
    async with connect(server.url, create_connection=factory) as ws:
        assert isinstance(ws, FrameConnection)
        ws.start_delivery()
        await asyncio.to_thread(server.send, "one", b"boom", "two")
        await asyncio.wait_for(third.wait(), 5)
        assert got == [b"one", b"two"]
        assert ws.state.name == "OPEN"
    assert "message handling failed" in caplog.text
