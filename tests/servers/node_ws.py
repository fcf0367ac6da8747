"""Start the Node `ws` echo server (``ws_echo_server.mjs``) for a test.

Usage::

    from tests.servers.node_ws import node_ws_server

    with node_ws_server() as url:
        ...  # ws://127.0.0.1:<port>/
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SCRIPT = Path(__file__).with_name("ws_echo_server.mjs")
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def node_ws_server(startup_timeout: float = 15.0) -> Iterator[str]:
    """Run the Node echo server on 127.0.0.1 and yield its URL; stop it on exit."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: install Node 20 to run the generic-server tests")
    if not (ROOT / "node_modules" / "ws").is_dir():
        raise RuntimeError(f"the npm package 'ws' is missing: run `npm ci` in {ROOT}")
    proc = subprocess.Popen(
        [node, str(SCRIPT)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _read_port(proc, startup_timeout)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        _terminate(proc)


def read_line(proc: subprocess.Popen[bytes], timeout: float, what: str = "the process") -> str:
    """The first line ``proc`` prints on stdout, waited for with a deadline (never a sleep)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{what} printed no line within {timeout} s, got {buffer!r}")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"{what} exited early, output {buffer!r}:\n{stderr}")
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode()


def _read_port(proc: subprocess.Popen[bytes], timeout: float) -> int:
    line = read_line(proc, timeout, "the Node ws server")
    word, _, port = line.partition(" ")
    if word != "LISTENING" or not port.isdigit():
        raise RuntimeError(f"unexpected first line from the Node ws server: {line!r}")
    return int(port)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
