"""Run every benchmark: ``python -m bench --quick`` (under 5 minutes) or ``python -m bench`` (full).

Each benchmark runs in its own process (a fresh I/O thread, a clean RSS), prints Markdown tables
with ratios against a baseline measured in the same run, and exits non-zero if it crashed. Goals
that are not met are reported in the tables, not as a failure of the run. With ``--quick`` some
get options that shorten their own quick version further (:data:`QUICK`: fewer runs, messages or
seconds; each still prints its ratio tables), and the time of each and of all is printed.

    .venv/bin/python -m bench [--quick] [--only ingest,fields_ingest,comm_budget,browser,chart,...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ALL = ("ingest", "fields_ingest", "stores", "batch", "comm_budget", "audience", "browser", "chart",
       "adapters", "brokers", "soak", "peers", "many")
ROOT = Path(__file__).resolve().parents[1]
# What ``--quick`` adds to a benchmark's own ``--quick`` (the time they took at load 7-12 on 2
# cores before: fields_ingest 26 s, comm_budget 61, browser 130, adapters 47, brokers 122, soak 37).
QUICK: dict[str, tuple[str, ...]] = {
    "fields_ingest": ("--n", "50000"),
    # Two kernels (rt_widgets, naive) through jupyter_client; the jupyter_server path is the full run's.
    "comm_budget": ("--seconds", "3", "--only", "direct"),
    "browser": ("--rates", "10000"),  # e2e at the higher rate only, rt_widgets against naive
    "adapters": ("--reps", "2"),
    "brokers": ("--reps", "2", "--n", "30000"),
    "soak": ("--seconds", "20"),  # RSS at the end against RSS at 10 s
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench")
    p.add_argument("--quick", action="store_true", help="short versions of every benchmark")
    p.add_argument("--only", default=",".join(ALL), help="comma-separated subset of " + ", ".join(ALL))
    a = p.parse_args(argv)
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(ALL)}")
    failed: list[str] = []
    took: dict[str, float] = {}
    t_all = time.monotonic()
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}",
               *(["--quick", *QUICK.get(name, ())] if a.quick else [])]
        t0 = time.monotonic()
        rc = subprocess.call(cmd, cwd=ROOT)
        took[name] = time.monotonic() - t0
        print(f"\n[{name}: {'ok' if rc == 0 else f'exit {rc}'} in {took[name]:.0f} s]\n", flush=True)
        if rc != 0:
            failed.append(name)
    print(", ".join(f"{name} {t:.0f} s" for name, t in took.items()))
    print(f"[all: {time.monotonic() - t_all:.0f} s; failed: {', '.join(failed) or 'none'}; "
          f"load avg {' '.join(f'{x:.1f}' for x in os.getloadavg())}]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
