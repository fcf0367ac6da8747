"""A test server in a process of its own, on a free loopback port: started, paused (SIGSTOP: a
silent server whose sockets stay open), resumed, killed (like a crash) and restarted on the same
port. Used by the GraphQL (Node) and Socket.IO (python-socketio) tests and by ``bench.adapters``.

The process must print ``LISTENING <port>`` once bound to 127.0.0.1 and exit when its stdin
closes, so it never outlives the process that started it.

    server = ServerProcess.graphql(token="secret").start()
    server.url            # ws://127.0.0.1:<port>/graphql
    server.pause(); server.resume(); server.kill(); server.start()   # same port
    server.stop()
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from tests.servers.node_ws import read_line

ROOT = Path(__file__).resolve().parents[2]
GRAPHQL_SCRIPT = Path(__file__).with_name("graphql") / "server.mjs"
# Loopback only: never through a proxy the environment may name.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerProcess:
    """One server process; ``start()`` again after ``kill()``/``stop()`` binds the same port."""

    def __init__(self, argv: list[str], name: str, path: str = "/", port: int = 0) -> None:
        self.argv = argv
        self.name = name
        self.path = path
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    @classmethod
    def graphql(cls, token: str = "secret", keepalive_ms: int = 12_000) -> ServerProcess:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH: install Node 20 to run the GraphQL tests")
        if not (ROOT / "node_modules" / "graphql-ws").is_dir():
            raise RuntimeError(f"the npm package 'graphql-ws' is missing: run `npm ci` in {ROOT}")
        return cls([node, str(GRAPHQL_SCRIPT), "--token", token, "--keepalive", str(keepalive_ms)],
                   "the GraphQL server", "/graphql")

    @classmethod
    def socketio(cls, token: str = "secret", ping_interval: float = 25.0,
                 ping_timeout: float = 20.0, compression: bool = True) -> ServerProcess:
        return cls([sys.executable, "-m", "tests.servers.socketio_server", "--token", token,
                    "--ping-interval", str(ping_interval), "--ping-timeout", str(ping_timeout),
                    *([] if compression else ["--no-compression"])],
                   "the Socket.IO server")

    @property
    def url(self) -> str:
        """The WebSocket URL as a user gives it (for Socket.IO: no path; the adapter adds it)."""
        return f"ws://127.0.0.1:{self.port}{'' if self.path == '/' else self.path}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20.0) -> ServerProcess:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        # stderr goes to a file: a pipe nobody reads would block a chatty server once full.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _end)
        self.proc = subprocess.Popen(
            [*self.argv, "--port", str(self.port)], cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            line = read_line(self.proc, timeout, self.name)
        except BaseException as exc:
            stderr = self.stderr()
            self._end(signal.SIGKILL)
            raise RuntimeError(f"{self.name} did not start: {exc}\n{stderr}") from exc
        word, _, port = line.partition(" ")
        if word != "LISTENING" or not port.isdigit():
            self._end(signal.SIGKILL)
            raise RuntimeError(f"unexpected first line from {self.name}: {line!r}")
        self.port = int(port)
        return self

    def stderr(self) -> str:
        """What the process wrote on stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return bytes(self._stderr.read()).decode(errors="replace")

    def pause(self) -> None:
        """SIGSTOP: the process stops answering anything; its sockets stay open."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Die like a crash (SIGKILL): every connection drops with no close frame."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            proc.send_signal(sig)
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        for stream in (proc.stdin, proc.stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stderr = None

    # --- the servers' HTTP side --------------------------------------------------------------

    def get(self, path: str) -> Any:
        with _DIRECT.open(self.http + path, timeout=5) as response:
            return json.loads(response.read() or b"null")

    def post(self, path: str, body: Any) -> None:
        request = urllib.request.Request(self.http + path, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        with _DIRECT.open(request, timeout=5):
            pass

    def log(self) -> list[dict[str, Any]]:
        """What the server received, in order (see each server's docstring)."""
        result: list[dict[str, Any]] = self.get("/log")
        return result
