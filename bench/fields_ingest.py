"""Ingest of a Binance-shaped feed through ``Fields(...)`` against a bare websockets + orjson client.

The feed runs in its own process (``python -m bench.fields_ingest --serve``) and writes
pre-encoded frames of Binance combined-stream trades (``{"stream": "btcusdt@trade", "data":
{"e": "trade", "E": <ms>, "s": "BTCUSDT", "t": .., "p": "..", "q": "..", "T": .., "m": .., "M":
true}}``, 170-180 bytes), one per frame or 100 per frame as a top-level JSON array, then one
``end`` message. Two clients read the same N messages, interleaved, several times; medians and
their ratio are printed.

- bare: ``websockets.asyncio.client.connect`` + ``orjson.loads`` per frame, and by hand for each
  message: its type (``data.e``), payload (``data``) and timestamp (``data.E`` in ms, to
  seconds), then the handler of its type, looked up in a dict.
- rt_widgets: ``Connection(url, messages=Fields(type="data.e", payload="data",
  timestamp="data.E", time_unit="ms"))`` with the same handler registered with
  ``conn.on("trade", ...)``.

The handler keeps the last price per symbol. Timing: from the open handshake (``connected`` for
the Connection) to the ``end`` message; "msg/CPU-s" divides by the client process's CPU time over
the same span, which other processes on the machine barely affect.

    .venv/bin/python -m bench.fields_ingest [--quick] [--n 200000] [--reps 5]
    .venv/bin/python -m bench.fields_ingest --also-fields REV   # + Fields as of a git revision
    .venv/bin/python -m bench.fields_ingest --profile     # cProfile of the rt_widgets side
    .venv/bin/python -m bench.fields_ingest --breakdown   # CPU per message of each part, no socket
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from bench._feed import _chunks, _drain, _frame_header
from bench._util import header, median, table
from bench.ingest import _Span

GOAL_RATIO = 0.8
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBBTC")
FIELDS = 'Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms")'
_last_cpu = [0.0]


def trade(i: int) -> dict[str, Any]:
    """The ``i``-th message: a Binance combined-stream trade."""
    symbol = SYMBOLS[i % len(SYMBOLS)]
    stamp = 1_672_515_782_136 + i
    return {"stream": f"{symbol.lower()}@trade",
            "data": {"e": "trade", "E": stamp, "s": symbol, "t": 12_345 + i,
                     "p": f"{27_000 + (i * 37 % 10_000) / 100:.8f}", "q": f"{(i % 97 + 1) / 1000:.8f}",
                     "T": stamp - 1, "m": i % 2 == 0, "M": True}}


END = {"stream": "end", "data": {"e": "end", "E": 1_672_515_782_136}}


def encode_frames(n: int, batch: int) -> list[bytes]:
    frames = []
    for first in range(0, n, batch):
        if batch == 1:
            body = orjson.dumps(trade(first))
        else:
            body = orjson.dumps([trade(i) for i in range(first, min(first + batch, n))])
        frames.append(_frame_header(len(body)) + body)
    end = orjson.dumps(END)
    frames.append(_frame_header(len(end)) + end)
    return frames


# -- the feed process ------------------------------------------------------------------------------

_cache: dict[tuple[int, int], list[bytes]] = {}


async def _handler(ws: Any) -> None:
    query = {k: v[0] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}
    n, batch = int(query.get("n", 100_000)), int(query.get("batch", 1))
    frames = _cache.get((n, batch))
    if frames is None:
        frames = _cache[(n, batch)] = encode_frames(n, batch)
    for chunk in _chunks(frames):
        ws.transport.write(chunk)
        await _drain(ws)
    with contextlib.suppress(Exception):
        await ws.wait_closed()


async def _serve() -> None:
    from websockets.asyncio.server import serve

    async with serve(_handler, "127.0.0.1", 0, compression=None, max_size=None,
                     ping_interval=None) as server:
        print(f"PORT {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class FeedProcess:
    """``with FeedProcess() as feed: feed.url(n, batch)``: the feed in a process of its own."""

    def __enter__(self) -> FeedProcess:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.fields_ingest", "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"feed process did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def url(self, n: int, batch: int) -> str:
        return f"ws://127.0.0.1:{self.port}/burst?n={n}&batch={batch}"

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


# -- the clients -----------------------------------------------------------------------------------


def last_price_handler() -> tuple[dict[str, str], Callable[[Any], None]]:
    last: dict[str, str] = {}

    def on_trade(payload: Any) -> None:
        last[payload["s"]] = payload["p"]

    return last, on_trade


async def _bare(url: str, n: int) -> tuple[float, dict[str, str]]:
    from websockets.asyncio.client import connect

    last, on_trade = last_price_handler()
    handlers = {"trade": on_trade}
    count = 0
    stamp = 0.0
    async with connect(url, compression=None, max_size=1 << 22, ping_interval=None) as ws:
        t0, c0 = time.perf_counter(), time.process_time()
        async for frame in ws:
            value = orjson.loads(frame)
            for message in value if type(value) is list else (value,):
                data = message["data"]
                kind = data["e"]
                stamp = data["E"] / 1000
                if kind == "end":
                    break
                handlers[kind](data)
                count += 1
            else:
                continue
            break
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert count == n and stamp > 0, f"bare client read {count}/{n} messages"
    _last_cpu[0] = n / cpu
    return n / dt, last


def run_bare(url: str, n: int) -> tuple[float, dict[str, str]]:
    """msgs/s of the bare client, from the open handshake to the ``end`` message; its last prices."""
    return asyncio.run(_bare(url, n))


def fields_class(revision: str | None = None) -> type[Any]:
    """``Fields``, or the ``Fields`` of ``rt_widgets/protocols/fields.py`` as of a git revision
    (loaded as a module of its own beside the current one)."""
    from rt_widgets import Fields

    if revision is None:
        return Fields
    import importlib.util
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = subprocess.run(["git", "show", f"{revision}:rt_widgets/protocols/fields.py"], cwd=root,
                            check=True, capture_output=True, text=True).stdout
    name = f"rt_widgets.protocols._fields_{revision.replace('~', '_').replace('^', '_')}"
    if name in sys.modules:
        return sys.modules[name].Fields  # type: ignore[no-any-return]
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location(name, file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.Fields  # type: ignore[no-any-return]


def run_rt(url: str, n: int, revision: str | None = None) -> tuple[float, dict[str, str]]:
    """msgs/s of ``Connection(url, messages=Fields(...))`` with the typed handler, span as the bare
    client's; its last prices. ``revision``: ``Fields`` as of that git revision."""
    from rt_widgets import Connection

    last, on_trade = last_price_handler()
    span = _Span()
    messages = fields_class(revision)(type="data.e", payload="data", timestamp="data.E", time_unit="ms")
    # An older Fields is another class: given as protocol=, which takes any protocol object.
    chosen: dict[str, Any] = {"messages": messages} if revision is None else {"protocol": messages}
    conn = Connection(url, **chosen, heartbeat_interval=60.0, max_message_size=1 << 22)
    conn.on("trade", on_trade)
    conn.on("end", lambda payload: span.end())
    conn.on_state(span.on_state)
    conn.start()
    try:
        span.wait(lambda: f"rt_widgets received {conn.stats()['messages_in']}/{n} messages")
    finally:
        conn.stop()
    stats = conn.stats()
    assert stats["messages_in"] == n + 1, f"rt_widgets received {stats['messages_in']} of {n} + end"
    assert stats["decode_errors"] == 0 and stats["unmatched"] == 0 and stats["handler_errors"] == 0
    rate = span.rate(n)
    from bench import ingest

    _last_cpu[0] = ingest._last_cpu[0]
    return rate, last


