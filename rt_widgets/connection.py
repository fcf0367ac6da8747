"""The connection: one WebSocket that connects, heartbeats, reconnects, queues and dispatches.

The asyncio driver over the pure pieces (``Backoff``/``RetryPolicy``, ``Outbox``, ``decode``,
``Dispatcher``). Everything runs on the process-wide I/O thread (see ``iothread``); every public method is
safe to call from any thread, from sync code, from async code and from a Jupyter kernel alike.
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
from collections.abc import Callable, Coroutine, Mapping, Sequence
from enum import StrEnum
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
)
from websockets.protocol import State
from websockets.typing import Subprotocol

from . import iothread
from .backoff import Backoff, RetryPolicy
from .dispatch import Dispatcher, Handler
from .errors import LinkError, classify_open_error, close_error
from .frames import FrameConnection, Payload, frame_connection_factory
from .outbox import Outbox, Overflow, SendHandle
from .protocol import (
    Message,
    encode,
    make_message,
    message_of,
    now_iso,
    objects_of,
    undecodable,
)
from .secrets import RedactingLogger, Secrets, redact_url

__all__ = ["Connection", "ConnectionState", "LinkError"]

logger = logging.getLogger("rt_widgets.connection")

HeadersLike = Mapping[str, str] | Callable[[], Mapping[str, str]] | None

_DEFAULT_HEARTBEAT: dict[str, Any] = {"type": "ping"}
_LATENCY_ALPHA = 0.3


class ConnectionState(StrEnum):
    """The states of a ``Connection``; the values are what the status indicator shows."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


_live: weakref.WeakSet[Connection] = weakref.WeakSet()


