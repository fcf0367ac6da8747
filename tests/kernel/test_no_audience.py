"""No audience, no traffic, in a real kernel: a widget nobody views stops publishing comm messages
after its grace period (so the kernel looks idle and can be culled), keeps ingesting, and catches a
returning view up."""

from __future__ import annotations

import time

import pytest

from rt_widgets.demo import DemoServer
from rt_widgets.widgets._audience import FIRST_GRACE
from tests.conftest import wait_until
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
from rt_widgets import RealtimeWidget
w = RealtimeWidget({url!r})
t = w.table("mission_update")
m = w.metrics("metrics_update")
w.connection.wait_for_state("connected", timeout=20)
print(w.model_id, t.model_id)
"""


def comm_msgs_between(kernel: Kernel, start: float, end: float) -> int:
    return sum(1 for r in kernel.messages()
               if r.msg["msg_type"] == "comm_msg" and start <= r.t < end)


def test_a_widget_nobody_views_goes_quiet_and_a_returning_view_catches_up(kernel: Kernel) -> None:
    with DemoServer(port=0, rate=50, seed=2) as feed:
        created = time.monotonic()
        widget_id, table_id = kernel.execute(SETUP.format(url=feed.url)).split()
        wait_until(lambda: comm_msgs_between(kernel, created, time.monotonic()) > 5, 10)
        quiet_from = created + FIRST_GRACE + 1.0
        wait_until(lambda: time.monotonic() > quiet_from + 3.0, FIRST_GRACE + 10)
        window = time.monotonic() - quiet_from
        silent = comm_msgs_between(kernel, quiet_from, time.monotonic())
        print(f"comm messages per second with no view: {silent / window:.2f} over {window:.1f} s")
        assert silent == 0
        # The stores kept ingesting meanwhile.
        ingested = kernel.execute("print(w.connection.stats()['messages_in'], len(t.rows))").split()
        assert int(ingested[0]) > 50 * 3 and int(ingested[1]) > 0

        back = time.monotonic()
        kernel.comm_send(table_id, {"method": "custom",
                                    "content": {"kind": "presence", "view": "v", "lease": 60}})
        wait_until(lambda: [1 for t, c in kernel.custom(table_id, "live") if t > back], 10)
        wait_until(lambda: [s for t, s in kernel.updates(table_id) if t > back and "_snapshot" in s], 10)
        wait_until(lambda: [s for t, s in kernel.updates(widget_id) if t > back and "stats" in s], 10)
        wait_until(lambda: len([1 for t, _ in kernel.custom(table_id, "delta") if t > back]) > 3, 10)
