"""The link core: every decision about one logical connection, with no sockets and no event loop.

:class:`Link` is a state machine in the style of a sans-I/O protocol. The driver (``connection.py``)
tells it what happened (an attempt opened or failed, a frame or a pong arrived, a write finished, the
link closed, a timer fired, the user asked for something) and performs what it asks for in return,
in order: :class:`Open` a URL, :class:`Write` a frame, :class:`Ping`, :class:`Close` the link,
:class:`SetState`. After each event the driver sets one timer for :attr:`Link.wake_at` and calls
:meth:`Link.on_timer` when it fires.

The core owns the retry policy (backoff, ``max_attempts``, ``stable_after``, terminal errors,
``Retry-After``), the rotation through a list of URLs (a failed attempt moves on to the next URL at
once; backoff applies to a whole failed round), the heartbeat timing (a WebSocket ping every
interval, a protocol ping when the link has been idle for an interval, dead after ``timeout`` with
no frame), the outbox (user sends in order, one in flight, TTL expiry) and the counters behind
``stats()``. Time comes from an injected clock, randomness from an injected ``random.Random``:
thousands of reconnect cycles run in milliseconds in tests.

Thread-safety: every method is for one thread (the I/O thread) except :meth:`Link.put`, which any
thread may call; the outbox is guarded by :attr:`Link.lock`.

>>> from rt_widgets.backoff import Backoff
>>> now = [0.0]
>>> link = Link(["ws://a", "ws://b"], backoff=Backoff(jitter="none"), clock=lambda: now[0])
>>> link.start(); [type(a).__name__ for a in link.take_actions()]
['SetState', 'Open']
>>> link.on_open_failed(1, LinkError("connection failed: refused")); link.take_actions()[-1]
Open(url='ws://b', gen=2)
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from .backoff import Backoff, RetryPolicy
from .errors import LinkError
from .outbox import Outbox, Overflow, SendHandle

__all__ = [
    "Action",
    "Close",
    "ConnectionState",
    "Heartbeat",
    "Link",
    "Open",
    "Outgoing",
    "Ping",
    "SetState",
    "Write",
]

_LATENCY_ALPHA = 0.3
_MAX_PENDING_PINGS = 16


class ConnectionState(StrEnum):
    """The states of a connection; the values are what the status indicator shows."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One frame to send: ``data`` as bytes (``text=True``: UTF-8 text) or str."""

    data: bytes | str
    text: bool = True


# ---------------------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Open:
    """Open a WebSocket to ``url``; report the outcome with ``gen``."""

    url: str
    gen: int


@dataclass(frozen=True, slots=True)
class Write:
    """Write ``frame`` on link ``gen``; for a user send (``handle`` set) report the outcome."""

    frame: Outgoing
    gen: int
    handle: SendHandle | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Send a WebSocket ping on link ``gen``; report its pong with :meth:`Link.on_pong`."""

    gen: int


@dataclass(frozen=True, slots=True)
class Close:
    """End link ``gen`` (or cancel its opening): a close frame when ``abort`` is false, else drop
    the TCP connection at once. Report the end with :meth:`Link.on_closed` (ignored if stale)."""

    gen: int
    abort: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetState:
    """The connection's state is now ``new`` (was ``old``)."""

    old: ConnectionState
    new: ConnectionState


Action = Open | Write | Ping | Close | SetState


class Heartbeat(Protocol):
    """What a protocol contributes to liveness: ``ping()`` returns the frame of an application ping
    and the key its pong will carry, or ``None`` (no application ping for this feed)."""

    def ping(self) -> tuple[Outgoing, str | None] | None: ...


