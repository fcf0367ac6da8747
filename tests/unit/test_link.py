# mypy: disable-error-code="comparison-overlap"
# (an assert narrows link.state or handle.state for mypy, which does not see the calls that change it)
"""The link core (``rt_widgets/link.py``) on a fake clock: every rule of design.md's Semantics
(States, Failover, Counters, Errors, Outbox, Shutdown) and its Heartbeat, with no socket, no event
loop and no sleep.

``FakeDriver`` performs the core's actions the way ``connection.py`` does (``_perform``, ``_write``,
``_close``, ``_run_link``, ``_write_loop``) while the test scripts the network: it answers each
``Open`` with ``opened()`` or ``failed(error)``, reports writes handed to the socket with ``ack()``,
ends a link with ``drop(error)`` and moves time with ``advance(seconds)``, calling ``on_timer``
at every ``wake_at`` on the way. Errors are built by the real classifiers (``classify_open_error``,
``close_error``) from websockets' own exception objects, so a status or close code is tested all the
way to the core's decision.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close as CloseFrame
from websockets.http11 import Response

from rt_widgets.backoff import Backoff
from rt_widgets.dispatch import Dispatcher
from rt_widgets.errors import LinkError, classify_open_error, close_error
from rt_widgets.link import (
    Action,
    Close,
    ConnectionState,
    Link,
    Open,
    Outgoing,
    Ping,
    SetState,
    Write,
)
from rt_widgets.outbox import Overflow, QueueFullError, SendHandle, SendState
from rt_widgets.protocols.envelope import Envelope

S = ConnectionState
URL = "ws://feed.test/ws"
T0 = 1000.0
NO_JITTER = Backoff(initial=0.5, maximum=4.0, multiplier=2.0, jitter="none")
HEARTBEAT_REASON = "heartbeat timeout: no frame within 5.0 s after a ping; the link is dead"


# ------------------------------------------------------------------------------------ helpers


class FakeClock:
    """The injected clock: time moves only when the test (or ``FakeDriver.advance``) moves it."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def http_status(code: int, **headers: str) -> LinkError:
    """What the driver reports when the server answers the opening handshake with ``code``."""
    return classify_open_error(InvalidStatus(Response(code, "", Headers(headers), b"")), 10.0)


def closed_by_server(code: int) -> LinkError:
    """What the driver reports when the server closes the link with ``code`` (1006: no close frame)."""
    frame = None if code == 1006 else CloseFrame(code, "")
    error, _code, _oversized = close_error(ConnectionClosed(frame, None), None)
    return error


REFUSED = LinkError("connection failed: the server refused the connection")


class FakeDriver:
    """Performs a :class:`Link`'s actions as ``connection.py`` does, on a network the test scripts.

    - ``Open``: becomes the attempt under way (at most one at a time); answer it with ``opened()``
      or ``failed()``.
    - ``Write``: on the established link of its ``gen`` it waits in ``unacked`` until ``ack()``
      reports it handed to the socket; a user send meant for a link that is gone is reported failed
      at once (``Connection._write``).
    - ``Ping``: recorded; answer with ``pong(rtt)``.
    - ``Close``: of the attempt under way cancels it, with no report (the cancelled opener task);
      of the established link ends it after the current batch of actions: its sends not yet
      acknowledged are reported failed, then ``on_closed`` with what websockets would say (code
      1000 echoed for a close, 1006 for an abort). ``auto_close=False`` leaves that to the test.
    - ``SetState``: recorded in ``states``.
    """

    def __init__(self, link: Link, clock: FakeClock, *, auto_close: bool = True) -> None:
        self.link = link
        self.clock = clock
        self.auto_close = auto_close
        self.performed: list[tuple[float, Action]] = []
        self.states: list[ConnectionState] = []
        self.pending_open: Open | None = None
        self.socket: int | None = None  # gen of the established link
        self.unacked: list[Write] = []
        self.acked: list[Write] = []
        self._later: list[Callable[[], None]] = []

    # -- performing --------------------------------------------------------------------------

    def pump(self) -> None:
        """Perform every action asked for, then the events they cause, until there are none."""
        while True:
            actions = self.link.take_actions()
            if actions:
                for action in actions:
                    self._perform(action)
                continue
            if not self._later:
                return
            self._later.pop(0)()

    def _perform(self, action: Action) -> None:
        self.performed.append((self.clock.now, action))
        if isinstance(action, SetState):
            assert action.old is not action.new
            self.states.append(action.new)
        elif isinstance(action, Open):
            assert self.pending_open is None, "two attempts under way at once"
            assert self.socket is None, "an attempt while a link is established"
            self.pending_open = action
        elif isinstance(action, Write):
            if action.gen == self.socket:
                self.unacked.append(action)
            elif action.handle is not None:
                self.link.on_write_failed(action.handle)
        elif isinstance(action, Close):
            if action.gen == self.socket:
                if self.auto_close:
                    code = 1006 if action.abort else 1000
                    error = LinkError(f"connection closed: code {code}", close_code=code)
                    self._later.append(lambda: self._end(error))
            elif self.pending_open is not None and self.pending_open.gen == action.gen:
                self.pending_open = None

    def _end(self, error: LinkError | None, writer_reports: bool = True) -> None:
        gen = self.socket
        assert gen is not None, "no established link to end"
        # The writer reports its sends before the core hears of the end (Connection._end_link).
        for write in self.unacked if writer_reports else ():
            if write.handle is not None:
                self.link.on_write_failed(write.handle)
        self.unacked.clear()
        self.socket = None
        self.link.on_closed(gen, error)

    # -- the scripted network ----------------------------------------------------------------

    def start(self) -> None:
        self.link.start()
        self.pump()

    def opened(self) -> Open:
        """The attempt under way completes its opening handshake."""
        attempt = self.pending_open
        assert attempt is not None, "no attempt under way"
        self.pending_open = None
        self.socket = attempt.gen
        self.link.on_opened(attempt.gen)
        self.pump()
        return attempt

    def failed(self, error: LinkError = REFUSED) -> Open:
        """The attempt under way fails with ``error``."""
        attempt = self.pending_open
        assert attempt is not None, "no attempt under way"
        self.pending_open = None
        self.link.on_open_failed(attempt.gen, error)
        self.pump()
        return attempt

    def drop(self, error: LinkError | None = None, *, writer_reports: bool = True) -> None:
        """The established link ends from the server's side (or the network's).
        ``writer_reports=False``: the writer says nothing of its sends (it was cancelled before it
        ever ran)."""
        self._end(error, writer_reports)
        self.pump()

    def ack(self, count: int | None = None) -> list[Write]:
        """Report the oldest ``count`` (default: all) pending writes handed to the socket."""
        done = self.unacked[: len(self.unacked) if count is None else count]
        del self.unacked[: len(done)]
        for write in done:
            self.acked.append(write)
            self.link.on_written(write.gen, write.frame, write.handle)
        self.pump()
        return done

    def ack_all(self) -> None:
        """Acknowledge writes until none are pending (each ack may release the next user send)."""
        while self.unacked:
            self.ack()

    def pong(self, rtt: float = 0.01) -> None:
        assert self.socket is not None
        self.link.on_pong(self.socket, rtt)
        self.pump()

    def frame(self, size: int = 10) -> None:
        self.link.on_frame(size)
        self.pump()

    def put(self, data: str, message: Any = None) -> SendHandle:
        """A user send, as ``Connection.send`` queues it."""
        handle, kick = self.link.put(message if message is not None else data, Outgoing(data))
        if kick:
            self.link.kick()
        self.pump()
        return handle

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing the core's timer at each ``wake_at`` on the way."""
        self.advance_to(self.clock.now + seconds)

    def advance_to(self, target: float) -> None:
        """Move the clock to ``target``, firing the core's timer at each ``wake_at`` on the way."""
        for _ in range(100_000):
            at = self.link.wake_at
            if at is None or at > target:
                break
            self.clock.now = max(self.clock.now, at)
            self.link.on_timer()
            self.pump()
        else:
            raise AssertionError("wake_at does not move forward: the timer would spin")
        self.clock.now = target

    def run(self, command: Callable[[], None]) -> None:
        """A user command on the I/O thread, then what it asks for."""
        command()
        self.pump()

    # -- reading what was performed ----------------------------------------------------------

    def actions(self, kind: type[Any]) -> list[Any]:
        return [a for _, a in self.performed if isinstance(a, kind)]

    def times(self, kind: type[Any]) -> list[float]:
        return [t - T0 for t, a in self.performed if isinstance(a, kind)]

    def opens(self) -> list[str]:
        return [a.url for a in self.actions(Open)]

    def user_writes(self) -> list[str | bytes]:
        """The user sends written, in order (each attempt counts, handed over or not)."""
        return [a.frame.data for a in self.actions(Write) if a.handle is not None]

    def wire(self) -> list[str | bytes]:
        """Every frame handed to the socket, in order."""
        return [w.frame.data for w in self.acked]

    def clear(self) -> None:
        self.performed.clear()
        self.states.clear()


