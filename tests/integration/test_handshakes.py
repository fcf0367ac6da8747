"""Handshakes that used to go wrong: a subprotocol mismatch is final (it was retried forever), and
a redirect to another host is shown as the URL in use (display_url kept the first one)."""

from __future__ import annotations

import http
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from rt_widgets import Backoff
from rt_widgets.iothread import LoopThread
from tests.conftest import wait_until

MakeConn = Any


_started: list[Server] = []


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread("test-handshakes")
    yield thread

    async def close_all() -> None:
        while _started:
            server = _started.pop()
            server.close()
            await server.wait_closed()

    thread.run_sync(close_all(), timeout=10)
    thread.stop(5.0)


def start(thread: LoopThread, **options: Any) -> Server:
    async def echo(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    async def go() -> Server:
        return await serve(echo, "127.0.0.1", 0, **options)

    server = thread.run_sync(go(), timeout=10)
    _started.append(server)
    return server


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def test_a_subprotocol_the_server_does_not_speak_is_final(loop_thread: LoopThread,
                                                          make_conn: MakeConn) -> None:
    server = start(loop_thread, subprotocols=["graphql-transport-ws"])
    conn = make_conn(f"ws://127.0.0.1:{port_of(server)}/", subprotocols=["mqtt"],
                     backoff=Backoff(initial=0.01, maximum=0.02))
    conn.start()
    wait_until(lambda: conn.state == "disconnected" and conn.last_error, 5,
               message=lambda: f"{conn.state} {conn.last_error}")
    assert "subprotocol" in conn.last_error and "400" in conn.last_error
    assert conn.stats()["attempt"] == 1, "a subprotocol mismatch was retried"


def test_a_redirect_to_another_host_shows_where_the_link_goes(loop_thread: LoopThread,
                                                              make_conn: MakeConn) -> None:
    target = start(loop_thread)
    target_url = f"ws://localhost:{port_of(target)}/live?token=abc123secret"

    def redirect(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(http.HTTPStatus.FOUND, "moved\n")
        response.headers["Location"] = target_url
        return response

    first = start(loop_thread, process_request=redirect)
    first_url = f"ws://127.0.0.1:{port_of(first)}/ws"
    conn = make_conn(first_url)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    assert conn.display_url == f"ws://localhost:{port_of(target)}/live?token=***"
    assert conn.stats()["url"] == conn.display_url
    assert "abc123secret" not in repr(conn) and conn.url == first_url
