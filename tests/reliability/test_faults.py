"""Fault injection against real loopback servers: crashes with sends in flight, half-open links through a
relay, flapping and silent servers, and a handler that blocks the I/O thread."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from rt_widgets import Backoff, Connection, ConnectionState, SendHandle
from tests._servers import SilentServer, TcpProxy, WsServer
from tests.conftest import assert_stays, wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]

SMALL = Backoff(initial=0.01, maximum=0.05)


class Transitions:
    def __init__(self, conn: Connection) -> None:
        self.items: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        conn.on_state(self)

    def __call__(self, old: ConnectionState, new: ConnectionState) -> None:
        with self._lock:
            self.items.append((time.monotonic(), str(new)))

    def news(self) -> list[str]:
        with self._lock:
            return [s for _, s in self.items]

    def first(self, state: str, after: float) -> float | None:
        with self._lock:
            return next((t for t, s in self.items if s == state and t >= after), None)


def test_hundred_crashes_with_sends_in_flight(
    ws_server: MakeServer, make_conn: MakeConn, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(20261125)
    server = ws_server()
    conn = make_conn(server.url, backoff=SMALL, heartbeat_interval=1.0, heartbeat_timeout=1.0)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    handles: list[tuple[int, SendHandle]] = []
    next_i = 0
    faults = 0
    started = time.monotonic()
    for _ in range(100):
        wait_until(lambda: conn.state == "connected" and server.open_connections == 1, 10,
                   message=lambda: f"stuck in {conn.state}: {conn.stats()}")
        burst = rng.randint(1, 40)
        # Crash once a random share of the burst has reached the server: the rest is in flight, in
        # the client's socket buffer or still queued.
        target = len(server.messages("data")) + rng.randint(0, burst // 2)
        for _ in range(burst):
            handles.append((next_i, conn.send("data", {"i": next_i})))
            next_i += 1
        wait_until(
            lambda target=target: len(server.messages("data")) >= target,
            10,
            message=lambda target=target, cycle=faults: (
                f"cycle {cycle}: server has {len(server.messages('data'))} of {target}; "
                f"state {conn.state}, server links {server.open_connections}, {conn.stats()}"
            ),
        )
        server.kill()
        faults += 1
        if rng.random() < 0.5:
            wait_until(lambda: conn.state != "connected", 5)
        server.restart()
    wait_until(lambda: conn.state == "connected", 10)
    sentinel = conn.send("sentinel", None)
    wait_until(lambda: all(h.done for _, h in handles) and sentinel.done, 15,
               message=lambda: f"{sum(not h.done for _, h in handles)} not done: {conn.stats()}")
    wait_until(lambda: server.messages("sentinel"), 10)
    elapsed = time.monotonic() - started

    states = Counter(str(h.state) for _, h in handles)
    reasons = Counter(h.reason for _, h in handles if h.state != "sent")
    delivered = [m["payload"]["i"] for m in server.messages("data")]
    sent_ids = {i for i, h in handles if h.state == "sent"}
    lost = len(sent_ids) - len(set(delivered))
    figures = {
        "faults": faults,
        "sends": len(handles),
        "sent": states["sent"],
        "delivered": len(delivered),
        "lost_in_dead_sockets": lost,
        "dropped": states["dropped"],
        "expired": states["expired"],
        "reconnects": conn.stats()["reconnects"],
        "seconds": round(elapsed, 2),
    }
    print(f"\n{figures}; not-sent reasons: {dict(reasons)}")
    for key, value in figures.items():
        record_property(key, value)

    assert set(states) <= {"sent", "dropped", "expired"}
    assert len(delivered) == len(set(delivered)), "a message was delivered twice"
    assert delivered == sorted(delivered), "delivered messages are out of order"
    assert set(delivered) <= sent_ids, "a message not marked sent reached the server"
    assert conn.stats()["reconnects"] == faults
    # At-most-once allows losses, but only of frames handed to a socket that then died: at most one
    # burst's worth per crash.
    assert lost <= 40 * faults


def test_half_open_link_through_a_relay_is_detected_and_healed(
    ws_server: MakeServer, tcp_proxy: Callable[[int], TcpProxy], make_conn: MakeConn,
    record_property: Callable[[str, object], None],
) -> None:
    server = ws_server()
    proxy = tcp_proxy(server.port)
    interval, timeout = 0.2, 0.3
    conn = make_conn(
        proxy.url(),
        heartbeat_interval=interval,
        heartbeat_timeout=timeout,
        backoff=Backoff(initial=0.05, maximum=0.2),
        open_timeout=0.5,
    )
    log = Transitions(conn)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    paused = time.monotonic()
    proxy.pause()
    wait_until(lambda: log.first("reconnecting", paused) is not None, interval + timeout + 3)
    detected = (log.first("reconnecting", paused) or 0) - paused
    proxy.heal()
    healed = time.monotonic()
    conn.wait_for_state("connected", timeout=5)
    back = time.monotonic() - healed
    print(f"\nhalf-open detected after {detected:.3f} s; reconnected {back:.3f} s after heal")
    record_property("detected_s", round(detected, 3))
    record_property("reconnected_after_heal_s", round(back, 3))
    assert detected <= interval + timeout + 1.0
    assert conn.stats()["reconnects"] == 1
    conn.send("after", 1)
    wait_until(lambda: server.messages("after"), 5)


def test_reset_by_the_relay_reconnects_without_waiting_for_the_heartbeat(
    ws_server: MakeServer, tcp_proxy: Callable[[int], TcpProxy], make_conn: MakeConn
) -> None:
    server = ws_server()
    proxy = tcp_proxy(server.port)
    conn = make_conn(proxy.url(), heartbeat_interval=30.0, backoff=SMALL)
    log = Transitions(conn)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    dropped = time.monotonic()
    proxy.drop()
    wait_until(lambda: log.news().count("connected") == 2, 5)
    took = (log.first("connected", dropped) or 0) - dropped
    print(f"\nreset link back up after {took:.3f} s")
    assert took < 2.0
    assert conn.stats()["last_close_code"] == 1006


def test_accept_then_close_server_is_not_hammered(
    ws_server: MakeServer, make_conn: MakeConn, record_property: Callable[[str, object], None]
) -> None:
    server = ws_server()
    server.close_on_connect(1011, "overloaded")
    backoff = Backoff(initial=0.05, maximum=0.2, jitter="none")
    conn = make_conn(server.url, backoff=backoff)
    conn.start()
    wait_until(lambda: server.connection_count >= 9, 10)
    times = [a.time for a in server.handshakes()][:9]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\naccept-then-close: gaps {[round(g, 3) for g in gaps]}, {rate:.1f} attempts/s")
    record_property("attempts_per_s", round(rate, 2))
    # A link that drops at once counts as a failed attempt, so the delays grow to the cap.
    for i, gap in enumerate(gaps):
        assert gap >= backoff.bound(i) - 0.02, (i, gaps)
    assert rate <= 1 / 0.2 + 1


def test_slow_to_accept_server_hits_open_timeout(
    silent_server: SilentServer, make_conn: MakeConn
) -> None:
    conn = make_conn(silent_server.url, open_timeout=0.3, backoff=SMALL)
    conn.start()
    wait_until(lambda: len(silent_server.accepted) >= 2 and silent_server.hung_up, 5)
    held = silent_server.hung_up[0] - silent_server.accepted[0]
    print(f"\nsilent server: client gave up the handshake after {held:.3f} s (open_timeout=0.3)")
    assert 0.25 <= held <= 0.3 + 1.0
    assert conn.state == "reconnecting"
    assert "timed out" in (conn.last_error or "") or "timeout" in (conn.last_error or "").lower()


def test_blocking_handler_does_not_cause_a_false_dead_link(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url, heartbeat_interval=0.2, heartbeat_timeout=0.3)
    ticks: list[Any] = []
    blocked = threading.Event()

    def slow(payload: Any) -> None:
        blocked.set()
        # Stands in for two seconds of CPU-bound work in a user callback on the I/O thread.
        threading.Event().wait(2.0)

    conn.on("slow", slow)
    conn.on("tick", ticks.append)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    server.send({"type": "slow"})
    assert blocked.wait(5)
    server.send(*({"type": "tick", "payload": i} for i in range(40)))
    wait_until(lambda: len(ticks) == 40, 10)
    assert_stays(lambda: conn.state == "connected" and conn.stats()["reconnects"] == 0, 1.5,
                 message=lambda: str(conn.stats()))
    print(f"\nhandler blocked the I/O thread 2 s (heartbeat 0.2 s + 0.3 s): reconnects "
          f"{conn.stats()['reconnects']}, {len(ticks)} frames sent meanwhile all delivered in order")
    assert ticks == list(range(40))
    assert server.connection_count == 1
    assert conn.send("still", 1).wait(5) == "sent"


@pytest.mark.parametrize("kill", [False, True], ids=["clean-close", "crash"])
def test_every_queued_handle_settles_when_the_connection_is_stopped(
    ws_server: MakeServer, make_conn: MakeConn, kill: bool
) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=5.0, maximum=5.0))
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    if kill:
        server.kill()
    else:
        server.stop()
    wait_until(lambda: conn.state == "reconnecting", 5)
    handles = [conn.send("x", i) for i in range(10)]
    conn.stop()
    assert [h.wait(1) for h in handles] == ["dropped"] * 10
    assert all(h.reason for h in handles)
    print(f"\nstop() with 10 queued sends: all dropped, reason {handles[0].reason!r}")