def make(
    urls: Sequence[str] = (URL,), *, auto_close: bool = True, **options: Any
) -> tuple[Link, FakeDriver, FakeClock]:
    clock = FakeClock()
    options.setdefault("backoff", NO_JITTER)
    options.setdefault("heartbeat_interval", None)
    link = Link(list(urls), clock=clock, **options)
    return link, FakeDriver(link, clock, auto_close=auto_close), clock


def connected(urls: Sequence[str] = (URL,), **options: Any) -> tuple[Link, FakeDriver, FakeClock]:
    link, driver, clock = make(urls, **options)
    driver.start()
    driver.opened()
    assert link.state is S.CONNECTED
    driver.clear()
    return link, driver, clock


class KeyedPing:
    """A protocol heartbeat whose application ping ``k<n>`` is answered by a pong carrying ``k<n>``."""

    def __init__(self) -> None:
        self.sent = 0

    def ping(self) -> tuple[Outgoing, str | None] | None:
        self.sent += 1
        return Outgoing(f"ping k{self.sent}"), f"k{self.sent}"


# ------------------------------------------------------------------------------------- states


def test_a_new_link_is_disconnected_and_asks_for_nothing() -> None:
    link, driver, _ = make()
    driver.pump()
    assert link.state is S.DISCONNECTED
    assert driver.performed == []
    assert link.wake_at is None and link.attempt == 0 and not link.running


def test_start_goes_connecting_on_the_first_attempt_then_connected() -> None:
    link, driver, _ = make()
    driver.start()
    assert [a for _, a in driver.performed] == [SetState(S.DISCONNECTED, S.CONNECTING), Open(URL, 1)]
    driver.opened()
    assert link.state is S.CONNECTED
    assert driver.states == [S.CONNECTING, S.CONNECTED]


def test_start_and_connect_while_connected_change_nothing() -> None:
    link, driver, _ = connected()
    driver.run(link.start)
    driver.run(link.connect)
    assert driver.performed == [] and link.state is S.CONNECTED


def test_every_later_attempt_and_every_wait_is_reconnecting_even_after_a_failed_first_attempt() -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed()
    assert link.state is S.RECONNECTING and link.next_retry_at is not None  # the wait
    driver.advance(0.5)
    assert driver.pending_open is not None and link.state is S.RECONNECTING  # the second attempt
    driver.opened()
    driver.drop(closed_by_server(1006))
    assert link.state is S.RECONNECTING  # the wait after a drop
    driver.advance(1.0)
    driver.failed()
    driver.advance(2.0)
    driver.opened()
    assert driver.states == [S.CONNECTING, S.RECONNECTING, S.CONNECTED, S.RECONNECTING, S.CONNECTED]


def test_disconnect_closes_and_stays_disconnected_with_no_retries_until_connect() -> None:
    link, driver, _ = connected(stable_after=60.0)
    driver.run(link.disconnect)
    assert driver.actions(Close) == [Close(1, abort=False)]
    assert link.state is S.DISCONNECTED and not link.running
    assert link.wake_at is None
    driver.clear()
    driver.advance(3600.0)
    assert driver.performed == []
    driver.run(link.connect)
    assert driver.states == [S.CONNECTING] and driver.pending_open is not None


