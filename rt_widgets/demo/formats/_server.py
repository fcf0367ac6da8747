"""The server under every replica: a ``websockets`` endpoint on a thread of its own that performs
what a format's sessions return, and records every frame each way."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from types import EllipsisType, TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ...iothread import LoopThread
from ..server import _LOOPBACK_NAMES, _check_host
from ._core import Format, Out, Session

__all__ = ["FormatServer", "Frame"]

logger = logging.getLogger("rt_widgets.demo.formats")

T = TypeVar("T")

THREAD_NAME: Final = "rt_widgets-formats"
_RECORD_LIMIT: Final = 200_000
_CONTROL_TIMEOUT: Final = 15.0
_TICK: Final = 0.01


@dataclass(frozen=True)
class Frame:
    """One frame as it went over the wire: the client's number (1 for the first to connect),
    its exact bytes, whether it was a text frame, and what it was (see ``Out.kind``; frames from
    clients are ``"client"``)."""

    client: int
    data: bytes
    text: bool = True
    kind: str = "data"

    @property
    def value(self) -> Any:
        """The frame's JSON value, or its text (bytes for a binary frame) when it is not JSON."""
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return self.data.decode("utf-8", "replace") if self.text else self.data


class _Client:
    def __init__(self, number: int, ws: ServerConnection, session: Session) -> None:
        self.number = number
        self.ws = ws
        self.session = session
        self.queue: collections.deque[Frame | tuple[int, str]] = collections.deque()
        self.wakeup = asyncio.Event()
        self.queued = 0  # frames put in the queue
        self.written = 0  # frames written to the socket (or given up on a closed link)
        self.progress = asyncio.Event()
        self.gone = False
        self.frames_in = 0  # frames received from the client

    def put(self, frames: list[Frame]) -> int:
        self.queue.extend(frames)
        self.queued += len(frames)
        if frames:
            self.wakeup.set()
        return self.queued


def _to_frame(client: int, value: Any) -> Frame:
    if isinstance(value, Out):
        return Frame(client, value.data, value.text, value.kind)
    if isinstance(value, bytes | bytearray | memoryview):
        return Frame(client, bytes(value), False, "raw")
    if isinstance(value, str):
        return Frame(client, value.encode(), True, "raw")
    return Frame(client, orjson.dumps(value), True, "raw")


