"""No audience, no traffic, in JupyterLab and Chromium: the kernel publishes no comm message once the
widget's outputs are cleared, and when the widget is displayed again its view is caught up and the
traffic resumes. Counted where a front end receives it, on the kernel's iopub channel."""

from __future__ import annotations

import time
from typing import Any

from ._helpers import wait_until
from ._jupyter import add_cell, js, open_titled_notebook
from .conftest import Lab, shot

NOTEBOOK = "audience.ipynb"
SETUP = """
import os
from rt_widgets import RealtimeWidget
w = RealtimeWidget(os.environ["RT_WIDGETS_DEMO_URL"])
w
"""

COUNT = (
    "const kernel = rtwPanel().sessionContext.session.kernel;"
    "window.rtwComm = [];"
    "kernel.iopubMessage.connect((_, msg) => {"
    "  if (msg.header.msg_type === 'comm_msg') window.rtwComm.push(performance.now());"
    "});"
)


def comm_msgs_since(page: Any, seconds_ago: float) -> int:
    return int(page.evaluate(
        "(s) => window.rtwComm.filter(t => t >= performance.now() - s * 1000).length", seconds_ago))


def test_clearing_the_output_stops_the_traffic_and_displaying_again_resumes_it(
        lab: Lab, fresh_page: Any) -> None:
    page = fresh_page
    open_titled_notebook(page, lab, NOTEBOOK, "No audience, no traffic")
    page.evaluate(js(COUNT))
    add_cell(page, SETUP, "setup")
    page.locator(".rtw-status[data-status='connected']").first.wait_for()
    wait_until(lambda: comm_msgs_since(page, 2.0) > 5, 20, "no comm traffic with a view on screen")

    page.evaluate(js("await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');"))
    cleared = time.monotonic()
    assert page.locator(".rtw-explorer").count() == 0
    # Quiet within the grace period (3 s after the view's goodbye), and it stays quiet.
    wait_until(lambda: time.monotonic() - cleared > 8 and comm_msgs_since(page, 4.0) == 0, 20,
               lambda: f"{comm_msgs_since(page, 4.0)} comm messages in the last 4 s with no view")
    quiet_for = 4.0

    add_cell(page, "w", "again")
    back = time.monotonic()
    page.locator(".rtw-status[data-status='connected']").first.wait_for()
    wait_until(lambda: comm_msgs_since(page, time.monotonic() - back) > 5, 20,
               "the traffic did not resume with the view back")
    # The view shows the messages that came while nobody watched.
    count = page.locator(".rtw-overview-row[data-type='mission_update'] td.rtw-num").first
    wait_until(lambda: int((count.text_content() or "0").replace(",", "")) > 25, 20,
               "the returning view was not caught up")
    assert page.locator(".rtw-saved-banner").count() == 0
    shot(page, "audience-back")
    print(f"JupyterLab: 0 comm messages in {quiet_for:.0f} s with the output cleared; "
          f"resumed when displayed again")
