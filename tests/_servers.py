"""Real loopback servers for the connection tests.

Everything here runs on one background thread with its own event loop (`ServerLoop`), separate from the
rt_widgets I/O thread: a test that blocks the client's loop must not freeze the server it talks to.

- `WsServer`: a `websockets` server on 127.0.0.1 that records every handshake attempt and every message it
  receives, answers the application ping, and can be told to refuse handshakes, close right after the
  handshake, stop reading (half-open), push frames (raw ones included), or be killed and restarted on the
  same port.
- `TcpProxy`: a TCP relay that can pause forwarding (a half-open link: both sockets stay open, no byte
  moves), heal, and drop every connection.
- `SilentServer`: accepts TCP connections and never says a word (a server slow to accept the handshake).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event

from rt_widgets.iothread import LoopThread

T = TypeVar("T")

HOST = "127.0.0.1"

# The test servers log under their own name so that checks on the client's log records can leave out
# what the server side printed (the server legitimately sees the credentials it is sent).
SERVER_LOGGER = logging.getLogger("tests.server")


class ServerLoop:
    """The test servers' event loop, on a daemon thread of its own (an `iothread.LoopThread`)."""

    def __init__(self) -> None:
        self._thread = LoopThread("test-servers")
        self.loop = self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return self._thread.run_sync(coro, timeout)

    def call(self, fn: Callable[[], T], timeout: float = 15.0) -> T:
        async def invoke() -> T:
            return fn()

        return self.run(invoke(), timeout)

    def close(self) -> None:
        """Cancel every server task still running, end the loop and join the thread."""
        self._thread.stop(5)


@dataclass
class Attempt:
    """One connection attempt seen by the server (a handshake request, or a bare TCP accept while down)."""

    time: float
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    handshake: bool = True