def test_disconnect_during_a_wait_or_an_attempt_cancels_the_retry() -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed()
    driver.run(link.disconnect)  # while waiting
    driver.advance(3600.0)
    assert driver.opens() == [URL] and link.state is S.DISCONNECTED
    driver.run(link.connect)
    attempt = driver.pending_open
    assert attempt is not None
    driver.run(link.disconnect)  # while the attempt is under way: it is cancelled
    assert Close(attempt.gen) in driver.actions(Close) and driver.pending_open is None
    link.on_open_failed(attempt.gen, REFUSED)  # the cancelled attempt's report comes late
    driver.pump()
    driver.advance(3600.0)
    assert driver.opens() == [URL, URL] and link.state is S.DISCONNECTED and link.attempt == 0


def test_a_terminal_error_disconnects_with_last_error_and_no_retry() -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed(http_status(401))
    assert link.state is S.DISCONNECTED and not link.running
    assert link.last_error == "handshake rejected: HTTP 401"
    driver.advance(3600.0)
    assert driver.opens() == [URL]


def test_reaching_max_attempts_disconnects_with_last_error() -> None:
    link, driver, _ = make(max_attempts=3)
    driver.start()
    for _ in range(3):
        driver.failed(http_status(503))
        driver.advance(60.0)
    assert driver.opens() == [URL] * 3
    assert link.state is S.DISCONNECTED and not link.running and link.wake_at is None
    assert link.last_error == "gave up after 3 attempts: handshake rejected: HTTP 503"
    assert driver.states == [S.CONNECTING, S.RECONNECTING, S.DISCONNECTED]


def test_a_link_that_keeps_dropping_at_once_counts_towards_max_attempts() -> None:
    link, driver, _ = make(max_attempts=2, stable_after=5.0)
    driver.start()
    driver.opened()
    driver.drop(closed_by_server(1011))
    driver.advance(60.0)
    driver.opened()
    driver.drop(closed_by_server(1011))
    assert link.state is S.DISCONNECTED
    assert link.last_error == "gave up after 2 attempts: connection closed: code 1011 (internal error)"


def test_stop_is_closed_and_final_and_drops_queued_sends() -> None:
    link, driver, _ = connected(queue_ttl=30.0)
    in_flight = driver.put("a")
    waiting = driver.put("b")
    driver.run(link.stop)
    assert link.state is S.CLOSED and driver.states == [S.CLOSED]
    assert driver.actions(Close) == [Close(1)]
    for handle in (in_flight, waiting):
        assert handle.state is SendState.DROPPED and handle.reason == "connection closed"
    assert len(link.outbox) == 0 and link.outbox.dropped == 2
    assert link.wake_at is None
    driver.clear()
    for command in (link.start, link.connect, link.reconnect, link.retry_now, link.disconnect, link.stop):
        driver.run(command)
    driver.advance(3600.0)
    assert driver.performed == [] and link.state is S.CLOSED


def test_a_send_that_races_stop_is_dropped_not_left_queued() -> None:
    # Connection.send checks for `closed` on the caller's thread, then queues: stop() may run on the
    # I/O thread in between. Nothing will ever send that message, so it must not wait forever.
    link, driver, _ = make()
    driver.run(link.stop)
    handle, _kick = link.put("late", Outgoing("late"))
    assert handle.state is SendState.DROPPED and handle.wait(0) is SendState.DROPPED
    assert len(link.outbox) == 0


def test_stop_while_waiting_or_opening_asks_for_nothing_more() -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed()
    driver.advance(0.5)
    attempt = driver.pending_open
    assert attempt is not None
    driver.run(link.stop)
    assert driver.pending_open is None and link.state is S.CLOSED
    link.on_opened(attempt.gen)  # the cancelled attempt's report comes late
    driver.pump()
    assert link.state is S.CLOSED and link.wake_at is None


def test_reports_about_an_abandoned_attempt_are_ignored() -> None:
    link, driver, _ = make()
    driver.start()
    old = driver.pending_open
    assert old is not None
    driver.run(link.reconnect)  # abandons attempt 1 and starts another
    assert Close(old.gen) in driver.actions(Close)
    new = driver.pending_open
    assert new is not None and new.gen != old.gen
    driver.clear()
    link.on_opened(old.gen)
    link.on_open_failed(old.gen, http_status(401))
    driver.pump()
    assert driver.performed == [] and link.state is S.RECONNECTING and link.last_error is None
    driver.opened()
    assert link.state is S.CONNECTED


def test_reports_about_an_ended_link_are_ignored() -> None:
    link, driver, _ = connected(heartbeat_interval=10.0)
    old = driver.socket
    assert old is not None
    driver.pong(0.1)
    driver.drop(closed_by_server(1012))
    driver.advance(0.5)
    driver.opened()
    driver.clear()
    link.on_closed(old, closed_by_server(4001))  # a terminal code, but for the old link
    link.on_pong(old, 9.0)
    link.on_opened(old)
    driver.pump()
    assert driver.performed == []
    assert link.state is S.CONNECTED and link.latency_ms == pytest.approx(100.0)
    assert link.last_close_code == 1012


def test_the_end_of_a_disconnected_link_is_not_a_failure() -> None:
    link, driver, _ = connected(auto_close=False)
    gen = driver.socket
    assert gen is not None
    driver.run(link.disconnect)
    link.on_closed(gen, closed_by_server(1006))  # the driver's report of the close just asked for
    driver.pump()
    driver.advance(3600.0)
    assert link.state is S.DISCONNECTED and link.attempt == 0 and link.last_error is None
    assert driver.opens() == []


# ----------------------------------------------------------------------------------- counters


def test_reconnects_counts_arrivals_in_connected_after_the_first() -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed()
    driver.advance(0.5)
    driver.opened()
    assert link.reconnects == 0  # the first arrival, even after a failed attempt
    driver.drop(closed_by_server(1001))
    driver.advance(1.0)
    driver.failed()  # a failed attempt is no arrival
    assert link.reconnects == 0
    driver.advance(2.0)
    driver.opened()
    assert link.reconnects == 1
    driver.run(link.reconnect)
    driver.opened()
    driver.run(link.disconnect)
    driver.run(link.connect)
    driver.opened()
    assert link.reconnects == 3


def test_attempt_counts_consecutive_failures_and_survives_an_unstable_link() -> None:
    link, driver, _ = make(stable_after=5.0, backoff=Backoff(initial=0.0, maximum=0.0, jitter="none"))
    driver.start()
    for expected in (1, 2, 3):
        driver.failed()
        assert link.attempt == expected
        driver.advance(0.0)
    driver.opened()
    assert link.attempt == 3  # connecting does not reset it: only a link that stayed up does
    driver.advance(4.999)
    driver.drop(closed_by_server(1006))
    assert link.attempt == 4  # up for less than stable_after: the drop is one more failure