class Link:
    """The pure state machine behind a ``Connection``; see the module docstring.

    ``urls``: one or more URLs, tried in turn. ``heartbeat_interval=None`` turns the heartbeat off.
    ``should_reconnect(error)`` overrides the terminal/retry decision for a failure.
    ``subscriptions()`` returns the frames to send on every (re)connect, after the protocol's
    ``handshake()`` frames and before the outbox flushes.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        stable_after: float = 5.0,
        heartbeat_interval: float | None = 10.0,
        heartbeat_timeout: float = 5.0,
        heartbeat: Heartbeat | None = None,
        queue_limit: int = 1000,
        queue_ttl: float | None = None,
        overflow: Overflow = "drop_oldest",
        should_reconnect: Callable[[LinkError], bool] | None = None,
        handshake: Callable[[], Sequence[Outgoing]] | None = None,
        subscriptions: Callable[[], Sequence[Outgoing]] | None = None,
        needs_ack: bool = False,
        handshake_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("a connection needs at least one URL")
        self.urls: list[str] = list(urls)
        self._url_index = 0
        self.clock = clock
        self.policy = RetryPolicy(backoff or Backoff(), max_attempts, stable_after, clock, rng)
        self.outbox = Outbox(queue_limit, queue_ttl, overflow, clock)
        self.lock = threading.Lock()
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = float(heartbeat_timeout)
        self._heartbeat = heartbeat
        self._should_reconnect = should_reconnect
        self._handshake = handshake
        self._subscriptions = subscriptions
        self.needs_ack = needs_ack
        self.handshake_timeout = float(handshake_timeout)
        self._ack_deadline: float | None = None  # open, waiting for the protocol's ack
        self.idle_timeout: float | None = None  # set by a protocol: dead after this long silent
        # Set by a protocol whose server wants a packet from the client this often (MQTT's
        # keepalive): with the heartbeat off, the protocol's ping still goes on an idle link.
        self.keepalive_interval: float | None = None
        self._on_error = on_error

        self.state = ConnectionState.DISCONNECTED
        self._actions: list[Action] = []
        self.gen = 0  # the link (or attempt) the core currently wants; older reports are stale
        self._opening = False  # an Open is out and unanswered
        self._open = False  # link ``gen`` is established
        self._running = False  # between start/connect and disconnect/give-up/stop
        self._reopen = False  # the current link is being closed by reconnect(): open again at once
        self._retry_at: float | None = None
        self._retry_after: float | None = None
        self._inflight: SendHandle | None = None
        self._writer_idle = False  # connected with nothing in flight: a put() needs a kick

        # Heartbeat timing (seconds on ``clock``).
        self.last_inbound = 0.0
        self._next_probe: float | None = None
        self._ping_sent_at: float | None = None
        self._ping_deadline: float | None = None
        self._pending_pings: dict[str, float] = {}
        self.dead_reason: str | None = None
        self._failure: LinkError | None = None

        # Counters and gauges.
        self.ever_connected = False
        self.connected_at: float | None = None
        self.latency_ms: float | None = None
        self.last_error: str | None = None
        self.last_close_code: int | None = None
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.reconnects = 0

    # ------------------------------------------------------------------------------- reading

    @property
    def url(self) -> str:
        """The URL in use (or to be tried next)."""
        return self.urls[self._url_index]

    @property
    def attempt(self) -> int:
        return self.policy.attempt

    @property
    def running(self) -> bool:
        return self._running

    @property
    def next_retry_at(self) -> float | None:
        return self._retry_at

    @property
    def wake_at(self) -> float | None:
        """When :meth:`on_timer` must next be called (``None``: no timer needed)."""
        times: list[float] = []
        if self._retry_at is not None:
            times.append(self._retry_at)
        interval = self._interval
        if self._beating and interval is not None:
            if self._next_probe is not None:
                times.append(self._next_probe)
            if self._ping_deadline is not None:
                times.append(self._ping_deadline)
            else:
                times.append(self.last_inbound + interval)
        expiry = self.outbox.next_expiry() if self.outbox.ttl is not None else None
        if expiry is not None:
            times.append(expiry)
        if self._open and self.dead_reason is None:
            if self._ack_deadline is not None:
                times.append(self._ack_deadline)
            if self.idle_timeout is not None:
                times.append(self.last_inbound + self.idle_timeout)
        return min(times) if times else None

    @property
    def _interval(self) -> float | None:
        """How long the link may be idle before a ping: the heartbeat's, or a protocol's keepalive
        when the heartbeat is off."""
        return self.heartbeat_interval if self.heartbeat_interval is not None \
            else self.keepalive_interval

    @property
    def _beating(self) -> bool:
        return self._open and self._interval is not None and self.dead_reason is None

    def take_actions(self) -> list[Action]:
        """The actions asked for since the last call, in the order they must be performed."""
        actions, self._actions = self._actions, []
        return actions

    @property
    def has_actions(self) -> bool:
        return bool(self._actions)

    def learn_urls(self, urls: Sequence[str]) -> None:
        """Add URLs to the rotation (those not already in it), after the ones given."""
        for url in urls:
            if url not in self.urls:
                self.urls.append(url)

    # ---------------------------------------------------------------------------- user commands

    def start(self) -> None:
        """Start connecting; while waiting between attempts, try now. No effect when connected."""
        if self.state is ConnectionState.CLOSED:
            return
        if self._running:
            self.retry_now()
            return
        self._running = True
        self._attempt(first=True)

    def connect(self) -> None:
        """``start()`` with the attempt counter reset: after ``disconnect()``, after giving up, or
        to cut a wait short."""
        if self.state is ConnectionState.CLOSED:
            return
        self.policy.reset()
        self.start()

    def reconnect(self) -> None:
        """Drop the current link, if any, and connect again at once, with the counter reset."""
        if self.state is ConnectionState.CLOSED:
            return
        self.policy.reset()
        if not self._running:
            self._running = True
            self._attempt(first=True)
        elif self._open:
            self._reopen = True
            self._emit(Close(self.gen))
        elif self._opening:
            self._emit(Close(self.gen))  # abandon the attempt under way and start afresh
            self._attempt(first=False)
        else:
            self.retry_now()

    def retry_now(self) -> None:
        """Cut a wait between attempts short (no effect otherwise)."""
        if self._retry_at is not None:
            self._retry_at = None
            self._attempt(first=False)

    def disconnect(self) -> None:
        """Close the link and stay ``disconnected`` until ``connect()``; queued sends wait."""
        if self.state is ConnectionState.CLOSED:
            return
        self._halt()
        self._set_state(ConnectionState.DISCONNECTED)

    def stop(self) -> None:
        """Close for good: the link is closed, every queued send dropped, the state ``closed``."""
        if self.state is ConnectionState.CLOSED:
            return
        self._halt()
        with self.lock:
            # Closed under the lock, so a put() racing this from another thread either finds its
            # message dropped here or sees ``closed`` itself: none is left queued for ever.
            self._set_state(ConnectionState.CLOSED)
            self.outbox.drop_all("connection closed")

    def put(self, message: Any, frame: Outgoing) -> tuple[SendHandle, bool]:
        """Queue a user send (any thread). Returns its handle and whether the driver must call
        :meth:`kick` on the I/O thread (an idle writer to wake, or a TTL timer to set)."""
        with self.lock:
            handle = self.outbox.put(message, frame)
            if self.state is ConnectionState.CLOSED:
                # The caller checked before stop() ran: nothing will ever send it.
                self.outbox.drop_all("connection closed")
                return handle, False
            kick = self._writer_idle or self.outbox.ttl is not None
        return handle, kick

    def kick(self) -> None:
        """Write the next queued send if the link is free, and expire old ones (I/O thread)."""
        if self.outbox.ttl is not None:
            with self.lock:
                self.outbox.expire()
        self._next_write()

    # ------------------------------------------------------------------------------ link events

    def on_opened(self, gen: int) -> None:
        """Attempt ``gen`` completed its opening handshake."""
        if gen != self.gen or not self._opening:
            return
        now = self.clock()
        self._opening = False
        self._open = True
        self.connected_at = now
        self.last_inbound = now
        self.dead_reason = None
        self._pending_pings.clear()
        self._ping_sent_at = self._ping_deadline = None
        self.idle_timeout = None
        self.keepalive_interval = None
        for frame in self._call(self._handshake):
            self._emit(Write(frame, gen))
        if self.heartbeat_interval is not None:
            # One ping at once, so the latency is known right after connecting.
            self._emit(Ping(gen))
            self._next_probe = now + self.heartbeat_interval
        if self.needs_ack:
            # Connected once the protocol's own handshake is answered (see ready()).
            self._ack_deadline = now + self.handshake_timeout
        else:
            self._connected()

    def ready(self) -> None:
        """The protocol's handshake was answered (a ``connection_ack``, a CONNACK...): the link is
        ``connected``; subscriptions and queued sends follow. No effect unless waiting for it."""
        if self._open and self._ack_deadline is not None:
            self._ack_deadline = None
            self._connected()

    def fail(self, error: LinkError) -> None:
        """The protocol found the link unusable (its handshake refused, credentials rejected, a
        fatal protocol error): it is dropped and ``error`` decides what follows, as a close would."""
        if self._open and self.dead_reason is None:
            self.dead_reason = error.message
            self._failure = error
            self._emit(Close(self.gen, abort=True, reason=error.message))

    def set_idle_timeout(self, seconds: float | None) -> None:
        """A protocol's keepalive rule (Engine.IO: pingInterval + pingTimeout): the link is dead
        when nothing arrives for ``seconds``, besides the heartbeat's own rule (``None``: off)."""
        if seconds is not None and not seconds > 0:
            raise ValueError(f"idle timeout must be > 0 or None, got {seconds!r}")
        self.idle_timeout = seconds

    def set_keepalive(self, seconds: float | None) -> None:
        """A protocol's rule that the client must send something every ``seconds`` (MQTT: within
        its keepalive): with ``heartbeat_interval=None`` the link still sends the protocol's ping
        after ``seconds`` idle, and a ping unanswered within ``heartbeat_timeout`` ends the link as
        a heartbeat's would (``None``: off; with a heartbeat, the heartbeat's interval applies)."""
        if seconds is not None and not seconds > 0:
            raise ValueError(f"keepalive interval must be > 0 or None, got {seconds!r}")
        self.keepalive_interval = seconds

    def _connected(self) -> None:
        self.policy.on_connected()
        if self.ever_connected:
            self.reconnects += 1
        self.ever_connected = True
        self.last_error = None
        self._set_state(ConnectionState.CONNECTED)
        for frame in self._call(self._subscriptions):
            self._emit(Write(frame, self.gen))
        self._next_write()

    def on_open_failed(self, gen: int, error: LinkError) -> None:
        """Attempt ``gen`` failed before the link was established."""
        if gen != self.gen or not self._opening:
            return
        self._opening = False
        self.last_error = error.message
        self.policy.on_attempt_failed()
        self._after_failure(error)

    def on_closed(self, gen: int, error: LinkError | None = None) -> None:
        """Link ``gen`` ended (``error``: why, as the driver saw it; the core's own reason, such as
        a heartbeat timeout, takes precedence)."""
        if gen != self.gen or not self._open:
            return
        was_ready = self._ack_deadline is None
        self._end_link()
        if self._failure is not None:
            error, self._failure = self._failure, None
        elif self.dead_reason is not None:
            error = LinkError(self.dead_reason, close_code=1006)
        error = error or LinkError("connection closed: code 1006", close_code=1006)
        if error.close_code is not None:
            self.last_close_code = error.close_code
        if self._reopen:
            self._reopen = False
            self.policy.reset()
            self._attempt(first=False)
            return
        self.last_error = error.message
        if was_ready:
            self.policy.on_link_lost()
        else:  # dropped before the protocol's handshake was answered: a failed attempt
            self.policy.on_attempt_failed()
        self._after_failure(error)

    def on_frame(self, size: int) -> None:
        """A data frame of ``size`` bytes arrived (the driver may also just set ``last_inbound``
        and ``bytes_in`` itself on its hot path)."""
        self.last_inbound = self.clock()
        self.bytes_in += size

    def on_pong(self, gen: int, rtt: float) -> None:
        """The pong of a WebSocket ping on link ``gen`` arrived after ``rtt`` seconds."""
        if gen != self.gen or not self._open:
            return
        self.last_inbound = self.clock()
        self._record_rtt(rtt)

    def on_app_pong(self, key: str | None) -> None:
        """The protocol saw the answer to an application ping (``key`` as its ``ping()`` gave)."""
        sent_at = self._pending_pings.pop(key, None) if key is not None else None
        if sent_at is None and key is None and self._pending_pings:
            sent_at = self._pending_pings.pop(next(iter(self._pending_pings)))
        if sent_at is not None:
            self._record_rtt(self.clock() - sent_at)

    def on_decode_error(self, text: str) -> None:
        """The protocol could not decode (part of) a frame; the link stays up."""
        self.last_error = text

    def reply(self, frame: Outgoing) -> None:
        """Send a protocol frame (such as a pong) on the current link now, outside the outbox."""
        if self._open:
            self._emit(Write(frame, self.gen))

    def on_written(self, gen: int, frame: Outgoing, handle: SendHandle | None) -> None:
        """``frame`` was handed to the socket without error."""
        self.messages_out += 1
        self.bytes_out += len(frame.data)
        if handle is not None:
            with self.lock:
                self.outbox.sent(handle)
            if handle is self._inflight:
                self._inflight = None
            if gen == self.gen:
                self._next_write()

    def on_write_failed(self, handle: SendHandle) -> None:
        """A user send was not handed to the socket: it goes back to the head of the queue."""
        with self.lock:
            self.outbox.failed(handle)
        if handle is self._inflight:
            self._inflight = None

    def on_timer(self) -> None:
        """The time asked for by :attr:`wake_at` has come (or passed)."""
        now = self.clock()
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._attempt(first=False)
        if self.outbox.ttl is not None:
            with self.lock:
                self.outbox.expire()
        if self._open and self.dead_reason is None:
            self._check_protocol_deadlines(now)
        interval = self._interval
        if self._beating and interval is not None:
            self._beat(now, interval)

    # ------------------------------------------------------------------------------- internals

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _call(self, source: Callable[[], Sequence[Outgoing]] | None) -> Sequence[Outgoing]:
        if source is None:
            return ()
        try:
            return source()
        except Exception as exc:  # a broken subscription must not stop the link
            if self._on_error is not None:
                self._on_error("building the frames to send on connect failed", exc)
            return ()

    def _set_state(self, new: ConnectionState) -> None:
        old = self.state
        if new is not old:
            self.state = new
            self._emit(SetState(old, new))

    def _attempt(self, *, first: bool) -> None:
        self.gen += 1
        self._opening = True
        self._set_state(ConnectionState.CONNECTING if first else ConnectionState.RECONNECTING)
        self._emit(Open(self.url, self.gen))

    def _halt(self) -> None:
        """Stop whatever runs: the link or the attempt is closed, no retry is pending."""
        if self._open or self._opening:
            self._emit(Close(self.gen))
        if self._open:
            self._end_link()
        self._opening = False
        self._reopen = False
        self._running = False
        self._retry_at = None
        self.gen += 1  # whatever the driver reports about the old link is stale now

    def _end_link(self) -> None:
        self._open = False
        self._ack_deadline = None
        self.connected_at = None
        self._next_probe = self._ping_sent_at = self._ping_deadline = None
        with self.lock:
            self._writer_idle = False
            if self._inflight is not None:
                # Not reported written: it was never handed to the socket; it is sent first next time.
                self.outbox.failed(self._inflight)
                self._inflight = None

    def _terminal(self, error: LinkError) -> bool:
        if self._should_reconnect is not None:
            try:
                return not self._should_reconnect(error)
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error("should_reconnect failed; using the default rules", exc)
        return error.terminal

    def _after_failure(self, error: LinkError) -> None:
        """Decide what follows a failed attempt or a lost link: the next URL at once, a wait, or
        the end (``disconnected`` with ``last_error``)."""
        if self._terminal(error):
            self._give_up(error.message)
            return
        if self.policy.exhausted():
            self._give_up(f"gave up after {self.policy.attempt} attempts: {error.message}")
            return
        rotation = len(self.urls)
        self._url_index = (self._url_index + 1) % rotation
        attempt = self.policy.attempt
        stable_drop = attempt == 0 and self.policy.stable_after > 0
        if rotation > 1 and (attempt % rotation != 0 or stable_drop):
            # A round of the URLs is not over (or a link that had been up dropped): the next URL
            # is tried at once; a dead node costs one fast retry on the next, not a wait.
            self._attempt(first=False)
            return
        delay = self.policy.next_delay(max(attempt // rotation - 1, 0))
        assert delay is not None  # not exhausted
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        self._retry_at = self.clock() + delay
        self._set_state(ConnectionState.RECONNECTING)

    def _give_up(self, message: str) -> None:
        self.last_error = message
        self._running = False
        self._retry_at = None
        self._set_state(ConnectionState.DISCONNECTED)

    def _next_write(self) -> None:
        if not self._open or self._inflight is not None or self._ack_deadline is not None:
            return
        with self.lock:
            handle = self.outbox.take()
            self._writer_idle = handle is None
        if handle is not None:
            self._inflight = handle
            assert isinstance(handle.frame, Outgoing)
            self._emit(Write(handle.frame, self.gen, handle))

    def _check_protocol_deadlines(self, now: float) -> None:
        reason = None
        if self._ack_deadline is not None and now >= self._ack_deadline:
            reason = (f"protocol handshake timed out: no answer within {self.handshake_timeout} s "
                      "after the link opened")
        elif self.idle_timeout is not None and now >= self.last_inbound + self.idle_timeout:
            reason = (f"keepalive timeout: nothing from the server for {self.idle_timeout} s "
                      "(the protocol's own keepalive); the link is dead")
        if reason is not None:
            self.dead_reason = reason
            self._emit(Close(self.gen, abort=True, reason=reason))

    def _record_rtt(self, seconds: float) -> None:
        sample = seconds * 1000.0
        previous = self.latency_ms
        self.latency_ms = sample if previous is None else previous + _LATENCY_ALPHA * (sample - previous)

    def _beat(self, now: float, interval: float) -> None:
        timeout = self.heartbeat_timeout
        if self._ping_deadline is not None:
            assert self._ping_sent_at is not None
            if self.last_inbound >= self._ping_sent_at:
                self._ping_sent_at = self._ping_deadline = None  # answered: alive
            elif now >= self._ping_deadline:
                if now - self._ping_deadline > min(0.1, timeout / 2):
                    # Woken late: the loop itself was blocked (a slow handler) and frames may be
                    # sitting unread. Give the reader a fresh timeout before judging the link.
                    self._ping_deadline = now + timeout
                else:
                    self.dead_reason = (
                        f"heartbeat timeout: no frame within {timeout} s after a ping; the link is dead"
                    )
                    self._emit(Close(self.gen, abort=True, reason=self.dead_reason))
                return
        if self._next_probe is not None and now >= self._next_probe:
            # A WebSocket ping every interval measures latency even on a busy link.
            self._emit(Ping(self.gen))
            self._next_probe = now + interval
        if self._ping_deadline is None and now >= self.last_inbound + interval:
            # Idle for a whole interval: ask, and declare the link dead if nothing comes.
            self._ping_sent_at = now
            self._ping_deadline = now + timeout
            ping = self._heartbeat.ping() if self._heartbeat is not None else None
            if ping is not None:
                frame, key = ping
                if key is not None:
                    if len(self._pending_pings) >= _MAX_PENDING_PINGS:
                        self._pending_pings.pop(next(iter(self._pending_pings)))
                    self._pending_pings[key] = now
                self._emit(Write(frame, self.gen))
