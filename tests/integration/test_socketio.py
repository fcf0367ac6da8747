"""SocketIO end to end through ``Connection(url, protocol=SocketIO(...))`` against a real
python-socketio ``AsyncServer`` (on aiohttp, in a process of its own:
``tests/servers/socketio_server.py``), and against a raw websockets server that speaks the
protocol badly."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from rt_widgets import Backoff, Connection, Message
from rt_widgets.protocols import SocketIO
from tests._servers import SERVER_LOGGER, ServerLoop
from tests.conftest import assert_stays, wait_until
from tests.servers.process import ServerProcess

TOKEN = "s3cret-socketio-token"
FAST = {"backoff": Backoff(initial=0.05, maximum=0.2), "open_timeout": 2.0}


@pytest.fixture
def sio_server() -> Iterator[Callable[..., ServerProcess]]:
    servers: list[ServerProcess] = []

    def factory(**options: Any) -> ServerProcess:
        server = ServerProcess.socketio(token=TOKEN, **options).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


Connect = Callable[..., tuple[Connection, list[Message]]]


@pytest.fixture
def connect() -> Iterator[Connect]:
    made: list[Connection] = []

    def factory(url: str, namespace: str = "/", token: str = TOKEN, **options: Any,
                ) -> tuple[Connection, list[Message]]:
        conn = Connection(url, protocol=SocketIO(namespace, auth={"token": token}),
                          **{**FAST, **options})
        made.append(conn)
        seen: list[Message] = []
        lock = threading.Lock()

        def add(message: Message) -> None:
            with lock:
                seen.append(message)

        conn.on("*", add)
        conn.start()
        return conn, seen

    yield factory
    for conn in made:
        conn.stop()


def of_type(seen: list[Message], type: str) -> list[Any]:
    return [m.payload for m in list(seen) if m.type == type]


def events(server: ServerProcess, client: int | None = None) -> list[tuple[str, Any]]:
    return [(e["event"], e["data"]) for e in server.log() if client in (None, e["client"])]


def test_events_arrive_typed_by_name_with_their_arguments(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    server = sio_server()
    conn, seen = connect(server.url)
    conn.wait_for_state("connected", timeout=10)
    conn.send("burst", {"count": 5})
    conn.send("pair", ("a", 2))
    conn.send("binary", 4)
    wait_until(lambda: len(of_type(seen, "tick")) == 5 and of_type(seen, "pair") and of_type(seen, "blob"),
               10, message=lambda: f"{seen}")
    assert of_type(seen, "tick") == [{"n": n, "pad": None} for n in range(5)]
    assert of_type(seen, "pair") == [["a", 2]]
    assert of_type(seen, "blob") == [{"n": 4, "bytes": b"\x00\x01\x02\x03"}]
    assert events(server)[0] == ("connect", {"token": TOKEN})
    stats = conn.stats()
    assert stats["decode_errors"] == 0 and stats["messages_in"] == 7


def test_a_namespace_and_an_acknowledgement_the_server_asks_for(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    server = sio_server()
    conn, seen = connect(server.url, "/chat")
    conn.wait_for_state("connected", timeout=10)
    conn.send("ask", {"q": 1})
    wait_until(lambda: ("ack", []) in events(server), 10, message=lambda: f"{events(server)}")
    assert of_type(seen, "question") == [{"q": 1}]
    assert {e["namespace"] for e in server.log()} == {"/chat"}


def test_send_emits_an_event_that_reaches_a_second_client(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    server = sio_server()
    listener, heard = connect(server.url)
    sender, _ = connect(server.url)
    listener.wait_for_state("connected", timeout=10)
    sender.wait_for_state("connected", timeout=10)
    assert sender.send("publish", {"n": 1, "text": "hello"}).wait(10) == "sent"
    wait_until(lambda: of_type(heard, "news"), 10, message=lambda: f"{heard}")
    assert of_type(heard, "news") == [{"n": 1, "text": "hello"}]


def test_after_a_restart_connect_and_subscriptions_go_again_then_queued_sends_in_order(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    server = sio_server()
    conn, _ = connect(server.url)
    conn.wait_for_state("connected", timeout=10)
    conn.subscribe("join", {"room": "r1"})
    wait_until(lambda: len(events(server)) == 2, 10)

    server.kill()
    conn.wait_for_state("reconnecting", timeout=10)
    handles = [conn.send("publish", {"n": n}) for n in range(1, 6)]
    assert conn.stats()["queued"] == 5
    server.start()

    assert [h.wait(15) for h in handles] == ["sent"] * 5
    assert conn.state == "connected" and conn.stats()["reconnects"] == 1
    log = wait_until(lambda: (lambda e: e if len(e) >= 7 else None)(events(server)), 10)
    assert log == [("connect", {"token": TOKEN}), ("join", [{"room": "r1"}]),
                   *[("publish", {"n": n}) for n in range(1, 6)]]


def test_a_server_disconnect_is_reconnected(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    server = sio_server()
    conn, _ = connect(server.url)
    conn.wait_for_state("connected", timeout=10)
    conn.send("kick", None)
    wait_until(lambda: conn.stats()["reconnects"] == 1 and conn.state == "connected", 10,
               message=lambda: f"{conn.stats()}")
    assert [e for e, _ in events(server)] == ["connect", "kick", "connect"]


def test_the_server_pings_are_answered_and_its_silence_is_found_by_the_engineio_keepalive(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    # (python-engineio counts pingInterval in whole seconds.)
    server = sio_server(ping_interval=1, ping_timeout=0.3)
    # No WebSocket heartbeat: only Engine.IO's own rule (pingInterval + pingTimeout) can tell.
    conn, _ = connect(server.url, heartbeat_interval=None, open_timeout=1.0)
    conn.wait_for_state("connected", timeout=10)
    # Several ping rounds: a client that did not answer would be dropped by the server.
    assert_stays(lambda: conn.state == "connected", 2.2)
    assert conn.stats()["reconnects"] == 0
    server.pause()
    try:
        conn.wait_for_state("reconnecting", timeout=10)
        assert (conn.last_error or "").startswith("keepalive timeout: nothing from the server for 1.3 s")
    finally:
        server.resume()
    wait_until(lambda: conn.state == "connected", 15, message=lambda: f"{conn.stats()}")


def test_rejected_auth_stops_retrying_with_the_server_reason(
    sio_server: Callable[..., ServerProcess], connect: Connect
) -> None:
    server = sio_server()
    conn, _ = connect(server.url, token="wrong-token")
    error = wait_until(lambda: conn.state == "disconnected" and conn.last_error, 10,
                       message=lambda: f"{conn.state} {conn.last_error}")
    assert error == "Socket.IO connection to namespace '/' refused by the server: invalid token"
    assert_stays(lambda: conn.state == "disconnected", 0.5)
    assert [e for e, _ in events(server)] == ["connect"]
    assert "wrong-token" not in repr(conn.stats())


class ScriptedServer:
    """A raw websockets server on the Engine.IO path, running ``script`` per connection."""

    def __init__(self, loop: ServerLoop, script: Callable[[ServerConnection], Awaitable[None]]) -> None:
        self._loop = loop
        self._script = script
        self.received: list[str | bytes] = []
        self.paths: list[str] = []
        self._server: Server | None = None
        self.port = 0

    async def _handler(self, ws: ServerConnection) -> None:
        self.paths.append(ws.request.path if ws.request is not None else "")
        await self._script(ws)
        async for frame in ws:
            self.received.append(frame)

    def start(self) -> ScriptedServer:
        async def start() -> None:
            self._server = await serve(self._handler, "127.0.0.1", 0, logger=SERVER_LOGGER)
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run(start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        self._loop.run(stop())


GARBAGE: list[str | bytes] = [
    "9", "4", "49", '42not json', "42[]", "42[1, 2]", '42{"a": 1}', "4x", b"\x00\x01",
    '451-["blob",{"_placeholder":true,"num":0}]', '42["cut",1]',
]


def test_malformed_frames_are_counted_and_never_fatal(server_loop: ServerLoop, connect: Connect) -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
        assert await ws.recv() == f'40{{"token":"{TOKEN}"}}'
        await ws.send('40{"sid":"n"}')
        for frame in GARBAGE:
            await ws.send(frame)
        await ws.send("2")
        await ws.send('42["ok",{"v":1}]')

    server = ScriptedServer(server_loop, script).start()
    try:
        conn, seen = connect(f"ws://127.0.0.1:{server.port}")
        wait_until(lambda: of_type(seen, "ok"), 10, message=lambda: f"{conn.stats()} {seen}")
        assert server.paths == ["/socket.io/?EIO=4&transport=websocket"]
        # Every garbage frame but the cut-short binary event's is one error; that one is one more.
        assert conn.stats()["decode_errors"] == len(GARBAGE) - 1
        assert [m.type for m in seen] == ["cut", "ok"]
        assert conn.state == "connected" and (conn.last_error or "").startswith("Socket.IO")
        wait_until(lambda: "3" in server.received, 5)
        assert_stays(lambda: conn.state == "connected", 0.3)
    finally:
        server.stop()
