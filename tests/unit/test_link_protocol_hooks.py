"""The link core's hooks for protocols with a handshake and a keepalive of their own: ``needs_ack``
with ``ready()``, ``fail(error)`` and ``set_idle_timeout()``; on a fake clock, no sockets."""

from __future__ import annotations

import pytest

from rt_widgets.backoff import Backoff
from rt_widgets.errors import LinkError
from rt_widgets.link import Close, ConnectionState, Link, Open, Outgoing, SetState, Write


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def opened(**options: object) -> tuple[Link, Clock]:
    clock = Clock()
    link = Link(["ws://a"], backoff=Backoff(initial=1.0, maximum=1.0, jitter="none"),
                heartbeat_interval=None, clock=clock, needs_ack=True, handshake_timeout=5.0,
                handshake=lambda: [Outgoing(b"HELLO")], subscriptions=lambda: [Outgoing(b"SUB")],
                **options)  # type: ignore[arg-type]
    link.start()
    link.take_actions()
    link.on_opened(link.gen)
    return link, clock


def test_a_protocol_with_a_handshake_is_connected_only_once_it_is_answered() -> None:
    link, _ = opened()
    handle, _ = link.put("cmd", Outgoing(b"CMD"))
    actions = link.take_actions()
    assert [a.frame.data for a in actions if isinstance(a, Write)] == [b"HELLO"]
    assert link.state is ConnectionState.CONNECTING
    link.kick()
    assert not link.take_actions(), "a queued send went out before the handshake was answered"
    link.ready()
    actions = link.take_actions()
    assert SetState(ConnectionState.CONNECTING, ConnectionState.CONNECTED) in actions
    assert [a.frame.data for a in actions if isinstance(a, Write)] == [b"SUB", b"CMD"]
    assert not handle.done  # written, not yet reported


def test_an_unanswered_handshake_drops_the_link_and_counts_a_failed_attempt() -> None:
    link, clock = opened()
    assert link.wake_at == clock.now + 5.0
    clock.now += 5.0
    link.on_timer()
    (close,) = [a for a in link.take_actions() if isinstance(a, Close)]
    assert close.abort and "handshake timed out" in close.reason
    link.on_closed(link.gen, None)
    assert link.attempt == 1 and link.state is ConnectionState.RECONNECTING
    assert "handshake timed out" in (link.last_error or "")


def test_a_protocol_failure_decides_like_a_close_terminal_or_not() -> None:
    link, _ = opened()
    link.ready()
    link.take_actions()
    link.fail(LinkError("authorization violation", terminal=True))
    assert any(isinstance(a, Close) and a.abort for a in link.take_actions())
    link.on_closed(link.gen, LinkError("connection closed: code 1006", close_code=1006))
    assert link.state is ConnectionState.DISCONNECTED and link.last_error == "authorization violation"

    link, clock = opened()
    link.ready()
    link.fail(LinkError("server asked to reconnect"))
    link.on_closed(link.gen, None)
    assert link.state is ConnectionState.RECONNECTING
    clock.now += 1.0
    link.on_timer()
    assert any(isinstance(a, Open) for a in link.take_actions())


def test_the_protocols_keepalive_rule_kills_a_silent_link() -> None:
    link, clock = opened()
    link.ready()
    link.set_idle_timeout(45.0)
    link.take_actions()
    clock.now += 44.0
    link.last_inbound = clock.now  # a frame arrives in time
    link.on_timer()
    assert not link.take_actions()
    assert link.wake_at == clock.now + 45.0
    clock.now += 45.0
    link.on_timer()
    (close,) = link.take_actions()
    assert isinstance(close, Close) and close.abort and "keepalive timeout" in close.reason
    link.on_closed(link.gen, None)
    assert "keepalive timeout" in (link.last_error or "")


class PingSource:
    def ping(self) -> tuple[Outgoing, str | None]:
        return Outgoing(b"PINGREQ"), None


def test_a_protocols_keepalive_pings_an_idle_link_with_the_heartbeat_off() -> None:
    link, clock = opened(heartbeat=PingSource(), heartbeat_timeout=5.0)
    link.ready()
    link.take_actions()
    assert link.wake_at is None  # the heartbeat is off: nothing to wake for
    link.set_keepalive(15.0)
    assert link.wake_at == clock.now + 15.0
    clock.now += 15.0
    link.on_timer()
    assert [a.frame.data for a in link.take_actions() if isinstance(a, Write)] == [b"PINGREQ"]
    clock.now += 1.0
    link.last_inbound = clock.now  # PINGRESP
    clock.now += 5.0
    link.on_timer()
    assert not link.take_actions(), "an answered ping is no dead link"
    # Unanswered: the link is dead after heartbeat_timeout, as with a heartbeat.
    clock.now = link.last_inbound + 15.0
    link.on_timer()
    link.take_actions()
    clock.now += 5.0
    link.on_timer()
    (close,) = link.take_actions()
    assert isinstance(close, Close) and "heartbeat timeout" in close.reason
    # A new link starts without it (its protocol sets it again once connected).
    link.on_closed(link.gen, None)
    clock.now += 1.0
    link.on_timer()
    link.take_actions()
    link.on_opened(link.gen)
    assert link.keepalive_interval is None


def test_a_bad_keepalive_is_refused() -> None:
    link, _ = opened()
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="keepalive interval must be > 0"):
            link.set_keepalive(bad)
    assert link.keepalive_interval is None