def test_attempt_resets_only_when_a_link_that_stayed_up_stable_after_drops() -> None:
    link, driver, _ = make(stable_after=5.0, backoff=Backoff(initial=0.0, maximum=0.0, jitter="none"))
    driver.start()
    driver.failed()
    driver.advance(0.0)
    driver.failed()
    driver.advance(0.0)
    driver.opened()
    driver.advance(5.0)
    assert link.attempt == 2  # stable, but still up: nothing has happened to reset it yet
    driver.drop(closed_by_server(1001))
    assert link.attempt == 0


def test_connect_after_giving_up_and_reconnect_reset_attempt() -> None:
    link, driver, _ = make(max_attempts=2)
    driver.start()
    driver.failed()
    driver.advance(60.0)
    driver.failed()
    assert link.state is S.DISCONNECTED and link.attempt == 2
    driver.run(link.connect)
    assert link.attempt == 0 and driver.states[-1] is S.CONNECTING
    driver.failed()
    assert link.attempt == 1 and link.state is S.RECONNECTING  # a fresh run, not given up at once
    driver.run(link.reconnect)  # during the wait: reset and try at once
    assert link.attempt == 0 and driver.pending_open is not None and link.next_retry_at is None


def test_user_reconnect_of_a_live_link_resets_attempt_and_reopens_at_once() -> None:
    link, driver, clock = make(stable_after=60.0)
    driver.start()
    driver.failed()
    driver.advance(0.5)
    driver.opened()
    assert link.attempt == 1
    driver.clear()
    driver.run(link.reconnect)
    assert link.attempt == 0
    assert driver.actions(Close) == [Close(2, abort=False)]
    assert driver.pending_open is not None and driver.times(Open) == [clock.now - T0]  # no wait
    assert link.state is S.RECONNECTING and link.last_error is None
    driver.opened()
    assert link.reconnects == 1


def test_messages_and_bytes_out_count_every_frame_handed_to_the_socket() -> None:
    subscriptions = [Outgoing("sub-1"), Outgoing(b"\x00\x01", text=False)]
    link, driver, _ = make(subscriptions=lambda: subscriptions)
    driver.start()
    driver.opened()
    driver.put("hello")
    assert link.messages_out == 0  # nothing handed over yet
    driver.ack_all()
    assert link.messages_out == 3
    assert link.bytes_out == len("sub-1") + 2 + len("hello")
    link.on_frame(7)
    link.on_frame(5)
    assert link.bytes_in == 12


# ------------------------------------------------------------------------------------ backoff


def delays_after_failures(link: Link, driver: FakeDriver, clock: FakeClock, count: int) -> list[float]:
    """Fail ``count`` attempts in a row; the wait the core asks for after each one."""
    delays = []
    for _ in range(count):
        driver.failed()
        assert link.next_retry_at is not None
        delays.append(link.next_retry_at - clock.now)
        driver.advance_to(link.next_retry_at)
    return delays


def test_without_jitter_the_delays_follow_the_backoff_exactly() -> None:
    link, driver, clock = make(backoff=NO_JITTER)
    driver.start()
    delays = delays_after_failures(link, driver, clock, 7)
    assert delays == pytest.approx([0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0])
    # And the next attempt is made exactly when the wait is over, not before.
    times = driver.times(Open)
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx(delays)


def test_with_full_jitter_the_nth_delay_is_uniform_up_to_the_nth_bound() -> None:
    backoff = Backoff(initial=0.5, maximum=15.0, multiplier=2.0, jitter="full")
    link, driver, clock = make(backoff=backoff, rng=random.Random(20240601))
    runs, depth = 1000, 7
    samples: list[list[float]] = [[] for _ in range(depth)]
    driver.start()
    for _ in range(runs):
        for n, delay in enumerate(delays_after_failures(link, driver, clock, depth)):
            samples[n].append(delay)
        driver.run(link.reconnect)  # a fresh run of failures: n starts again at 0
    for n, draws in enumerate(samples):
        bound = min(15.0, 0.5 * 2.0**n)
        assert all(0.0 <= d <= bound + 1e-9 for d in draws), (n, max(draws), bound)
        assert statistics.fmean(draws) == pytest.approx(bound / 2, rel=0.1), n
        assert min(draws) < 0.02 * bound and max(draws) > 0.98 * bound, n
        deciles = [0] * 10
        for d in draws:
            deciles[min(int(d / bound * 10), 9)] += 1
        assert all(60 <= c <= 140 for c in deciles), (n, deciles)


def test_the_delays_start_again_from_the_first_after_a_stable_link() -> None:
    link, driver, clock = make(backoff=NO_JITTER, stable_after=5.0)
    driver.start()
    assert delays_after_failures(link, driver, clock, 5)[-1] == pytest.approx(4.0)  # at the cap
    driver.opened()
    driver.advance(5.0)
    driver.drop(closed_by_server(1006))
    assert link.next_retry_at is not None and link.next_retry_at - clock.now == pytest.approx(0.5)
    assert link.attempt == 0


def test_the_delays_keep_growing_after_an_unstable_link() -> None:
    link, driver, clock = make(backoff=NO_JITTER, stable_after=5.0)
    driver.start()
    delays_after_failures(link, driver, clock, 2)  # 0.5, 1.0
    driver.opened()
    driver.advance(4.0)
    driver.drop(closed_by_server(1006))
    assert link.next_retry_at is not None and link.next_retry_at - clock.now == pytest.approx(2.0)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_a_floor_for_the_next_delay(status: int) -> None:
    link, driver, clock = make(backoff=Backoff(initial=0.5, maximum=4.0, jitter="full"),
                               rng=random.Random(7))
    driver.start()
    driver.failed(http_status(status, **{"Retry-After": "3"}))
    assert link.next_retry_at == clock.now + 3.0
    driver.advance(2.99)
    assert driver.opens() == [URL]  # not before the server said
    driver.advance(0.02)
    assert driver.opens() == [URL, URL]
    # A Retry-After shorter than the backoff does not shorten it.
    link2, driver2, clock2 = make(backoff=Backoff(initial=8.0, maximum=8.0, jitter="none"))
    driver2.start()
    driver2.failed(http_status(status, **{"Retry-After": "1"}))
    assert link2.next_retry_at == clock2.now + 8.0