class Connection:
    """A resilient WebSocket connection, independent of Jupyter.

    >>> conn = Connection("ws://127.0.0.1:8765/ws")  # doctest: +SKIP
    >>> conn.on("mission_update", print)  # doctest: +SKIP
    >>> conn.start(); conn.wait_for_state("connected", timeout=5)  # doctest: +SKIP
    >>> conn.send("subscribe", {"channel": "metrics"}).wait(5)  # doctest: +SKIP
    >>> conn.stop()  # doctest: +SKIP

    Or from async code: ``async with Connection(url) as conn: await conn.await_state("connected")``.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: HeadersLike = None,
        subprotocols: Sequence[str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        heartbeat_interval: float | None = 10.0,
        heartbeat_timeout: float = 5.0,
        heartbeat_message: Mapping[str, Any] | None = _DEFAULT_HEARTBEAT,
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
        if not isinstance(url, str):
            raise TypeError(f"url must be a string like 'ws://host:port/path', got {url!r}")
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("ws", "wss"):
            raise ValueError(
                f"url must start with ws:// or wss://, got {redact_url(url)!r}"
            )
        if heartbeat_interval is not None and not heartbeat_interval > 0:
            raise ValueError(f"heartbeat_interval must be > 0 or None, got {heartbeat_interval!r}")
        if not heartbeat_timeout > 0:
            raise ValueError(f"heartbeat_timeout must be > 0, got {heartbeat_timeout!r}")
        if heartbeat_message is not None and not isinstance(heartbeat_message.get("type"), str):
            raise ValueError("heartbeat_message must be None or a dict with a string 'type'")
        if max_message_size is not None and not max_message_size > 0:
            raise ValueError(f"max_message_size must be > 0 or None, got {max_message_size!r}")
        if not open_timeout > 0:
            raise ValueError(f"open_timeout must be > 0, got {open_timeout!r}")
        if headers is not None and not (callable(headers) or isinstance(headers, Mapping)):
            raise TypeError("headers must be a dict or a callable returning a dict")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff, got {backoff!r}")

        self._url = url
        self._display_url = redact_url(url)
        self._secrets = Secrets(url, headers)
        self._headers = headers
        self._subprotocols = [Subprotocol(p) for p in subprotocols] if subprotocols else None
        self._ssl = ssl
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = float(heartbeat_timeout)
        self._heartbeat_message = dict(heartbeat_message) if heartbeat_message is not None else None
        self._max_message_size = max_message_size
        self._open_timeout = float(open_timeout)
        self._should_reconnect = should_reconnect
        self._wire_logger = RedactingLogger(logging.getLogger("websockets.client"), self._secrets)
        self._log = RedactingLogger(logger, self._secrets)

        self._policy = RetryPolicy(backoff or Backoff(), max_attempts, stable_after)
        self._outbox = Outbox(queue_limit, queue_ttl, overflow)
        self._dispatcher = Dispatcher(schedule=self._schedule_handler)
        self._lock = threading.Lock()

        self._state = ConnectionState.DISCONNECTED
        self._state_watchers: tuple[Callable[[ConnectionState, ConnectionState], Any], ...] = ()
        self._state_waiters: list[tuple[ConnectionState, Callable[[], None]]] = []
        self._subscriptions: tuple[dict[str, Any], ...] = ()

        # Loop-side objects, created on the I/O thread.
        self._runner: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._wake: asyncio.Event | None = None
        self._retry_now: asyncio.Event | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writer_waiting = False
        self._skip_wait = False
        self._dead_reason: str | None = None
        self._pending_pings: dict[str, float] = {}
        self._inbound_waiter: asyncio.Future[None] | None = None

        self._ever_connected = False
        self._connected_at: float | None = None
        self._last_inbound = 0.0
        self._next_retry_at: float | None = None
        self._latency_ms: float | None = None
        self._last_error: str | None = None
        self._last_close_code: int | None = None
        self._messages_in = 0
        self._messages_out = 0
        self._bytes_in = 0
        self._bytes_out = 0
        self._decode_errors = 0
        self._reconnects = 0
        _live.add(self)

    # ------------------------------------------------------------------ read-only views

    @property
    def url(self) -> str:
        """The URL as given (may hold credentials: never display it; see ``display_url``)."""
        return self._url

    @property
    def display_url(self) -> str:
        """The URL with userinfo and secret-looking query values masked."""
        return self._display_url

    @property
    def secrets(self) -> Secrets:
        """This connection's credentials (URL, headers as resolved on each attempt); its
        ``scrub(text)`` masks them. Every text this connection shows or logs went through it."""
        return self._secrets

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def attempt(self) -> int:
        """Consecutive failed attempts (0 once a link stayed up ``stable_after`` seconds)."""
        return self._policy.attempt

    @property
    def latency_ms(self) -> float | None:
        """Smoothed round-trip time of the heartbeat pings, ``None`` before the first pong."""
        return self._latency_ms

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def next_retry_in(self) -> float | None:
        """Seconds until the next attempt while waiting between attempts, else ``None``."""
        at = self._next_retry_at
        return None if at is None else max(0.0, at - time.monotonic())

    def stats(self) -> dict[str, Any]:
        """Counters and gauges, consistent with ``state`` at the time of the call."""
        with self._lock:
            queued = len(self._outbox)
            dropped = self._outbox.dropped
            expired = self._outbox.expired
        connected_at = self._connected_at
        return {
            "messages_in": self._messages_in,
            "messages_out": self._messages_out,
            "bytes_in": self._bytes_in,
            "bytes_out": self._bytes_out,
            "decode_errors": self._decode_errors,
            "handler_errors": self._dispatcher.handler_errors,
            "reconnects": self._reconnects,
            "attempt": self._policy.attempt,
            "queued": queued,
            "dropped": dropped,
            "expired": expired,
            "latency_ms": self._latency_ms,
            "uptime_s": 0.0 if connected_at is None else time.monotonic() - connected_at,
            "last_close_code": self._last_close_code,
            "last_error": self._last_error,
        }

    def __repr__(self) -> str:
        return f"<Connection {self._display_url} state={self._state.value}>"

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

    @staticmethod
    def _envelope(type_or_message: str | Mapping[str, Any], payload: Any) -> dict[str, Any]:
        if isinstance(type_or_message, str):
            return make_message(type_or_message, payload)
        if isinstance(type_or_message, Mapping):
            if payload is not None:
                raise TypeError("pass either a message dict or (type, payload), not both")
            if not isinstance(type_or_message.get("type"), str) or not type_or_message["type"]:
                raise ValueError("a message dict needs a non-empty string 'type'")
            message = dict(type_or_message)
            message.setdefault("timestamp", now_iso())
            return message
        raise TypeError(f"send() takes a type string or a message dict, got {type_or_message!r}")

    @staticmethod
    def _encode(message: dict[str, Any]) -> bytes:
        try:
            return encode(message)
        except TypeError as exc:
            raise TypeError(f"message is not JSON-serialisable: {exc}") from None

    def send(self, type_or_message: str | Mapping[str, Any], payload: Any = None) -> SendHandle:
        """Queue a message and return its ``SendHandle``; it is written as soon as the link is up.

        ``conn.send("subscribe", {"channel": "metrics"})`` or ``conn.send({"type": ..., ...})``. Raises
        ``QueueFullError`` when the queue is full and ``overflow="error"``; ``RuntimeError`` once closed.
        """
        if self._state is ConnectionState.CLOSED:
            raise RuntimeError("connection is closed; create a new Connection to send")
        message = self._envelope(type_or_message, payload)
        frame = self._encode(message)
        with self._lock:
            handle = self._outbox.put(message, frame)
            wake = self._writer_waiting
            ttl = self._outbox.ttl
        if wake:
            iothread.call_soon(self._wake_writer)
        if ttl is not None:
            iothread.call_soon(self._schedule_expiry)
        return handle

    def subscribe(
        self, type_or_message: str | Mapping[str, Any], payload: Any = None
    ) -> Callable[[], None]:
        """Send this message now if connected and again on every reconnect, before queued sends.

        Returns a function that stops the replay (it sends nothing to the server).
        """
        message = self._envelope(type_or_message, payload)
        message.pop("timestamp", None)
        self._encode(message)
        self._subscriptions = (*self._subscriptions, message)

        def send_now() -> None:
            ws = self._ws
            if ws is not None and self._state is ConnectionState.CONNECTED:
                self._spawn(self._send_control(ws, message))

        iothread.call_soon(send_now)

        def unsubscribe() -> None:
            self._subscriptions = tuple(m for m in self._subscriptions if m is not message)

        return unsubscribe

    # ------------------------------------------------------------------ control

    def _check_open(self) -> None:
        if self._state is ConnectionState.CLOSED:
            raise RuntimeError("connection is closed; create a new Connection")

    def start(self) -> Self:
        """Start connecting (on the I/O thread) and return at once. Idempotent."""
        self._check_open()
        iothread.call_soon(self._do_connect, False)
        return self

    def connect(self) -> None:
        """Connect again after ``disconnect()`` or after giving up; resets the attempt counter."""
        self._check_open()
        iothread.call_soon(self._do_connect, True)

    def reconnect(self) -> None:
        """Drop the current link (if any) and connect again now, skipping any backoff wait."""
        self._check_open()
        iothread.call_soon(self._do_reconnect)

    def retry_now(self) -> None:
        """Cut the current backoff wait short (e.g. the network is back). No effect otherwise."""
        iothread.call_soon(self._do_retry_now)

    def disconnect(self) -> None:
        """Close the link and stay ``disconnected``, with no retries, until ``connect()``."""
        self._check_open()
        iothread.call_soon(self._do_disconnect)

    def stop(self) -> None:
        """Close for good: a close frame (1000), at most 0.5 s for the answer, then abort. Returns in
        under a second whatever the server does; every task this connection started is cancelled and
        every queued send is dropped."""
        if self._state is ConnectionState.CLOSED and self._runner is None:
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
        with self._lock:
            if self._state is target:
                return None
            entry = (target, callback)
            self._state_waiters.append(entry)

        def cancel() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._state_waiters.remove(entry)

        return cancel

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
            raise TimeoutError(
                f"connection did not reach {target.value!r} within {timeout} s "
                f"(state: {self._state.value}, last error: {self._last_error})"
            )

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
            raise TimeoutError(
                f"connection did not reach {target.value!r} within {timeout} s "
                f"(state: {self._state.value}, last error: {self._last_error})"
            ) from None

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

    # ------------------------------------------------------------------ I/O thread internals

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

    def _set_state(self, new: ConnectionState) -> None:
        old = self._state
        if new is old:
            return
        with self._lock:
            self._state = new
            fire = [cb for target, cb in self._state_waiters if target is new]
            self._state_waiters = [w for w in self._state_waiters if w[0] is not new]
        self._log.debug("%s: %s -> %s", self._display_url, old.value, new.value)
        for watcher in self._state_watchers:
            try:
                watcher(old, new)
            except Exception:
                self._log.exception("on_state callback failed")
        for cb in fire:
            cb()

    def _ensure_loop_objects(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._retry_now = asyncio.Event()

    def _do_connect(self, reset: bool) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        self._ensure_loop_objects()
        if self._runner is not None and not self._runner.done():
            self._do_retry_now()
            return
        if reset:
            self._policy.reset()
        self._runner = self._spawn(self._run())

    def _do_reconnect(self) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        self._ensure_loop_objects()
        self._policy.reset()
        if self._runner is None or self._runner.done():
            self._runner = self._spawn(self._run())
            return
        self._skip_wait = True
        ws = self._ws
        if ws is not None:
            self._spawn(self._close_ws(ws))
        else:
            self._do_retry_now()

    def _do_retry_now(self) -> None:
        if self._retry_now is not None and self._next_retry_at is not None:
            self._retry_now.set()

    def _do_disconnect(self) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        runner = self._runner
        self._runner = None
        self._next_retry_at = None
        if runner is not None and not runner.done():
            runner.cancel()
        self._set_state(ConnectionState.DISCONNECTED)

    async def _aclose(self) -> None:
        if self._state is ConnectionState.CLOSED and self._runner is None:
            return
        runner = self._runner
        self._runner = None
        self._next_retry_at = None
        ws = self._ws
        if runner is not None and not runner.done():
            runner.cancel()
            # The runner closes its link (1000, at most 0.5 s) when cancelled; never wait past that.
            await asyncio.wait({runner}, timeout=0.8)
        ws = ws or self._ws
        if ws is not None and ws.state is not State.CLOSED:
            ws.transport.abort()
        self._ws = None
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current and not t.done()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=0.1)
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        with self._lock:
            self._outbox.drop_all("connection closed")
        self._connected_at = None
        self._set_state(ConnectionState.CLOSED)
        _live.discard(self)

    def _wake_writer(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _schedule_expiry(self) -> None:
        with self._lock:
            self._outbox.expire()
            at = self._outbox.next_expiry()
        timer = self._expiry_timer
        if at is None:
            if timer is not None:
                timer.cancel()
                self._expiry_timer = None
            return
        if timer is not None and not timer.cancelled() and timer.when() <= at:
            return
        if timer is not None:
            timer.cancel()
        # The loop's clock is time.monotonic(), the outbox's clock too.
        self._expiry_timer = iothread.get_loop().call_at(at, self._expiry_fired)

    def _expiry_fired(self) -> None:
        self._expiry_timer = None
        self._schedule_expiry()

    # ------------------------------------------------------------------ the runner

    async def _run(self) -> None:
        first = True
        try:
            while True:
                self._set_state(ConnectionState.CONNECTING if first else ConnectionState.RECONNECTING)
                first = False
                try:
                    ws = await self._open()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = classify_open_error(
                        exc, self._open_timeout, secure=self._url[:4].lower() == "wss:",
                        secrets=self._secrets,
                    )
                    error.__cause__ = exc
                    self._last_error = error.message
                    self._log.info("%s: %s", self._display_url, error.message)
                    self._policy.on_attempt_failed()
                    if not await self._after_failure(error):
                        return
                    continue
                dropped = await self._serve(ws)
                if dropped is None:  # closed by us for reconnect(): go straight on
                    self._policy.reset()
                    self._skip_wait = False
                    continue
                self._policy.on_link_lost()
                if not await self._after_failure(dropped):
                    return
        finally:
            self._next_retry_at = None

    def _is_terminal(self, error: LinkError) -> bool:
        if self._should_reconnect is not None:
            try:
                return not self._should_reconnect(error)
            except Exception:
                self._log.exception("should_reconnect failed; using the default rules")
        return error.terminal

    async def _after_failure(self, error: LinkError) -> bool:
        """Wait before the next attempt; ``False`` if there will be none."""
        if self._is_terminal(error):
            self._last_error = error.message
            self._runner = None
            self._set_state(ConnectionState.DISCONNECTED)
            return False
        if self._skip_wait:
            self._skip_wait = False
            self._set_state(ConnectionState.RECONNECTING)
            return True
        delay = self._policy.next_delay()
        if delay is None:
            self._last_error = f"gave up after {self._policy.attempt} attempts: {error.message}"
            self._runner = None
            self._set_state(ConnectionState.DISCONNECTED)
            return False
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        assert self._retry_now is not None
        self._retry_now.clear()
        self._next_retry_at = time.monotonic() + delay
        self._set_state(ConnectionState.RECONNECTING)
        try:
            await asyncio.wait_for(self._retry_now.wait(), delay)
        except TimeoutError:
            pass
        finally:
            self._next_retry_at = None
        return True

    async def _open(self) -> FrameConnection:
        headers = self._headers() if callable(self._headers) else self._headers
        self._secrets.add_headers(headers)
        kwargs: dict[str, Any] = {}
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
        ws = await ws_connect(
            self._url,
            additional_headers=dict(headers) if headers else None,
            subprotocols=self._subprotocols,
            open_timeout=self._open_timeout,
            # The heartbeat below sends protocol pings itself, so it can treat any inbound frame,
            # pongs included, as proof of life.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=0.5,
            max_size=self._max_message_size,
            logger=self._wire_logger,
            # Messages go to _on_frame as they arrive, not through recv() (see frames.py).
            create_connection=cast(type[ClientConnection], frame_connection_factory(self._on_frame)),
            **kwargs,
        )
        return cast(FrameConnection, ws)

    async def _serve(self, ws: FrameConnection) -> LinkError | None:
        """Run one established link until it drops. Returns why, or ``None`` when we closed it to
        reconnect at once."""
        self._ws = ws
        self._dead_reason = None
        self._pending_pings.clear()
        now = time.monotonic()
        self._connected_at = now
        self._last_inbound = now
        self._policy.on_connected()
        if self._ever_connected:
            self._reconnects += 1
        self._ever_connected = True
        self._last_error = None
        self._set_state(ConnectionState.CONNECTED)
        self._log.info("%s: connected", self._display_url)

        helpers: list[asyncio.Task[Any]] = []
        try:
            for message in self._subscriptions:
                await self._send_control(ws, message)
            loop = asyncio.get_running_loop()
            helpers.append(loop.create_task(_until_closed(self._write_loop(ws))))
            if self._heartbeat_interval is not None:
                helpers.append(loop.create_task(_until_closed(self._heartbeat(ws))))
            await self._read_loop(ws)
            raise AssertionError("unreachable")  # pragma: no cover
        except ConnectionClosed as exc:
            error, code, oversized = close_error(exc, self._max_message_size, secrets=self._secrets)
            if self._dead_reason is not None:
                error = LinkError(self._dead_reason, close_code=1006)
                code = 1006
            if oversized:
                self._decode_errors += 1
            self._last_close_code = code
            if self._skip_wait:
                return None
            self._last_error = error.message
            self._log.info("%s: %s", self._display_url, error.message)
            return error
        finally:
            ws.stop_delivery()
            self._connected_at = None
            self._ws = None
            for task in helpers:
                task.cancel()
            if helpers:
                await asyncio.wait(helpers, timeout=1.0)
            if ws.state is not State.CLOSED:
                await self._close_ws(ws)

    async def _close_ws(self, ws: ClientConnection) -> None:
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

    async def _read_loop(self, ws: FrameConnection) -> None:
        # Messages are handled by _on_frame as they arrive; this waits for the link to end the way
        # recv() would: by raising the ConnectionClosed that says why.
        ws.start_delivery()
        await ws.wait_closed()
        raise ws.protocol.close_exc

    def _on_frame(self, frame: Payload) -> None:
        # The hot path, called from the protocol for each message: no Message built unless a "*"
        # handler wants one.
        self._last_inbound = time.monotonic()
        if self._inbound_waiter is not None:
            self._wake_inbound()
        self._bytes_in += len(frame)
        objects: list[dict[str, Any]]
        errors: list[str]
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            objects, errors = [], [undecodable(exc)]
        else:
            kind = data.get("type") if type(data) is dict else None
            if type(kind) is str:
                # The common frame, one well-formed message: no list, no second pass.
                self._messages_in += 1
                if kind == "pong":
                    self._on_app_pong(message_of(data))
                else:
                    self._dispatcher.dispatch_object(data, kind)
                return
            if type(data) is list and self._dispatcher.dispatch_batch(data, "pong"):
                # A batch of well-formed messages whose handlers all take batches (the widgets').
                self._messages_in += len(data)
                return
            objects, errors = objects_of(data)
        if errors:
            self._decode_errors += len(errors)
            self._last_error = errors[-1]
            self._log.debug("%s: bad frame: %s", self._display_url, errors[-1])
        self._messages_in += len(objects)
        for pong in self._dispatcher.dispatch_objects(objects, "pong"):
            self._on_app_pong(message_of(pong))

    async def _send_control(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        frame = encode(message)
        await ws.send(frame, text=True)
        self._messages_out += 1
        self._bytes_out += len(frame)

    async def _write_loop(self, ws: ClientConnection) -> None:
        assert self._wake is not None
        wake = self._wake
        outbox = self._outbox
        lock = self._lock
        while True:
            with lock:
                handle = outbox.take()
                if handle is None:
                    self._writer_waiting = True
                    wake.clear()
            if handle is None:
                await wake.wait()
                with lock:
                    self._writer_waiting = False
                continue
            frame = handle.frame if handle.frame is not None else encode(handle.message)
            # websockets writes the frame to the transport before its first await (the drain): on an
            # open link, whatever fails later (a cancellation, the drain) comes after the hand-over.
            handed = ws.protocol.state is State.OPEN
            try:
                await ws.send(frame, text=True)
            except BaseException:
                with lock:
                    # Once handed to the socket it may have been delivered: never send it twice.
                    if handed:
                        outbox.sent(handle)
                    else:
                        outbox.failed(handle)
                raise
            with lock:
                outbox.sent(handle)
            self._messages_out += 1
            self._bytes_out += len(frame)

    # ------------------------------------------------------------------ heartbeat

    def _record_rtt(self, seconds: float) -> None:
        sample = seconds * 1000.0
        previous = self._latency_ms
        self._latency_ms = sample if previous is None else (
            previous + _LATENCY_ALPHA * (sample - previous)
        )

    def _on_app_pong(self, message: Message) -> None:
        key = message.timestamp
        if key is None and isinstance(message.payload, dict):
            candidate = message.payload.get("timestamp")
            key = candidate if isinstance(candidate, str) else None
        sent_at = self._pending_pings.pop(key, None) if key is not None else None
        if sent_at is None and key is None and self._pending_pings:
            sent_at = self._pending_pings.pop(next(iter(self._pending_pings)))
        if sent_at is not None:
            self._record_rtt(time.monotonic() - sent_at)

    def _on_protocol_pong(self, ws: ClientConnection, future: asyncio.Future[float]) -> None:
        if future.cancelled() or future.exception() is not None or self._ws is not ws:
            return
        self._last_inbound = time.monotonic()
        self._wake_inbound()
        self._record_rtt(future.result())

    def _wake_inbound(self) -> None:
        waiter = self._inbound_waiter
        if waiter is not None:
            self._inbound_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _protocol_ping(self, ws: ClientConnection) -> None:
        waiter = await ws.ping()
        future = asyncio.ensure_future(waiter)
        future.add_done_callback(lambda f: self._on_protocol_pong(ws, f))

    async def _heartbeat(self, ws: ClientConnection) -> None:
        interval = self._heartbeat_interval
        assert interval is not None
        timeout = self._heartbeat_timeout
        monotonic = time.monotonic
        # One protocol ping at once, so the latency is known right after connecting.
        await self._protocol_ping(ws)
        next_probe = monotonic() + interval
        while True:
            now = monotonic()
            idle_until = self._last_inbound + interval
            wake_at = min(idle_until, next_probe)
            if now < wake_at:
                await asyncio.sleep(wake_at - now)
                continue
            # A protocol ping every interval measures latency even on a busy link.
            await self._protocol_ping(ws)
            next_probe = monotonic() + interval
            if monotonic() < self._last_inbound + interval:
                continue
            # Idle for a whole interval: ask the server, and declare the link dead if nothing comes.
            sent_at = monotonic()
            if self._heartbeat_message is not None:
                ping = dict(self._heartbeat_message)
                stamp = ping.setdefault("timestamp", now_iso())
                if isinstance(stamp, str):
                    if len(self._pending_pings) >= 16:
                        self._pending_pings.pop(next(iter(self._pending_pings)))
                    self._pending_pings[stamp] = sent_at
                await self._send_control(ws, ping)
            deadline = sent_at + timeout
            loop = asyncio.get_running_loop()
            while self._last_inbound < sent_at:
                now = monotonic()
                if now >= deadline:
                    self._dead_reason = (
                        f"heartbeat timeout: no frame within {timeout} s after a ping; "
                        "the link is dead"
                    )
                    self._log.info("%s: %s", self._display_url, self._dead_reason)
                    ws.transport.abort()
                    return
                # The reader resolves this on the next inbound frame, so a quick pong ends the wait
                # at once and the next ping follows one interval after it.
                waiter: asyncio.Future[None] = loop.create_future()
                self._inbound_waiter = waiter
                try:
                    await asyncio.wait({waiter}, timeout=deadline - now)
                finally:
                    self._inbound_waiter = None
                lag = monotonic() - deadline
                if not waiter.done() and lag > min(0.1, timeout / 2) and self._last_inbound < sent_at:
                    # The loop itself was blocked (a slow handler): frames may be sitting unread.
                    # Give the reader a fresh timeout before judging the link.
                    deadline = monotonic() + timeout


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


async def _until_closed(coro: Coroutine[Any, Any, None]) -> None:
    """Run a link helper; the link closing under it is its normal end, not an error."""
    with contextlib.suppress(ConnectionClosed):
        await coro


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
