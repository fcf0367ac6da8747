"""The batch passes (``rt_widgets/_batch.py``) and the whole rt_widgets side of batched ingest, in
process (no socket), on freshly decoded frames: CPU time per element.

    .venv/bin/python -m bench.batch [--quick]

- **passes**: ``group_by_type`` on the ingest feed's 100-message frames (its two types; and the
  same frames spread over eight types), ``coalesce_rows`` on 256 queued table rows (the stores'
  queue length), ``metric_columns`` on 256 metrics payloads. Every run decodes its own frames first,
  so the passes meet data that is not in the CPU cache, as they do behind a socket.
- **rt_widgets side**: the ingest feed's frames (100 messages each) handed to an unstarted
  ``Connection``'s frame callback with the stores' batched handlers (``bench.ingest --profile``'s
  loop, without the profiler), against ``orjson.loads`` of the same frames: the difference is what
  rt_widgets adds to the decode.

Minimum over the repetitions (CPU time: other processes on the machine add little to it). To compare
two trees, run the same command from each (the package is imported from the current directory).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bench._feed import message
from bench._util import header, table

FRAME = 100
QUEUE = 256  # stores.INBOX_LIMIT: a store applies its queue at this length


def _cpu_ns_per_element(run: Callable[[list[Any]], object], decoded: list[Any], per: int) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.process_time()
        for item in decoded:
            run(item)
        return (time.process_time() - t0) / (len(decoded) * per) * 1e9
    finally:
        gc.enable()


def _encoded_frames(count: int, types: int = 0) -> list[bytes]:
    frames = []
    for f in range(count):
        messages = [message(i) for i in range(f * FRAME, (f + 1) * FRAME)]
        if types:
            for j, m in enumerate(messages):
                m["type"] = f"t{j % types}"
        frames.append(orjson.dumps(messages))
    return frames


def passes(count: int, reps: int) -> list[list[Any]]:
    from rt_widgets import _batch

    rows = [orjson.dumps([message(i)["payload"] for i in range(q * QUEUE * 2, (q + 1) * QUEUE * 2)
                          if i % 4 != 3][:QUEUE]) for q in range(count // 2)]
    metrics = [orjson.dumps([message(i * 4 + 3)["payload"] for i in range(q * QUEUE, (q + 1) * QUEUE)])
               for q in range(count // 4)]
    fields = set(orjson.loads(rows[0])[0])
    names = tuple(orjson.loads(metrics[0])[0])
    cases: list[tuple[str, str, Callable[[Any], object], list[bytes], int]] = [
        ("group_by_type", "100-message frame, 2 types", _batch.group_by_type, _encoded_frames(count), FRAME),
        ("group_by_type", "100-message frame, 8 types", _batch.group_by_type,
         _encoded_frames(count, types=8), FRAME),
        ("coalesce_rows", f"{QUEUE} queued 10-field rows, 500 keys",
         lambda r: _batch.coalesce_rows(r, "id", fields), rows, QUEUE),
        ("metric_columns", f"{QUEUE} payloads of 10 series", lambda p: _batch.metric_columns(p, names),
         metrics, QUEUE),
    ]
    out: list[list[Any]] = []
    for name, what, run, encoded, per in cases:
        best = min(_cpu_ns_per_element(run, [orjson.loads(b) for b in encoded], per) for _ in range(reps))
        out.append([name, what, round(best, 1)])
    return out


def rt_widgets_side(n: int, reps: int) -> list[list[Any]]:
    from rt_widgets import Connection
    from rt_widgets.dispatch import Batched
    from rt_widgets.stores import MetricsStore, TableStore

    bodies = [orjson.dumps([message(i) for i in range(first, min(first + FRAME, n))])
              for first in range(0, n, FRAME)]

    def ingest() -> float:
        conn = Connection("ws://127.0.0.1:9/unused")
        table_store = TableStore(key="id", max_rows=10_000)
        metrics = MetricsStore(history=300)
        conn.on("mission_update", Batched(table_store.queue, table_store.queue_many))
        conn.on("metrics_update", Batched(metrics.queue, metrics.queue_many))
        on_frame = conn._on_frame
        gc.collect()
        t0 = time.process_time()
        for body in bodies:
            on_frame(body)
        table_store.drain()
        metrics.drain()
        spent = time.process_time() - t0
        assert conn.stats()["messages_in"] == n
        return spent / n * 1e6

    def decode() -> float:
        gc.collect()
        t0 = time.process_time()
        for body in bodies:
            orjson.loads(body)
        return (time.process_time() - t0) / n * 1e6

    side = decode_only = float("inf")
    for _ in range(reps):  # interleaved, so a busy moment hits both
        side = min(side, ingest())
        decode_only = min(decode_only, decode())
    return [[f"{side:.3f}", f"{decode_only:.3f}", f"{side - decode_only:.3f}"]]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.batch")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    header("bench.batch", ["bench.batch", *(argv or [])])
    count, n, reps = (400, 50_000, 3) if a.quick else (1500, 100_000, 7)
    table(f"batch passes on freshly decoded data, CPU ns per element, min of {reps}",
          ["function", "input", "ns per element"], passes(count, reps))
    table(f"rt_widgets side of batched ingest, in process, N={n:,}, 100 msgs/frame, CPU µs per "
          f"message, min of {reps}",
          ["Connection + stores", "orjson.loads alone", "rt_widgets adds"], rt_widgets_side(n, reps))


if __name__ == "__main__":
    main(sys.argv[1:])