def test_the_same_seed_gives_the_same_delays() -> None:
    def run(seed: int) -> list[float]:
        link, driver, clock = make(backoff=Backoff(jitter="full"), rng=random.Random(seed))
        driver.start()
        return delays_after_failures(link, driver, clock, 10)

    assert run(3) == run(3)
    assert run(3) != run(4)


# --------------------------------------------------------------------------- terminal or retried


@pytest.mark.parametrize("status", [401, 403, 404])
def test_handshake_statuses_401_403_404_are_terminal(status: int) -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed(http_status(status))
    driver.advance(3600.0)
    assert link.state is S.DISCONNECTED and driver.opens() == [URL]
    assert link.last_error == f"handshake rejected: HTTP {status}"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_handshake_statuses_5xx_and_429_are_retried(status: int) -> None:
    link, driver, _ = make()
    driver.start()
    driver.failed(http_status(status))
    assert link.state is S.RECONNECTING and link.last_error == f"handshake rejected: HTTP {status}"
    driver.advance(0.5)
    assert driver.opens() == [URL, URL]


@pytest.mark.parametrize("code", [1008, 4000, 4001, 4500, 4999])
def test_close_codes_1008_and_4000_to_4999_are_terminal(code: int) -> None:
    link, driver, _ = connected()
    driver.drop(closed_by_server(code))
    driver.advance(3600.0)
    assert link.state is S.DISCONNECTED and driver.opens() == []
    assert link.last_close_code == code
    assert link.last_error is not None and f"code {code}" in link.last_error


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1009, 1011, 1012, 1013, 1014, 3000, 3999])
def test_other_close_codes_are_retried(code: int) -> None:
    link, driver, _ = connected()
    driver.drop(closed_by_server(code))
    assert link.state is S.RECONNECTING and link.last_close_code == code
    driver.advance(0.5)
    assert driver.opens() == [URL]


def test_a_drop_with_no_error_given_is_retried_as_code_1006() -> None:
    link, driver, _ = connected()
    driver.drop(None)
    assert link.state is S.RECONNECTING and link.last_close_code == 1006
    assert link.last_error == "connection closed: code 1006"


def test_should_reconnect_can_retry_a_terminal_error() -> None:
    seen: list[LinkError] = []

    def retry_all(error: LinkError) -> bool:
        seen.append(error)
        return True

    link, driver, _ = make(should_reconnect=retry_all)
    driver.start()
    driver.failed(http_status(401))
    assert link.state is S.RECONNECTING
    driver.advance(0.5)
    driver.opened()
    driver.drop(closed_by_server(4003))
    assert link.state is S.RECONNECTING
    assert [(e.status, e.close_code) for e in seen] == [(401, None), (None, 4003)]


def test_should_reconnect_can_stop_on_a_retried_error() -> None:
    link, driver, _ = make(should_reconnect=lambda e: e.status != 503 and e.close_code != 1001)
    driver.start()
    driver.failed(http_status(502))
    assert link.state is S.RECONNECTING
    driver.advance(0.5)
    driver.failed(http_status(503))
    assert link.state is S.DISCONNECTED and link.last_error == "handshake rejected: HTTP 503"
    driver.run(link.connect)
    driver.opened()
    driver.drop(closed_by_server(1001))
    assert link.state is S.DISCONNECTED and link.last_close_code == 1001


def test_a_raising_should_reconnect_falls_back_to_the_default_rules() -> None:
    reported: list[tuple[str, BaseException]] = []

    def broken(error: LinkError) -> bool:
        raise RuntimeError("bug in user code")

    link, driver, _ = make(should_reconnect=broken,
                           on_error=lambda what, exc: reported.append((what, exc)))
    driver.start()
    driver.failed(http_status(503))
    assert link.state is S.RECONNECTING  # 503: retried by default
    driver.advance(0.5)
    driver.failed(http_status(403))
    assert link.state is S.DISCONNECTED  # 403: terminal by default
    assert [what for what, _ in reported] == ["should_reconnect failed; using the default rules"] * 2
    assert all(isinstance(exc, RuntimeError) for _, exc in reported)


# ---------------------------------------------------------------------------------- heartbeat


def test_a_ping_at_once_on_connect_and_every_interval_on_a_busy_link() -> None:
    link, driver, _ = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=KeyedPing())
    driver.start()
    driver.opened()
    for _ in range(35):
        driver.advance(1.0)
        driver.frame()
    assert driver.times(Ping) == pytest.approx([0.0, 10.0, 20.0, 30.0])
    assert driver.actions(Write) == []  # never idle: no application ping
    assert driver.actions(Close) == [] and link.state is S.CONNECTED


def test_an_idle_link_gets_an_application_ping_and_is_aborted_after_the_timeout() -> None:
    heartbeat = KeyedPing()
    link, driver, _ = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=heartbeat,
                           auto_close=False)
    driver.start()
    driver.opened()
    driver.advance(9.99)
    assert driver.actions(Write) == []
    driver.advance(0.02)
    assert [w.frame.data for w in driver.actions(Write)] == ["ping k1"]
    assert driver.times(Write) == pytest.approx([10.0]) and heartbeat.sent == 1
    driver.advance(4.97)
    assert driver.actions(Close) == []
    driver.advance(0.02)
    assert driver.actions(Close) == [Close(1, abort=True, reason=HEARTBEAT_REASON)]
    assert driver.times(Close) == pytest.approx([15.0])
    assert link.wake_at is None  # a dead link asks for no more heartbeats


@pytest.mark.parametrize("answer", ["frame", "pong"])
def test_any_frame_or_pong_in_time_keeps_the_link_alive(answer: str) -> None:
    link, driver, _ = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=KeyedPing())
    driver.start()
    driver.opened()
    for _ in range(100):  # idle each time, answered just before the deadline
        driver.advance(14.9)
        assert driver.actions(Close) == []
        if answer == "frame":
            driver.frame()
        else:
            driver.pong(4.9)
    assert link.state is S.CONNECTED and len(driver.actions(Write)) == 100
    driver.advance(15.5)  # and the one that is not answered kills it
    assert [c.abort for c in driver.actions(Close)] == [True]


