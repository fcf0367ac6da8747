"""Soak: 10 minutes (quick: 30 s) at 10,000 msg/s into a table capped at 10,000 rows.

The feed (``bench._feed``, own process) sends mission rows with ever-new ids, so the table evicts
continuously, plus metrics. The client is a ``RealtimeWidget`` with ``.table(max_rows=10_000)`` and
``.metrics()``, frame clock included (outside a kernel its comm messages go nowhere, but every
flush is built and serialised). Sampled every second: RSS; every 10 s: the asyncio tasks on the I/O
loop (``asyncio.all_tasks`` via ``rt_widgets.iothread.run_sync``) and the process's threads.

Pass: RSS at the end within 10% of RSS at minute one (quick: at 10 s), no growth in tasks or
threads, and the client kept up (backlog of undelivered messages bounded).

    .venv/bin/python -m bench.soak [--quick] [--rate 10000] [--seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import threading
import time
from typing import Any

from bench._feed import Feed
from bench._util import header, rss_mb, table

MAX_ROWS = 10_000


async def _task_count() -> int:
    return len(asyncio.all_tasks())


def soak(feed: Feed, rate: float, seconds: float, ref_s: float) -> list[list[Any]]:
    from rt_widgets import RealtimeWidget, iothread

    url = feed.url(f"/paced?rate={rate:g}&seconds={seconds:g}&keys=1000000000")
    last_seq = -1
    first: dict[str, float] = {}

    def on_any(m: Any) -> None:
        nonlocal last_seq
        if not first:
            first["t"] = time.monotonic()
        last_seq = m.seq

    gc.collect()
    rss0 = rss_mb()
    threads0 = threading.active_count()
    w = RealtimeWidget(url, heartbeat_interval=10.0)
    t = w.table("mission_update", key="id", max_rows=MAX_ROWS)
    w.metrics("metrics_update")
    w.on("*", on_any)
    samples: list[tuple[float, float, int]] = []
    tasks: list[tuple[float, int, int]] = []
    try:
        deadline = time.monotonic() + 30
        while not first and time.monotonic() < deadline:
            time.sleep(0.01)
        if not first:
            raise RuntimeError("no message arrived within 30 s")
        t0 = first["t"]
        k = 1
        while k <= seconds:
            time.sleep(max(0.0, t0 + k - time.monotonic()))
            expected = rate * min(seconds, time.monotonic() - t0)
            samples.append((k, rss_mb(), max(0, int(expected - (last_seq + 1)))))
            if k % 10 == 0 or k == 1:
                n_tasks = iothread.run_sync(_task_count(), timeout=10)
                tasks.append((k, n_tasks, threading.active_count()))
            k += 1
        total = int(rate * seconds)
        deadline = time.monotonic() + 30
        while last_seq + 1 < total and time.monotonic() < deadline:
            time.sleep(0.05)
        rows_now = len(t.rows)
        stats = dict(w.stats)
    finally:
        w.close()
    step = 10 if seconds <= 120 else 60
    print(f"RSS MB every {step} s:", [round(r, 1) for s, r, _ in samples if s % step == 0], flush=True)
    print("(t, I/O-loop tasks, threads):", [x for x in tasks if x[0] % step == 0 or x[0] == 1], flush=True)
    ref = next(r for s, r, _ in samples if s >= ref_s)
    end = samples[-1][1]
    growth = (end - ref) / ref
    max_backlog = max(b for _, _, b in samples)
    task_growth = tasks[-1][1] - min(n for _, n, _ in tasks[1:] or tasks)
    thread_growth = tasks[-1][2] - min(n for _, _, n in tasks[1:] or tasks)
    ok = abs(growth) <= 0.10 and task_growth <= 0 and thread_growth <= 0
    return [
        [
            f"{rate:,.0f} msg/s x {seconds:g} s, table max_rows={MAX_ROWS:,}",
            f"{last_seq + 1:,} / {total:,}",
            rows_now,
            rss0,
            ref,
            end,
            f"{100 * growth:+.1f}%",
            f"{tasks[1][1] if len(tasks) > 1 else tasks[0][1]} -> {tasks[-1][1]}",
            f"{threads0} -> {tasks[-1][2]}",
            max_backlog,
            stats.get("messages_in"),
            "within 10%, no task/thread growth",
            ok,
        ]
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.soak")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rate", type=float, default=10_000)
    p.add_argument("--seconds", type=float, default=None)
    a = p.parse_args(argv)
    seconds = a.seconds or (30.0 if a.quick else 600.0)
    ref_s = 10.0 if seconds < 120 else 60.0
    header("bench.soak", ["bench.soak", *(argv or [])])
    with Feed() as feed:
        table(
            f"soak (RealtimeWidget + table + metrics, frame clock); reference RSS at {ref_s:g} s",
            [
                "load",
                "received / sent",
                "table rows",
                "RSS before MB",
                f"RSS at {ref_s:g} s MB",
                "RSS end MB",
                "growth",
                "I/O-loop tasks",
                "threads",
                "max backlog msgs",
                "messages_in",
                "goal",
                "met",
            ],
            soak(feed, a.rate, seconds, ref_s),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
