"""Store apply cost per row, in process (no socket): the batch apply against row-by-row, same run.

    .venv/bin/python -m bench.stores [--quick]

Workloads (decoded 10-field rows, 100 per frame, a drain every 50 frames as a frame clock would):
- **updates**: 500 keys, every row a whole row for a key the table holds (a live status board);
- **churn**: every row a new key into a table capped at 10,000 rows, so each one evicts the oldest
  (an event feed; what `bench.soak` runs).

`TableStore.queue_many` (what `LiveTable` uses for an array frame) against `TableStore.apply` per row
(the element-by-element path), both on the same decoded rows. Not one of the issue's four
benchmarks: it isolates the store from the connection and the socket.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench._util import header, median, table
from rt_widgets.stores import TableStore

FRAME = 100


def frames(workload: str, count: int) -> list[bytes]:
    out = []
    n = 0
    for _ in range(count):
        rows = []
        for _ in range(FRAME):
            n += 1
            key = n if workload == "churn" else n % 500
            rows.append({"id": key, "status": f"s{n % 5}", "progress": n / 7, "eta": n, "a": 1,
                         "b": 2.5, "c": "x", "d": n, "e": 0.1, "g": "y"})
        out.append(orjson.dumps(rows))
    return out


def batched(table_: TableStore, rows: list[dict[str, Any]]) -> None:
    table_.queue_many(rows)


def row_by_row(table_: TableStore, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        table_.apply(row)


def ns_per_row(encoded: list[bytes], feed: Callable[[TableStore, list[dict[str, Any]]], None]) -> float:
    decoded = [orjson.loads(frame) for frame in encoded]
    store = TableStore(key="id", max_rows=10_000)
    gc.collect()
    start = time.perf_counter()
    for i, rows in enumerate(decoded):
        feed(store, rows)
        if i % 50 == 49:
            store.drain()
    store.drain()
    return (time.perf_counter() - start) / (len(decoded) * FRAME) * 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.stores")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    header("bench.stores", ["bench.stores", *(argv if argv is not None else sys.argv[1:])])
    count, reps = (500, 3) if a.quick else (3000, 7)
    rows_out = []
    for workload in ("updates", "churn"):
        encoded = frames(workload, count)
        fast: list[float] = []
        slow: list[float] = []
        for _ in range(reps):  # interleaved, so a noisy neighbour hits both alike
            fast.append(ns_per_row(encoded, batched))
            slow.append(ns_per_row(encoded, row_by_row))
        f, s = median(fast), median(slow)
        rows_out.append([workload, f"{count * FRAME:,}", round(f), round(s), round(s / f, 2)])
    table(f"TableStore apply, ns per row, median of {reps}",
          ["workload", "rows", "queue_many (batch)", "apply per row (baseline)", "speed-up"], rows_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