def test_a_timer_that_fires_late_gives_a_fresh_timeout_instead_of_killing_the_link() -> None:
    link, driver, clock = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, auto_close=False)
    driver.start()
    driver.opened()
    driver.advance(14.0)  # idle at 10: the deadline is 15
    clock.now = T0 + 20.0  # the loop was blocked (a slow handler): the timer fires 5 s late
    link.on_timer()
    driver.pump()
    assert driver.actions(Close) == []
    driver.advance(0.5)
    driver.frame()  # the frames that sat unread while the loop was blocked
    driver.advance(5.0)  # past the fresh deadline (25)
    assert driver.actions(Close) == [] and link.state is S.CONNECTED
    # Idle again (a new deadline at 35.5) and blocked again, and this time nothing comes: the link
    # is dead one fresh timeout after the late wake-up, not at once.
    driver.advance(5.0)
    assert link.wake_at == pytest.approx(T0 + 35.5)
    clock.now = T0 + 38.5
    link.on_timer()
    driver.pump()
    assert driver.actions(Close) == []
    driver.advance(4.9)
    assert driver.actions(Close) == []
    driver.advance(0.2)
    assert [c.abort for c in driver.actions(Close)] == [True]
    assert driver.times(Close) == pytest.approx([43.5])


def test_a_timer_that_fires_only_slightly_late_still_kills_a_dead_link() -> None:
    link, driver, clock = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, auto_close=False)
    driver.start()
    driver.opened()
    driver.advance(14.0)
    clock.now = T0 + 15.05  # ordinary scheduling delay, not a blocked loop
    link.on_timer()
    driver.pump()
    assert [c.abort for c in driver.actions(Close)] == [True]


def test_latency_is_an_ewma_of_the_pongs() -> None:
    link, driver, clock = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=KeyedPing())
    driver.start()
    driver.opened()
    assert link.latency_ms is None
    driver.pong(0.1)
    assert link.latency_ms == pytest.approx(100.0)  # the first sample as it is
    driver.pong(0.2)
    assert link.latency_ms == pytest.approx(130.0)  # then 0.3 of each new sample
    driver.pong(0.05)
    assert link.latency_ms == pytest.approx(106.0)
    driver.advance(10.0)  # idle: application ping k1
    clock.now += 0.25
    link.on_app_pong("k1")
    assert link.latency_ms == pytest.approx(106.0 + 0.3 * (250.0 - 106.0))
    before = link.latency_ms
    link.on_app_pong("k1")  # answered already
    link.on_app_pong("unknown")
    assert link.latency_ms == before


def test_the_envelope_ping_is_written_when_idle_and_its_pong_gives_the_latency() -> None:
    envelope = Envelope()
    link, driver, clock = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=envelope)
    envelope.bind(link, Dispatcher())
    driver.start()
    driver.opened()
    driver.advance(10.0)
    [write] = driver.actions(Write)
    ping = orjson.loads(write.frame.data)
    assert ping["type"] == "ping" and isinstance(ping["timestamp"], str)
    clock.now += 0.04
    driver.frame()
    assert envelope.receive(orjson.dumps({"type": "pong", "timestamp": ping["timestamp"]})) == 1
    assert link.latency_ms == pytest.approx(40.0)


def test_no_application_ping_when_the_protocol_has_none_but_the_timeout_holds() -> None:
    _link, driver, _ = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=None)
    driver.start()
    driver.opened()
    driver.advance(15.0)
    assert driver.actions(Write) == []
    assert driver.times(Ping) == pytest.approx([0.0, 10.0])
    assert [c.abort for c in driver.actions(Close)] == [True]
    # With its WebSocket pongs answered, the same idle feed stays up.
    link2, driver2, _ = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, heartbeat=None)
    driver2.start()
    driver2.opened()
    for _ in range(50):
        driver2.advance(10.0)
        driver2.pong(0.05)
    assert driver2.actions(Close) == [] and driver2.actions(Write) == []
    assert link2.state is S.CONNECTED


def test_heartbeat_interval_none_turns_the_heartbeat_off() -> None:
    link, driver, _ = make(heartbeat_interval=None, heartbeat=KeyedPing())
    driver.start()
    driver.opened()
    assert link.wake_at is None
    driver.advance(3600.0)
    assert driver.actions(Ping) == [] and driver.actions(Write) == [] and link.state is S.CONNECTED


def test_after_a_heartbeat_abort_the_link_reports_the_heartbeat_reason() -> None:
    link, driver, _ = make(heartbeat_interval=10.0, heartbeat_timeout=5.0, auto_close=False)
    driver.start()
    driver.opened()
    driver.advance(15.0)
    assert driver.actions(Close)[-1].abort
    driver.drop(closed_by_server(1000))  # whatever the socket says about the abort
    assert link.last_error == HEARTBEAT_REASON and link.last_close_code == 1006
    assert link.state is S.RECONNECTING
    driver.advance(0.5)
    driver.opened()  # the next link starts with a clean slate
    assert link.last_error is None
    driver.advance(9.0)
    assert link.wake_at is not None and link.state is S.CONNECTED


# ------------------------------------------------------------------------------------- outbox


def test_sends_keep_their_order_across_a_reconnect() -> None:
    _link, driver, _ = make()
    handles = [driver.put(s) for s in ("a", "b", "c")]  # queued while disconnected
    driver.start()
    driver.opened()
    assert driver.user_writes() == ["a"]  # one in flight
    driver.ack()
    assert driver.user_writes() == ["a", "b"]
    driver.drop(closed_by_server(1006))  # b was never handed over
    driver.put("d")
    driver.advance(0.5)
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["a", "b", "c", "d"]
    assert all(h.state is SendState.SENT for h in handles)


def test_one_user_send_in_flight_at_a_time() -> None:
    link, driver, _ = connected()
    for i in range(5):
        driver.put(f"m{i}")
    for i in range(5):
        in_flight = [w for w in driver.unacked if w.handle is not None]
        assert [w.frame.data for w in in_flight] == [f"m{i}"]
        driver.ack()
    assert driver.wire() == [f"m{i}" for i in range(5)] and len(link.outbox) == 0


