"""The demo feed's server: a local WebSocket endpoint that speaks the rt_widgets envelope.

It serves the simulated `World` (``world.py``) to every client, with subscriptions, application
ping/pong and replies to what clients send, and can misbehave on demand (``chaos.py``).

The feed runs its own event loop on a background thread (an `iothread.LoopThread` of its own, not the
connections' I/O thread), whether it is used from sync or async code, so that a caller whose loop is
busy (a notebook cell, a test awaiting something else, a client's slow handler) never stalls the
server: it behaves like the separate process a real feed would be.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import random
import threading
import time
from collections.abc import Coroutine, Iterable
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..iothread import LoopThread
from .chaos import Chaos, ChaosDriver, ChaosHooks
from .world import CHANNELS, World, iso_timestamp

__all__ = ["CHANNELS", "Chaos", "DemoServer"]

logger = logging.getLogger("rt_widgets.demo")

T = TypeVar("T")

THREAD_NAME: Final = "rt_widgets-demo"

_LOOPBACK_NAMES: Final = frozenset({"localhost", "ip6-localhost"})

# A client that falls this many seconds of stream behind is disconnected rather than buffered
# without bound.
_BACKLOG_SECONDS: Final = 10.0
_MIN_BACKLOG: Final = 20_000
_RECEIVED_LIMIT: Final = 100_000

# A mission table longer than this reaches a new client as JSON-array frames of this many rows:
# ten thousand single-row frames would take the client seconds to drain.
_SNAPSHOT_FRAME: Final = 500

# Controls wait this long for the feed's loop; starting (binding) and stopping too.
_CONTROL_TIMEOUT: Final = 15.0
_STOP_TIMEOUT: Final = 10.0

# A pending outgoing item: (channel or None for replies, one encoded message, or a group of
# them that must leave as one JSON-array frame).
_Pending = tuple[str | None, bytes | tuple[bytes, ...]]


# -- the envelope ------------------------------------------------------------------------------


def _encode(type_: str, payload: Any, timestamp: str) -> bytes:
    return orjson.dumps({"type": type_, "payload": payload, "timestamp": timestamp})


def _with_seq(body: bytes, seq: int) -> bytes:
    # The envelope is encoded once per message and shared by every client; only seq differs.
    return body[:-1] + b',"seq":%d}' % seq


def _array(frames: list[bytes]) -> bytes:
    return b"[" + b",".join(frames) + b"]"


def _stamp(client: _Client, bodies: Iterable[bytes]) -> list[bytes]:
    frames = []
    for body in bodies:
        client.seq += 1
        frames.append(_with_seq(body, client.seq))
    return frames


def _channel_names(payload: Any) -> list[str] | None:
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("channel"), str):
        return [payload["channel"]]
    channels = payload.get("channels")
    if isinstance(channels, list) and all(isinstance(c, str) for c in channels):
        return list(channels)
    return None


# -- clients -----------------------------------------------------------------------------------


class _Client:
    def __init__(self, number: int, ws: ServerConnection) -> None:
        self.number = number
        self.ws = ws
        self.channels: set[str] | None = None  # None: never subscribed, receives everything
        self.pending: collections.deque[_Pending] = collections.deque()
        self.wakeup = asyncio.Event()
        self.seq = 0

    def wants(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def enqueue(self, items: Iterable[_Pending]) -> None:
        self.pending.extend(item for item in items if item[0] is None or self.wants(item[0]))
        if self.pending:
            self.wakeup.set()


def _check_host(host: str, allow_remote: bool) -> None:
    if allow_remote or host.lower() in _LOOPBACK_NAMES:
        return
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(
        f"the demo feed binds loopback only by default; host {host!r} would make it reachable "
        "from other machines. Pass allow_remote=True (CLI: --allow-remote) if that is intended."
    )


def _check_rate(rate: float) -> None:
    if not rate >= 0:
        raise ValueError(f"rate must be >= 0 messages per second, got {rate!r}")


class DemoServer(ChaosHooks):
    """A demo WebSocket feed on ``ws://127.0.0.1:8765/ws``.

    Example::

        with DemoServer(port=0, rate=100, seed=1) as feed:
            conn = Connection(feed.url)
            ...
            feed.drop_clients()            # every client sees close code 1012
            feed.set_chaos(refuse_status=503)

    Or ``async with DemoServer(port=0) as feed:``. Either way the server runs on its own thread;
    every method and property is safe to call from any thread.

    ``rate`` is messages per second per client (0 for none: only replies), ``batch`` > 1 packs up
    to that many messages into one JSON-array frame, ``seed`` makes the stream reproducible.
    ``missions`` is how many distinct missions (ids 1 to ``missions``) the feed simulates; a new
    client first gets every one of them, as array frames of 500 rows when there are more than 500.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        path: str = "/ws",
        rate: float = 20.0,
        batch: int = 1,
        seed: int | None = None,
        missions: int = 25,
        drop_every: float | None = None,
        mute_heartbeat: bool = False,
        refuse_status: int | None = None,
        retry_after: int | None = None,
        allow_remote: bool = False,
        ping_interval: float | None = 20.0,
        compression: bool = False,
    ) -> None:
        _check_host(host, allow_remote)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0-65535 (0: any free port), got {port!r}")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        _check_rate(rate)
        if batch < 1:
            raise ValueError(f"batch must be >= 1 messages per frame, got {batch!r}")
        if isinstance(missions, bool) or not isinstance(missions, int) or missions < 1:
            raise ValueError(f"missions must be a whole number >= 1, got {missions!r}")
        # "localhost" may resolve to two addresses that would get two different ports with port=0.
        self._host = "127.0.0.1" if host.lower() in _LOOPBACK_NAMES else host
        self._requested_port = port
        self._port: int | None = None
        self._path = path
        self._rate = float(rate)
        self._batch = batch
        self._seed = seed
        self._missions = missions
        self._allow_remote = allow_remote
        self._ping_interval = ping_interval
        self._compression = compression
        self._clock = time.time
        self._chaos = ChaosDriver(
            Chaos(drop_every, mute_heartbeat, refuse_status, retry_after),
            self._links,
            ping_interval=ping_interval,
        )

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received: collections.deque[dict[str, Any]] = collections.deque(maxlen=_RECEIVED_LIMIT)
        self._clients: dict[int, _Client] = {}
        self._connections = 0
        self._bound: list[tuple[str, int]] = []
        self._sent = 0
        self._invalid = 0

        self._io = LoopThread(THREAD_NAME, description="the demo feed's own thread")
        # Loop side, set while serving.
        self._server: Server | None = None
        self._producer: asyncio.Task[None] | None = None
        self._world: World | None = None
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        state = f"running, {self.clients} client(s)" if self.running else "stopped"
        return f"<DemoServer {self.url} {state}>"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving; returns once the port is open. Idempotent while running."""
        if self._io.running:
            return self
        try:
            self._io.run_sync(self._open(), timeout=_CONTROL_TIMEOUT)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"the demo feed did not start within {_CONTROL_TIMEOUT:g} s") from None
        except BaseException:
            self._io.stop(_STOP_TIMEOUT)
            self._forget_address()
            raise
        return self

    def stop(self) -> None:
        """Close every client (code 1001) and the listening socket, and end the thread."""
        if not self._io.running:
            return
        if self._io.in_thread():
            task = asyncio.get_running_loop().create_task(self._close_and_end())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        try:
            self._io.run_sync(self._close(), timeout=_STOP_TIMEOUT)
        except TimeoutError:
            logger.warning("demo feed did not close its links within %g s", _STOP_TIMEOUT)
        except RuntimeError:  # the loop closed in between: nothing is left to close
            pass
        if not self._io.stop(_STOP_TIMEOUT):
            logger.warning("demo feed thread did not stop within %g s", _STOP_TIMEOUT)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the feed stops (or ``timeout`` seconds pass); True once it has stopped."""
        return self._io.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def running(self) -> bool:
        return self._io.running and self._port is not None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0`` and started)."""
        return self._port if self._port is not None else self._requested_port

    @property
    def path(self) -> str:
        return self._path

    @property
    def bound(self) -> list[tuple[str, int]]:
        """The (address, port) pairs actually listened on; empty while stopped."""
        with self._lock:
            return list(self._bound)

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self.port}{self._path}"

    # -- counters ------------------------------------------------------------------------------

    @property
    def clients(self) -> int:
        """Clients connected now."""
        with self._lock:
            return len(self._clients)

    @property
    def connections(self) -> int:
        """Handshakes accepted since the feed was created (reconnects included)."""
        with self._lock:
            return self._connections

    @property
    def sent(self) -> int:
        """Messages sent to clients (every element of a batch counts; pongs included)."""
        with self._lock:
            return self._sent

    @property
    def invalid(self) -> int:
        """Frames from clients that were not JSON objects with a string ``type``."""
        with self._lock:
            return self._invalid

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every non-ping message received from clients, in arrival order (a copy)."""
        return self.received_messages()

    def received_messages(self, type: str | None = None) -> list[dict[str, Any]]:
        """A copy of the received messages, optionally only those of one ``type``."""
        with self._lock:
            if type is None:
                return list(self._received)
            return [m for m in self._received if m.get("type") == type]

    def clear_received(self) -> None:
        with self._lock:
            self._received.clear()

    def wait_for_clients(self, count: int, timeout: float = 5.0) -> None:
        """Block until exactly ``count`` clients are connected; ``TimeoutError`` otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._clients) == count, timeout):
                raise TimeoutError(
                    f"expected {count} connected client(s) within {timeout} s, have {len(self._clients)}"
                )

    def wait_for_received(
        self, count: int, type: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` messages (of ``type``) were received; return them."""

        def matching() -> list[dict[str, Any]]:
            return [m for m in self._received if type is None or m.get("type") == type]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} received {type or 'message'}(s) within {timeout} s, "
                    f"have {len(matching())}"
                )
            return matching()

    # -- runtime controls (the chaos ones are in ChaosHooks) -----------------------------------

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def missions(self) -> int:
        """How many distinct missions (ids 1 to this) the feed simulates."""
        return self._missions

    def set_rate(self, rate: float) -> None:
        """Change the messages per second sent to each client."""
        _check_rate(rate)
        self._on_feed(self._apply_rate(float(rate)))

    def _on_feed(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self.running:
            coro.close()
            raise RuntimeError("the demo feed is not running: call start() first")
        if self._io.in_thread():
            coro.close()
            raise RuntimeError("blocking demo feed controls cannot run on the feed's own thread")
        return self._io.run_sync(coro, timeout=_CONTROL_TIMEOUT)

    # -- event loop side: serving --------------------------------------------------------------

    async def _open(self) -> None:
        self._world = World(random.Random(self._seed), self._missions, clock=self._clock)
        self._chaos.start()
        server = await serve(
            self._handler,
            self._host,
            self._requested_port,
            process_request=self._process_request,
            compression="deflate" if self._compression else None,
            ping_interval=self._ping_interval,
            close_timeout=1.0,
        )
        self._server = server
        with self._lock:
            self._bound = [sock.getsockname()[:2] for sock in server.sockets]
        self._port = self._bound[0][1]
        self._producer = asyncio.create_task(self._produce(), name="demo-producer")
        scope = "loopback only" if self._is_loopback() else "reachable from other machines"
        logger.info("demo feed listening on %s (%s)", self.url, scope)

    async def _close(self) -> None:
        server, producer = self._server, self._producer
        try:
            if producer is not None:
                producer.cancel()
            self._chaos.stop()
            if server is not None:
                server.close(code=1001, reason="demo feed stopping")
                await server.wait_closed()
            if producer is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
            logger.info("demo feed on %s stopped", self.url)
        except Exception:
            logger.exception("demo feed stopped on an error")
        finally:
            self._server = self._producer = None
            self._forget_address()

    async def _close_and_end(self) -> None:
        await self._close()
        self._io.stop()

    def _forget_address(self) -> None:
        self._port = None
        with self._lock:
            self._bound = []

    def _is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self._host).is_loopback
        except ValueError:
            return False

    def _links(self) -> list[ServerConnection]:
        with self._lock:
            return [client.ws for client in self._clients.values()]

    def _now(self) -> str:
        return iso_timestamp(self._clock())

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path != self._path:
            return connection.respond(
                HTTPStatus.NOT_FOUND,
                f"No WebSocket endpoint at {path}: the demo feed serves {self._path}\n",
            )
        return self._chaos.refusal(connection)

    async def _handler(self, ws: ServerConnection) -> None:
        with self._changed:
            self._connections += 1
            client = _Client(self._connections, ws)
            self._clients[client.number] = client
            self._changed.notify_all()
        logger.info("client %d connected from %s", client.number, ws.remote_address)
        self._chaos.silence_if_muted(ws)
        client.enqueue(self._snapshot())
        writer = asyncio.create_task(self._write(client), name=f"demo-writer-{client.number}")
        try:
            await self._read(client)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            # The writer may already have ended on the client's departure; that is not an error.
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer
            with self._changed:
                del self._clients[client.number]
                self._changed.notify_all()
            logger.info(
                "client %d disconnected (code %s)",
                client.number,
                ws.close_code if ws.close_code is not None else "none",
            )

    def _snapshot(self) -> list[_Pending]:
        """Every mission's current row, so a new subscriber has a full table at once.

        A long table comes as groups of rows, each to be sent as one array frame.
        """
        assert self._world is not None
        now = self._now()
        rows = [_encode("mission_update", row, now) for row in self._world.snapshot()]
        if len(rows) <= _SNAPSHOT_FRAME:
            return [("missions", row) for row in rows]
        return [
            ("missions", tuple(rows[start : start + _SNAPSHOT_FRAME]))
            for start in range(0, len(rows), _SNAPSHOT_FRAME)
        ]

    # -- event loop side: what clients send ----------------------------------------------------

    async def _read(self, client: _Client) -> None:
        ws = client.ws
        while True:
            frame = await ws.recv()
            muted = self._chaos.silence_if_muted(ws)
            try:
                decoded = orjson.loads(frame)
            except orjson.JSONDecodeError:
                decoded = None
            messages = decoded if isinstance(decoded, list) else [decoded]
            for message in messages:
                if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                    with self._lock:
                        self._invalid += 1
                    logger.warning("client %d sent an invalid frame: %.200r", client.number, frame)
                    error = {"message": "expected a JSON object with a string 'type'"}
                    client.enqueue([(None, _encode("error", error, self._now()))])
                    continue
                if message["type"] == "ping":
                    if not muted:
                        await self._pong(client, message)
                    continue
                self._record(client, message)
                self._answer(client, message)

    async def _pong(self, client: _Client, ping: dict[str, Any]) -> None:
        # Straight to the socket, ahead of any data backlog, so round-trip times stay honest.
        stamp = ping.get("timestamp", self._now())
        await client.ws.send(orjson.dumps({"type": "pong", "timestamp": stamp}), text=True)
        with self._lock:
            self._sent += 1

    def _record(self, client: _Client, message: dict[str, Any]) -> None:
        with self._changed:
            self._received.append(message)
            self._changed.notify_all()
        logger.info("client %d sent %s", client.number, orjson.dumps(message).decode()[:500])

    def _answer(self, client: _Client, message: dict[str, Any]) -> None:
        kind, payload = message["type"], message.get("payload")
        now = self._now()
        if kind == "echo":
            client.enqueue([(None, _encode("echo", payload, now))])
        elif kind in ("subscribe", "unsubscribe"):
            names = _channel_names(payload)
            unknown = sorted(set(names) - CHANNELS.keys()) if names is not None else None
            if not names or unknown:
                text = (
                    f"unknown channel(s) {unknown}"
                    if unknown
                    else f"{kind} needs a payload like {{'channel': 'metrics'}}"
                )
                error = {"message": f"{text}; channels are {', '.join(CHANNELS)}"}
                client.enqueue([(None, _encode("error", error, now))])
                return
            before = client.channels
            if kind == "subscribe":
                added = set(names) - (before or set())
                client.channels = (before or set()) | set(names)
            else:
                added = set()
                client.channels = (set(CHANNELS) if before is None else before) - set(names)
            reply = {"channels": sorted(client.channels)}
            client.enqueue([(None, _encode("subscribed", reply, now))])
            if "missions" in added:
                client.enqueue(self._snapshot())

    # -- event loop side: the stream -----------------------------------------------------------

    async def _write(self, client: _Client) -> None:
        unmuted = self._chaos.unmuted
        ws = client.ws
        while True:
            await client.wakeup.wait()
            client.wakeup.clear()
            while client.pending:
                await unmuted.wait()
                head = client.pending[0][1]
                if isinstance(head, tuple):
                    # A snapshot group leaves as one array frame whatever ``batch`` is.
                    client.pending.popleft()
                    await ws.send(_array(_stamp(client, head)), text=True)
                    self._count_sent(len(head))
                    continue
                bodies: list[bytes] = []
                while client.pending and len(bodies) < 256:
                    body = client.pending[0][1]
                    if isinstance(body, tuple):
                        break
                    client.pending.popleft()
                    bodies.append(body)
                frames = _stamp(client, bodies)
                if self._batch == 1:
                    for frame in frames:
                        await ws.send(frame, text=True)
                else:
                    for start in range(0, len(frames), self._batch):
                        await ws.send(_array(frames[start : start + self._batch]), text=True)
                self._count_sent(len(frames))

    def _count_sent(self, count: int) -> None:
        with self._lock:
            self._sent += count

    async def _produce(self) -> None:
        world = self._world
        assert world is not None
        loop = asyncio.get_running_loop()
        started, emitted = loop.time(), 0
        while True:
            # Ticks of at most 10 ms at high rates keep batches small and latency low; at low
            # rates one tick per message.
            rate = self._rate
            tick = 0.1 if rate <= 0 else min(0.1, max(0.01, 1.0 / rate))
            await asyncio.sleep(tick)
            now = loop.time()
            with self._lock:
                clients = list(self._clients.values())
            if rate <= 0 or not clients or self._chaos.chaos.mute_heartbeat:
                started, emitted = now, 0
                continue
            due = int((now - started) * rate) - emitted
            # After a stall (a paused process, a slow machine) catch up by at most one second.
            if due > rate:
                started, emitted, due = now - 1.0, 0, int(rate)
            if due <= 0:
                continue
            emitted += due
            messages: list[_Pending] = [
                (update.channel, _encode(update.type, update.payload, update.timestamp))
                for update in world.generate(due)
            ]
            limit = max(_MIN_BACKLOG, int(rate * _BACKLOG_SECONDS))
            for client in clients:
                if len(client.pending) > limit:
                    logger.warning("client %d too slow for %g msg/s: closing", client.number, rate)
                    closing = asyncio.create_task(client.ws.close(1013, "too slow for the rate"))
                    self._background.add(closing)
                    closing.add_done_callback(self._background.discard)
                    client.pending.clear()
                    continue
                client.enqueue(messages)

    async def _apply_rate(self, rate: float) -> None:
        self._rate = rate