class WsServer:
    """A recording `websockets` server that can misbehave on demand.

    Message frames the server receives are decoded as JSON (arrays are flattened) and appended to
    `received` as `(connection_index, message)`; application pings are counted in `pings` and answered with
    `{"type": "pong", "timestamp": <echo>}` unless `answer_pings` is False. WebSocket protocol pings are
    answered by the library, as any RFC 6455 server does, and counted in `protocol_pings`.
    """

    def __init__(
        self,
        loop: ServerLoop,
        *,
        answer_pings: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        compression: str | None = None,
        path: str = "/ws",
    ) -> None:
        self._loop = loop
        self.answer_pings = answer_pings
        self._ssl = ssl_context
        self._compression = compression
        self.path = path
        self.port = 0
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.received: list[tuple[int, Any]] = []
        self.raw_frames: list[str | bytes] = []
        self.pings = 0
        self.protocol_pings = 0
        self.connection_count = 0
        self.closed_connections = 0
        self.close_codes: list[int | None] = []
        self._server: Server | None = None
        self._recorder: asyncio.Server | None = None
        self._open: dict[int, ServerConnection] = {}
        self._index: dict[int, int] = {}
        self._refuse: tuple[int, dict[str, str]] | None = None
        self._close_on_connect: tuple[int, str] | None = None
        self.on_connect: list[str | bytes] = []

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://{HOST}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WsServer:
        self._loop.run(self._start())
        return self

    async def _start(self) -> None:
        if self._recorder is not None:
            self._recorder.close()
            await self._recorder.wait_closed()
            self._recorder = None
        self._server = await serve(
            self._handler,
            HOST,
            self.port,
            process_request=self._process_request,
            process_response=self._process_response,
            ping_interval=None,
            max_size=None,
            compression=self._compression,
            ssl=self._ssl,
            logger=SERVER_LOGGER,
            close_timeout=1,
            create_connection=self._connection_class(),
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    def stop(self, code: int = 1001) -> None:
        """Shut down gracefully: close frames to every client, then stop listening."""
        self._loop.run(self._stop(code))

    async def _stop(self, code: int) -> None:
        if self._server is not None:
            self._server.close(code=code)
            await self._server.wait_closed()
            self._server = None
        if self._recorder is not None:
            self._recorder.close()
            await self._recorder.wait_closed()
            self._recorder = None

    def kill(self, *, record: bool = False) -> None:
        """Die like a crashed process: abort every TCP connection (the client sees 1006), stop listening.

        With `record=True` a bare TCP listener takes the same port and aborts each connection it accepts,
        recording the time in `attempts` (with `handshake=False`), so the client's retry schedule can be
        measured on the server side while the WebSocket server is down.
        """
        self._loop.run(self._kill(record))

    async def _kill(self, record: bool) -> None:
        # Stop listening first, then abort every connection, again until none is left: a client
        # reconnecting at once may have been accepted while the others were being aborted.
        server, self._server = self._server, None
        if server is not None:
            server.close(close_connections=False)
        for ws in list(self._open.values()):
            ws.transport.abort()
        if server is not None:
            closed = asyncio.ensure_future(server.wait_closed())
            while not closed.done():
                await asyncio.wait({closed}, timeout=0.05)
                for ws in list(self._open.values()):
                    ws.transport.abort()
        if record:
            self._recorder = await asyncio.start_server(
                self._record_and_abort, HOST, self.port, reuse_address=True
            )

    async def _record_and_abort(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.attempts.append(Attempt(time.monotonic(), handshake=False))
        writer.transport.abort()

    def restart(self) -> None:
        """Come back on the same port."""
        self._loop.run(self._start())

    # --- behaviour switches ----------------------------------------------------------------------

    def refuse(self, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer every following handshake with HTTP `status` (and `headers`)."""
        self._refuse = (status, dict(headers or {}))

    def close_on_connect(self, code: int, reason: str = "") -> None:
        """Complete every following handshake, then close at once with `code`."""
        self._close_on_connect = (code, reason)

    def behave(self) -> None:
        """Back to normal: accept and serve."""
        self._refuse = None
        self._close_on_connect = None

    def stop_reading(self) -> None:
        """Make every open link half-open: the server stops reading, so it answers no ping of any kind."""

        def pause() -> None:
            for ws in self._open.values():
                ws.transport.pause_reading()

        self._loop.call(pause)

    # --- pushing frames --------------------------------------------------------------------------

    def send(self, *frames: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send frames to every open connection, in order (dicts and lists are JSON-encoded)."""
        self._loop.run(self._send(frames))

    async def _send(self, frames: tuple[str | bytes | dict[str, Any] | list[Any], ...]) -> None:
        for ws in list(self._open.values()):
            for frame in frames:
                data = frame if isinstance(frame, str | bytes) else json.dumps(frame)
                await ws.send(data)

    def send_fragments(self, *parts: str) -> None:
        """Send one text message as a fragmented frame sequence, one fragment per part."""

        async def send() -> None:
            for ws in list(self._open.values()):
                await ws.send(iter(parts))

        self._loop.run(send())

    def send_declared_frame(self, length: int, chunk: int = 1 << 16) -> int:
        """Start a text frame that declares `length` payload bytes and stream it without ever holding it.

        Returns the number of payload bytes written before the peer closed the link (or `length`).
        The frame is written under the protocol layer, as a hostile or broken server would.
        """
        return self._loop.run(self._send_declared(length, chunk), timeout=60)

    async def _send_declared(self, length: int, chunk: int) -> int:
        ws = next(iter(self._open.values()))
        transport = ws.transport
        header = b"\x81\x7f" + struct.pack("!Q", length)
        transport.write(header)
        block = b"a" * chunk
        written = 0
        deadline = time.monotonic() + 30
        while written < length and not transport.is_closing() and time.monotonic() < deadline:
            if transport.get_write_buffer_size() > 4 * chunk:
                # Back off while the kernel buffer is full; this runs on the server loop, not in a test.
                await asyncio.sleep(0.001)
                continue
            n = min(chunk, length - written)
            try:
                transport.write(block[:n])
            except (RuntimeError, OSError):
                # The peer refused the frame and the protocol layer is already closing the link.
                break
            written += n
        return written

    def close_all(self, code: int, reason: str = "") -> None:
        async def close() -> None:
            await asyncio.gather(
                *(ws.close(code, reason) for ws in list(self._open.values())), return_exceptions=True
            )

        self._loop.run(close())

    # --- what was seen ---------------------------------------------------------------------------

    def messages(self, type: str | None = None) -> list[Any]:
        with self._lock:
            return [m for _, m in self.received if type is None or _type_of(m) == type]

    def messages_by_connection(self) -> list[tuple[int, Any]]:
        with self._lock:
            return list(self.received)

    def attempt_times(self) -> list[float]:
        with self._lock:
            return [a.time for a in self.attempts]

    def handshakes(self) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.handshake]

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def extensions(self) -> list[list[str]]:
        """The extensions negotiated on each open connection (e.g. permessage-deflate)."""
        return [[e.name for e in ws.protocol.extensions] for ws in list(self._open.values())]

    # --- internals -------------------------------------------------------------------------------

    def _connection_class(self) -> type[ServerConnection]:
        owner = self

        class CountingConnection(ServerConnection):
            """Counts WebSocket protocol pings; answering them stays the library's job."""

            def process_event(self, event: Event) -> None:
                if isinstance(event, Frame) and event.opcode is Opcode.PING:
                    with owner._lock:
                        owner.protocol_pings += 1
                super().process_event(event)

        return CountingConnection

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            self.attempts.append(
                Attempt(time.monotonic(), request.path, {k: v for k, v in request.headers.raw_items()})
            )
        if self._refuse is not None:
            status, headers = self._refuse
            response = connection.respond(status, f"refused with {status}\n")
            for name, value in headers.items():
                response.headers[name] = value
            return response
        return None

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        # Counted before the 101 goes out, so a client that sees itself connected always finds
        # itself counted here.
        if response.status_code == 101:
            with self._lock:
                self._index[id(connection)] = self.connection_count
                self.connection_count += 1

    async def _handler(self, ws: ServerConnection) -> None:
        with self._lock:
            index = self._index.pop(id(ws))
        self._open[index] = ws
        try:
            if self._close_on_connect is not None:
                code, reason = self._close_on_connect
                await ws.close(code, reason)
                return
            for frame in self.on_connect:
                await ws.send(frame)
            async for raw in ws:
                await self._record(index, ws, raw)
        except ConnectionClosed:
            pass
        finally:
            self._open.pop(index, None)
            with self._lock:
                self.closed_connections += 1
                # The code of the close frame the client sent (None: the TCP link just went away).
                received = ws.protocol.close_rcvd
                self.close_codes.append(received.code if received is not None else None)

    async def _record(self, index: int, ws: ServerConnection, raw: str | bytes) -> None:
        with self._lock:
            self.raw_frames.append(raw)
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = raw
        items = decoded if isinstance(decoded, list) else [decoded]
        for item in items:
            if _type_of(item) == "ping":
                with self._lock:
                    self.pings += 1
                if self.answer_pings:
                    await ws.send(json.dumps({"type": "pong", "timestamp": item.get("timestamp")}))
                continue
            with self._lock:
                self.received.append((index, item))


def _type_of(message: Any) -> Any:
    return message.get("type") if isinstance(message, dict) else None


class TcpProxy:
    """A TCP relay to `upstream_port` that can go half-open (`pause`), `heal`, and `drop` connections."""

    def __init__(self, loop: ServerLoop, upstream_port: int) -> None:
        self._loop = loop
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0

    def url(self, path: str = "/ws") -> str:
        return f"ws://{HOST}:{self.port}{path}"

    def start(self) -> TcpProxy:
        async def start() -> None:
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = await asyncio.start_server(self._accept, HOST, 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run(start())
        return self

    def pause(self) -> None:
        """Stop moving bytes both ways; every socket stays open (a half-open link, a dead NAT entry)."""
        self._loop.call(self._event().clear)

    def heal(self) -> None:
        self._loop.call(self._event().set)

    def drop(self) -> None:
        """Abort every relayed connection (both sides see a reset)."""

        def abort() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        self._loop.call(abort)

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()
                self._server = None

        self._loop.run(stop())

    def _event(self) -> asyncio.Event:
        assert self._flowing is not None, "start() the proxy first"
        return self._flowing

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            await self._event().wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self.upstream_port)
            self._writers.add(upstream_writer)
            pipes = [
                self._spawn(self._pipe(reader, upstream_writer)),
                self._spawn(self._pipe(upstream_reader, writer)),
            ]
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                await self._event().wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            return


class SilentServer:
    """Accepts TCP connections and never answers: the opening handshake can only time out."""

    def __init__(self, loop: ServerLoop) -> None:
        self._loop = loop
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted: list[float] = []
        self.hung_up: list[float] = []

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    def start(self) -> SilentServer:
        async def start() -> None:
            self._server = await asyncio.start_server(self._accept, HOST, 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run(start())
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        self._writers.add(writer)
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        finally:
            self.hung_up.append(time.monotonic())
            self._writers.discard(writer)
            writer.transport.abort()

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            if self._server is not None:
                await self._server.wait_closed()
                self._server = None

        self._loop.run(stop())
