"""Serve a recording as a live feed: ``python -m rt_widgets.replay PATH [--port N] [--speed X] [--loop]``.

Every client that connects gets the recorded frames, text as text and binary as binary, at their
recorded pace divided by ``speed`` (``0``: as fast as possible), from the start; with ``loop`` the
recording starts over when it ends, else the link stays open and quiet. The envelope's application
ping is answered, so a connection under ``messages="auto"`` stays healthy on an idle replay.

>>> with ReplayServer("session.jsonl", speed=0) as feed:  # doctest: +SKIP
...     conn = Connection(feed.url, messages=feed.messages)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .iothread import LoopThread
from .recording import Frame, read_frames

__all__ = ["ReplayServer", "main"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ReplayServer:
    """A WebSocket server replaying the recording at ``path`` to every client (see the module
    docstring). Binds loopback only unless ``allow_remote``. ``start()``/``stop()`` or ``with``."""

    def __init__(self, path: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 speed: float = 1.0, loop: bool = False, allow_remote: bool = False) -> None:
        if not speed >= 0:
            raise ValueError(f"speed must be >= 0 (0: as fast as possible), got {speed!r}")
        if not allow_remote and host not in _LOOPBACK:
            raise ValueError(f"the replay feed binds loopback only unless allow_remote=True, got {host!r}")
        frames = read_frames(path)  # fails now, with a clear error, on a file that is not one
        self.header = frames.header
        self.frames: list[Frame] = list(frames)
        self.path = Path(path)
        self.host, self.port = host, port
        self.speed, self.loop = float(speed), loop
        self._thread = LoopThread("rt_widgets-replay")
        self._server: Server | None = None
        self.clients = 0

    @property
    def url(self) -> str:
        """The ``ws://`` URL the recording is served at."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def messages(self) -> str:
        """The recorded ``messages=`` setting when it can be reused (``auto`` or ``envelope``),
        else ``"auto"``: pass the original ``Fields(...)`` or function yourself."""
        setting = self.header.get("messages")
        return setting if setting in ("auto", "envelope") else "auto"

    def start(self) -> Self:
        if self._server is None:
            self._server = self._thread.run_sync(self._start(), timeout=10.0)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None and self._thread.running:
            with contextlib.suppress(TimeoutError):
                self._thread.run_sync(self._stop(server), timeout=5.0)
        self._thread.stop(5.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _start(self) -> Server:
        server = await serve(self._client, self.host, self.port, compression=None)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _stop(self, server: Server) -> None:
        server.close(close_connections=True)
        await server.wait_closed()

    async def _client(self, ws: ServerConnection) -> None:
        self.clients += 1
        answers = asyncio.create_task(self._answer_pings(ws))
        try:
            while True:
                await self._play(ws)
                if not self.loop:
                    await ws.wait_closed()
                    return
        except ConnectionClosed:
            return
        finally:
            answers.cancel()

    async def _play(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for t, data, text in self.frames:
            if self.speed > 0:
                delay = start + t / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await ws.send(data.decode() if text else data)

    async def _answer_pings(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                try:
                    message = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(message, dict) and message.get("type") == "ping":
                    pong: dict[str, Any] = {"type": "pong", "timestamp": message.get("timestamp")}
                    await ws.send(orjson.dumps(pong).decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rt_widgets.replay",
                                     description="Serve an rt_widgets recording as a WebSocket feed.")
    parser.add_argument("path", help="a recording made with Connection.record() or w.record()")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--speed", type=float, default=1.0, help="1: as recorded; 0: as fast as possible")
    parser.add_argument("--loop", action="store_true", help="start over at the end")
    parser.add_argument("--allow-remote", action="store_true", help="bind a non-loopback host")
    args = parser.parse_args(argv)
    try:
        server = ReplayServer(args.path, host=args.host, port=args.port, speed=args.speed,
                              loop=args.loop, allow_remote=args.allow_remote).start()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"replaying {len(server.frames)} frames of {args.path} at {server.url}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
