"""Ingest throughput: rt_widgets.Connection + stores against a bare websockets + orjson client.

The feed runs in a separate process (``bench._feed``) and writes pre-encoded frames, so the client
is what is measured. For each framing (one message per frame; 100 per frame as a JSON array) the two
clients read the same N messages, interleaved, several times; medians and their ratio are printed.

- ceiling: ``websockets.asyncio.client.connect`` + ``orjson.loads`` per frame (and a pass over the
  elements of a batch), nothing else.
- rt_widgets: ``Connection`` (decode, envelope checks, counters, dispatch) with ``conn.on(...)``
  handlers feeding a ``TableStore`` (keyed upsert, 500 distinct ids) and a ``MetricsStore``.

Sustained mode: the feed paces 20,000 msg/s for 60 s (quick: 10 s) into the same Connection and
stores; RSS and the backlog (messages the feed had sent minus messages dispatched) are sampled
every second.

    .venv/bin/python -m bench.ingest [--quick] [--n 200000] [--reps 5] [--skip-sustained] [--breakdown]
    .venv/bin/python -m bench.ingest --profile     # where the rt_widgets side's time goes (cProfile)
    .venv/bin/python -m bench.ingest --parts       # the same piece by piece, no profiler
    .venv/bin/python -m bench.ingest --frame-path  # frames cut here vs websockets' parser
    .venv/bin/python -m bench.ingest --explorer    # the explorer's CPU per message, on and off
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from bench._feed import KEYS, Feed, final_metrics, final_table, message
from bench._util import header, median, rss_mb, table

# The goal row (Connection + stores), wall msg/s against the bare client's, by messages per frame.
GOALS = {1: 1.0, 100: 0.8}
# msgs per CPU-second of the last run (process CPU time over the same span as the wall time):
# far less sensitive than wall time to other processes competing for the two cores.
_last_cpu = [0.0]


async def _ceiling_async(url: str, n: int, stores: bool) -> float:
    from websockets.asyncio.client import connect

    from rt_widgets.stores import MetricsStore, TableStore

    table_store = TableStore(key="id", max_rows=10_000)
    metrics = MetricsStore(history=300)
    apply = {"mission_update": table_store.queue, "metrics_update": metrics.queue}
    count = 0
    async with connect(url, compression=None, max_size=1 << 20, ping_interval=None) as ws:
        t0 = time.perf_counter()
        c0 = time.process_time()
        async for frame in ws:
            data = orjson.loads(frame)
            for m in data if isinstance(data, list) else (data,):
                kind = m["type"]
                if stores:
                    apply[kind](m["payload"])
                count += 1
            if count >= n:
                break
        if stores:  # the stores apply what they queued when read: that work is in the span too
            table_store.drain()
            metrics.drain()
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
    _last_cpu[0] = n / cpu
    return n / dt


def run_ceiling(url: str, n: int, stores: bool = False) -> float:
    """msgs/s of the bare client, from the open handshake to the last message decoded.

    ``stores=True``: the same loop also queues each payload into the stores by type (a hand-written
    client doing the same work as rt_widgets, with no envelope checks, counters or dispatcher).
    """
    return asyncio.run(_ceiling_async(url, n, stores))


class _Span:
    """Wall and CPU time from the connection's first ``connected`` (or from creation, if that
    was never seen) to :meth:`end`; :meth:`rate` stores msgs per CPU-second in ``_last_cpu``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self._start = (time.perf_counter(), time.process_time())
        self._connected = False
        self._end = self._start

    def on_state(self, old: Any, new: Any) -> None:
        if str(getattr(new, "value", new)) == "connected" and not self._connected:
            self._connected = True
            self._start = (time.perf_counter(), time.process_time())

    def end(self) -> None:
        self._end = (time.perf_counter(), time.process_time())
        self.done.set()

    def wait(self, what: Callable[[], str]) -> None:
        if not self.done.wait(300):
            raise TimeoutError(what())

    def rate(self, n: int) -> float:
        _last_cpu[0] = n / (self._end[1] - self._start[1])
        return n / (self._end[0] - self._start[0])