def test_a_send_put_while_the_writer_is_idle_is_written_at_once() -> None:
    link, driver, _ = connected()
    handle, kick = link.put("x", Outgoing("x"))
    assert kick  # the writer is idle: the driver must kick it
    link.kick()
    driver.pump()
    assert driver.user_writes() == ["x"]
    _, kick = link.put("y", Outgoing("y"))
    assert not kick  # a send is in flight: its acknowledgement writes the next one
    driver.ack()
    assert driver.user_writes() == ["x", "y"] and handle.state is SendState.SENT


def test_a_failed_write_goes_back_to_the_head_of_the_queue() -> None:
    link, driver, _ = connected()
    first = driver.put("a")
    driver.put("b")
    [write] = driver.unacked
    assert write.handle is first
    link.on_write_failed(first)  # not handed to the socket
    assert first.state is SendState.QUEUED and len(link.outbox) == 2
    driver.unacked.clear()
    driver.drop(closed_by_server(1006))
    driver.advance(0.5)
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["a", "b"] and first.state is SendState.SENT


def test_a_send_in_flight_when_its_link_ends_unreported_is_sent_first_on_the_next() -> None:
    _link, driver, _ = connected()
    first = driver.put("a")
    driver.put("b")
    driver.drop(closed_by_server(1006), writer_reports=False)
    assert first.state is SendState.QUEUED
    driver.advance(0.5)
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["a", "b"] and first.state is SendState.SENT


def test_a_send_handed_to_the_socket_is_never_resent() -> None:
    _link, driver, _ = connected()
    first = driver.put("a")
    driver.put("b")
    driver.ack(1)  # a is handed over; b is now in flight
    assert first.state is SendState.SENT
    driver.drop(closed_by_server(1006))
    driver.advance(0.5)
    driver.opened()
    driver.ack_all()
    assert driver.user_writes() == ["a", "b", "b"]  # b again (it never left), a never
    assert driver.wire() == ["a", "b"]


def test_a_send_reported_handed_over_after_its_link_ended_is_not_resent() -> None:
    link, driver, _ = connected()
    first = driver.put("a")
    driver.put("b")
    link.disconnect()  # the core gives up the link while the write of a is under way ...
    driver.ack()  # ... and the writer then reports that a had been handed over
    assert first.state is SendState.SENT
    driver.run(link.connect)
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["a", "b"] and driver.user_writes() == ["a", "b"]


def test_queued_sends_expire_after_queue_ttl_on_the_timer() -> None:
    link, driver, _ = make(queue_ttl=5.0)
    old = driver.put("old")
    driver.advance(2.0)
    young = driver.put("young")
    assert link.wake_at == pytest.approx(T0 + 5.0)
    driver.advance(2.99)
    assert old.state is SendState.QUEUED
    driver.advance(0.02)
    assert old.state is SendState.EXPIRED and young.state is SendState.QUEUED
    assert old.reason == "not sent within queue_ttl=5.0 s"
    assert link.outbox.expired == 1 and link.wake_at == pytest.approx(T0 + 7.0)
    driver.start()
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["young"] and young.state is SendState.SENT


def test_a_send_in_flight_does_not_expire() -> None:
    _link, driver, _ = connected(queue_ttl=5.0)
    in_flight = driver.put("a")
    waiting = driver.put("b")
    driver.advance(60.0)  # the write of a takes a long time
    assert in_flight.state is SendState.QUEUED and waiting.state is SendState.EXPIRED
    driver.ack()
    assert in_flight.state is SendState.SENT and driver.wire() == ["a"]


@pytest.mark.parametrize(
    ("overflow", "states", "written"),
    [
        ("drop_oldest", ["dropped", "sent", "sent"], ["b", "c"]),
        ("drop_newest", ["sent", "sent", "dropped"], ["a", "b"]),
    ],
)
def test_queue_limit_with_each_dropping_overflow_policy(
    overflow: Overflow, states: list[str], written: list[str]
) -> None:
    link, driver, _ = make(queue_limit=2, overflow=overflow)
    handles = [driver.put(s) for s in ("a", "b", "c")]
    assert link.outbox.dropped == 1 and len(link.outbox) == 2
    driver.start()
    driver.opened()
    driver.ack_all()
    assert [h.state.value for h in handles] == states and driver.wire() == written


def test_queue_limit_with_overflow_error_raises_and_keeps_the_queue() -> None:
    _link, driver, _ = make(queue_limit=2, overflow="error")
    driver.put("a")
    driver.put("b")
    with pytest.raises(QueueFullError, match="queue is full"):
        driver.put("c")
    driver.start()
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["a", "b"]


def test_drop_oldest_never_drops_the_send_in_flight() -> None:
    _link, driver, _ = connected(queue_limit=2, overflow="drop_oldest")
    a, b = driver.put("a"), driver.put("b")
    c = driver.put("c")
    assert (a.state, b.state, c.state) == (SendState.QUEUED, SendState.DROPPED, SendState.QUEUED)
    driver.ack_all()
    assert driver.wire() == ["a", "c"]


def test_handshake_and_subscriptions_are_written_before_the_outbox_on_every_connect() -> None:
    subscriptions = [Outgoing("sub-1")]
    _link, driver, _ = make(
        handshake=lambda: [Outgoing("hello")], subscriptions=lambda: list(subscriptions)
    )
    driver.put("u1")
    driver.start()
    driver.opened()
    driver.ack_all()
    subscriptions.append(Outgoing("sub-2"))  # subscribe() while connected: replayed from now on
    driver.drop(closed_by_server(1012))
    driver.put("u2")
    driver.advance(0.5)
    driver.opened()
    driver.ack_all()
    assert driver.wire() == ["hello", "sub-1", "u1", "hello", "sub-1", "sub-2", "u2"]


def test_a_failing_subscriptions_source_is_reported_and_the_link_goes_on() -> None:
    reported: list[str] = []

    def broken() -> Sequence[Outgoing]:
        raise ValueError("bad subscription")

    link, driver, _ = make(subscriptions=broken, on_error=lambda what, exc: reported.append(what))
    driver.put("u")
    driver.start()
    driver.opened()
    driver.ack_all()
    assert link.state is S.CONNECTED and driver.wire() == ["u"]
    assert reported == ["building the frames to send on connect failed"]


# ----------------------------------------------------------------------------------- failover

URLS = ("ws://a", "ws://b", "ws://c")