Run = Callable[[str, int], tuple[float, dict[str, str]]]


def variants(revisions: list[str]) -> dict[str, tuple[str, Run]]:
    chosen: dict[str, tuple[str, Run]] = {
        "bare": ("websockets + orjson, type/payload/timestamp by hand, handler by type", run_bare),
        "rt": (f"Connection(url, messages={FIELDS}), conn.on('trade', handler)", run_rt),
    }
    for revision in revisions:
        def run(url: str, n: int, revision: str = revision) -> tuple[float, dict[str, str]]:
            return run_rt(url, n, revision)
        chosen[f"rt@{revision}"] = (f"the same, with Fields as of {revision}", run)
    return chosen


def throughput(feed: FeedProcess, n: int, reps: int, revisions: list[str]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    clients = variants(revisions)
    for batch in (1, 100):
        url = feed.url(n, batch)
        # Warm-up: the feed encodes its frames; every client must end with the same prices.
        _rate, want = run_bare(url, n)
        for variant, (_desc, run) in clients.items():
            _rate, got = run(url, n)
            assert got == want, f"{variant}: the handler saw other prices than the bare client's"
        rates: dict[str, list[float]] = {v: [] for v in clients}
        cpus: dict[str, list[float]] = {v: [] for v in clients}
        for _ in range(reps):
            for variant, (_desc, run) in clients.items():  # interleaved: a neighbour hits all alike
                gc.collect()
                rate, _last = run(url, n)
                rates[variant].append(rate)
                cpus[variant].append(_last_cpu[0])
        label = "1 msg/frame" if batch == 1 else "100 msgs/frame (array)"
        for variant, (desc, _run) in clients.items():
            print(f"batch={batch} {variant}: msg/s {[round(x) for x in rates[variant]]}, "
                  f"msg/CPU-s {[round(x) for x in cpus[variant]]}", flush=True)
            med, cmed = median(rates[variant]), median(cpus[variant])
            paired = median([r / b for r, b in zip(rates[variant], rates["bare"], strict=True)])
            goal = variant == "rt"  # the goal row: the current code
            rows.append([label, desc, med, med / median(rates["bare"]), paired, cmed,
                         cmed / median(cpus["bare"]), f">= {GOAL_RATIO}" if goal else "",
                         (min(med / median(rates["bare"]), cmed / median(cpus["bare"])) >= GOAL_RATIO)
                         if goal else ""])
    return rows


def profile(n: int, batch: int, top: int = 12) -> list[list[Any]]:
    """cProfile of the rt_widgets side in this thread: the feed's frames handed one by one to an
    unstarted Connection's frame callback (what its socket calls), no socket."""
    import cProfile
    import pstats

    from rt_widgets import Connection, Fields

    bodies = [orjson.dumps(trade(first) if batch == 1 else
                           [trade(i) for i in range(first, min(first + batch, n))])
              for first in range(0, n, batch)]
    _last, on_trade = last_price_handler()
    conn = Connection("ws://127.0.0.1:9/unused",
                      messages=Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms"))
    conn.on("trade", on_trade)
    on_frame = conn._on_frame
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    for body in bodies:
        on_frame(body)
    profiler.disable()
    assert conn.stats()["messages_in"] == n
    functions = pstats.Stats(profiler).get_stats_profile().func_profiles
    total = sum(f.tottime for f in functions.values())
    rows: list[list[Any]] = []
    for name, f in sorted(functions.items(), key=lambda kv: -kv[1].tottime)[:top]:
        where = name if f.file_name == "~" else (
            f"{'/'.join(f.file_name.rsplit('/', 2)[-2:])}:{f.line_number} {name}")
        rows.append([where, f.ncalls, f.tottime / n * 1e6, f.cumtime / n * 1e6, f.tottime / total])
    return rows


def breakdown(batch: int, rounds: int = 15, number: int = 300) -> list[list[Any]]:
    """CPU microseconds per message of each part, in this thread with no socket (best of
    ``rounds``, interleaved): decoding, the bare client's extraction and handler call, Fields'
    delivery into a sink (no dispatcher), the dispatcher alone, and Fields with the dispatcher."""
    from rt_widgets import Fields
    from rt_widgets.dispatch import Dispatcher
    from rt_widgets.protocol import Message

    values = [trade(i) for i in range(batch)]
    body = orjson.dumps(values[0] if batch == 1 else values)
    _last, on_trade = last_price_handler()
    handlers = {"trade": on_trade}

    def bare() -> None:
        value = orjson.loads(body)
        for message in value if type(value) is list else (value,):
            data = message["data"]
            kind = data["e"]
            data["E"] / 1000
            handlers[kind](data)

    dispatcher = Dispatcher()
    dispatcher.on("trade", on_trade)
    full = Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms")
    full.bind(None, dispatcher)  # type: ignore[arg-type]
    sink: list[Any] = []

    class Sink:  # a dispatcher that only keeps the messages (a C call per message)
        dispatch = staticmethod(sink.append)

    alone = Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms")
    alone.bind(None, Sink())  # type: ignore[arg-type]

    def fields_alone() -> None:
        alone.receive(body)
        sink.clear()
    messages = [Message("trade", m["data"], m["data"]["E"] / 1000) for m in values]

    def dispatch_only() -> None:
        dispatch = dispatcher.dispatch
        for message in messages:
            dispatch(message)

    parts: dict[str, Callable[[], Any]] = {
        "orjson.loads": lambda: orjson.loads(body),
        "bare: loads + extraction + handler": bare,
        "Fields delivery into a sink (loads + Fields, no dispatcher)": fields_alone,
        "Dispatcher.dispatch(Message) + handler, alone": dispatch_only,
        "Fields.receive with the dispatcher (what Connection calls)": lambda: full.receive(body),
    }
    import timeit

    best = dict.fromkeys(parts, float("inf"))
    for _ in range(rounds):
        for name, fn in parts.items():
            seconds = timeit.Timer(fn, timer=time.process_time).timeit(number=number)
            best[name] = min(best[name], seconds / number / batch * 1e6)
    return [[f"{batch} msg(s)/frame", name, us, us / best["bare: loads + extraction + handler"]]
            for name, us in best.items()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.fields_ingest")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--profile", action="store_true", help="only print a cProfile of the rt_widgets side")
    p.add_argument("--breakdown", action="store_true",
                   help="only print CPU per message of each part, in process (no socket)")
    p.add_argument("--also-fields", action="append", default=[], metavar="REV",
                   help="also measure Fields as of this git revision (before/after a change)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        asyncio.run(_serve())
        return
    n = a.n or (100_000 if a.quick else 200_000)
    reps = a.reps or (3 if a.quick else 5)
    header("bench.fields_ingest", ["bench.fields_ingest", *(argv or [])])
    if a.profile:
        for batch in (1, 100):
            table(f"cProfile of Connection._on_frame with {FIELDS}, N={n:,}, {batch} msg(s)/frame, top "
                  "functions by own time (cProfile adds its own cost per call)",
                  ["function", "calls", "own µs per message", "cumulative µs per message",
                   "share of own time"], profile(n, batch))
        return
    if a.breakdown:
        table("CPU µs per message, in process, no socket (best of 15 interleaved rounds)",
              ["framing", "part", "CPU µs per message", "vs bare"],
              [row for batch in (1, 100) for row in breakdown(batch)])
        return
    with FeedProcess() as feed:
        table(f"Binance-shaped ingest through Fields, N={n:,} messages, median of {reps}",
              ["framing", "client", "msg/s (median)", "vs bare", "vs bare (paired)", "msg/CPU-s (median)",
               "CPU vs bare", "goal (wall and CPU, vs bare)", "met"],
              throughput(feed, n, reps, a.also_fields))


if __name__ == "__main__":
    main(sys.argv[1:])