def run_rt(url: str, n: int, check: bool = False, stores: bool = True) -> float:
    """msgs/s of Connection -> conn.on handlers -> TableStore/MetricsStore (span as the ceiling).

    The handlers are the stores' own, with their batch forms, as a LiveTable and a LiveMetrics
    register them; the feed's ``end`` message (``url`` has ``end=1``) marks the end."""
    from rt_widgets import Connection
    from rt_widgets.dispatch import Batched, Timed
    from rt_widgets.stores import MetricsStore, TableStore

    table_store = TableStore(key="id", max_rows=10_000)
    metrics = MetricsStore(history=300)

    def on_end(payload: Any) -> None:
        if stores:  # what the stores queued is applied when read: count that work too
            table_store.drain()
            metrics.drain()
        span.end()

    def nothing(payload: Any) -> None:
        pass

    conn = Connection(url, heartbeat_interval=60.0, max_message_size=1 << 20)
    if stores:
        conn.on("mission_update", Batched(table_store.queue, table_store.queue_many))
        # Each point at its message's own time, as LiveMetrics registers it.
        conn.on("metrics_update", Timed(metrics.queue, metrics.queue_stamped))
    else:
        conn.on("mission_update", Batched(nothing, nothing))
        conn.on("metrics_update", Batched(nothing, nothing))
    conn.on("end", on_end)
    span = _Span()
    conn.on_state(span.on_state)
    conn.start()
    try:
        span.wait(lambda: f"rt_widgets received {conn.stats()['messages_in']}/{n} messages")
    finally:
        conn.stop()
    received = conn.stats()["messages_in"]
    assert received == n + 1, f"rt_widgets received {received} messages, the feed sent {n} + end"
    if check:
        want = final_table(n)
        got = {r["id"]: r for r in table_store.rows}
        assert got == want, "table state differs from the feed's"
        assert metrics.latest == final_metrics(n), "metrics state differs from the feed's"
        assert len(table_store) == KEYS
    return span.rate(n)


def run_widget(url: str, n: int) -> float:
    """msgs/s of ``RealtimeWidget(url)`` as a notebook user writes it: the explorer counts every
    message and makes its own table and metrics views, which queue into their stores (no kernel:
    the views' comm messages go nowhere). Span as ``run_rt``, to the feed's ``end`` message."""
    from rt_widgets import RealtimeWidget

    span = _Span()
    same = [False]
    w = RealtimeWidget(url, heartbeat_interval=60.0, max_message_size=1 << 20)

    def on_end(payload: Any) -> None:
        same[0] = (len(w.table("mission_update")) == KEYS
                   and w.metrics("metrics_update").latest == final_metrics(n))
        span.end()

    w.connection.on_state(span.on_state)
    w.connection.on("end", on_end)
    try:
        span.wait(lambda: f"RealtimeWidget received {w.connection.stats()['messages_in']}/{n}")
    finally:
        w.close()
    assert same[0], "the RealtimeWidget's views differ from the feed's final state"
    return span.rate(n)


VARIANTS = (
    ("ceiling", "websockets + orjson.loads"),
    ("ceiling+stores", "websockets + orjson.loads + store.queue by type"),
    ("rt-noop", "Connection, no-op conn.on handlers"),
    ("rt", "Connection, conn.on -> TableStore/MetricsStore"),
    ("rt-widget", "RealtimeWidget(url): explorer + its auto table and metrics views (no kernel)"),
)


def _run(variant: str, url: str, n: int) -> float:
    if variant == "ceiling":
        return run_ceiling(url, n)
    if variant == "ceiling+stores":
        return run_ceiling(url, n, stores=True)
    if variant == "rt-noop":
        return run_rt(url, n, stores=False)
    if variant == "rt-widget":
        return run_widget(url, n)
    return run_rt(url, n)


_settle_seconds = [0.0]


@contextlib.contextmanager
def _timed_settles() -> Iterator[None]:
    """Time every ``_settle`` of the stores (where queued messages are applied) while inside."""
    from rt_widgets.stores import MetricsStore, TableStore

    originals = {cls: cls._settle for cls in (TableStore, MetricsStore)}

    def timed(original: Callable[[Any], None]) -> Callable[[Any], None]:
        def settle(self: Any) -> None:
            t0 = time.perf_counter()
            original(self)
            _settle_seconds[0] += time.perf_counter() - t0

        return settle

    for cls, original in originals.items():
        cls._settle = timed(original)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls._settle = original  # type: ignore[method-assign]


