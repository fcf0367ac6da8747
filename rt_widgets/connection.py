"""The connection: the public ``Connection`` and the asyncio driver under it.

Every decision (states, retries, failover, heartbeat timing, the outbox, counters) is made by the
pure link core (:mod:`rt_widgets.link`), and every frame is understood by a pure protocol
(:mod:`rt_widgets.protocols`). This module only performs what the core asks for, on the
process-wide I/O thread (:mod:`rt_widgets.iothread`): it opens sockets with ``websockets``, writes
frames in order, sends WebSocket pings, runs one timer, and tells the core what happened. Every
public method is safe to call from any thread, from sync or async code and from a Jupyter kernel.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import ssl as ssl_module
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from types import EllipsisType, TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.typing import Subprotocol

from . import iothread
from .backoff import Backoff
from .dispatch import Dispatcher, Handler
from .errors import LinkError, classify_open_error, close_error
from .frames import FrameConnection, Payload, frame_connection_factory
from .link import Close, ConnectionState, Link, Open, Outgoing, Ping, SetState, Write
from .outbox import Overflow, SendHandle
from .protocol import Message
from .protocols.auto import Auto
from .protocols.base import NO_PAYLOAD, FrameProtocol
from .protocols.envelope import Envelope
from .protocols.fields import Fields
from .protocols.function import Function
from .recording import Recording
from .secrets import RedactingLogger, Secrets, redact_url

__all__ = ["Connection", "ConnectionState", "LinkError"]

logger = logging.getLogger("rt_widgets.connection")

HeadersLike = Mapping[str, str] | Callable[[], Mapping[str, str]] | None
Messages = Literal["auto", "envelope"] | Fields | Callable[[Any], Iterable[Any]]
_live: weakref.WeakSet[Connection] = weakref.WeakSet()


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a string like 'ws://host:port/path', got {url!r}")
    if urlsplit(url).scheme.lower() not in ("ws", "wss"):
        raise ValueError(f"url must start with ws:// or wss://, got {redact_url(url)!r}")
    return url


def _protocol_of(messages: Messages, protocol: FrameProtocol | None, heartbeat_message: Any) -> FrameProtocol:
    if protocol is not None:
        if not isinstance(protocol, FrameProtocol):
            raise TypeError(f"protocol must be an rt_widgets.protocols adapter, got {protocol!r}")
        if messages != "auto":
            raise TypeError("pass messages= for a plain WebSocket feed or protocol=, not both")
        chosen = protocol
    elif messages == "auto":
        chosen = Auto()
    elif messages == "envelope":
        chosen = Envelope()
    elif isinstance(messages, Fields):
        chosen = messages
    elif callable(messages) and not isinstance(messages, str):
        chosen = Function(messages)
    else:
        raise ValueError(
            f"messages must be 'auto', 'envelope', a Fields(...) or a callable, got {messages!r}")
    if heartbeat_message is not ...:
        chosen.set_heartbeat(heartbeat_message)
    return chosen


class Connection:
    """A resilient WebSocket connection, independent of Jupyter.

    >>> conn = Connection("ws://127.0.0.1:8765/ws")  # doctest: +SKIP
    >>> conn.on("mission_update", print)  # doctest: +SKIP
    >>> conn.start(); conn.wait_for_state("connected", timeout=5)  # doctest: +SKIP
    >>> conn.send("subscribe", {"channel": "metrics"}).wait(5)  # doctest: +SKIP
    >>> conn.stop()  # doctest: +SKIP

    ``url`` may be a list of URLs: attempts rotate through them. Or from async code:
    ``async with Connection(url) as conn: await conn.await_state("connected")``.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        messages: Messages = "auto",
        protocol: FrameProtocol | None = None,
        headers: HeadersLike = None,
        subprotocols: Sequence[str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        heartbeat_interval: float | None = 10.0,
        heartbeat_timeout: float = 5.0,
        heartbeat_message: Mapping[str, Any] | str | EllipsisType | None = ...,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        stable_after: float = 5.0,
        queue_limit: int = 1000,
        queue_ttl: float | None = None,
        overflow: Overflow = "drop_oldest",
        max_message_size: int | None = 1 << 20,
        open_timeout: float = 10.0,
        should_reconnect: Callable[[LinkError], bool] | None = None,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url) if isinstance(url, Sequence) else [url]
        if not urls:
            raise ValueError("url must be a URL or a non-empty list of URLs")
        urls = [_check_url(u) for u in urls]
        if heartbeat_interval is not None and not heartbeat_interval > 0:
            raise ValueError(f"heartbeat_interval must be > 0 or None, got {heartbeat_interval!r}")
        if not heartbeat_timeout > 0:
            raise ValueError(f"heartbeat_timeout must be > 0, got {heartbeat_timeout!r}")
        if max_message_size is not None and not max_message_size > 0:
            raise ValueError(f"max_message_size must be > 0 or None, got {max_message_size!r}")
        if not open_timeout > 0:
            raise ValueError(f"open_timeout must be > 0, got {open_timeout!r}")
        if headers is not None and not (callable(headers) or isinstance(headers, Mapping)):
            raise TypeError("headers must be a dict or a callable returning a dict")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff, got {backoff!r}")
        if should_reconnect is not None and not callable(should_reconnect):
            raise TypeError(f"should_reconnect must be callable, got {should_reconnect!r}")

        self._protocol = _protocol_of(messages, protocol, heartbeat_message)
        self._headers = headers
        offered = [*(subprotocols or ()), *self._protocol.subprotocols]
        self._subprotocols = [Subprotocol(p) for p in dict.fromkeys(offered)] or None
        self._ssl = ssl
        self._max_message_size = max_message_size
        self._open_timeout = float(open_timeout)
        self._secrets = Secrets(urls, headers)
        self._wire_logger = RedactingLogger(logging.getLogger("websockets.client"), self._secrets)
        self._log = RedactingLogger(logger, self._secrets)
        self._subscriptions: tuple[Outgoing, ...] = ()

        self._dispatcher = Dispatcher(schedule=self._schedule_handler)
        self._link = Link(
            urls,
            backoff=backoff,
            max_attempts=max_attempts,
            stable_after=stable_after,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            heartbeat=self._protocol,
            queue_limit=queue_limit,
            queue_ttl=queue_ttl,
            overflow=overflow,
            should_reconnect=should_reconnect,
            handshake=self._protocol.handshake,
            subscriptions=lambda: self._subscriptions,
            needs_ack=self._protocol.needs_ack,
            handshake_timeout=open_timeout,
            on_error=self._log_failure,
        )
        self._protocol.bind(self._link, self._dispatcher)
        self._secrets.add(*self._protocol.secret_values())

        # The state as the callbacks and waiters see it: changed only while performing SetState.
        self._state = ConnectionState.DISCONNECTED
        self._state_lock = threading.Lock()
        self._state_watchers: tuple[Callable[[ConnectionState, ConnectionState], Any], ...] = ()
        self._state_waiters: list[tuple[ConnectionState, Callable[[], None]]] = []

        # Loop-side objects, used on the I/O thread only.
        self._socket: _Socket | None = None  # the established link
        self._opener: tuple[int, asyncio.Task[None]] | None = None  # the attempt under way
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._oversized = 0
        self._recording: Recording | None = None
        self._redirected: str | None = None  # where the server redirected the link in use
        _live.add(self)

    # ------------------------------------------------------------------ read-only views

    @property
    def url(self) -> str:
        """The URL in use, as given (may hold credentials: never display it; see ``display_url``)."""
        return self._link.url

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL of the rotation, as given (with any an adapter learned)."""
        return tuple(self._link.urls)

    @property
    def display_url(self) -> str:
        """The URL in use (where a redirect led, if one did) with userinfo and secret-looking query
        values masked."""
        return redact_url(self._redirected or self._link.url)

    @property
    def protocol(self) -> FrameProtocol:
        """How this connection reads frames (``messages=``/``protocol=``, as built)."""
        return self._protocol

    @property
    def secrets(self) -> Secrets:
        """The credentials this connection knows (URLs, headers as resolved on each attempt); its
        ``scrub(text)`` masks them. Every text this connection shows or logs went through it."""
        return self._secrets

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def attempt(self) -> int:
        """Consecutive failed attempts (0 once a link stayed up ``stable_after`` seconds)."""
        return self._link.attempt

    @property
    def latency_ms(self) -> float | None:
        """Smoothed round-trip time of the heartbeat pings, ``None`` before the first pong."""
        return self._link.latency_ms

    @property
    def last_error(self) -> str | None:
        return self._link.last_error

    @property
    def next_retry_in(self) -> float | None:
        """Seconds until the next attempt while waiting between attempts, else ``None``."""
        at = self._link.next_retry_at
        return None if at is None else max(0.0, at - time.monotonic())

    def stats(self) -> dict[str, Any]:
        """Counters and gauges, consistent with ``state`` at the time of the call."""
        link = self._link
        with link.lock:
            queued = len(link.outbox)
            dropped = link.outbox.dropped
            expired = link.outbox.expired
        connected_at = link.connected_at
        return {
            "messages_in": link.messages_in,
            "messages_out": link.messages_out,
            "bytes_in": link.bytes_in,
            "bytes_out": link.bytes_out,
            "decode_errors": self._protocol.decode_errors + self._oversized,
            "gaps": self._protocol.gaps,
            "unmatched": self._protocol.unmatched,
            "server_errors": self._protocol.errors,
            "handler_errors": self._dispatcher.handler_errors,
            "reconnects": link.reconnects,
            "attempt": link.attempt,
            "queued": queued,
            "dropped": dropped,
            "expired": expired,
            "latency_ms": link.latency_ms,
            "uptime_s": 0.0 if connected_at is None else time.monotonic() - connected_at,
            "last_close_code": link.last_close_code,
            "last_error": link.last_error,
            "url": self.display_url,
        }

    def __repr__(self) -> str:
        return f"<Connection {self.display_url} state={self._state.value}>"

    # ------------------------------------------------------------------ subscriptions to events

    def on(self, type: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(payload)`` for each message of ``type``; ``"*"`` gets every ``Message``.

        Handlers run on the I/O thread, in registration order (typed first, then ``"*"``). Async handlers
        run as tasks on the I/O loop. Returns a function that unsubscribes. Every handler of a message
        gets the same payload object, and live tables and metrics keep it until their next frame: treat
        payloads as read-only (copy one to change it).

        A ``dispatch.Batched(one, many)`` handler also takes the payloads of several messages of
        ``type`` in one call, which is how the widgets keep up with fast batched feeds (see
        ``dispatch``).
        """
        return self._dispatcher.on(type, handler)

    def on_any(self, handler: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``handler(type, payload)`` for every message, after its typed handlers and before the
        ``"*"`` handlers; cheaper than ``"*"`` for a handler that needs only those two (no ``Message``
        is built for it). Returns a function that unsubscribes."""
        return self._dispatcher.tap(handler)

    def on_state(
        self, callback: Callable[[ConnectionState, ConnectionState], Any]
    ) -> Callable[[], None]:
        """Call ``callback(old, new)`` on every state change, in order, on the I/O thread."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self._state_watchers = (*self._state_watchers, callback)

        def unsubscribe() -> None:
            self._state_watchers = tuple(c for c in self._state_watchers if c is not callback)

        return unsubscribe

    # ------------------------------------------------------------------ sending

    def send(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> SendHandle:
        """Queue a send and return its ``SendHandle``; it is written as soon as the link is up.

        ``conn.send("subscribe", {"channel": "metrics"})`` sends the protocol's message for that
        type and payload (the envelope on plain feeds); ``conn.send(value)`` sends a dict or list as
        JSON text, a str as a text frame and bytes as a binary frame, exactly as given:
        ``conn.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})``. Raises
        ``QueueFullError`` when the queue is full and ``overflow="error"``; ``RuntimeError`` once closed.
        """
        if self._link.state is ConnectionState.CLOSED:
            raise RuntimeError("connection is closed; create a new Connection to send")
        message, frame = self._protocol.encode(type_or_value, payload)
        handle, kick = self._link.put(message, frame)
        if kick:
            iothread.call_soon(self._act, self._link.kick)
        return handle

    def subscribe(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> Callable[[], None]:
        """Send this now if connected and again on every reconnect, before queued sends; the same
        forms as ``send`` (``subscribe(value)`` sends the value exactly as given).

        Returns a function that stops the replay (it sends nothing to the server).
        """
        frame = self._protocol.subscription(type_or_value, payload)
        self._subscriptions = (*self._subscriptions, frame)
        iothread.call_soon(self._act, self._link.reply, frame)

        def unsubscribe() -> None:
            self._subscriptions = tuple(f for f in self._subscriptions if f is not frame)

        return unsubscribe

    # ------------------------------------------------------------------ recording

    def record(self, path: str | Path, *, max_bytes: int | None = None,
               max_seconds: float | None = None, compress: bool | None = None) -> Recording:
        """Record every frame received from now on, with its arrival time, before decoding, to
        ``path`` (appended to; gzip when ``compress`` or a ``.gz`` name); see ``recording`` for the
        format. Stops at ``Recording.stop()``, at ``max_bytes`` of frames or after ``max_seconds``,
        or when a new recording starts. Replay with ``python -m rt_widgets.replay PATH``."""
        setting = self._protocol.describe()
        header = {
            "url": self.display_url,
            "messages": self._secrets.scrub(setting) if not self._protocol.needs_ack else None,
            "protocol": self._secrets.scrub(setting) if self._protocol.needs_ack else None,
        }
        recording = Recording(path, header, max_bytes=max_bytes, max_seconds=max_seconds,
                              compress=compress)
        previous, self._recording = self._recording, recording
        if previous is not None:
            previous.stop()
        return recording

    # ------------------------------------------------------------------ control

    def _check_open(self) -> None:
        if self._link.state is ConnectionState.CLOSED:
            raise RuntimeError("connection is closed; create a new Connection")

    def start(self) -> Self:
        """Start connecting (on the I/O thread) and return at once. Idempotent."""
        self._check_open()
        iothread.call_soon(self._act, self._link.start)
        return self

    def connect(self) -> None:
        """Connect again after ``disconnect()`` or after giving up; resets the attempt counter."""
        self._check_open()
        iothread.call_soon(self._act, self._link.connect)

    def reconnect(self) -> None:
        """Drop the current link (if any) and connect again now, skipping any backoff wait."""
        self._check_open()
        iothread.call_soon(self._act, self._link.reconnect)

    def retry_now(self) -> None:
        """Cut the current backoff wait short (e.g. the network is back). No effect otherwise."""
        iothread.call_soon(self._act, self._link.retry_now)

    def disconnect(self) -> None:
        """Close the link and stay ``disconnected``, with no retries, until ``connect()``."""
        self._check_open()
        iothread.call_soon(self._act, self._link.disconnect)

    def stop(self) -> None:
        """Close for good: a close frame (1000), at most 0.5 s for the answer, then abort. Returns in
        under a second whatever the server does; every task this connection started is cancelled and
        every queued send is dropped."""
        if self._state is ConnectionState.CLOSED and not self._tasks:
            return
        if iothread.in_io_thread():
            self._spawn(self._aclose())
            return
        iothread.run_sync(self._aclose(), timeout=5.0)

    close = stop

    async def astop(self) -> None:
        """``stop()`` for async code."""
        await self._on_io_loop(self._aclose())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()

    # ------------------------------------------------------------------ waiting

    def _watch_state(
        self, target: ConnectionState, callback: Callable[[], None]
    ) -> Callable[[], None] | None:
        """Register a one-shot callback for ``target``; ``None`` if already there (not registered)."""
        with self._state_lock:
            if self._state is target:
                return None
            entry = (target, callback)
            self._state_waiters.append(entry)

        def cancel() -> None:
            with self._state_lock, contextlib.suppress(ValueError):
                self._state_waiters.remove(entry)

        return cancel

    def _not_reached(self, target: ConnectionState, timeout: float | None) -> TimeoutError:
        return TimeoutError(
            f"connection did not reach {target.value!r} within {timeout} s "
            f"(state: {self._state.value}, last error: {self.last_error})"
        )

    def wait_for_state(self, state: ConnectionState | str, timeout: float | None = None) -> None:
        """Block until the connection reaches ``state``; ``TimeoutError`` after ``timeout`` s."""
        target = ConnectionState(state)
        if iothread.in_io_thread():
            raise RuntimeError("wait_for_state() would block the I/O thread; use await_state()")
        event = threading.Event()
        cancel = self._watch_state(target, event.set)
        if cancel is None:
            return
        if not event.wait(timeout):
            cancel()
            raise self._not_reached(target, timeout)

    async def await_state(self, state: ConnectionState | str, timeout: float | None = None) -> None:
        """``wait_for_state`` for async code."""
        target = ConnectionState(state)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done() -> None:
            loop.call_soon_threadsafe(_resolve, future, None)

        cancel = self._watch_state(target, done)
        if cancel is None:
            return
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            cancel()
            raise self._not_reached(target, timeout) from None

    def wait_for(self, type: str, timeout: float | None = None) -> Any:
        """Block until the next message of ``type`` arrives and return its payload."""
        if iothread.in_io_thread():
            raise RuntimeError("wait_for() would block the I/O thread; use await_message()")
        event = threading.Event()
        box: list[Any] = []

        def handler(payload: Any) -> None:
            if not box:
                box.append(payload)
                event.set()

        unsubscribe = self.on(type, handler)
        try:
            if not event.wait(timeout):
                raise TimeoutError(f"no {type!r} message within {timeout} s")
        finally:
            unsubscribe()
        return box[0]

    async def await_message(self, type: str, timeout: float | None = None) -> Any:
        """``wait_for`` for async code."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def handler(payload: Any) -> None:
            loop.call_soon_threadsafe(_resolve, future, payload)

        unsubscribe = self.on(type, handler)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {type!r} message within {timeout} s") from None
        finally:
            unsubscribe()

    # ------------------------------------------------------------------ the driver (I/O thread)

    def _act(self, event: Callable[..., None], *args: Any) -> None:
        """Tell the core something, then perform what it asks for."""
        event(*args)
        self._perform()

    def _perform(self) -> None:
        link = self._link
        while link.has_actions:
            for action in link.take_actions():
                if type(action) is Write:
                    self._write(action)
                elif type(action) is Ping:
                    self._ping(action.gen)
                elif type(action) is SetState:
                    self._set_state(action.new)
                elif type(action) is Open:
                    self._opener = (action.gen, self._spawn(self._run_link(action.url, action.gen)))
                elif type(action) is Close:
                    self._close(action)
        self._set_timer(link.wake_at)

    def _set_timer(self, at: float | None) -> None:
        if at == self._timer_at and (at is None or self._timer is not None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None:
            # The loop's clock is time.monotonic(), the core's clock too.
            self._timer = iothread.get_loop().call_at(at, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._timer_at = None
        self._act(self._link.on_timer)

    def _set_state(self, new: ConnectionState) -> None:
        old = self._state
        if new is old:
            return
        with self._state_lock:
            self._state = new
            fire = [cb for target, cb in self._state_waiters if target is new]
            self._state_waiters = [w for w in self._state_waiters if w[0] is not new]
        self._log.debug("%s: %s -> %s", self.display_url, old.value, new.value)
        for watcher in self._state_watchers:
            try:
                watcher(old, new)
            except Exception:
                self._log.exception("on_state callback failed")
        for cb in fire:
            cb()

    def _scrubbed(self, error: LinkError) -> LinkError:
        error.message = self._secrets.scrub(error.message)
        error.args = (error.message,)
        return error

    def _log_failure(self, what: str, exc: BaseException) -> None:
        self._log.error("%s: %s", self.display_url, what, exc_info=exc)

    def _write(self, action: Write) -> None:
        socket = self._socket
        if socket is not None and socket.gen == action.gen:
            socket.writes.append(action)
            socket.wake.set()
        elif action.handle is not None:  # the link it was meant for is gone
            self._link.on_write_failed(action.handle)

    def _close(self, action: Close) -> None:
        socket = self._socket
        if socket is not None and socket.gen == action.gen:
            if action.abort:
                self._log.info("%s: %s", self.display_url, action.reason)
                socket.ws.transport.abort()
            else:
                self._spawn(_close_ws(socket.ws))
        elif self._opener is not None and self._opener[0] == action.gen:
            self._opener[1].cancel()
            self._opener = None

    async def _open(self, url: str) -> FrameConnection:
        headers = self._headers() if callable(self._headers) else self._headers
        self._secrets.add_url(url)  # one the protocol learned, say
        if headers:
            self._secrets.add_headers(headers)
        kwargs: dict[str, Any] = {}
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
        target = self._protocol.url(url)
        self._redirected = None
        connector = ws_connect(
            target,
            additional_headers=dict(headers) if headers else None,
            subprotocols=self._subprotocols,
            open_timeout=self._open_timeout,
            # The core sends protocol pings itself, so it can treat any inbound frame, pongs
            # included, as proof of life.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=0.5,
            max_size=self._max_message_size,
            logger=self._wire_logger,
            # Messages go to _on_frame as they arrive, not through recv() (see frames.py).
            create_connection=cast(type[ClientConnection], frame_connection_factory(self._on_frame)),
            **kwargs,
        )
        ws = await connector
        # websockets follows redirects (dropping credentials on a cross-origin one): show where
        # the link really goes.
        self._redirected = connector.uri if connector.uri != target else None
        if self._redirected is not None:
            self._secrets.add_url(self._redirected)
            self._log.info("%s: redirected to %s", redact_url(url), redact_url(self._redirected))
        return cast(FrameConnection, ws)

    async def _run_link(self, url: str, gen: int) -> None:
        """One attempt: open ``url``, then serve the link until it ends; report both to the core."""
        link = self._link
        try:
            ws = await self._open(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = self._scrubbed(
                classify_open_error(exc, self._open_timeout, secure=url[:4].lower() == "wss:")
            )
            error.__cause__ = exc
            self._log.info("%s: %s", redact_url(url), error.message)
            self._act(link.on_open_failed, gen, error)
            return
        if gen != link.gen:  # abandoned while opening
            await _close_ws(ws)
            return
        self._opener = None
        socket = self._socket = _Socket(ws, gen, asyncio.current_task())
        socket.writer = self._spawn(self._write_loop(socket))
        self._protocol.link_opened()
        self._act(link.on_opened, gen)
        self._log.info("%s: connected", self.display_url)
        closed: LinkError | None = None
        try:
            # Frames held since the handshake are delivered now that the link is set up.
            ws.start_delivery()
            await ws.wait_closed()
            closed = self._closed_error(ws.protocol.close_exc, gen)
        finally:
            await self._end_link(socket)
            self._act(link.on_closed, gen, closed)

    def _closed_error(self, exc: ConnectionClosed, gen: int) -> LinkError:
        error, _code, oversized = close_error(exc, self._max_message_size)
        error = self._scrubbed(self._protocol.closed(error))
        if oversized:
            self._oversized += 1
        if gen == self._link.gen and self._link.dead_reason is None:
            self._log.info("%s: %s", self.display_url, error.message)
        return error

    async def _end_link(self, socket: _Socket) -> None:
        ws = socket.ws
        ws.stop_delivery()
        writer = socket.writer
        if writer is not None:
            writer.cancel()
            # The writer reports the fate of its in-flight send before the core hears of the end.
            await asyncio.wait({writer}, timeout=1.0)
        if self._socket is socket:
            self._socket = None
        if ws.state is not State.CLOSED:
            await _close_ws(ws)

    async def _write_loop(self, socket: _Socket) -> None:
        writes, wake, ws, gen = socket.writes, socket.wake, socket.ws, socket.gen
        link = self._link
        while True:
            if not writes:
                wake.clear()
                await wake.wait()
                continue
            write = writes.popleft()
            frame = write.frame
            # websockets writes the frame to the transport before its first await (the drain): on an
            # open link, whatever fails later (a cancellation, the drain) comes after the hand-over.
            handed = ws.protocol.state is State.OPEN
            try:
                await ws.send(frame.data, text=frame.text)
            except BaseException:
                if write.handle is not None:
                    # Once handed to the socket it may have been delivered: never send it twice.
                    if handed:
                        self._act(link.on_written, gen, frame, write.handle)
                    else:
                        self._act(link.on_write_failed, write.handle)
                for unsent in writes:  # never attempted: back to the queue, in order
                    if unsent.handle is not None:
                        link.on_write_failed(unsent.handle)
                writes.clear()
                raise
            self._act(link.on_written, gen, frame, write.handle)

    def _ping(self, gen: int) -> None:
        socket = self._socket
        if socket is None or socket.gen != gen or socket.ws.protocol.state is not State.OPEN:
            return
        self._spawn(self._protocol_ping(socket.ws, gen))

    async def _protocol_ping(self, ws: FrameConnection, gen: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            waiter = await ws.ping()
            future = asyncio.ensure_future(waiter)

            def pong(f: asyncio.Future[float]) -> None:
                if not f.cancelled() and f.exception() is None:
                    self._act(self._link.on_pong, gen, f.result())

            future.add_done_callback(pong)

    def _on_frame(self, frame: Payload, text: bool = True) -> None:
        # The hot path, called from the socket's data_received for each data message.
        link = self._link
        link.last_inbound = time.monotonic()
        link.bytes_in += len(frame)
        recording = self._recording
        if recording is not None:
            if recording.stopped:
                self._recording = None
            else:
                recording.add(frame, text)
        link.messages_in += self._protocol.receive(frame, text)
        if link.has_actions:  # a protocol reply, say
            self._perform()

    async def _on_io_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        if iothread.in_io_thread():
            await coro
        else:
            await asyncio.wrap_future(iothread.submit(coro))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task on the I/O loop (call on the I/O thread only); ``stop()`` cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _schedule_handler(self, coro: Coroutine[Any, Any, Any], handler: Handler,
                          message: Message) -> None:
        task = self._spawn(coro)

        def finished(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                self._dispatcher.report(t.exception(), handler, message)  # type: ignore[arg-type]

        task.add_done_callback(finished)

    async def _aclose(self) -> None:
        if self._state is ConnectionState.CLOSED and not self._tasks:
            return
        socket = self._socket
        self._act(self._link.stop)
        current = asyncio.current_task()
        if socket is not None:
            # The close frame (1000) gets at most 0.5 s; then the link is dropped.
            if socket.runner is not None and socket.runner is not current:
                await asyncio.wait({socket.runner}, timeout=0.8)
            if socket.ws.state is not State.CLOSED:
                socket.ws.transport.abort()
        others = [t for t in self._tasks if t is not current and not t.done()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=0.1)
        self._set_timer(None)
        if self._recording is not None:
            self._recording.stop()
            self._recording = None
        _live.discard(self)


class _Socket:
    """One established link as the driver holds it: the socket and its ordered writes."""

    __slots__ = ("gen", "runner", "wake", "writer", "writes", "ws")

    def __init__(self, ws: FrameConnection, gen: int, runner: asyncio.Task[Any] | None) -> None:
        self.ws = ws
        self.gen = gen
        self.runner = runner
        self.writes: deque[Write] = deque()
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None


async def _close_ws(ws: ClientConnection) -> None:
    try:
        await asyncio.wait_for(ws.close(1000), 0.5)
    except (TimeoutError, OSError, ConnectionClosed):
        pass
    except asyncio.CancelledError:
        ws.transport.abort()
        raise
    finally:
        if ws.state is not State.CLOSED:
            ws.transport.abort()


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def close_all(timeout: float = 2.0) -> None:
    """Stop every live connection (used at interpreter exit)."""
    connections = [c for c in list(_live) if c.state is not ConnectionState.CLOSED]
    if not connections:
        return

    async def close_them() -> None:
        await asyncio.wait([asyncio.ensure_future(c._aclose()) for c in connections],
                           timeout=timeout)

    with contextlib.suppress(Exception):
        iothread.run_sync(close_them(), timeout=timeout + 0.5)


atexit.register(close_all)
