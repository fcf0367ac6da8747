"""Voilà: the quickstart notebook served as an app, in real Chromium. It renders live; with idle
culling on, the kernel is culled soon after the page closes, because a widget nobody views sends
nothing (a kernel that keeps publishing never looks idle). The feed sees the kernel's connection go."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._helpers import free_port, port_open, wait_until
from .conftest import ARTIFACTS, NOTEBOOKS, REPO, _stop_process, close_page, new_page, shot

CULL_IDLE_TIMEOUT = 10
CULL_INTERVAL = 1


@pytest.fixture
def demo() -> Iterator[Any]:
    from rt_widgets.demo import DemoServer

    with DemoServer(port=0, rate=20, seed=13) as server:
        yield server


@pytest.fixture
def voila(demo: Any, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "root"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port = free_port()
    env = dict(os.environ, RT_WIDGETS_DEMO_URL=demo.url,
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_PLATFORM_DIRS="1")
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "voila.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "quickstart.ipynb", "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
         f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT}",
         f"--MappingKernelManager.cull_interval={CULL_INTERVAL}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 60, "voila did not listen")
        assert proc.poll() is None, "voila exited; see test-artifacts/voila.log"
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop_process(proc)
        log.close()


def test_voila_renders_the_quickstart_and_culls_its_kernel_after_the_page_closes(
        voila: str, demo: Any, browser: Any) -> None:
    page = new_page(browser)
    try:
        page.goto(f"{voila}/")
        page.locator(".rtw-explorer").first.wait_for(timeout=90_000)
        page.locator(".rtw-status[data-status='connected']").first.wait_for(timeout=30_000)
        rows = page.locator(".rtw-table tbody tr")
        wait_until(lambda: rows.count() >= 5, 60, "the quickstart's table shows no rows")
        page.locator(".rtw-metric-card").first.wait_for(timeout=30_000)
        assert page.locator(".rtw-saved-banner").count() == 0
        # Every cell ran: the pandas cells too (or their message where pandas is missing).
        page.get_by_text("send: sent").first.wait_for(timeout=30_000)
        # The quickstart's views on this page get their deltas bundled (js/bus.ts hands them out).
        wait_until(lambda: page.evaluate("() => globalThis.__rtw_bus_1?.handed ?? 0") > 0, 30,
                   "no bundled delta was handed to a view")
        shot(page, "voila-quickstart")
        assert demo.clients == 1
    finally:
        closed_at = time.monotonic()
        close_page(page)
    # The kernel holds the only link to the feed: the link ends when the kernel does.
    wait_until(lambda: demo.clients == 0, CULL_IDLE_TIMEOUT + 60,
               "the kernel and its connection outlived the page")
    culled = time.monotonic() - closed_at
    wait_until(lambda: "Culling kernel" in (ARTIFACTS / "voila.log").read_text(errors="replace"), 10,
               "the server log says nothing of culling")
    print(f"voila: page closed -> kernel culled in {culled:.1f} s "
          f"(cull_idle_timeout={CULL_IDLE_TIMEOUT} s, cull_interval={CULL_INTERVAL} s)")
    assert culled < CULL_IDLE_TIMEOUT + 15