def breakdown(feed: Feed, n: int, reps: int) -> list[list[Any]]:
    """Per message, in CPU microseconds: what the ceiling costs, what Connection adds, what queueing
    into the stores adds, and what applying the queues costs (timed inside the runs)."""
    rows: list[list[Any]] = []
    for batch in (1, 100):
        url = feed.url(f"/burst?n={n}&batch={batch}&end=1")
        run_rt(url, n)
        cpu: dict[str, list[float]] = {"ceiling": [], "rt-noop": [], "rt": []}
        settles: list[float] = []
        for _ in range(reps):
            for v in cpu:
                gc.collect()
                if v == "rt":
                    _settle_seconds[0] = 0.0
                    with _timed_settles():
                        _run(v, url, n)
                    settles.append(_settle_seconds[0] / n * 1e6)
                else:
                    _run(v, url, n)
                cpu[v].append(1e6 / _last_cpu[0])
        ceiling, noop, rt = (median(cpu[v]) for v in ("ceiling", "rt-noop", "rt"))
        settle = median(settles)
        label = "1 msg/frame" if batch == 1 else "100 msgs/frame (array)"
        rows.append([label, ceiling, noop - ceiling, rt - noop - settle, settle, rt, ceiling / rt])
    return rows


def profile(n: int, batch: int = 100, top: int = 14) -> list[list[Any]]:
    """cProfile of the rt_widgets side, in this thread: the feed's messages, encoded as it sends
    them, handed frame by frame to an unstarted ``Connection``'s message callback (what its
    ``FrameConnection`` calls from ``data_received``) with the stores' batched handlers; the stores
    are read at the end. No socket: the websockets part of the ceiling is not in it."""
    import cProfile
    import pstats

    from rt_widgets import Connection
    from rt_widgets.dispatch import Batched, Timed
    from rt_widgets.stores import MetricsStore, TableStore

    bodies = [orjson.dumps([message(i) for i in range(first, min(first + batch, n))])
              for first in range(0, n, batch)]
    conn = Connection("ws://127.0.0.1:9/unused")
    table_store = TableStore(key="id", max_rows=10_000)
    metrics = MetricsStore(history=300)
    conn.on("mission_update", Batched(table_store.queue, table_store.queue_many))
    conn.on("metrics_update", Timed(metrics.queue, metrics.queue_stamped))
    on_frame = conn._on_frame
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    for body in bodies:
        on_frame(body)
    table_store.drain()
    metrics.drain()
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


def frame_path(feed: Feed, n: int, reps: int) -> list[list[Any]]:
    """CPU µs per message of the goal row with ``FrameConnection`` cutting frames out itself and
    with websockets' own ``data_received`` (its parser) instead, interleaved with the ceiling in
    one process: what the frame path alone changes."""
    from websockets.asyncio.client import ClientConnection

    from rt_widgets.frames import FrameConnection

    own = FrameConnection.data_received
    rows: list[list[Any]] = []
    for batch in (1, 100):
        url = feed.url(f"/burst?n={n}&batch={batch}&end=1")
        run_ceiling(url, n)
        run_rt(url, n, check=True)
        cpu: dict[str, list[float]] = {"ceiling": [], "websockets": [], "cut here": []}
        for _ in range(reps):
            for v in cpu:
                gc.collect()
                if v == "ceiling":
                    run_ceiling(url, n)
                else:
                    FrameConnection.data_received = (  # type: ignore[method-assign]
                        own if v == "cut here" else ClientConnection.data_received)
                    try:
                        run_rt(url, n)
                    finally:
                        FrameConnection.data_received = own  # type: ignore[method-assign]
                cpu[v].append(1e6 / _last_cpu[0])
        ceiling, theirs, ours = (min(cpu[v]) for v in cpu)
        label = "1 msg/frame" if batch == 1 else "100 msgs/frame (array)"
        rows.append([label, ceiling, theirs, ours, ceiling / theirs, ceiling / ours])
    return rows


