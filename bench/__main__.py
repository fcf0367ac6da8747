"""Run every benchmark: ``python -m bench --quick`` (about 10 minutes) or ``python -m bench`` (full).

Each benchmark runs in its own process (a fresh I/O thread, a clean RSS), prints Markdown tables
with ratios against a baseline measured in the same run, and exits non-zero if it crashed. Goals
that are not met are reported in the tables, not as a failure of the run.

    .venv/bin/python -m bench [--quick] [--only ingest,fields_ingest,comm_budget,browser,chart,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ALL = ("ingest", "fields_ingest", "stores", "batch", "comm_budget", "audience", "browser", "chart",
       "adapters", "brokers", "soak", "peers", "many")
ROOT = Path(__file__).resolve().parents[1]


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
    t_all = time.monotonic()
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if a.quick else [])]
        t0 = time.monotonic()
        rc = subprocess.call(cmd, cwd=ROOT)
        print(
            f"\n[{name}: {'ok' if rc == 0 else f'exit {rc}'} in {time.monotonic() - t0:.0f} s]\n", flush=True
        )
        if rc != 0:
            failed.append(name)
    print(f"[all: {time.monotonic() - t_all:.0f} s; failed: {', '.join(failed) or 'none'}]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
