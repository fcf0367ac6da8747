"""Protocol adapters: each adapter's message rate against the server's own reference client, on
the same server, in the same run.

For each adapter one server process runs for the whole section; the clients (in this process) take
turns reading the same N messages from it, in a rotating order, several times; medians are printed
with the ratio to the reference client. Two figures per client: messages per second of wall time
(from opening the connection to the N-th message delivered to a handler) and messages per
CPU-second of this process over the same span (the server runs in its own process, so this is the
client's own cost; other load on the machine barely moves it). A third client, bare websockets +
orjson speaking the protocol by hand with nothing else, shows how fast the server itself goes: when
it is no faster than the others, the wall figures are the server's, and the CPU figures tell the
clients apart.

- ``graphql``: ``Connection(url, protocol=GraphQLWS(...))`` against gql's ``WebsocketsTransport``
  (graphql-transport-ws), on the graphql-ws Node server (``tests/servers/graphql/server.mjs``):
  ``subscription { burst(count: N) { n } }``, one ``next`` per frame.
- ``socketio``: ``Connection(url, protocol=SocketIO(...))`` against python-socketio's
  ``AsyncClient``, on python-socketio's ``AsyncServer`` (aiohttp, permessage-deflate refused so
  every client gets the same frames): the ``burst`` event, answered by N ``tick`` events.

    .venv/bin/python -m bench.adapters [--quick] [--only graphql,socketio] [--n N] [--reps R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench._util import header, median, table
from tests.servers.process import ServerProcess

GOAL_RATIO = 0.8
TOKEN = "bench-token"
TIMEOUT = 120.0

# One client run: (messages per wall second, messages per CPU-second of this process).
Run = tuple[float, float]


class _Span:
    """Wall and process CPU time from creation to ``end(n)``."""

    def __init__(self) -> None:
        gc.collect()
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()

    def end(self, n: int) -> Run:
        wall = time.perf_counter() - self.t0
        cpu = time.process_time() - self.c0
        return n / wall, n / cpu if cpu > 0 else float("nan")


def _rt_widgets_run(url: str, n: int, protocol: Any, type: str,
                    after_start: Callable[[Any], None] | None = None) -> Run:
    from rt_widgets import Connection

    done = threading.Event()
    count = [0]

    def on(_payload: Any) -> None:
        count[0] += 1
        if count[0] >= n:
            done.set()

    conn = Connection(url, protocol=protocol)
    conn.on(type, on)
    span = _Span()
    conn.start()
    if after_start is not None:
        after_start(conn)
    if not done.wait(TIMEOUT):
        raise RuntimeError(f"rt_widgets got {count[0]} of {n} {type!r} messages in {TIMEOUT} s: "
                           f"{conn.stats()}")
    result = span.end(n)
    conn.stop()
    return result


def _interleaved(clients: dict[str, Callable[[], Run]], reps: int) -> dict[str, list[Run]]:
    """Run every client ``reps`` times, the order rotating each round, after one warm-up each."""
    names = list(clients)
    for name in names:
        clients[name]()
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for rep in range(reps):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            runs[name].append(clients[name]())
            print(f"  rep {rep + 1}/{reps} {name}: {runs[name][-1][0]:,.0f} msg/s, "
                  f"{runs[name][-1][1]:,.0f} msg/CPU-s", flush=True)
    return runs


def _report(title: str, runs: dict[str, list[Run]], reference: str, ours: str) -> str:
    walls = {name: [r[0] for r in rs] for name, rs in runs.items()}
    cpus = {name: [r[1] for r in rs] for name, rs in runs.items()}
    ref_wall, ref_cpu = median(walls[reference]), median(cpus[reference])
    rows = []
    for name in runs:
        wall, cpu = median(walls[name]), median(cpus[name])
        spread = f"{min(walls[name]):,.0f}-{max(walls[name]):,.0f}"
        rows.append([name, wall, spread, cpu, wall / ref_wall, cpu / ref_cpu])
    text = table(title, ["client", "msg/s (median)", "range", "msg per CPU-s (median)",
                         f"wall ratio to {reference}", f"CPU ratio to {reference}"], rows)
    wall_ratio = median(walls[ours]) / ref_wall
    cpu_ratio = median(cpus[ours]) / ref_cpu
    verdict = (f"\n{ours} / {reference}: {wall_ratio:.2f} (wall), {cpu_ratio:.2f} (CPU); goal >= "
               f"{GOAL_RATIO}: {'met' if min(wall_ratio, cpu_ratio) >= GOAL_RATIO else 'NOT met'}")
    print(verdict, flush=True)
    return text + verdict


# ---------------------------------------------------------------------------------------- GraphQL


def _graphql_query(n: int) -> str:
    return f"subscription {{ burst(count: {n}) {{ n }} }}"


def _graphql_rt_widgets(url: str, n: int) -> Run:
    from rt_widgets.protocols import GraphQLWS

    return _rt_widgets_run(url, n, GraphQLWS(_graphql_query(n), connection_params={"token": TOKEN}),
                           "burst")


async def _graphql_gql(url: str, n: int) -> Run:
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(url=url, init_payload={"token": TOKEN},
                                    subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])
    request = gql(_graphql_query(n))
    span = _Span()
    count = 0
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async for _result in session.subscribe(request):
            count += 1
            if count >= n:
                break
    return span.end(n)


async def _graphql_bare(url: str, n: int) -> Run:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    span = _Span()
    count = 0
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None,
                       ping_interval=None) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {"token": TOKEN}}).decode())
        await ws.recv()
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe",
                                    "payload": {"query": _graphql_query(n)}}).decode())
        async for frame in ws:
            message = orjson.loads(frame)
            if message["type"] == "next":
                count += 1
                if count >= n:
                    break
    return span.end(n)


def bench_graphql(n: int, reps: int) -> str:
    server = ServerProcess.graphql(token=TOKEN).start()
    try:
        url = server.url
        runs = _interleaved({
            "rt_widgets GraphQLWS": lambda: _graphql_rt_widgets(url, n),
            "gql WebsocketsTransport": lambda: _arun(_graphql_gql(url, n)),
            "bare websockets + orjson": lambda: _arun(_graphql_bare(url, n)),
        }, reps)
    finally:
        server.stop()
    return _report(f"GraphQL over graphql-transport-ws, {n:,} messages, {reps} reps", runs,
                   "gql WebsocketsTransport", "rt_widgets GraphQLWS")


# -------------------------------------------------------------------------------------- Socket.IO


def _socketio_rt_widgets(url: str, n: int) -> Run:
    from rt_widgets.protocols import SocketIO

    return _rt_widgets_run(url, n, SocketIO(auth={"token": TOKEN}), "tick",
                           lambda conn: conn.send("burst", {"count": n}))


async def _socketio_async_client(url: str, n: int) -> Run:
    import socketio

    client = socketio.AsyncClient()
    done = asyncio.Event()
    count = [0]

    def tick(_data: Any) -> None:
        count[0] += 1
        if count[0] >= n:
            done.set()

    client.on("tick", tick)
    span = _Span()
    await client.connect(url, auth={"token": TOKEN}, transports=["websocket"])
    await client.emit("burst", {"count": n})
    await asyncio.wait_for(done.wait(), TIMEOUT)
    result = span.end(n)
    await client.disconnect()
    return result


async def _socketio_bare(url: str, n: int) -> Run:
    from websockets.asyncio.client import connect

    span = _Span()
    count = 0
    async with connect(f"{url}/socket.io/?EIO=4&transport=websocket", max_size=None,
                       ping_interval=None) as ws:
        await ws.recv()  # Engine.IO open
        await ws.send(f'40{{"token":"{TOKEN}"}}')
        await ws.recv()  # the namespace CONNECT answer
        await ws.send(f'42["burst",{{"count":{n}}}]')
        async for frame in ws:
            assert isinstance(frame, str)
            if frame.startswith("42"):
                orjson.loads(frame[2:])
                count += 1
                if count >= n:
                    break
            elif frame == "2":
                await ws.send("3")
    return span.end(n)


def bench_socketio(n: int, reps: int) -> str:
    server = ServerProcess.socketio(token=TOKEN, compression=False).start()
    try:
        url = server.url
        runs = _interleaved({
            "rt_widgets SocketIO": lambda: _socketio_rt_widgets(url, n),
            "python-socketio AsyncClient": lambda: _arun(_socketio_async_client(url, n)),
            "bare websockets + orjson": lambda: _arun(_socketio_bare(url, n)),
        }, reps)
    finally:
        server.stop()
    return _report(f"Socket.IO 5 over the websocket transport, {n:,} messages, {reps} reps", runs,
                   "python-socketio AsyncClient", "rt_widgets SocketIO")


# ---------------------------------------------------------------------------------------- running


def _arun(coro: Awaitable[Run]) -> Run:
    async def run() -> Run:
        return await coro

    return asyncio.run(run())


# Each section: (benchmark(n, reps) -> its Markdown, n and reps in full, n and reps with --quick).
SECTIONS: dict[str, tuple[Callable[[int, int], str], tuple[int, int], tuple[int, int]]] = {
    "graphql": (bench_graphql, (60_000, 5), (20_000, 3)),
    "socketio": (bench_socketio, (20_000, 5), (8_000, 3)),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.adapters")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    p.add_argument("--n", type=int, default=None, help="messages per run (default: per section)")
    p.add_argument("--reps", type=int, default=None)
    a = p.parse_args(argv)
    names = [name.strip() for name in a.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    header("adapters", ["bench.adapters", *(argv if argv is not None else sys.argv[1:])])
    for name in names:
        run, full, quick = SECTIONS[name]
        n, reps = quick if a.quick else full
        run(a.n or n, a.reps or reps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
