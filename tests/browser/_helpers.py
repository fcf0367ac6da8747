"""Deadline-bounded waiting, small network helpers and the Chromium launch settings for the
browser suite (the benchmarks under ``bench/`` use them too)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Debian's Chromium, never Playwright's own download.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], T | bool | None],
    timeout: float,
    message: str,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value  # type: ignore[return-value]
        except Exception as exc:  # the thing polled is allowed to fail until it is ready
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{message} within {timeout:.0f}s{detail}")
        time.sleep(interval)  # a short pause inside a deadline-bounded poll
