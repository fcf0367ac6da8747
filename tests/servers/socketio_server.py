"""A Socket.IO 5 server (python-socketio's ``AsyncServer`` on aiohttp) for the SocketIO adapter's
tests and benchmark. It knows nothing of rt_widgets.

    python -m tests.servers.socketio_server [--port N] [--token T] [--ping-interval S] [--ping-timeout S]
                                            [--no-compression]

- ``connect``: the CONNECT auth must be ``{"token": T}`` (default "secret"), else the handler raises
  ``ConnectionRefusedError("invalid token")`` and the client gets CONNECT_ERROR with that message.
  The namespace ``/chat`` behaves the same.
- ``publish`` (data): emitted as ``news`` to every other client of the namespace.
- ``burst`` ({"count", "size"}): ``count`` ``tick`` events ({"n", "pad"}) to the sender, as fast as
  the server goes.
- ``ask`` (data): the server emits ``question`` with data and asks for an acknowledgement; the ack
  is logged as the event ``ack``.
- ``binary`` (n): the server emits ``blob`` with ``n`` and ``n`` bytes ``b"\\x00\\x01..."``.
- ``kick``: the server disconnects the sender (Socket.IO DISCONNECT).
- ``pair`` (a, b): emitted back as ``pair`` with both arguments.

HTTP on the same port: ``GET /log`` returns, in order, what the server saw: ``{"client": k,
"namespace", "event", "data"}`` (k numbers connections from 1; ``connect`` events carry the auth).

``--no-compression`` refuses permessage-deflate (python-socketio's aiohttp driver accepts it from
any client that offers it), so that clients that offer it and clients that do not get the same
frames: the benchmark's setting.

Prints ``LISTENING <port>`` once bound to 127.0.0.1; exits when its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from typing import Any

import socketio
from aiohttp import web


def build(token: str, ping_interval: float, ping_timeout: float) -> tuple[web.Application, list[Any]]:
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=ping_interval,
                               ping_timeout=ping_timeout, cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)
    log: list[dict[str, Any]] = []
    clients: dict[str, int] = {}

    def record(sid: str, namespace: str, event: str, data: Any) -> None:
        log.append({"client": clients.get(sid, 0), "namespace": namespace, "event": event,
                    "data": data})

    for namespace in ("/", "/chat"):
        register(sio, namespace, token, clients, record)

    async def get_log(_request: web.Request) -> web.Response:
        return web.json_response(log)

    app.router.add_get("/log", get_log)
    return app, log


def register(sio: socketio.AsyncServer, namespace: str, token: str, clients: dict[str, int],
             record: Any) -> None:
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        clients[sid] = len(clients) + 1
        record(sid, namespace, "connect", auth)
        if not isinstance(auth, dict) or auth.get("token") != token:
            raise socketio.exceptions.ConnectionRefusedError("invalid token")

    async def publish(sid: str, data: Any) -> None:
        record(sid, namespace, "publish", data)
        await sio.emit("news", data, namespace=namespace, skip_sid=sid)

    async def burst(sid: str, data: Any) -> None:
        record(sid, namespace, "burst", data)
        count, size = int(data["count"]), int(data.get("size", 0))
        pad = "x" * size if size else None
        for n in range(count):
            await sio.emit("tick", {"n": n, "pad": pad}, to=sid, namespace=namespace)

    async def ask(sid: str, data: Any) -> None:
        record(sid, namespace, "ask", data)

        def answered(*args: Any) -> None:
            record(sid, namespace, "ack", list(args))

        await sio.emit("question", data, to=sid, namespace=namespace, callback=answered)

    async def binary(sid: str, n: int) -> None:
        record(sid, namespace, "binary", n)
        await sio.emit("blob", {"n": n, "bytes": bytes(range(n % 256))}, to=sid, namespace=namespace)

    async def kick(sid: str, *_: Any) -> None:
        record(sid, namespace, "kick", None)
        await sio.disconnect(sid, namespace=namespace)

    async def pair(sid: str, a: Any, b: Any) -> None:
        record(sid, namespace, "pair", [a, b])
        await sio.emit("pair", (a, b), to=sid, namespace=namespace)

    async def catch_all(event: str, sid: str, *args: Any) -> None:
        record(sid, namespace, event, list(args))

    for name, handler in (("connect", connect), ("publish", publish), ("burst", burst), ("ask", ask),
                          ("binary", binary), ("kick", kick), ("pair", pair), ("*", catch_all)):
        sio.on(name, handler, namespace=namespace)


async def serve(port: int, token: str, ping_interval: float, ping_timeout: float) -> None:
    app, _log = build(token, ping_interval, ping_timeout)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    sys.stdout.write(f"LISTENING {bound}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def _exit_when_stdin_closes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="secret")
    parser.add_argument("--ping-interval", type=float, default=25.0)
    parser.add_argument("--ping-timeout", type=float, default=20.0)
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args()
    if args.no_compression:
        import functools

        from engineio.async_drivers import aiohttp as driver

        driver.WebSocketResponse = functools.partial(  # type: ignore[misc]
            web.WebSocketResponse, compress=False)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    asyncio.run(serve(args.port, args.token, args.ping_interval, args.ping_timeout))


if __name__ == "__main__":
    main()
