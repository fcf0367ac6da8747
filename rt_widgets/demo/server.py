"""A local WebSocket feed of simulated mission, metrics and notification messages.

The feed runs its own event loop on a background thread, whether it is used from sync or async
code, so that a caller whose loop is busy (a notebook cell, a test awaiting something else) never
stalls the server: it behaves like the separate process a real feed would be.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import ipaddress
import logging
import random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["CHANNELS", "Chaos", "DemoServer"]

logger = logging.getLogger("rt_widgets.demo")

#: Subscription channel -> the message type it carries.
CHANNELS: Final[dict[str, str]] = {
    "missions": "mission_update",
    "metrics": "metrics_update",
    "notifications": "notification",
}

MISSION_STATUSES: Final = ("queued", "active", "paused", "done", "failed")

_MISSION_NAMES: Final = (
    "Aurora", "Borealis", "Cassini", "Dawn", "Europa", "Fermi", "Galileo", "Hubble", "Icarus",
    "Juno", "Kepler", "Lyra", "Magellan", "Nova", "Orion", "Pioneer", "Quasar", "Rosetta",
    "Stardust", "Triton", "Ulysses", "Vega", "Voyager", "Webb", "Zenith",
)  # fmt: skip

# Share of the message stream per channel: mostly table rows, a steady metrics beat, and
# notifications rare enough to read.
_WEIGHTS: Final = (("missions", 0.62), ("metrics", 0.37), ("notifications", 0.01))

_LOOPBACK_NAMES: Final = frozenset({"localhost", "ip6-localhost"})

# A client that falls this many seconds of stream behind is disconnected rather than buffered
# without bound.
_BACKLOG_SECONDS: Final = 10.0
_MIN_BACKLOG: Final = 20_000
_RECEIVED_LIMIT: Final = 100_000

# A mission table longer than this reaches a new client as JSON-array frames of this many rows:
# ten thousand single-row frames would take the client seconds to drain.
_SNAPSHOT_FRAME: Final = 500

# A pending outgoing item: (channel or None for replies, one encoded message, or a group of
# them that must leave as one JSON-array frame).
_Pending = tuple[str | None, bytes | tuple[bytes, ...]]


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


@dataclasses.dataclass(frozen=True)
class Chaos:
    """The misbehaviours in force. ``DemoServer.chaos`` returns the current one.

    - ``drop_every``: close every client every this many seconds (code 1012), ``None`` for never.
    - ``mute_heartbeat``: go silent as a half-open link does: stop reading (so neither application
      nor protocol pings are answered) and stop sending.
    - ``refuse_status``: reject every opening handshake with this HTTP status (e.g. 401, 503).
    - ``retry_after``: seconds to put in a ``Retry-After`` header on refused handshakes.
    """

    drop_every: float | None = None
    mute_heartbeat: bool = False
    refuse_status: int | None = None
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.drop_every is not None and not self.drop_every > 0:
            raise ValueError(f"drop_every must be > 0 seconds or None, got {self.drop_every!r}")
        if self.refuse_status is not None and not 400 <= self.refuse_status <= 599:
            raise ValueError(
                f"refuse_status must be an HTTP error status (400-599), got {self.refuse_status!r}"
            )
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {self.retry_after!r}")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _World:
    """The simulated system behind the feed: missions advancing, metrics drifting.

    Pure and deterministic for a given seed: the n-th generated message depends only on the seed
    and n, never on time or on who is connected.
    """

    def __init__(self, rng: random.Random, missions: int = len(_MISSION_NAMES)) -> None:
        self._rng = rng
        self.missions: list[dict[str, Any]] = []
        for index in range(1, missions + 1):
            status = rng.choice(MISSION_STATUSES)
            progress = {"queued": 0.0, "done": 100.0}.get(status, round(rng.uniform(0, 95), 1))
            self.missions.append(
                {
                    "id": index,
                    "name": _mission_name(index),
                    "status": status,
                    "progress": progress,
                    "updated_at": _now_iso(),
                }
            )
        self.metrics: dict[str, float] = {
            "cpu": 42.0,
            "memory": 61.0,
            "latency_ms": 38.0,
            "throughput": 1200.0,
            "error_rate": 0.4,
            "queue_depth": 12.0,
        }
        self._channels = [name for name, _ in _WEIGHTS]
        self._cum_weights = list(_cumulative(weight for _, weight in _WEIGHTS))

    def next_channel(self) -> str:
        roll = self._rng.random()
        for channel, bound in zip(self._channels, self._cum_weights, strict=True):
            if roll < bound:
                return channel
        return self._channels[-1]

    def mission_update(self, now: str) -> dict[str, Any]:
        rng = self._rng
        mission = rng.choice(self.missions)
        status = mission["status"]
        if status == "queued":
            if rng.random() < 0.5:
                status = "active"
        elif status == "active":
            mission["progress"] = round(min(100.0, mission["progress"] + rng.uniform(0.5, 6.0)), 1)
            roll = rng.random()
            if mission["progress"] >= 100.0:
                status = "done"
            elif roll < 0.03:
                status = "failed"
            elif roll < 0.09:
                status = "paused"
        elif status == "paused":
            if rng.random() < 0.4:
                status = "active"
        elif rng.random() < 0.3:  # done or failed: start a new run
            status = "queued"
            mission["progress"] = 0.0
        mission["status"] = status
        mission["updated_at"] = now
        return dict(mission)

    def metrics_update(self) -> dict[str, float]:
        rng = self._rng
        m = self.metrics

        def drift(name: str, mean: float, step: float, low: float, high: float) -> None:
            # Mean-reverting walk: wanders visibly on a sparkline but never runs away.
            value = m[name] + rng.gauss(0.0, step) + 0.1 * (mean - m[name])
            m[name] = min(high, max(low, value))

        drift("cpu", 45.0, 4.0, 0.0, 100.0)
        drift("memory", 62.0, 1.5, 0.0, 100.0)
        drift("latency_ms", 40.0, 6.0, 1.0, 2000.0)
        drift("throughput", 1200.0, 60.0, 0.0, 1e9)
        drift("error_rate", 0.5, 0.15, 0.0, 100.0)
        drift("queue_depth", 12.0, 3.0, 0.0, 1e9)
        snapshot = {name: round(value, 2) for name, value in m.items()}
        snapshot["queue_depth"] = float(round(m["queue_depth"]))
        return snapshot

    def notification(self) -> dict[str, str]:
        rng = self._rng
        mission = rng.choice(self.missions)
        name, progress = mission["name"], mission["progress"]
        roll = rng.random()
        if roll < 0.4:
            return {"level": "info", "title": "Mission update",
                    "message": f"{name} is {mission['status']} at {progress:.0f}%"}  # fmt: skip
        if roll < 0.65:
            return {"level": "success", "title": "Checkpoint reached",
                    "message": f"{name} passed {progress:.0f}%"}  # fmt: skip
        if roll < 0.9:
            latency = self.metrics["latency_ms"]
            return {"level": "warning", "title": "Latency rising",
                    "message": f"Ground link latency is {latency:.0f} ms"}  # fmt: skip
        return {"level": "error", "title": "Telemetry gap",
                "message": f"{name} missed a telemetry window"}  # fmt: skip

    def generate(self, count: int) -> list[tuple[str, bytes]]:
        """``count`` messages as (channel, encoded envelope without ``seq``)."""
        now = _now_iso()
        out: list[tuple[str, bytes]] = []
        for _ in range(count):
            channel = self.next_channel()
            payload: Any
            if channel == "missions":
                payload = self.mission_update(now)
            elif channel == "metrics":
                payload = self.metrics_update()
            else:
                payload = self.notification()
            out.append((channel, _encode(CHANNELS[channel], payload, now)))
        return out

    def snapshot(self) -> list[_Pending]:
        """Every mission's current row, so a new subscriber has a full table at once.

        A long table comes as groups of rows, each to be sent as one array frame.
        """
        now = _now_iso()
        rows = [_encode("mission_update", m, now) for m in self.missions]
        if len(rows) <= _SNAPSHOT_FRAME:
            return [("missions", row) for row in rows]
        return [
            ("missions", tuple(rows[start : start + _SNAPSHOT_FRAME]))
            for start in range(0, len(rows), _SNAPSHOT_FRAME)
        ]


def _mission_name(index: int) -> str:
    # The built-in names first; a longer table reuses them with a wider, still unique, number.
    base = _MISSION_NAMES[(index - 1) % len(_MISSION_NAMES)]
    if index <= len(_MISSION_NAMES):
        return f"{base}-{index:02d}"
    return f"{base}-{index:04d}"


def _cumulative(values: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def _encode(type_: str, payload: Any, timestamp: str) -> bytes:
    return orjson.dumps({"type": type_, "payload": payload, "timestamp": timestamp})


def _stamp(client: _Client, bodies: Iterable[bytes]) -> list[bytes]:
    frames = []
    for body in bodies:
        client.seq += 1
        frames.append(_with_seq(body, client.seq))
    return frames


def _array(frames: list[bytes]) -> bytes:
    return b"[" + b",".join(frames) + b"]"


def _with_seq(body: bytes, seq: int) -> bytes:
    # The envelope is encoded once per message and shared by every client; only seq differs.
    return body[:-1] + b',"seq":%d}' % seq


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


class DemoServer:
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
        self._chaos = Chaos(drop_every, mute_heartbeat, refuse_status, retry_after)

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received: collections.deque[dict[str, Any]] = collections.deque(maxlen=_RECEIVED_LIMIT)
        self._clients: dict[int, _Client] = {}
        self._connections = 0
        self._bound: list[tuple[str, int]] = []
        self._sent = 0
        self._invalid = 0

        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._done.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._unmuted: asyncio.Event | None = None
        self._drop_task: asyncio.Task[None] | None = None
        self._world: _World | None = None
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        state = f"running, {self.clients} client(s)" if self.running else "stopped"
        return f"<DemoServer {self.url} {state}>"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving; returns once the port is open. Idempotent while running."""
        if self._thread is not None and self._thread.is_alive():
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._done = threading.Event()
        thread = threading.Thread(
            target=self._thread_main, args=(ready, failure), name="rt_widgets-demo", daemon=True
        )
        self._thread = thread
        thread.start()
        if not ready.wait(15.0):
            self.stop()
            raise RuntimeError("the demo feed did not start within 15 s")
        if failure:
            thread.join(5.0)
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every client (code 1001) and the listening socket, and end the thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        if threading.current_thread() is thread:
            return
        thread.join(10.0)
        if thread.is_alive():
            logger.warning("demo feed thread did not stop within 10 s")
            return
        self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the feed stops (or ``timeout`` seconds pass); True once it has stopped."""
        # An Event, not Thread.join: a Ctrl-C that interrupts join() can leave the thread
        # looking finished while it still runs (CPython < 3.13), and stop() would then skip it.
        return self._done.wait(timeout)

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
        return self._thread is not None and self._thread.is_alive() and self._port is not None

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

    # -- runtime controls ----------------------------------------------------------------------

    @property
    def chaos(self) -> Chaos:
        return self._chaos

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
        self._call(self._apply_rate, float(rate))

    def set_chaos(
        self,
        *,
        drop_every: float | _Unset | None = _UNSET,
        mute_heartbeat: bool | _Unset = _UNSET,
        refuse_status: int | _Unset | None = _UNSET,
        retry_after: int | _Unset | None = _UNSET,
    ) -> Chaos:
        """Change some misbehaviours (``None`` turns one off); the others stay as they are.

        Example: ``feed.set_chaos(mute_heartbeat=True)``, later ``mute_heartbeat=False``.
        """
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("drop_every", drop_every),
                ("mute_heartbeat", mute_heartbeat),
                ("refuse_status", refuse_status),
                ("retry_after", retry_after),
            )
            if value is not _UNSET
        }
        chaos = dataclasses.replace(self._chaos, **changes)  # validates
        if self.running:
            self._call(self._apply_chaos, chaos)
        else:
            self._chaos = chaos
        return chaos

    def drop_clients(self, code: int = 1012, reason: str = "demo feed dropped the link") -> int:
        """Close every client's link with ``code`` (1012: service restart); returns how many."""
        if not self.running:
            return 0
        dropped: int = self._call(self._drop_all, code, reason)
        return dropped

    def broadcast_raw(self, data: str | bytes, *, text: bool | None = None) -> int:
        """Send ``data`` as-is to every client: str as a text frame, bytes as a binary frame
        (``text=True`` sends bytes as a text frame). Returns how many clients it went to.

        For tests and demos of malformed, hostile or oversized frames.
        """
        if not self.running:
            return 0
        count: int = self._call(self._broadcast_raw, data, text)
        return count

    def _call(self, fn: Any, *args: Any) -> Any:
        loop = self._loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the demo feed is not running: call start() first")
        if threading.current_thread() is self._thread:
            raise RuntimeError("blocking demo feed controls cannot run on the feed's own thread")
        return asyncio.run_coroutine_threadsafe(fn(*args), loop).result(15.0)

    # -- event loop side -----------------------------------------------------------------------

    def _thread_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:
            if ready.is_set():
                logger.exception("demo feed stopped on an error")
            else:
                failure.append(exc)
        finally:
            self._loop = None
            self._port = None
            with self._lock:
                self._bound = []
            ready.set()
            self._done.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._unmuted = asyncio.Event()
        if not self._chaos.mute_heartbeat:
            self._unmuted.set()
        self._world = _World(random.Random(self._seed), self._missions)
        server = await serve(
            self._handler,
            self._host,
            self._requested_port,
            process_request=self._process_request,
            compression="deflate" if self._compression else None,
            ping_interval=self._ping_interval,
            close_timeout=1.0,
        )
        with self._lock:
            self._bound = [sock.getsockname()[:2] for sock in server.sockets]
        self._port = self._bound[0][1]
        producer = asyncio.create_task(self._produce(), name="demo-producer")
        self._restart_dropper()
        scope = "loopback only" if self._is_loopback() else "reachable from other machines"
        logger.info("demo feed listening on %s (%s)", self.url, scope)
        ready.set()
        try:
            await self._stop_event.wait()
        finally:
            producer.cancel()
            if self._drop_task is not None:
                self._drop_task.cancel()
            # A muted link reads nothing, so it would never see the client's close frame.
            self._resume_all()
            server.close(code=1001, reason="demo feed stopping")
            await server.wait_closed()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            logger.info("demo feed on %s stopped", self.url)

    def _is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self._host).is_loopback
        except ValueError:
            return False

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path != self._path:
            return connection.respond(
                HTTPStatus.NOT_FOUND,
                f"No WebSocket endpoint at {path}: the demo feed serves {self._path}\n",
            )
        chaos = self._chaos
        if chaos.refuse_status is not None:
            response = connection.respond(
                chaos.refuse_status,
                f"The demo feed refuses connections with HTTP {chaos.refuse_status} "
                "(chaos option refuse_status)\n",
            )
            if chaos.retry_after is not None:
                response.headers["Retry-After"] = str(chaos.retry_after)
            return response
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        with self._changed:
            self._connections += 1
            client = _Client(self._connections, ws)
            self._clients[client.number] = client
            self._changed.notify_all()
        logger.info("client %d connected from %s", client.number, ws.remote_address)
        if self._chaos.mute_heartbeat:
            self._mute(client)
        assert self._world is not None
        client.enqueue(self._world.snapshot())
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

    async def _read(self, client: _Client) -> None:
        ws = client.ws
        while True:
            frame = await ws.recv()
            muted = self._chaos.mute_heartbeat
            if muted:
                # websockets' own flow control may have resumed reading behind our back.
                self._mute(client)
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
                    client.enqueue([(None, _encode("error", error, _now_iso()))])
                    continue
                if message["type"] == "ping":
                    if not muted:
                        await self._pong(client, message)
                    continue
                self._record(client, message)
                self._answer(client, message)

    async def _pong(self, client: _Client, ping: dict[str, Any]) -> None:
        # Straight to the socket, ahead of any data backlog, so round-trip times stay honest.
        stamp = ping.get("timestamp", _now_iso())
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
        now = _now_iso()
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
                assert self._world is not None
                client.enqueue(self._world.snapshot())

    async def _write(self, client: _Client) -> None:
        assert self._unmuted is not None
        ws = client.ws
        while True:
            await client.wakeup.wait()
            client.wakeup.clear()
            while client.pending:
                await self._unmuted.wait()
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
        assert self._world is not None
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
            if rate <= 0 or not clients or self._chaos.mute_heartbeat:
                started, emitted = now, 0
                continue
            due = int((now - started) * rate) - emitted
            # After a stall (a paused process, a slow machine) catch up by at most one second.
            if due > rate:
                started, emitted, due = now - 1.0, 0, int(rate)
            if due <= 0:
                continue
            emitted += due
            messages = self._world.generate(due)
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

    async def _apply_chaos(self, chaos: Chaos) -> None:
        previous, self._chaos = self._chaos, chaos
        assert self._unmuted is not None
        if chaos.mute_heartbeat and not previous.mute_heartbeat:
            self._unmuted.clear()
            with self._lock:
                clients = list(self._clients.values())
            for client in clients:
                self._mute(client)
            logger.info("demo feed muted: links are silent both ways (half-open)")
        elif previous.mute_heartbeat and not chaos.mute_heartbeat:
            self._resume_all()
            logger.info("demo feed unmuted")
        if chaos.drop_every != previous.drop_every:
            self._restart_dropper()
        if chaos.refuse_status != previous.refuse_status:
            logger.info("demo feed refuse_status = %s", chaos.refuse_status)

    def _mute(self, client: _Client) -> None:
        ws = client.ws
        ws.transport.pause_reading()
        # A half-open link sends nothing either, not even keepalive pings.
        if ws.keepalive_task is not None:
            ws.keepalive_task.cancel()
            ws.keepalive_task = None

    def _resume_all(self) -> None:
        if self._unmuted is not None:
            self._unmuted.set()
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            ws = client.ws
            with contextlib.suppress(RuntimeError):  # transport already closing
                ws.transport.resume_reading()
            if ws.keepalive_task is None and self._ping_interval is not None:
                ws.start_keepalive()
            client.wakeup.set()

    def _restart_dropper(self) -> None:
        if self._drop_task is not None:
            self._drop_task.cancel()
            self._drop_task = None
        if self._chaos.drop_every is not None:
            self._drop_task = asyncio.create_task(self._drop_periodically(self._chaos.drop_every))

    async def _drop_periodically(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            count = await self._drop_all(1012, f"demo feed drops links every {every:g} s")
            logger.info("chaos: dropped %d client(s)", count)

    async def _drop_all(self, code: int, reason: str) -> int:
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            # So the closing handshake completes even on a muted link.
            with contextlib.suppress(RuntimeError):
                client.ws.transport.resume_reading()
        await asyncio.gather(*(c.ws.close(code, reason) for c in clients), return_exceptions=True)
        return len(clients)

    async def _broadcast_raw(self, data: str | bytes, text: bool | None) -> int:
        with self._lock:
            clients = list(self._clients.values())
        results = await asyncio.gather(*(c.ws.send(data, text=text) for c in clients), return_exceptions=True)
        return sum(1 for result in results if not isinstance(result, BaseException))


def _check_rate(rate: float) -> None:
    if not rate >= 0:
        raise ValueError(f"rate must be >= 0 messages per second, got {rate!r}")


def _channel_names(payload: Any) -> list[str] | None:
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("channel"), str):
        return [payload["channel"]]
    channels = payload.get("channels")
    if isinstance(channels, list) and all(isinstance(c, str) for c in channels):
        return list(channels)
    return None
