"""A real ipykernel driven through jupyter_client, with every iopub message recorded.

The kernel runs the venv's Python with this checkout on its path. A reader thread drains iopub
(as a front end would) and timestamps each message on arrival, so tests can say when comm
messages reached the client relative to a running cell.
"""

from __future__ import annotations

import gc
import os
import queue
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rt_widgets.sync import decode_delta

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    t: float
    msg: dict[str, Any]


class Kernel:
    def __init__(self) -> None:
        from jupyter_client import KernelManager

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(ROOT), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self._lock = threading.Lock()
        self.iopub: list[Received] = []
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="iopub-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            except Exception:  # the channel closes at shutdown
                if self._stop.is_set():
                    return
                raise
            with self._lock:
                self.iopub.append(Received(time.monotonic(), msg))

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.iopub)

    def execute_async(self, code: str) -> str:
        """Send an execute request; returns its msg_id."""
        msg_id: str = self.kc.execute(code, store_history=False)
        return msg_id

    def wait_reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no execute_reply within {timeout} s")
            try:
                reply: dict[str, Any] = self.kc.get_shell_msg(timeout=remaining)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def output(self, msg_id: str) -> str:
        return "".join(r.msg["content"].get("text", "") for r in self.messages()
                       if r.msg["parent_header"].get("msg_id") == msg_id
                       and r.msg["msg_type"] == "stream")

    def errors(self, msg_id: str) -> list[str]:
        return ["\n".join(r.msg["content"].get("traceback", [])) for r in self.messages()
                if r.msg["parent_header"].get("msg_id") == msg_id
                and r.msg["msg_type"] == "error"]

    def execute(self, code: str, timeout: float = 60) -> str:
        """Run a cell to completion; returns its stdout, fails on an error."""
        msg_id = self.execute_async(code)
        reply = self.wait_reply(msg_id, timeout)
        # The reply can overtake the last iopub messages of the cell: wait for its idle status.
        from tests.conftest import wait_until

        wait_until(lambda: self.idle_at(msg_id) is not None, 10)
        assert reply["content"]["status"] == "ok", self.errors(msg_id)
        return self.output(msg_id)

    def idle_at(self, msg_id: str) -> float | None:
        for r in self.messages():
            if (r.msg["msg_type"] == "status" and r.msg["parent_header"].get("msg_id") == msg_id
                    and r.msg["content"]["execution_state"] == "idle"):
                return r.t
        return None

    def busy_at(self, msg_id: str) -> float | None:
        for r in self.messages():
            if (r.msg["msg_type"] == "status" and r.msg["parent_header"].get("msg_id") == msg_id
                    and r.msg["content"]["execution_state"] == "busy"):
                return r.t
        return None

    def comm_msgs(self, comm_id: str) -> list[tuple[float, dict[str, Any]]]:
        """(arrival time, data) of the comm_msg messages of one comm."""
        return [(r.t, r.msg["content"]["data"]) for r in self.messages()
                if r.msg["msg_type"] == "comm_msg" and r.msg["content"].get("comm_id") == comm_id]

    def custom(self, comm_id: str, kind: str) -> list[tuple[float, dict[str, Any]]]:
        """Custom messages as the views get them (a packed delta unpacked, as js/sync.ts does)."""
        out = []
        for r in self.messages():
            content = r.msg["content"]
            if (r.msg["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id
                    and content["data"].get("method") == "custom"):
                body = decode_delta(content["data"]["content"],
                                    [bytes(b) for b in r.msg.get("buffers") or ()])
                if body.get("kind") == kind:
                    out.append((r.t, body))
        return out

    def updates(self, comm_id: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, d["state"]) for t, d in self.comm_msgs(comm_id) if d.get("method") == "update"]

    def comm_send(self, comm_id: str, data: dict[str, Any]) -> None:
        """A comm_msg from the front end to the kernel, as JupyterLab sends it."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)

    def shutdown(self) -> None:
        self._stop.set()
        self._reader.join(timeout=5)
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        # jupyter_client's channel threads leave their event loops (and self-pipe sockets) for the
        # garbage collector; collect them here, where their ResourceWarnings are not this test's.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    try:
        yield k
    finally:
        k.shutdown()
