"""GraphQLWS end to end through ``Connection(url, protocol=GraphQLWS(...))`` against a real
graphql-ws server (Node: graphql-ws + ws + graphql, ``tests/servers/graphql/server.mjs``), and
against a raw websockets server that speaks the protocol badly."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from rt_widgets import Backoff, Connection, Message
from rt_widgets.protocols import GraphQLWS
from tests._servers import SERVER_LOGGER, ServerLoop
from tests.conftest import assert_stays, wait_until
from tests.servers.process import ServerProcess

TOKEN = "s3cret-graphql-token"
PUBLISH = "mutation($n: Int!, $text: String) { publish(n: $n, text: $text) { n text } }"
EVENTS = "subscription { events { n text } }"
FAST = {"backoff": Backoff(initial=0.05, maximum=0.2), "open_timeout": 2.0}


@pytest.fixture
def graphql_server() -> Iterator[ServerProcess]:
    server = ServerProcess.graphql(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., tuple[Connection, list[Message], GraphQLWS]]]:
    made: list[Connection] = []

    def factory(url: str, query: str, token: str = TOKEN, **options: Any,
                ) -> tuple[Connection, list[Message], GraphQLWS]:
        protocol = GraphQLWS(query, connection_params={"token": token})
        conn = Connection(url, protocol=protocol, **{**FAST, **options})
        made.append(conn)
        seen: list[Message] = []
        lock = threading.Lock()

        def add(message: Message) -> None:
            with lock:
                seen.append(message)

        conn.on("*", add)
        conn.start()
        return conn, seen, protocol

    yield factory
    for conn in made:
        conn.stop()


Connect = Callable[..., tuple[Connection, list[Message], GraphQLWS]]


def of_type(seen: list[Message], type: str) -> list[Any]:
    return [m.payload for m in list(seen) if m.type == type]


def test_a_subscription_delivers_messages_typed_by_its_root_field(
    graphql_server: ServerProcess, connect: Connect
) -> None:
    conn, seen, _ = connect(graphql_server.url, "subscription { counter(from: 5, every: 20) }")
    conn.wait_for_state("connected", timeout=10)
    wait_until(lambda: len(of_type(seen, "counter")) >= 3, 10, message=lambda: f"{seen}")
    assert of_type(seen, "counter")[:3] == [5, 6, 7]
    assert {m.type for m in seen} == {"counter"} and {m.id for m in seen} == {"1"}
    log = graphql_server.log()
    assert [(e["type"], e["id"]) for e in log[:2]] == [("connection_init", None), ("subscribe", "1")]
    assert log[1]["query"] == "subscription { counter(from: 5, every: 20) }"
    stats = conn.stats()
    assert stats["decode_errors"] == 0 and stats["messages_in"] >= 3 and conn.state == "connected"


def test_graphql_errors_are_messages_and_last_error_and_the_link_stays_up(
    graphql_server: ServerProcess, connect: Connect
) -> None:
    conn, seen, protocol = connect(graphql_server.url, "subscription { nope }")
    conn.wait_for_state("connected", timeout=10)
    wait_until(lambda: of_type(seen, "error"), 10)
    (error,) = of_type(seen, "error")
    assert error["id"] == "1" and 'Cannot query field "nope"' in error["errors"][0]["message"]
    assert conn.last_error == ('GraphQL error from the subscription: Cannot query field "nope" on '
                               'type "Subscription".')
    # A resolver that throws: a next carrying errors.
    conn.subscribe("subscription { fails }", None)
    wait_until(lambda: len(of_type(seen, "error")) == 2, 10)
    assert of_type(seen, "error")[1]["errors"][0]["message"] == "this subscription always fails"
    assert protocol.errors == 2 and conn.stats()["decode_errors"] == 0
    assert conn.stats()["server_errors"] == 2
    assert conn.state == "connected"
    # The link still works: a query runs and its result is typed by its root field.
    # Listen before sending: a reply that came before wait_for() listened would be missed.
    hello: list[Any] = []
    conn.on("hello", hello.append)
    conn.send("{ hello }", None)
    wait_until(lambda: hello, 10)
    assert hello == ["world"]


def test_send_runs_a_mutation_that_reaches_a_second_client(
    graphql_server: ServerProcess, connect: Connect
) -> None:
    listener, heard, _ = connect(graphql_server.url, EVENTS)
    listener.wait_for_state("connected", timeout=10)
    wait_until(lambda: graphql_server.get("/subscribers") == 1, 10)
    sender, replies, _ = connect(graphql_server.url, "subscription { counter(every: 1000) }")
    handle = sender.send(PUBLISH, {"n": 42, "text": "hello"})
    assert handle.wait(10) == "sent"
    wait_until(lambda: of_type(heard, "events"), 10, message=lambda: f"{heard}")
    assert of_type(heard, "events") == [{"n": 42, "text": "hello"}]
    wait_until(lambda: of_type(replies, "publish"), 10)
    assert of_type(replies, "publish") == [{"n": 42, "text": "hello"}]
    (message,) = [m for m in replies if m.type == "publish"]
    assert message.id not in (None, "1")


def test_after_a_restart_the_handshake_and_subscriptions_go_again_then_queued_sends_in_order(
    graphql_server: ServerProcess, connect: Connect
) -> None:
    conn, seen, _ = connect(graphql_server.url, EVENTS)
    conn.wait_for_state("connected", timeout=10)
    conn.subscribe("subscription { counter(every: 60000) }", None)
    wait_until(lambda: len(graphql_server.log()) == 3, 10)

    graphql_server.kill()
    conn.wait_for_state("reconnecting", timeout=10)
    handles = [conn.send(PUBLISH, {"n": n, "text": None}) for n in range(1, 6)]
    assert conn.stats()["queued"] == 5
    graphql_server.start()

    assert [h.wait(15) for h in handles] == ["sent"] * 5
    assert conn.state == "connected" and conn.stats()["reconnects"] == 1
    log = wait_until(lambda: (lambda log: log if len(log) >= 8 else None)(graphql_server.log()), 10)
    assert [(e["type"], e["id"]) for e in log] == [
        ("connection_init", None), ("subscribe", "1"), ("subscribe", "2"),
        *[("subscribe", str(n)) for n in range(3, 8)]]
    assert log[1]["query"] == EVENTS and log[2]["query"] == "subscription { counter(every: 60000) }"
    assert [e["variables"]["n"] for e in log[3:]] == [1, 2, 3, 4, 5]
    # Each mutation's result came back to the sender.
    wait_until(lambda: len(of_type(seen, "publish")) == 5, 10)
    assert sorted(p["n"] for p in of_type(seen, "publish")) == [1, 2, 3, 4, 5]


def test_a_silent_server_is_found_dead_by_the_heartbeat_then_reconnected(
    graphql_server: ServerProcess, connect: Connect
) -> None:
    conn, _, _ = connect(graphql_server.url, EVENTS, heartbeat_interval=0.3, heartbeat_timeout=0.5,
                         open_timeout=1.0)
    conn.wait_for_state("connected", timeout=10)
    # Idle, the link sends the application ping; graphql-ws answers it.
    wait_until(lambda: any(e["type"] == "ping" for e in graphql_server.log()), 10)
    wait_until(lambda: conn.latency_ms is not None, 10)
    graphql_server.pause()
    try:
        conn.wait_for_state("reconnecting", timeout=10)
        assert "heartbeat timeout" in (conn.last_error or "")
    finally:
        graphql_server.resume()
    conn.wait_for_state("connected", timeout=15)
    assert conn.stats()["reconnects"] == 1


def test_rejected_credentials_stop_retrying_with_a_readable_reason(
    graphql_server: ServerProcess, connect: Connect
) -> None:
    conn, _, _ = connect(graphql_server.url, EVENTS, token="wrong-token")
    # (A new connection is already "disconnected": wait for the error that puts it there.)
    error = wait_until(lambda: conn.state == "disconnected" and conn.last_error, 10,
                       message=lambda: f"{conn.state} {conn.last_error}")
    assert error.startswith("connection closed: code 4403 (Forbidden): ")
    assert "connection_params" in error and "credentials" in error
    assert conn.stats()["last_close_code"] == 4403
    assert_stays(lambda: conn.state == "disconnected", 0.5)
    assert [e["type"] for e in graphql_server.log()] == ["connection_init"]


class ScriptedServer:
    """A raw websockets server offering graphql-transport-ws and running ``script`` per connection."""

    def __init__(self, loop: ServerLoop, script: Callable[[ServerConnection], Awaitable[None]]) -> None:
        self._loop = loop
        self._script = script
        self.received: list[Any] = []
        self._server: Server | None = None
        self.port = 0

    async def _handler(self, ws: ServerConnection) -> None:
        await self._script(ws)
        async for frame in ws:
            self.received.append(orjson.loads(frame))

    def start(self) -> ScriptedServer:
        async def start() -> None:
            self._server = await serve(self._handler, "127.0.0.1", 0, logger=SERVER_LOGGER,
                                       subprotocols=[Subprotocol("graphql-transport-ws")])
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run(start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        self._loop.run(stop())

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


GARBAGE: list[str | bytes] = [
    "not json", "[1, 2]", '"a string"', '{"no": "type"}', '{"type": "bogus"}',
    '{"type": "next", "payload": {"data": {"a": 1}}}', '{"id": "1", "type": "next"}',
    '{"id": "1", "type": "next", "payload": {"data": 7}}', '{"type": "error"}', b"\xff\xfe\x00",
]


def test_malformed_frames_are_counted_and_never_fatal(server_loop: ServerLoop, connect: Connect) -> None:
    async def script(ws: ServerConnection) -> None:
        init = orjson.loads(await ws.recv())
        assert init == {"type": "connection_init", "payload": {"token": TOKEN}}
        await ws.send('{"type": "connection_ack"}')
        subscribe = orjson.loads(await ws.recv())
        for frame in GARBAGE:
            await ws.send(frame)
        await ws.send('{"type": "ping", "payload": {"k": 1}}')
        await ws.send(orjson.dumps({"id": subscribe["id"], "type": "next",
                                    "payload": {"data": {"ticker": {"p": 1.5}}}}).decode())

    server = ScriptedServer(server_loop, script).start()
    try:
        conn, seen, protocol = connect(server.url, "subscription { ticker { p } }")
        wait_until(lambda: of_type(seen, "ticker"), 10, message=lambda: f"{conn.stats()}")
        assert of_type(seen, "ticker") == [{"p": 1.5}]
        assert conn.stats()["decode_errors"] == len(GARBAGE) == protocol.decode_errors
        assert conn.state == "connected"
        assert (conn.last_error or "").startswith("graphql-transport-ws: ")
        wait_until(lambda: {"type": "pong", "payload": {"k": 1}} in server.received, 5)
        assert_stays(lambda: conn.state == "connected", 0.3)
    finally:
        server.stop()
