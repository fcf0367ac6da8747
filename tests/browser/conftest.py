"""Fixtures for the browser suite: a demo feed, a JupyterLab server, Debian's Chromium.

Everything runs for real: the feed is the bundled ``DemoServer`` on a free port, JupyterLab is a
subprocess serving a temporary copy of ``notebooks/``, and the browser is ``/usr/bin/chromium``
driven by Playwright (its own browser download is never used).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._helpers import CHROMIUM, CHROMIUM_ARGS, free_port, port_open, wait_until

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"
# Playwright's default timeouts, in milliseconds; generous because the machine is small and shared.
UI_TIMEOUT_MS = 30_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# ---------------------------------------------------------------------------------------------
# Failure screenshots: every open page registers itself; a failing test photographs them all.

_OPEN_PAGES: list[Any] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when in ("setup", "call") and report.failed and _OPEN_PAGES:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])
        for i, page in enumerate(list(_OPEN_PAGES)):
            try:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{stem}-{i}.png"), full_page=True)
                log = getattr(page, "_rtw_console", [])
                (ARTIFACTS / f"FAILED-{stem}-{i}.console.txt").write_text("\n".join(log))
            except Exception:  # a crashed page cannot be photographed; the report still stands
                pass


def shot(page: Any, name: str) -> None:
    """Keep a picture of a step of a run in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def readme_pictures() -> bool:
    return os.environ.get("RT_WIDGETS_SCREENSHOTS") == "1"


# ---------------------------------------------------------------------------------------------
# The demo feed, stoppable and restartable on the same port.


class Feed:
    """A ``DemoServer`` on a fixed free port that a test can stop and start again."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.server: Any = None

    @property
    def url(self) -> str:
        # The token exercises redaction: it must never reach a trait, a saved notebook or an export.
        return f"ws://127.0.0.1:{self.port}/ws?token={self.token}"

    @property
    def running(self) -> bool:
        return self.server is not None

    def start(self, **options: Any) -> Any:
        from rt_widgets.demo import DemoServer

        if self.server is None:
            server = DemoServer(port=self.port, **options)
            server.__enter__()
            self.server = server
        return self.server

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.__exit__(None, None, None)
            wait_until(lambda: not port_open(self.port), 10, "the feed port did not close")


@pytest.fixture(scope="package")
def feed() -> Iterator[Feed]:
    f = Feed(free_port(), secrets.token_hex(8))
    f.start(rate=20)
    yield f
    f.stop()


@pytest.fixture
def running_feed(feed: Feed) -> Iterator[Feed]:
    """The session feed, restarted after a test that stopped it."""
    feed.start(rate=20)
    yield feed
    feed.start(rate=20)


# ---------------------------------------------------------------------------------------------
# JupyterLab (which also serves Notebook 7 under /notebooks/) on a copy of notebooks/.


class Lab:
    def __init__(self, base: str, token: str, root: Path, proc: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.token = token
        self.root = root
        self.proc = proc

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")


def _lab_settings(settings: Path) -> None:
    """User settings that keep the UI quiet and deterministic for a browser test."""
    files = {
        # No news or update pop-ups over the notebook (and no request to the internet).
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        # Every cell stays in the DOM, so widget views off screen are rendered and inspectable.
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, content in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="package")
def lab(feed: Feed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not NOTEBOOKS.is_dir() or not any(NOTEBOOKS.glob("*.ipynb")):
        pytest.fail("notebooks/*.ipynb are missing")
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = home / "settings"
    _lab_settings(settings)
    port = free_port()
    token = secrets.token_hex(16)
    env = dict(
        os.environ,
        RT_WIDGETS_DEMO_URL=feed.url,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "jupyterlab.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            # window.jupyterapp lets the tests run commands the way the menus do.
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Lab(f"http://127.0.0.1:{port}", token, root, proc)

    def ready() -> bool:
        if proc.poll() is not None:
            raise pytest.fail.Exception(
                f"JupyterLab exited with {proc.returncode}; see test-artifacts/jupyterlab.log"
            )
        return bool(server.api("/api/status"))

    try:
        wait_until(ready, 60, "JupyterLab did not answer /api/status")
        yield server
    finally:
        _stop_process(proc)
        log.close()


# ---------------------------------------------------------------------------------------------
# Chromium.


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser: Any, width: int = 1280, height: int = 900) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page._rtw_console = console
    _OPEN_PAGES.append(page)
    return page


def close_page(page: Any) -> None:
    if page in _OPEN_PAGES:
        _OPEN_PAGES.remove(page)
    page.context.close()


@pytest.fixture
def fresh_page(lab: Lab, browser: Any) -> Iterator[Any]:
    """A page of its own, on a server with no kernel running (closed after the failure hook)."""
    lab.shutdown_kernels()
    page = new_page(browser)
    yield page
    close_page(page)
    lab.shutdown_kernels()
