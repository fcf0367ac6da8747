"""FrameConnection splits the common frames itself (rt_widgets/frames.py): against a raw TCP server
on 127.0.0.1 that speaks the handshake by hand and then writes exact bytes, every frame arrives
whole and in order however the bytes are cut, control frames still get websockets' answers, and
whatever websockets must judge (a fragment, a masked or oversized frame, a close) is judged by it
as before."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.frames import Close, Frame, Opcode

from rt_widgets.frames import FrameConnection, Payload, frame_connection_factory

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: Opcode, data: bytes, fin: bool = True, mask: bool = False) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=mask)


def text(data: str) -> bytes:
    return frame(Opcode.TEXT, data.encode())


class RawServer:
    """Answers one client's handshake, writing ``after`` in the same write as the 101 response;
    ``write(data)`` sends more; ``received`` is every byte the client sent after its request. The
    client's close frame ends the connection (no close frame back: the client's is what counts)."""

    def __init__(self, after: bytes = b"", status: bytes = b"101 Switching Protocols") -> None:
        self.after = after
        self.status = status
        self.received = bytearray()
        self.got_data = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        if self._writer is not None:
            self._writer.close()
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        if self.status.startswith(b"101"):
            head = (b"HTTP/1.1 " + self.status + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        else:
            head = (b"HTTP/1.1 " + self.status + b"\r\nContent-Length: " + str(len(self.after)).encode()
                    + b"\r\n\r\n")
        writer.write(head + self.after)
        while data := await reader.read(65536):
            self.received += data
            self.got_data.set()
            if 0x88 in unmasked_opcodes(bytes(self.received)):  # the client's close: end, as a server does
                writer.close()
                return

    async def write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def wait_for(self, what: bytes, timeout: float = 5.0) -> None:
        async def seen() -> None:
            while what not in unmasked_opcodes(bytes(self.received)):
                self.got_data.clear()
                await self.got_data.wait()

        await asyncio.wait_for(seen(), timeout)


def unmasked_opcodes(data: bytes) -> bytes:
    """The first header byte of each (masked, client) frame in ``data``."""
    out, pos = bytearray(), 0
    while len(data) - pos >= 2:
        length, start = data[pos + 1] & 0x7F, pos + 2
        if length == 126:
            length, start = int.from_bytes(data[start:start + 2], "big"), start + 2
        elif length == 127:
            length, start = int.from_bytes(data[start:start + 8], "big"), start + 8
        out.append(data[pos])
        pos = start + 4 + length
    return bytes(out)


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, bool]] = []
        self.changed = asyncio.Event()

    def __call__(self, data: Payload, is_text: bool) -> None:
        # A view of the bytes read when split here, websockets' bytes or bytearray otherwise.
        assert isinstance(data, memoryview | bytes | bytearray)
        self.got.append((bytes(data), is_text))
        self.changed.set()

    async def wait_for(self, n: int, timeout: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.got) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(enough(), timeout)


@pytest.fixture
async def opened() -> AsyncIterator[tuple[RawServer, FrameConnection, Sink]]:
    sink = Sink()
    async with RawServer() as server:
        factory: Any = frame_connection_factory(sink)
        async with connect(server.url, create_connection=factory, compression=None,
                           max_size=100_000, ping_interval=None, close_timeout=0.5) as ws:
            assert isinstance(ws, FrameConnection)
            ws.start_delivery()
            yield server, ws, sink


STREAM = [
    (text("a"), (b"a", True)),
    (frame(Opcode.BINARY, bytes(range(200))), (bytes(range(200)), False)),  # 16-bit length
    (frame(Opcode.PING, b"p1"), None),
    (text("é" * 40_000), ("é" * 40_000).encode()),  # 64-bit length (80,000 bytes)
    (frame(Opcode.PONG, b""), None),
    (text(""), (b"", True)),
    (text("z" * 125), (b"z" * 125, True)),
    (text("y" * 126), (b"y" * 126, True)),
]


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 64, 1000, 65536, 1 << 20])
async def test_frames_arrive_whole_and_in_order_however_the_bytes_are_cut(
        opened: tuple[RawServer, FrameConnection, Sink], cut: int) -> None:
    server, ws, sink = opened
    stream = b"".join(data for data, _ in STREAM)
    for start in range(0, len(stream), cut):
        ws.data_received(stream[start:start + cut])
    want = [w if isinstance(w, tuple) else (w, True) for _, w in STREAM if w is not None]
    assert sink.got == want
    # websockets answered the ping, as ever (the client's own frames are masked).
    await server.wait_for(bytes([0x8A]))
    assert ws._pieces == [] and ws._splitting  # nothing held back, still splitting


async def test_a_fragmented_message_hands_the_stream_to_websockets(
        opened: tuple[RawServer, FrameConnection, Sink]) -> None:
    _, ws, sink = opened
    stream = (text("a") + frame(Opcode.TEXT, b"b1", fin=False) + frame(Opcode.CONT, b"b2")
              + text("c") + frame(Opcode.PING, b"") + text("d"))
    for start in range(0, len(stream), 3):
        ws.data_received(stream[start:start + 3])
    assert [d for d, _ in sink.got] == [b"a", b"b1b2", b"c", b"d"]
    assert not ws._splitting


async def test_frames_in_the_handshake_response_segment_are_split_too() -> None:
    sink = Sink()
    frames = [text(f"m{i}") for i in range(50)]
    first = b"".join(frames)
    tail = text("last")
    async with RawServer(after=first + tail[:3]) as server:
        factory: Any = frame_connection_factory(sink)
        async with connect(server.url, create_connection=factory, compression=None,
                           ping_interval=None, close_timeout=0.5) as ws:
            assert isinstance(ws, FrameConnection)
            ws.start_delivery()
            await server.write(tail[3:])
            await sink.wait_for(51)
            assert [d for d, _ in sink.got] == [f"m{i}".encode() for i in range(50)] + [b"last"]
            assert ws._splitting


async def test_a_refused_handshake_is_websockets_own_error() -> None:
    from websockets.exceptions import InvalidStatus

    async with RawServer(after=b"go away", status=b"403 Forbidden") as server:
        with pytest.raises(InvalidStatus) as caught:
            await connect(server.url, create_connection=frame_connection_factory(Sink()),
                          ping_interval=None)
        assert caught.value.response.status_code == 403
        assert caught.value.response.body == b"go away"


@pytest.mark.parametrize(("bad", "code"), [
    (frame(Opcode.TEXT, b"x" * 100_001), 1009),  # over max_size
    (frame(Opcode.TEXT, b"masked", mask=True), 1002),
    (bytes([0x81 | 0x40, 1]) + b"x", 1002),  # a reserved bit, no extension negotiated
    (frame(Opcode.CONT, b"x"), 1002),  # a continuation of nothing
])
async def test_what_websockets_must_judge_fails_the_link_as_before(
        opened: tuple[RawServer, FrameConnection, Sink], bad: bytes, code: int) -> None:
    server, ws, sink = opened
    await server.write(text("before") + bad + text("after"))
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == code
    assert sink.got == [(b"before", True)]


async def test_a_close_frame_closes_the_link_and_nothing_after_it_is_delivered(
        opened: tuple[RawServer, FrameConnection, Sink]) -> None:
    server, ws, sink = opened
    close = frame(Opcode.CLOSE, Close(1001, "bye").serialize())
    await server.write(text("a") + close + text("after close"))
    await server.wait_for(bytes([0x88]))  # websockets answered the close
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1001
    assert sink.got == [(b"a", True)]