def parts(n: int, reps: int) -> list[list[Any]]:
    """In process (no socket), CPU ns per message at 100 msgs/frame: ``orjson.loads``, the ceiling's
    loop, the grouping pass, Connection with no-op batched handlers, with each store alone, with
    both (frames handed to an unstarted Connection's frame callback, as ``profile``)."""
    from rt_widgets import Connection
    from rt_widgets._batch import group_by_type
    from rt_widgets.dispatch import Batched, Timed
    from rt_widgets.stores import MetricsStore, TableStore

    bodies = [orjson.dumps([message(i) for i in range(first, min(first + 100, n))])
              for first in range(0, n, 100)]

    def loads() -> None:
        for body in bodies:
            orjson.loads(body)

    def ceiling() -> None:
        for body in bodies:
            for m in orjson.loads(body):
                m["type"]

    def grouping() -> None:
        for body in bodies:
            group_by_type(orjson.loads(body), True)

    def connection(table: bool, metrics: bool) -> Callable[[], None]:
        conn = Connection("ws://127.0.0.1:9/unused")
        table_store = TableStore(key="id", max_rows=10_000)
        metrics_store = MetricsStore(history=300)
        nothing = Batched(lambda p: None, lambda ps: None)
        conn.on("mission_update",
                Batched(table_store.queue, table_store.queue_many) if table else nothing)
        conn.on("metrics_update",
                Timed(metrics_store.queue, metrics_store.queue_stamped) if metrics else nothing)
        on_frame = conn._on_frame

        def run() -> None:
            for body in bodies:
                on_frame(body)
            table_store.drain()
            metrics_store.drain()

        return run

    variants: dict[str, Callable[[], Callable[[], None]]] = {
        "orjson.loads of the frames": lambda: loads,
        "the ceiling's loop (loads, m['type'] per element)": lambda: ceiling,
        "group_by_type(payload=True) after each loads": lambda: grouping,
        "Connection, no-op batched handlers": lambda: connection(False, False),
        "Connection + TableStore": lambda: connection(True, False),
        "Connection + MetricsStore": lambda: connection(False, True),
        "Connection + both stores (the goal row's work)": lambda: connection(True, True),
    }
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(reps):
        for v, make in variants.items():
            run = make()
            gc.collect()
            c0 = time.process_time()
            run()
            times[v].append((time.process_time() - c0) / n * 1e9)
    base = min(times["orjson.loads of the frames"])
    return [[v, min(t), min(t) - base] for v, t in times.items()]


