"""Hostile feeds through a real socket, each finding with its figures: deletions sent only for rows a
view holds, the kernel's main thread kept responsive under 1 MiB rows every 10 ms, a subprotocol
mismatch tried once, a redirect shown as the URL in use."""

from __future__ import annotations

import http
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from rt_widgets import Backoff
from rt_widgets.sync import DEFAULT_BYTE_BUDGET
from rt_widgets.widgets import RealtimeWidget
from tests._servers import ServerLoop, WsServer
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Any]


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload})


def test_deletes_reach_the_view_only_for_rows_it_held(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    table = w.table("t", key="id", max_rows=1000, delete_type="gone")
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    # The view holds 1,000 rows; then a flood of new keys (each evicting the oldest row) whose
    # every row is deleted.
    server.send(frame("t", [{"id": -1 - i, "v": i} for i in range(1000)]))
    wait_until(lambda: any(any(r.get("id") == -1000 for r in d.get("upsert", ()))
                           for _, d in comm_spy.custom(table, "delta")), 30)
    rows = 100_000
    for start in range(0, rows, 2000):
        ids = range(start, start + 2000)
        server.send(frame("t", [{"id": i, "v": i} for i in ids]),
                    frame("gone", [{"id": i} for i in ids]))
    server.send(frame("t", {"id": "last", "v": 0}))
    wait_until(lambda: any(any(r.get("id") == "last" for r in d.get("upsert", ()))
                           for _, d in comm_spy.custom(table, "delta")), 60)
    held: set[Any] = set()
    for _, content in comm_spy.custom(table):
        if content.get("kind") == "snapshot":
            held |= {r["id"] for r in content.get("rows", ())}
        held |= {r["id"] for r in content.get("upsert", ())}
    for _, state in comm_spy.updates(table):
        held |= {r["id"] for r in state.get("_snapshot", {}).get("rows", ())}
    deleted = [k for _, d in comm_spy.custom(table, "delta") for k in d.get("delete", ())]
    print(f"\n1,000 rows in the view, then {rows:,} new keys, each deleted: {len(deleted):,} "
          f"delete keys sent to the view, which held {len(held):,} rows (a delete per row "
          f"deleted or evicted would send {rows + 1000:,})")
    assert table.rows == [{"id": "last", "v": 0}]
    assert set(deleted) <= held
    assert len(deleted) <= len(held)


def test_the_main_thread_stays_responsive_under_1_mib_rows_every_10_ms(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url, max_message_size=2 << 20)
    table = w.table("t", key="id", max_rows=200)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    blob = "x" * (1 << 20)
    done = threading.Event()

    def feed() -> None:
        next_at = time.monotonic()
        for i in range(300):  # 3 s of 1 MiB rows, a new key each, every 10 ms
            server.send(frame("t", {"id": i, "blob": blob}))
            next_at += 0.01
            done.wait(max(0.0, next_at - time.monotonic()))
        done.set()

    feeder = threading.Thread(target=feed)
    started = time.monotonic()
    feeder.start()
    # The main thread (a notebook's) runs a tight loop meanwhile: the longest gap between two of
    # its turns is how long it was kept from running.
    stall = 0.0
    last = time.monotonic()
    while not done.is_set() or w.connection.stats()["messages_in"] < 300:
        now = time.monotonic()
        stall = max(stall, now - last)
        last = now
        if now - started > 60:
            break
        done.wait(0.002)
    feeder.join()
    took = time.monotonic() - started
    # What the views are sent once made (a comm_open carries the views' code).
    sent = [p for p in comm_spy.messages() if p.msg_type == "comm_msg"]
    total = sum(len(p.text) for p in sent)
    snapshots = [len(p.text) for p in sent
                 if p.msg_type == "comm_msg" and "_snapshot" in p.data.get("state", {})]
    print(f"\n300 rows of 1 MiB every 10 ms: {w.connection.stats()['messages_in']} in {took:.1f} s; "
          f"{total / took / 1e3:.0f} KB/s of comm traffic (budget {DEFAULT_BYTE_BUDGET / 1e3:.0f}), "
          f"biggest snapshot {max(snapshots, default=0) / 1e3:.0f} KB, the main thread's longest "
          f"stall {stall * 1000:.0f} ms (were 162 MB/s, 579 MB snapshots, 2.6 s)")
    assert len(table) == 200
    assert stall < 0.5
    assert total / took < 2 * DEFAULT_BYTE_BUDGET  # a snapshot may go past it in one second
    assert max(snapshots, default=0) < 8 << 20


@pytest.fixture
def servers(server_loop: ServerLoop) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(**options: Any) -> Server:
        async def drain(ws: ServerConnection) -> None:
            async for _ in ws:
                pass

        async def go() -> Server:
            return await serve(drain, "127.0.0.1", 0, **options)

        server = server_loop.run(go())
        started.append(server)
        return server

    yield start

    async def close_all() -> None:
        for server in started:
            server.close()
            await server.wait_closed()

    server_loop.run(close_all())


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def test_a_subprotocol_mismatch_is_tried_once(servers: Callable[..., Server],
                                              make_conn: MakeConn) -> None:
    attempts: list[float] = []

    def count(connection: ServerConnection, request: Request) -> None:
        attempts.append(time.monotonic())

    server = servers(subprotocols=["graphql-transport-ws"], process_request=count)
    conn = make_conn(f"ws://127.0.0.1:{port_of(server)}/", subprotocols=["mqtt"],
                     backoff=Backoff(initial=0.01, maximum=0.02))
    conn.start()
    wait_until(lambda: conn.state == "disconnected" and conn.last_error, 5)
    # Were it retried, a 0.01-0.02 s backoff would make tens of attempts in this window.
    window = time.monotonic() + 0.5
    wait_until(lambda: time.monotonic() >= window or len(attempts) > 1, 2)
    print(f"\nsubprotocol mismatch: {len(attempts)} attempt(s) in 0.5 s with a 0.02 s backoff, "
          f"state {conn.state}, last_error {conn.last_error!r} (was retried forever)")
    assert len(attempts) == 1
    assert "subprotocol" in conn.last_error and "400" in conn.last_error


def test_a_redirect_is_shown_as_the_url_in_use(servers: Callable[..., Server],
                                               make_conn: MakeConn) -> None:
    target = servers()
    target_url = f"ws://localhost:{port_of(target)}/live?token=abc123secret"

    def redirect(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(http.HTTPStatus.FOUND, "moved\n")
        response.headers["Location"] = target_url
        return response

    first = servers(process_request=redirect)
    first_url = f"ws://127.0.0.1:{port_of(first)}/ws"
    conn = make_conn(first_url)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    print(f"\nredirected from {first_url} to another host: display_url {conn.display_url}, "
          f"stats url {conn.stats()['url']} (display_url was the first URL)")
    assert conn.display_url == f"ws://localhost:{port_of(target)}/live?token=***"
    assert conn.stats()["url"] == conn.display_url
    assert "abc123secret" not in repr(conn)
