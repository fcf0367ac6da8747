"""Run the demo: the bundled feed plus JupyterLab on the quickstart notebook.

``python -m rt_widgets.demo.lab`` (what ``make demo`` runs) starts the demo feed on
127.0.0.1:8765 in a subprocess, or reuses a feed already listening there, then JupyterLab
on ``notebooks/quickstart.ipynb``, and stops the feed it started when JupyterLab exits.

The notebooks call :func:`demo_url` to find a feed: the one named by ``RT_WIDGETS_DEMO_URL``
(set here for the kernels JupyterLab starts), else one answering on 127.0.0.1:8765, else a
feed started inside the kernel for the notebook's lifetime.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ENV_URL", "demo_url", "lab_command", "main", "running_feed"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
ENV_URL = "RT_WIDGETS_DEMO_URL"

# Feeds started by demo_url() inside a kernel; kept referenced so they live as long as the kernel.
_local_feeds: list[Any] = []


def _port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _feed_answers(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` completes a WebSocket handshake (an open TCP port is not enough)."""
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=timeout, close_timeout=0.2, max_queue=None):
            return True
    except Exception:
        return False


def demo_url(*, rate: float | None = None) -> str:
    """Return the URL of a running demo feed, starting one in this process if none answers.

    >>> from rt_widgets.demo.lab import demo_url
    >>> url = demo_url()          # e.g. "ws://127.0.0.1:8765/ws"  # doctest: +SKIP

    Order: ``$RT_WIDGETS_DEMO_URL`` when set; a feed already answering on 127.0.0.1:8765
    (``make demo`` or ``python -m rt_widgets.demo``); else a feed on a free port, started once
    per process and reused by later calls. ``rate`` (messages per second) applies only to a
    feed started here.
    """
    env = os.environ.get(ENV_URL)
    if env:
        return env
    if _local_feeds:
        return str(_local_feeds[0].url)
    default = f"ws://{DEFAULT_HOST}:{DEFAULT_PORT}/ws"
    if _port_open(DEFAULT_HOST, DEFAULT_PORT) and _feed_answers(default):
        return default
    from rt_widgets.demo import DemoServer

    options: dict[str, Any] = {"port": 0}
    if rate is not None:
        options["rate"] = rate
    feed = DemoServer(**options).start()
    _local_feeds.append(feed)
    return str(feed.url)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the demo feed exited with code {proc.returncode} before listening on "
                f"{host}:{port}; run `python -m rt_widgets.demo --port {port}` to see why"
            )
        if _port_open(host, port):
            return
        time.sleep(0.05)  # a short pause inside a deadline-bounded poll
    raise RuntimeError(
        f"the demo feed did not listen on {host}:{port} within the deadline; "
        f"is another program holding the port?"
    )


@contextlib.contextmanager
def running_feed(
    port: int = DEFAULT_PORT,
    *,
    timeout: float = 15.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[str]:
    """Yield the URL of a demo feed on 127.0.0.1:``port``, started in a subprocess if needed.

    A feed already listening there is reused and left running; one started here is stopped
    on exit.
    """
    url = f"ws://{DEFAULT_HOST}:{port}/ws"
    if _port_open(DEFAULT_HOST, port):
        if not _feed_answers(url):
            raise RuntimeError(
                f"127.0.0.1:{port} is taken by something that is not a demo feed; "
                f"stop it or pass --port with a free port"
            )
        print(f"rt_widgets: reusing the demo feed already running at {url}", flush=True)
        yield url
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_widgets.demo", "--port", str(port)], env=env, cwd=cwd
    )
    try:
        _wait_for_port(DEFAULT_HOST, port, proc, time.monotonic() + timeout)
        print(f"rt_widgets: demo feed running at {url}", flush=True)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _has_display() -> bool:
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _repo_root() -> Path:
    """The directory holding ``notebooks/quickstart.ipynb``: the working dir or the checkout."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "notebooks" / "quickstart.ipynb").is_file():
            return candidate
    raise SystemExit(
        "rt_widgets: notebooks/quickstart.ipynb not found; run this from a checkout of the "
        "rt_widgets repository (the notebooks are not part of the installed package)"
    )


def lab_command(root: Path, notebook: str, *, open_browser: bool) -> list[str]:
    """The JupyterLab command line: normal token auth, ``root`` as the root directory."""
    command = [sys.executable, "-m", "jupyter", "lab", notebook, f"--ServerApp.root_dir={root}"]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers often run as root; Jupyter refuses that unless told it is deliberate.
        command.append("--allow-root")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rt_widgets.demo.lab",
        description="Start the rt_widgets demo feed and JupyterLab on the quickstart notebook.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="demo feed port (8765)")
    parser.add_argument("--notebook", default="notebooks/quickstart.ipynb", help="notebook to open")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    args = parser.parse_args(argv)

    if not _module_available("jupyterlab"):
        raise SystemExit(
            "rt_widgets: JupyterLab is not installed; `pip install jupyterlab` and run again"
        )
    root = _repo_root()
    open_browser = _has_display() and not args.no_browser
    # The kernels and the feed import rt_widgets from this checkout, installed or not.
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    with running_feed(args.port, env=env, cwd=root) as url:
        env[ENV_URL] = url
        lab = subprocess.Popen(
            lab_command(root, args.notebook, open_browser=open_browser), cwd=root, env=env
        )
        # A plain `kill` of the launcher must not leave JupyterLab and the feed behind; nor a
        # Ctrl-C when a shell started it with SIGINT ignored (as it starts background jobs).
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return lab.wait()
        except KeyboardInterrupt:
            # JupyterLab got the same Ctrl-C and would ask for confirmation; SIGTERM makes it
            # shut its kernels down without asking.
            _stop(lab, timeout=15.0)
            return 130
        except SystemExit:
            _stop(lab, timeout=15.0)
            raise


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _module_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