class FormatServer:
    """A local replica of a public feed's WebSocket API, on ``ws://127.0.0.1:<port><path>``.

    Example::

        with FormatServer("binance", port=0, seed=1, rate=0) as feed:
            conn = Connection(feed.url, **feed.format.options())
            conn.subscribe(feed.format.subscription[0])
            conn.start()
            feed.wait_subscribed()
            frames = feed.emit(100)      # 100 updates, written to every subscribed client
            feed.received[0].data        # the exact bytes the client sent first

    ``name`` is one of ``FORMATS``. ``rate``: updates per second, spread over what clients
    subscribed to (0: only :meth:`emit`). ``seed``: a reproducible simulation (with ``clock``, a
    function returning epoch seconds, the very bytes repeat). ``ping_interval``: seconds between
    the server's WebSocket pings, ``heartbeat``: the period of the service's own keep-alive
    (Kraken's idle heartbeat, Finnhub's ping, Coinbase's heartbeat channel); both default to the
    real service's and ``None`` turns them off. ``subscribe_timeout``: how long a client may stay
    unsubscribed where the service closes such links (Coinbase: 5 s).

    Every method and property is safe to call from any thread; the server runs on its own.
    """

    def __init__(
        self,
        name: str,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        seed: int | None = None,
        rate: float = 10.0,
        ping_interval: float | EllipsisType | None = ...,
        heartbeat: float | EllipsisType | None = ...,
        subscribe_timeout: float | None = 5.0,
        clock: Callable[[], float] = time.time,
        allow_remote: bool = False,
    ) -> None:
        from . import FORMATS

        if name not in FORMATS:
            raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
        _check_host(host, allow_remote)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0-65535 (0: any free port), got {port!r}")
        if not rate >= 0:
            raise ValueError(f"rate must be >= 0 updates per second, got {rate!r}")
        cls = FORMATS[name]
        pings = cls.ping_interval if ping_interval is ... else ping_interval
        beats = cls.heartbeat if heartbeat is ... else heartbeat
        for label, value in (("ping_interval", pings), ("heartbeat", beats),
                             ("subscribe_timeout", subscribe_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{label} must be > 0 seconds or None, got {value!r}")
        self.name = name
        self._rng = random.Random(seed)
        self.format: Format = cls(self._rng, clock, heartbeat=beats, subscribe_timeout=subscribe_timeout)
        self._host = "127.0.0.1" if host.lower() in _LOOPBACK_NAMES else host
        self._requested_port = port
        self._port: int | None = None
        self._rate = float(rate)
        self._ping_interval = pings

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received: collections.deque[Frame] = collections.deque(maxlen=_RECORD_LIMIT)
        self._sent: collections.deque[Frame] = collections.deque(maxlen=_RECORD_LIMIT)
        self._clients: dict[int, _Client] = {}
        self._connections = 0
        self._pongs = 0

        self._io = LoopThread(THREAD_NAME, description=f"the {name} replica's own thread")
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = f"running, {self.clients} client(s)" if self.running else "stopped"
        return f"<FormatServer {self.name} {self.url} {state}>"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving; returns once the port is open. Idempotent while running."""
        if self._io.running:
            return self
        try:
            self._io.run_sync(self._open(), timeout=_CONTROL_TIMEOUT)
        except BaseException:
            self._io.stop(_CONTROL_TIMEOUT)
            self._port = None
            raise
        return self

    def stop(self) -> None:
        """Close every client (code 1001) and the listening socket, and end the thread."""
        if not self._io.running:
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            self._io.run_sync(self._close(), timeout=_CONTROL_TIMEOUT)
        if not self._io.stop(_CONTROL_TIMEOUT):
            logger.warning("the %s replica's thread did not stop within %g s", self.name, _CONTROL_TIMEOUT)
        self._port = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` seconds pass); True once it has."""
        return self._io.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._io.running and self._port is not None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port if self._port is not None else self._requested_port

    @property
    def base_url(self) -> str:
        """``ws://host:port``, to which a path of the format's API may be added."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The format's endpoint, with its default query (Finnhub's token, say)."""
        query = f"?{self.format.query}" if self.format.query else ""
        return f"{self.base_url}{self.format.path}{query}"

    # -- what went over the wire ---------------------------------------------------------------

    @property
    def received(self) -> list[Frame]:
        """Every frame clients sent, in arrival order, exactly as sent (pings too)."""
        with self._lock:
            return list(self._received)

    @property
    def sent(self) -> list[Frame]:
        """Every data frame written to clients, in the order written (not the WebSocket pings)."""
        with self._lock:
            return list(self._sent)

    def sent_to(self, client: int) -> list[Frame]:
        with self._lock:
            return [f for f in self._sent if f.client == client]

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    @property
    def connections(self) -> int:
        """Handshakes accepted since the server was created."""
        with self._lock:
            return self._connections

    @property
    def pongs(self) -> int:
        """The server's WebSocket pings that clients answered."""
        with self._lock:
            return self._pongs

    def topics(self) -> dict[int, set[str]]:
        """What each connected client is subscribed to, by client number."""
        return self._call(lambda: {n: set(c.session.topics) for n, c in self._clients.items()})

    def wait_for_received(self, count: int, timeout: float = 5.0,
                          match: Callable[[Frame], bool] | None = None) -> list[Frame]:
        """Block until at least ``count`` client frames (that ``match``) arrived; return them."""
        def matching() -> list[Frame]:
            return [f for f in self._received if match is None or match(f)]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"expected {count} frame(s) from clients within {timeout} s, "
                                   f"have {len(matching())}")
            return matching()

    def wait_for_sent(self, count: int, timeout: float = 5.0,
                      match: Callable[[Frame], bool] | None = None) -> list[Frame]:
        """Block until at least ``count`` frames (that ``match``) were written; return them."""
        def matching() -> list[Frame]:
            return [f for f in self._sent if match is None or match(f)]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"expected {count} frame(s) sent within {timeout} s, "
                                   f"have {len(matching())}")
            return matching()

    def wait_for_clients(self, count: int, timeout: float = 5.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._clients) == count, timeout):
                raise TimeoutError(f"expected {count} client(s) within {timeout} s, have "
                                   f"{len(self._clients)}")

    def wait_subscribed(self, clients: int = 1, timeout: float = 5.0, frames: int = 0) -> None:
        """Block until ``clients`` clients have sent at least ``frames`` frames each, are
        subscribed to something, and every frame their subscription asked for (acknowledgements,
        snapshots) was written."""
        def ready() -> bool:
            done = [c for c in self._clients.values()
                    if c.session.topics and c.frames_in >= frames and not c.queue
                    and c.written == c.queued]
            return len(done) >= clients

        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"expected {clients} subscribed client(s) within {timeout} s")

    # -- controls ------------------------------------------------------------------------------

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        if not rate >= 0:
            raise ValueError(f"rate must be >= 0 updates per second, got {rate!r}")
        self._rate = float(rate)

    def emit(self, n: int, timeout: float = 10.0) -> list[Frame]:
        """Make ``n`` updates of the simulation, each on a topic some client subscribed to, write
        them to their subscribers and return the frames once they are written."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        return self._run(self._emit_and_wait(n), timeout + 1.0)

    def push(self, value: Any, client: int | None = None, timeout: float = 10.0) -> list[Frame]:
        """Send one frame as given (a dict or list as JSON text, a str as text, bytes as binary)
        to ``client`` or to every client; returns the frames once written."""
        return self._run(self._push_and_wait(value, client), timeout + 1.0)

    def close_clients(self, code: int = 1001, reason: str = "") -> None:
        """Close every client's link after the frames already queued."""
        def close() -> None:
            for c in self._clients.values():
                c.queue.append((code, reason))
                c.wakeup.set()
        self._call(close)

    # -- loop side -----------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if not self.running:
            coro.close()
            raise RuntimeError(f"the {self.name} replica is not running: call start() first")
        return self._io.run_sync(coro, timeout=timeout)

    def _call(self, fn: Callable[[], T]) -> T:
        async def invoke() -> T:
            return fn()
        return self._run(invoke(), _CONTROL_TIMEOUT)

    async def _open(self) -> None:
        server = await serve(self._handler, self._host, self._requested_port,
                             process_request=self._process_request, ping_interval=None,
                             compression=None, close_timeout=1.0, max_size=1 << 22)
        self._server = server
        self._port = next(iter(server.sockets)).getsockname()[1]
        self._ticker = asyncio.create_task(self._tick(), name=f"{self.name}-ticker")
        logger.info("%s replica listening on %s", self.name, self.url)

    async def _close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close(code=1001, reason="replica stopping")
            await self._server.wait_closed()
        self._server = self._ticker = None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        refusal = self.format.refuse(path, urlsplit(request.path).query)
        if refusal is not None:
            status, text = refusal
            return connection.respond(HTTPStatus(status), text + "\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        target = urlsplit(ws.request.path)
        loop = asyncio.get_running_loop()
        with self._changed:
            self._connections += 1
            number = self._connections
            session = self.format.session(number, target.path, target.query)
            session.opened_at = session.last_sent_at = loop.time()
            client = _Client(number, ws, session)
            self._clients[number] = client
            self._changed.notify_all()
        writer = asyncio.create_task(self._write(client), name=f"{self.name}-writer-{number}")
        pinger = (asyncio.create_task(self._ws_pings(client), name=f"{self.name}-pings-{number}")
                  if self._ping_interval is not None else None)
        self._queue(client, session.opened())
        try:
            async for message in ws:
                data = message.encode() if isinstance(message, str) else bytes(message)
                with self._changed:
                    self._received.append(Frame(number, data, isinstance(message, str), "client"))
                    client.frames_in += 1
                    self._queue(client, session.receive(message))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            for task in (writer, pinger):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
            with self._changed:
                client.gone = True
                client.progress.set()
                del self._clients[number]
                self._changed.notify_all()

    def _queue(self, client: _Client, outs: list[Out]) -> int:
        queued = client.put([_to_frame(client.number, out) for out in outs])
        if client.session.closing is not None:
            client.queue.append(client.session.closing)
            client.session.closing = None
            client.wakeup.set()
        return queued

    async def _write(self, client: _Client) -> None:
        ws = client.ws
        loop = asyncio.get_running_loop()
        while True:
            await client.wakeup.wait()
            client.wakeup.clear()
            while client.queue:
                item = client.queue.popleft()
                if isinstance(item, tuple):
                    await ws.close(*item)
                    return
                try:
                    await ws.send(item.data, text=item.text)
                except ConnectionClosed:
                    client.written = client.queued
                    client.progress.set()
                    return
                client.session.last_sent_at = loop.time()
                with self._changed:
                    self._sent.append(item)
                    client.written += 1
                    self._changed.notify_all()
                client.progress.set()

    async def _wait_written(self, targets: list[tuple[_Client, int]]) -> None:
        for client, target in targets:
            while client.written < target and not client.gone:
                client.progress.clear()
                await client.progress.wait()

    def _step(self, n: int) -> tuple[list[Frame], list[tuple[_Client, int]]]:
        frames: list[Frame] = []
        marks: dict[int, tuple[_Client, int]] = {}
        for _ in range(n):
            clients = [c for c in self._clients.values() if c.session.topics]
            topics = sorted(set().union(*(c.session.topics for c in clients)))
            if not topics:
                break
            update = self.format.update(topics)
            if update is None:
                break
            for client in clients:
                if update.topic in client.session.topics:
                    made = [_to_frame(client.number, out) for out in client.session.frames(update)]
                    frames.extend(made)
                    marks[client.number] = (client, client.put(made))
        return frames, list(marks.values())

    async def _emit_and_wait(self, n: int) -> list[Frame]:
        if n and not any(c.session.topics for c in self._clients.values()):
            raise RuntimeError(f"no client of the {self.name} replica is subscribed to anything")
        frames, marks = self._step(n)
        await self._wait_written(marks)
        return frames

    async def _push_and_wait(self, value: Any, number: int | None) -> list[Frame]:
        targets = [c for n, c in self._clients.items() if number is None or n == number]
        frames: list[Frame] = []
        marks = []
        for client in targets:
            frame = _to_frame(client.number, value)
            frames.append(frame)
            marks.append((client, client.put([frame])))
        await self._wait_written(marks)
        return frames

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        started, emitted = loop.time(), 0
        while True:
            await asyncio.sleep(_TICK)
            now = loop.time()
            for client in list(self._clients.values()):
                self._queue(client, client.session.tick(now))
            rate = self._rate
            if rate <= 0:
                started, emitted = now, 0
                continue
            due = int((now - started) * rate) - emitted
            if due > rate:  # after a stall, catch up by at most a second
                started, emitted, due = now - 1.0, 0, int(rate)
            if due > 0:
                emitted += due
                self._step(due)

    async def _ws_pings(self, client: _Client) -> None:
        interval = self._ping_interval
        assert interval is not None
        ws = client.ws
        while True:
            await asyncio.sleep(interval)
            waiter = await ws.ping()
            try:
                # Binance: "a pong within a minute" of its 20 s pings, so three intervals.
                await asyncio.wait_for(waiter, 3 * interval)
            except TimeoutError:
                await ws.close(1011, "no pong to the server's ping")
                return
            with self._lock:
                self._pongs += 1