def _peers_frames(n: int) -> list[bytes]:
    """``bench.peers``' feed, encoded: one message per frame over 10,000 ids, each mission row
    stamped in ``sent``; the envelope's timestamp changes every 20 messages (the feed's tick)."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 12, 2, tzinfo=UTC)
    return [orjson.dumps(message(i, (t0 + timedelta(milliseconds=i // 20)).isoformat(), 10_000,
                                 f"T{i}")) for i in range(n)]


def explorer(n: int, reps: int, chunk: int = 1000) -> list[list[Any]]:
    """I/O-thread CPU µs per message of ``RealtimeWidget(url, explore=False)`` and of
    ``RealtimeWidget(url)`` (the explorer on), each with ``w.table("mission_update", key="id",
    max_rows=10_000)`` asked for, as ``bench.peers``' cell. Both live in this process at once; the
    same frames go to each one's unstarted socket frame callback on the I/O thread, ``chunk`` at a
    time, one widget then the other (interleaved every chunk: a noisy neighbour hits both alike),
    at 20,000 msg/s (a chunk each 50 ms), the frame clock flushing between chunks. The table's
    flushes are not in the figure; the explorer's own views, shown nowhere, do not flush (what they
    queued, under ``INBOX_LIMIT`` payloads, is applied when their tab opens). ``reps`` rounds over
    the ``n`` frames: medians and minimums per round."""
    from rt_widgets import RealtimeWidget
    from rt_widgets.widgets._base import read_on_io

    frames = _peers_frames(n)
    widgets = {explore: RealtimeWidget("ws://127.0.0.1:9/unused", explore=explore,
                                       heartbeat_interval=60.0) for explore in (False, True)}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    try:
        for w in widgets.values():
            w.table("mission_update", key="id", max_rows=10_000)
        spent = {explore: 0.0 for explore in widgets}

        def run(explore: bool, part: list[bytes]) -> None:
            on_frame = widgets[explore].connection._on_frame
            c0 = time.thread_time()
            for body in part:
                on_frame(body)
            spent[explore] += time.thread_time() - c0

        for rep in range(reps + 1):  # the first round warms up (and makes the explorer's views)
            gc.collect()
            for explore in widgets:
                spent[explore] = 0.0
            for first in range(0, n, chunk):
                for explore in ((False, True) if first // chunk % 2 else (True, False)):
                    read_on_io(lambda explore=explore, first=first: run(
                        explore, frames[first:first + chunk]))
                time.sleep(chunk / 20_000)  # the feed's pace: the frame clock flushes meanwhile
            if rep:
                for explore in widgets:
                    cpu[explore].append(spent[explore] / n * 1e6)
    finally:
        for w in widgets.values():
            w.close()
    print(f"explorer off: {[round(x, 2) for x in cpu[False]]} µs/msg; "
          f"on: {[round(x, 2) for x in cpu[True]]} µs/msg", flush=True)
    off, on = median(cpu[False]), median(cpu[True])
    diffs = [b - a for a, b in zip(cpu[False], cpu[True], strict=True)]
    return [["RealtimeWidget(url, explore=False) + its table", off, min(cpu[False]), "", ""],
            ["RealtimeWidget(url) + its table (explorer on: its metrics and chart, quiet)", on,
             min(cpu[True]), median(diffs), on / off]]


def throughput(feed: Feed, n: int, reps: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    sessions = 0
    for batch in (1, 100):
        url = feed.url(f"/burst?n={n}&batch={batch}&end=1")
        # Warm-up (also makes the feed encode its frames before anything is timed).
        run_ceiling(url, n)
        run_rt(url, n, check=True)
        run_widget(url, n)  # checks the views' final state too
        sessions += 3
        res: dict[str, list[float]] = {v: [] for v, _ in VARIANTS}
        cpu: dict[str, list[float]] = {v: [] for v, _ in VARIANTS}
        for _ in range(reps):
            # Interleaved, so a noisy neighbour hits every variant alike.
            for v, _ in VARIANTS:
                gc.collect()
                res[v].append(_run(v, url, n))
                cpu[v].append(_last_cpu[0])
                sessions += 1
        feed.wait_done(sessions)
        label = "1 msg/frame" if batch == 1 else "100 msgs/frame (array)"
        base = median(res["ceiling"])
        same = median(res["ceiling+stores"])
        for v, desc in VARIANTS:
            print(
                f"batch={batch} {v}: msg/s {[round(x) for x in res[v]]}, "
                f"msg/CPU-s {[round(x) for x in cpu[v]]}",
                flush=True,
            )
            cmed = median(cpu[v])
            cbase = median(cpu["ceiling"])
            med = median(res[v])
            paired = median([r / b for r, b in zip(res[v], res["ceiling"], strict=True)])
            goal = v == "rt"
            want = GOALS[batch]
            rows.append(
                [
                    label,
                    desc,
                    med,
                    med / base,
                    paired,
                    med / same,
                    cmed,
                    cmed / cbase,
                    cmed / median(cpu["ceiling+stores"]),
                    f">= {want}" if goal else "",
                    (med / base >= want) if goal else "",
                ]
            )
    return rows


def sustained(feed: Feed, rate: float, seconds: float, batch: int = 1) -> list[list[Any]]:
    from rt_widgets import Connection
    from rt_widgets.stores import MetricsStore, TableStore

    table_store = TableStore(key="id", max_rows=10_000)
    metrics = MetricsStore(history=300)
    last_seq = -1
    first: dict[str, float] = {}
    drained = [0.0]

    def on_any(m: Any) -> None:
        nonlocal last_seq
        now = time.monotonic()
        if not first:
            first["t"] = now
        last_seq = m.seq
        # Read the stores 20 times a second, as a widget's frame clock does at its default fps.
        if now - drained[0] >= 0.05:
            drained[0] = now
            table_store.drain()
            metrics.drain()

    conn = Connection(
        feed.url(f"/paced?rate={rate}&seconds={seconds}&batch={batch}"), heartbeat_interval=60.0
    )
    conn.on("mission_update", table_store.queue)
    conn.on("metrics_update", metrics.queue)
    conn.on("*", on_any)
    samples: list[tuple[float, float, int]] = []  # (t, rss MB, backlog msgs)
    conn.start()
    try:
        t_wait = time.monotonic()
        while not first and time.monotonic() - t_wait < 30:
            time.sleep(0.01)
        t0 = first["t"]
        next_t = t0 + 1.0
        while next_t <= t0 + seconds:
            time.sleep(max(0.0, next_t - time.monotonic()))
            expected = min(rate * seconds, rate * (time.monotonic() - t0))
            samples.append((next_t - t0, rss_mb(), max(0, int(expected - (last_seq + 1)))))
            next_t += 1.0
        total = int(rate * seconds)
        t_end = time.monotonic() + 30
        while last_seq + 1 < total and time.monotonic() < t_end:
            time.sleep(0.01)
        t_all = time.monotonic() - t0
        stats = conn.stats()
    finally:
        conn.stop()
    got = last_seq + 1
    first_s, last_s = samples[0], samples[-1]
    max_backlog = max(s[2] for s in samples)
    print(
        "per-second samples (t, RSS MB, backlog msgs):",
        [(round(t), round(r, 1), b) for t, r, b in samples],
        flush=True,
    )
    growth = last_s[1] - samples[min(len(samples) - 1, 4)][1]
    return [
        [
            f"{rate:,.0f} msg/s x {seconds:g} s, batch={batch}",
            got,
            total,
            t_all,
            first_s[1],
            last_s[1],
            growth,
            first_s[2],
            last_s[2],
            max_backlog,
            stats.get("messages_in"),
            abs(growth) < 5.0 and last_s[2] < rate * 0.5,
        ]
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.ingest")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--rate", type=float, default=20_000)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--skip-sustained", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--breakdown", action="store_true",
                   help="also time where each message's CPU time goes (stores' apply timed inside)")
    p.add_argument("--profile", action="store_true",
                   help="only print a cProfile of the rt_widgets side (100 msgs/frame, no socket)")
    p.add_argument("--frame-path", action="store_true",
                   help="only compare the goal row with frames cut here and with websockets' parser")
    p.add_argument("--parts", action="store_true",
                   help="only time the rt_widgets side piece by piece (100 msgs/frame, no socket)")
    p.add_argument("--explorer", action="store_true",
                   help="only the I/O-thread CPU per message of RealtimeWidget(url), explorer "
                        "on and off (bench.peers' feed, 1 msg/frame, no socket, no kernel)")
    a = p.parse_args(argv)
    reps = a.reps or (3 if a.quick else 5)
    n = a.n if not a.quick or a.n != 200_000 else 50_000
    seconds = a.seconds or (10.0 if a.quick else 60.0)
    header("bench.ingest", ["bench.ingest", *(argv or [])])
    if a.profile:
        table(
            f"cProfile of Connection._on_frame + stores, N={n:,}, 100 msgs/frame, top functions by "
            "own time (cProfile adds its own cost per call)",
            ["function", "calls", "own µs per message", "cumulative µs per message",
             "share of own time"],
            profile(n),
        )
        return
    if a.explorer:
        table(f"RealtimeWidget(url) in process, I/O-thread CPU µs per message, N={n:,}, 1 msg/frame, "
              f"{reps} interleaved reps", ["variant", "median", "min",
                                            "explorer's cost (median of the rounds' on - off)",
                                            "ratio"], explorer(n, reps))
        return
    if a.parts:
        table(f"in process, CPU ns per message, N={n:,}, 100 msgs/frame, minimum of {reps}",
              ["what", "ns per message", "over orjson.loads"], parts(n, reps))
        return
    if a.frame_path:
        with Feed() as feed:
            table(f"frame path, CPU µs per message, N={n:,}, minimum of {reps}, interleaved",
                  ["framing", "ceiling", "rt_widgets, websockets' parser",
                   "rt_widgets, frames cut here", "ratio, websockets' parser",
                   "ratio, frames cut here"], frame_path(feed, n, reps))
        return
    with Feed() as feed:
        if not a.skip_throughput:
            table(
                f"ingest throughput, N={n:,} messages, median of {reps}",
                [
                    "framing",
                    "client",
                    "msg/s (median)",
                    "vs ceiling",
                    "vs ceiling (paired)",
                    "vs ceiling+stores",
                    "msg/CPU-s (median)",
                    "CPU vs ceiling",
                    "CPU vs ceiling+stores",
                    "goal (wall, vs ceiling)",
                    "met",
                ],
                throughput(feed, n, reps),
            )
        if a.breakdown:
            table(
                f"where the time goes, CPU microseconds per message, N={n:,}, median of {reps}",
                [
                    "framing",
                    "ceiling: websockets + orjson",
                    "+ Connection (decode checks, counters, dispatch)",
                    "+ handler calls queueing into the stores",
                    "+ stores applying their queues",
                    "= rt_widgets",
                    "ratio (CPU)",
                ],
                breakdown(feed, n, reps),
            )
        if not a.skip_sustained:
            table(
                "sustained ingest (Connection + TableStore + MetricsStore)",
                [
                    "load",
                    "received",
                    "sent",
                    "seconds to all",
                    "RSS s1 MB",
                    "RSS last MB",
                    "RSS growth s5->last MB",
                    "backlog s1",
                    "backlog last",
                    "backlog max",
                    "stats messages_in",
                    "steady",
                ],
                sustained(feed, a.rate, seconds),
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