def test_attempts_rotate_through_the_urls_and_back_off_only_after_a_whole_round() -> None:
    link, driver, _clock = make(URLS, backoff=Backoff(initial=1.0, maximum=8.0, jitter="none"))
    driver.start()
    for _ in range(3):  # three rounds
        for url in URLS:
            assert driver.pending_open is not None and driver.pending_open.url == url
            assert link.url == url
            driver.failed()
        assert link.next_retry_at is not None
        driver.advance_to(link.next_retry_at)
    assert driver.opens() == list(URLS) * 3 + ["ws://a"]
    # The three attempts of a round at the same instant; a wait of bound(n) after round n.
    assert driver.times(Open) == pytest.approx([0, 0, 0, 1, 1, 1, 3, 3, 3, 7])


def test_a_failed_attempt_moves_to_the_next_url_at_once() -> None:
    link, driver, _ = make(URLS)
    driver.start()
    driver.failed()
    assert link.next_retry_at is None and link.state is S.RECONNECTING
    assert driver.pending_open == Open("ws://b", 2)
    driver.opened()
    assert link.url == "ws://b" and link.state is S.CONNECTED


def test_a_link_lost_on_one_node_is_retried_on_the_next_at_once() -> None:
    link, driver, _ = make(URLS, stable_after=5.0)
    driver.start()
    driver.opened()
    driver.drop(closed_by_server(1001))
    assert link.next_retry_at is None and driver.pending_open is not None
    assert driver.pending_open.url == "ws://b"


def test_a_link_that_had_been_up_is_replaced_by_the_next_node_at_once() -> None:
    link, driver, _ = make(URLS, stable_after=5.0)
    driver.start()
    driver.opened()
    driver.advance(60.0)  # up long enough to count as stable: attempt goes back to 0
    driver.drop(closed_by_server(1001))
    assert link.attempt == 0 and link.next_retry_at is None
    assert driver.pending_open is not None and driver.pending_open.url == "ws://b"


def test_connect_during_a_wait_resets_the_attempt_counter_and_tries_now() -> None:
    link, driver, _ = make(["ws://a"], backoff=Backoff(initial=1.0, maximum=8.0, jitter="none"))
    driver.start()
    for _ in range(3):
        driver.failed()
        assert link.next_retry_at is not None
        driver.advance_to(link.next_retry_at)
    driver.failed()
    assert link.attempt == 4 and link.next_retry_at is not None
    link.connect()
    driver.pump()
    assert link.attempt == 0 and link.next_retry_at is None and driver.pending_open is not None


def test_terminal_errors_stop_the_rotation() -> None:
    link, driver, _ = make(URLS)
    driver.start()
    driver.failed()
    driver.failed(http_status(403))
    driver.advance(3600.0)
    assert driver.opens() == ["ws://a", "ws://b"] and link.state is S.DISCONNECTED


def test_learned_urls_join_the_rotation_once() -> None:
    link, driver, _clock = make(["ws://a"], backoff=Backoff(initial=1.0, maximum=1.0, jitter="none"))
    link.learn_urls(["ws://b", "ws://a", "ws://c", "ws://b"])
    assert link.urls == ["ws://a", "ws://b", "ws://c"]
    driver.start()
    for _ in range(6):
        driver.failed()
        if link.next_retry_at is not None:
            driver.advance_to(link.next_retry_at)
    assert driver.opens() == ["ws://a", "ws://b", "ws://c"] * 2 + ["ws://a"]
    assert driver.times(Open) == pytest.approx([0, 0, 0, 1, 1, 1, 2])


def test_max_attempts_counts_every_url_tried() -> None:
    link, driver, _ = make(URLS, max_attempts=4)
    driver.start()
    for _ in range(4):
        driver.failed()
        driver.advance(60.0)
    assert driver.opens() == ["ws://a", "ws://b", "ws://c", "ws://a"]
    assert link.state is S.DISCONNECTED and link.last_error is not None
    assert link.last_error.startswith("gave up after 4 attempts")


# ---------------------------------------------------------------------------------- at scale

CYCLES = 10_000


def test_ten_thousand_connect_drop_cycles_run_in_well_under_a_second() -> None:
    link, driver, clock = make(
        backoff=Backoff(initial=0.01, maximum=0.01, jitter="none"), stable_after=1.0,
        heartbeat_interval=10.0, heartbeat=KeyedPing(), subscriptions=lambda: [Outgoing("sub")],
    )
    started = time.process_time()
    driver.start()
    for i in range(CYCLES):
        driver.opened()
        driver.ack_all()
        if i % 2:
            driver.put("u")
        driver.ack_all()
        driver.advance(1.5)  # up longer than stable_after
        driver.drop(closed_by_server(1006))
        driver.advance(0.01)
        driver.performed.clear()  # keep the log small
    elapsed = time.process_time() - started
    print(f"\n{CYCLES} connect/drop cycles: {elapsed * 1000:.0f} ms of process time")
    assert elapsed < 1.0
    assert link.reconnects == CYCLES - 1 and link.attempt == 0
    assert link.messages_out == CYCLES + CYCLES // 2  # a subscription each time, a send every other
    assert link.state is S.RECONNECTING and driver.pending_open is not None
    assert driver.pending_open.gen == CYCLES + 1
    assert clock.now == pytest.approx(T0 + CYCLES * 1.51)


def test_ten_thousand_failed_attempts_with_backoff_run_in_well_under_a_second() -> None:
    backoff = Backoff(initial=0.01, maximum=2.0, multiplier=2.0, jitter="full")
    link, driver, clock = make(backoff=backoff, rng=random.Random(1), heartbeat_interval=10.0)
    driver.put("waiting")
    started = time.process_time()
    driver.start()
    delays = delays_after_failures(link, driver, clock, CYCLES)
    elapsed = time.process_time() - started
    print(f"\n{CYCLES} failed attempts: {elapsed * 1000:.0f} ms of process time")
    assert elapsed < 1.0
    assert link.attempt == CYCLES and link.reconnects == 0 and link.state is S.RECONNECTING
    assert all(0.0 <= d <= backoff.bound(n) + 1e-9 for n, d in enumerate(delays))
    assert max(delays) > 1.9  # the cap is reached
    assert len(driver.actions(Open)) == CYCLES + 1
    assert clock.now == pytest.approx(T0 + sum(delays))
    assert len(link.outbox) == 1 and link.messages_out == 0
