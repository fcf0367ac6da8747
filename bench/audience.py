"""No audience, no traffic: comm messages per second a real kernel publishes for a RealtimeWidget
with a table and metrics fed 50 msg/s, while a view is on screen, after the view left (past the
grace period), and when a view returns.

A view is played by the client: the ``presence`` comm message a rendered view sends (contract.ts).

    .venv/bin/python -m bench.audience [--quick]
"""

from __future__ import annotations

import argparse
import time

from bench._util import header, table
from rt_widgets.demo import DemoServer
from rt_widgets.widgets._audience import FIRST_GRACE, GRACE
from tests.kernel.conftest import Kernel

SETUP = """
from rt_widgets import RealtimeWidget
w = RealtimeWidget({url!r})
t = w.table("mission_update")
m = w.metrics("metrics_update")
w.connection.wait_for_state("connected", timeout=20)
print(w.model_id)
"""


def rate(kernel: Kernel, start: float, end: float) -> float:
    n = sum(1 for r in kernel.messages() if r.msg["msg_type"] == "comm_msg" and start <= r.t < end)
    return n / (end - start)


def wait(seconds: float) -> tuple[float, float]:
    start = time.monotonic()
    time.sleep(seconds)  # a measurement window, not a wait for a condition
    return start, time.monotonic()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.audience")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    window = 5.0 if a.quick else 20.0
    kernel = Kernel()
    rows = []
    try:
        with DemoServer(port=0, rate=50, seed=5) as feed:
            widget = kernel.execute(SETUP.format(url=feed.url)).strip()

            def presence(lease: float) -> None:
                kernel.comm_send(widget, {"method": "custom", "content": {
                    "kind": "presence", "view": "bench", "lease": lease}})

            presence(3600)
            rows.append(("a view on screen", *wait(window)))
            presence(0)
            left = time.monotonic()
            wait(GRACE + 1.0)
            rows.append(("no view, after the grace period", *wait(window)))
            presence(3600)
            back = time.monotonic()
            rows.append(("the view returned", *wait(window)))
            first = min((r.t for r in kernel.messages() if r.msg["msg_type"] == "comm_msg"
                         and r.t >= back), default=float("nan"))
            last_silent = max((r.t for r in kernel.messages() if r.msg["msg_type"] == "comm_msg"
                               and left <= r.t < back), default=left)
    finally:
        kernel.shutdown()
    header("bench.audience", ["bench.audience", *(argv or [])])
    table("No audience, no traffic (comm messages per second, table + metrics fed 50 msg/s)",
          ["phase", "comm msgs/s"], [[name, f"{rate(kernel, s, e):.2f}"] for name, s, e in rows])
    print(f"\nlast message {last_silent - left:.2f} s after the goodbye (grace {GRACE} s; "
          f"a new widget no view claims is quiet after {FIRST_GRACE} s); "
          f"first message {first - back:.3f} s after the view returned")


if __name__ == "__main__":
    main()
