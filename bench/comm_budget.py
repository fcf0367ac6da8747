"""Comm budget: what reaches a notebook client when a widget is fed 20,000 msg/s.

Two paths from a real ipykernel to a client, each with two widgets fed by the same paced feed
(``bench._feed`` in its own process, one message per frame):

- direct: ``jupyter_client.KernelManager``; the client reads iopub over ZMQ (no rate limiter).
- server: a ``jupyter server`` subprocess with its default IOPub limits (1000 msg/s over 3 s); the
  kernel is opened over REST and its channels over the websocket, read with the ``websockets``
  client.

Approaches:

- rt_widgets: ``RealtimeWidget(url)`` (the explorer), ``.table("mission_update", key="id")``,
  ``.metrics(...)`` and ``.chart(...)``; the frame clock batches every message into at most ``fps``
  deltas per second.
- naive: a plain ipywidgets widget with one synced-trait update per WebSocket message, set from an
  ordinary handler (a ``websockets`` sync client on a thread).

The kernel counts every ``comm_msg`` it publishes (a wrapper on ``publish_msg``); the client counts
what it receives. For rt_widgets the client also rebuilds the table from the snapshot and the deltas
it received and compares it with the feed's final state.

Bytes: what each widget's comm messages weigh on the wire (the compact JSON of the message content
plus its binary buffers on the direct path, the websocket frame through the server), per widget and
per top-level field. Against them a lower bound, computed in the client per frame: the JSON size of
the cells that changed (a table row: its key and the values that differ from what the client held;
a trait: its leaves that changed, a list that shifted by its new elements) plus the numbers of the
new metric and chart points (each value, each distinct time once). Snapshots add nothing to it.

    .venv/bin/python -m bench.comm_budget [--quick] [--rate 20000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson

from bench._feed import Feed, final_table
from bench._util import header, table
from rt_widgets.sync import decode_delta
from tests.browser._helpers import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs first in every kernel: count comm messages at the source.
PRELUDE = """
import ipykernel.comm.comm as _bc
_bench_sent = {"comm_msg": 0}
_bench_pub = _bc.BaseComm.publish_msg
def _bench_publish(self, msg_type, *a, **k):
    if msg_type == "comm_msg":
        _bench_sent["comm_msg"] += 1
    return _bench_pub(self, msg_type, *a, **k)
_bc.BaseComm.publish_msg = _bench_publish
"""

RT_CODE = """
from rt_widgets import RealtimeWidget
_w = RealtimeWidget({url!r}, heartbeat_interval=60.0)
_t = _w.table("mission_update", key="id", max_rows=10_000)
_m = _w.metrics("metrics_update")
_c = _w.chart("metrics_update")
display(_w, _t, _m, _c)
# A view on screen for the whole run (with none the widgets send nothing: bench/audience.py).
from rt_widgets import iothread as _io
_io.call_soon(_w._rtw_presence, "bench-view", 3600.0)
"""

RT_CHECK = """
import orjson as _oj
from bench._feed import final_table as _ft
_bench_ok = ({{r["id"]: r for r in _t.rows}} == _ft({total}))
"""

NAIVE_CODE = """
import threading, orjson, ipywidgets, traitlets
from websockets.sync.client import connect as _connect

class NaiveLast(ipywidgets.DOMWidget):
    value = traitlets.Dict().tag(sync=True)

_nw = NaiveLast()
display(_nw)
_naive = {{"messages": 0, "stop": False}}

def _naive_run():
    with _connect({url!r}, max_size=None, compression=None) as ws:
        for frame in ws:
            msg = orjson.loads(frame)
            for m in (msg if isinstance(msg, list) else [msg]):
                _nw.value = {{"seq": m["seq"], **m["payload"]}}
                _naive["messages"] += 1
            if _naive["stop"]:
                break

_naive_thread = threading.Thread(target=_naive_run, daemon=True)
_naive_thread.start()
"""


class Tally:
    """What the client received on iopub, and the table rebuilt from rt_widgets deltas."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.comm_msgs = 0
        self.comm_bytes = 0
        self.per_comm: dict[str, int] = defaultdict(int)
        self.views: dict[str, str] = {}
        self.rate_warnings = 0
        self.iopub_total = 0
        self.first_comm: float | None = None
        self.last_comm: float | None = None
        self.tables: dict[str, dict[str, Any]] = {}  # comm_id -> {"seq", "rows", "gaps"}
        self.bytes_by: dict[str, int] = defaultdict(int)  # view -> bytes
        self.field_bytes: dict[tuple[str, str], int] = defaultdict(int)  # (view, field) -> bytes
        self.lower: dict[str, int] = defaultdict(int)  # view -> lower-bound bytes
        self.cells: dict[str, int] = defaultdict(int)  # view -> changed cells / points
        self.held: dict[str, dict[str, Any]] = {}  # comm_id -> trait state the client holds

    def on_iopub(self, msg: dict[str, Any], nbytes: int) -> None:
        mt = msg["header"]["msg_type"]
        content = msg.get("content") or {}
        with self.lock:
            self.iopub_total += 1
            if mt == "stream" and "iopub_msg_rate_limit" in content.get("text", ""):
                self.rate_warnings += 1
            elif mt == "comm_open":
                state = (content.get("data") or {}).get("state") or {}
                cid = content["comm_id"]
                self.views[cid] = str(state.get("_view", state.get("_model_name", "?")))
                self.held[cid] = dict(state)
                snap = state.get("_snapshot")
                if isinstance(snap, dict) and self.views[cid] == "table":
                    self._table_snapshot(cid, snap)
            elif mt == "comm_msg":
                now = time.monotonic()
                self.first_comm = self.first_comm or now
                self.last_comm = now
                self.comm_msgs += 1
                self.comm_bytes += nbytes
                cid = content["comm_id"]
                self.per_comm[cid] += 1
                view = self.views.get(cid, "?")
                self.bytes_by[view] += nbytes
                raw = content.get("data") or {}
                buffers = msg.get("buffers") or []
                self._fields(view, raw, sum(len(b) for b in buffers))
                data = decode_data(raw, buffers)
                self._account(cid, view, data)
                if view == "table":
                    self._table_msg(cid, data)

    def _fields(self, view: str, data: dict[str, Any], buffer_bytes: int) -> None:
        """Wire bytes per top-level field (and of the binary buffers) of one message."""
        method = data.get("method")
        body = (data.get("state") or {}) if method == "update" else (data.get("content") or {})
        prefix = "update." if method == "update" else f"{body.get('kind', '?')}."
        for name, value in body.items():
            self.field_bytes[(view, prefix + name)] += _size(value) + len(name) + 3
        if buffer_bytes:
            self.field_bytes[(view, prefix + "(buffers)")] += buffer_bytes

    def _account(self, cid: str, view: str, data: dict[str, Any]) -> None:
        """The lower bound of one message, as the view gets it (before the table applies it)."""
        method = data.get("method")
        body = (data.get("state") or {}) if method == "update" else (data.get("content") or {})
        if method == "update":
            held = self.held.setdefault(cid, {})
            for name, value in body.items():
                if name != "_snapshot":  # a snapshot carries nothing the view did not have
                    b, n = _changed(held.get(name), value)
                    self.lower[view] += b
                    self.cells[view] += n
                held[name] = value
        elif body.get("kind") == "delta":
            b, n = _delta_bound(view, body, self.tables.get(cid))
            self.lower[view] += b
            self.cells[view] += n

    def _table_snapshot(self, cid: str, snap: dict[str, Any]) -> None:
        t = self.tables.setdefault(cid, {"seq": -1, "rows": {}, "gaps": 0, "key": "id"})
        if snap.get("seq", -1) >= t["seq"] and "rows" in snap:
            key = snap.get("key") or t["key"]
            t.update(seq=snap["seq"], key=key, rows={r[key]: dict(r) for r in snap["rows"]})

    def _table_msg(self, cid: str, data: dict[str, Any]) -> None:
        if data.get("method") == "update":
            snap = (data.get("state") or {}).get("_snapshot")
            if isinstance(snap, dict):
                self._table_snapshot(cid, snap)
        elif data.get("method") == "custom":
            c = data.get("content") or {}
            if c.get("kind") == "snapshot":
                self._table_snapshot(cid, c)
            elif c.get("kind") == "delta":
                t = self.tables.setdefault(cid, {"seq": 0, "rows": {}, "gaps": 0, "key": "id"})
                if c["seq"] <= t["seq"]:
                    return
                if c["seq"] != t["seq"] + 1:
                    t["gaps"] += 1
                t["seq"] = c["seq"]
                rows, key = t["rows"], t["key"]
                if c.get("clear"):
                    rows.clear()
                for k in c.get("delete") or ():
                    rows.pop(k, None)
                for r in c.get("upsert") or ():
                    rows.setdefault(r[key], {}).update(r)


def _size(value: Any) -> int:
    return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str))


def _changed(old: Any, new: Any) -> tuple[int, int]:
    """(JSON bytes, count) of the leaves of ``new`` that differ from ``old``; a list shifted
    left by k (a trend line that moved on) counts its last k elements only."""
    if old == new:
        return 0, 0
    if isinstance(new, dict):
        old_d = old if isinstance(old, dict) else {}
        b = n = 0
        for k, v in new.items():
            cb, cn = _changed(old_d.get(k), v)
            if cn:
                b, n = b + cb + (0 if k in old_d else _size(k)), n + cn
        return b, n
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old) and new:
        for k in range(1, len(new)):
            if new[:-k] == old[k:]:
                return sum(map(_size, new[-k:])), k
        diff = [v for v, o in zip(new, old, strict=True) if v != o]
        return sum(map(_size, diff)), len(diff)
    return _size(new), 1


def _delta_bound(view: str, delta: dict[str, Any], table: dict[str, Any] | None) -> tuple[int, int]:
    """(JSON bytes, cells) a delta cannot do without: changed cells, new points' numbers."""
    b = n = 0
    if view == "table":
        rows = table["rows"] if table else {}
        key = table["key"] if table else "id"
        for r in delta.get("upsert") or ():
            held = rows.get(r.get(key)) or {}
            changed = [v for f, v in r.items() if f != key and (f not in held or held[f] != v)]
            if changed or not held:
                b += _size(r.get(key)) + sum(map(_size, changed))
                n += len(changed)
        for k in delta.get("delete") or ():
            b, n = b + _size(k), n + 1
    elif view == "metrics":
        times: set[float] = set()
        for points in (delta.get("append") or {}).values():
            for t, v in points:
                times.add(t)
                b, n = b + _size(v), n + 1
        b += sum(map(_size, times))
    elif view == "chart":
        times = set()
        for col in delta.get("append") or ():
            times.update(col.get("t") or ())
            b, n = b + sum(map(_size, col["v"])), n + len(col["v"])
        b += sum(map(_size, times)) + sum(map(_size, delta.get("series") or ()))
    return b, n


def decode_data(data: dict[str, Any], buffers: list[Any]) -> dict[str, Any]:
    """A comm message's data as the views see it (after the sync layer's codec, if any)."""
    if data.get("method") != "custom":
        return data
    return {**data, "content": decode_delta(data.get("content"), [bytes(b) for b in buffers])}


# -- direct kernel (jupyter_client) ----------------------------------------------------------


class DirectKernel:
    name = "direct (jupyter_client)"

    def __init__(self) -> None:
        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.tally = Tally()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            # What the kernel put on the wire: compact JSON (its session packs with orjson).
            nbytes = len(orjson.dumps(msg["content"], default=str)) + sum(
                len(b) for b in msg.get("buffers") or ()
            )
            self.tally.on_iopub(msg, nbytes)

    def execute(self, code: str, expressions: dict[str, str] | None = None) -> dict[str, Any]:
        msg_id = self.kc.execute(code, user_expressions=expressions or {}, store_history=False)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reply = self.kc.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = reply["content"]
                if content["status"] != "ok":
                    raise RuntimeError(
                        f"kernel error: {content.get('ename')}: {content.get('evalue')}"
                    )
                return content
        raise TimeoutError("no execute_reply")

    def close(self) -> None:
        self._stop.set()
        self._reader.join(2)
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


# -- jupyter_server ----------------------------------------------------------------------------


class JupyterServer:
    """A ``jupyter server`` subprocess with default IOPub rate limits."""

    def __init__(self, app: str = "jupyter_server", extra: list[str] | None = None) -> None:
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.dir = tempfile.mkdtemp(prefix="rtw-bench-")
        self.log = open(os.path.join(self.dir, "server.log"), "w+")  # noqa: SIM115
        env = dict(os.environ, PYTHONPATH=ROOT, JUPYTER_PLATFORM_DIRS="1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                app,
                "--no-browser",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={ROOT}",
                "--ServerApp.port_retries=0",
                "--allow-root",
                *(extra or []),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                self.request("GET", "/api/status")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter server did not start; log: {self.log_text()}"
                    ) from None
                time.sleep(0.2)

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-3000:]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _decode_ws(frame: str | bytes) -> dict[str, Any]:
    if isinstance(frame, str):
        msg: dict[str, Any] = json.loads(frame)
        return msg
    # Legacy binary framing: nbufs, offsets, then the JSON message and its buffers.
    nbufs = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 + 4 * i : 8 + 4 * i], "big") for i in range(nbufs)]
    offsets.append(len(frame))
    msg = json.loads(frame[offsets[0] : offsets[1]])
    msg["buffers"] = [frame[offsets[i] : offsets[i + 1]] for i in range(1, nbufs)]
    return msg


class ServerKernel:
    name = "jupyter_server (default IOPub limits)"

    def __init__(self, server: JupyterServer) -> None:
        self.server = server
        self.kernel_id = server.request("POST", "/api/kernels", {"name": "python3"})["id"]
        self.session = uuid.uuid4().hex
        self.tally = Tally()
        self.loop = asyncio.new_event_loop()
        self._replies: dict[str, Any] = {}
        self._reply_cv = threading.Condition()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self.loop)
        if not self._connected.wait(60):
            raise RuntimeError("kernel websocket did not open")
        # The kernel is ready when it answers.
        self.execute("1")

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        url = (
            f"ws://127.0.0.1:{self.server.port}/api/kernels/{self.kernel_id}/channels"
            f"?session_id={self.session}"
        )
        async with connect(
            url,
            additional_headers={"Authorization": f"token {self.server.token}"},
            max_size=None,
            ping_interval=None,
        ) as ws:
            self.ws = ws
            self._connected.set()
            async for frame in ws:
                msg = _decode_ws(frame)
                ch = msg.get("channel")
                if ch == "iopub":
                    self.tally.on_iopub(msg, len(frame))
                elif ch == "shell":
                    with self._reply_cv:
                        self._replies[msg["parent_header"].get("msg_id")] = msg
                        self._reply_cv.notify_all()

    def execute(self, code: str, expressions: dict[str, str] | None = None) -> dict[str, Any]:
        msg_id = uuid.uuid4().hex
        msg = {
            "header": {
                "msg_id": msg_id,
                "username": "bench",
                "session": self.session,
                "msg_type": "execute_request",
                "version": "5.3",
                "date": datetime.now(UTC).isoformat(),
            },
            "parent_header": {},
            "metadata": {},
            "channel": "shell",
            "buffers": [],
            "content": {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": expressions or {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        }
        asyncio.run_coroutine_threadsafe(self.ws.send(json.dumps(msg)), self.loop).result(10)
        with self._reply_cv:
            if not self._reply_cv.wait_for(lambda: msg_id in self._replies, 120):
                raise TimeoutError("no execute_reply")
            content: dict[str, Any] = self._replies.pop(msg_id)["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"kernel error: {content.get('ename')}: {content.get('evalue')}")
        return content

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.ws.close(), self.loop).result(5)
        with contextlib.suppress(Exception):
            self._task.result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        with contextlib.suppress(Exception):
            self.server.request("DELETE", f"/api/kernels/{self.kernel_id}")


# -- one run -----------------------------------------------------------------------------------


def run_one(
    kernel: Any, feed: Feed, approach: str, rate: float, seconds: float, sessions: int
) -> dict[str, Any]:
    kernel.execute(PRELUDE)
    url = feed.url(f"/paced?rate={rate:g}&seconds={seconds:g}&batch=1")
    t0 = time.monotonic()
    kernel.execute((RT_CODE if approach == "rt_widgets" else NAIVE_CODE).format(url=url))
    _, total, _, feed_s = feed.wait_done(sessions, timeout=seconds + 120)
    # Let the kernel finish what it has in hand (the naive handler may lag far behind), bounded.
    drain_deadline = time.monotonic() + (10 if approach == "rt_widgets" else 20)
    processed = -1
    while time.monotonic() < drain_deadline:
        if approach == "rt_widgets":
            r = kernel.execute(
                "", {"n": "_w.stats['messages_in'] if isinstance(_w.stats, dict) else -1"}
            )
        else:
            r = kernel.execute("", {"n": "_naive['messages']"})
        processed = int(r["user_expressions"]["n"]["data"]["text/plain"])
        if processed >= total:
            break
        time.sleep(0.25)
    # The frame clock's last flush, then the iopub stream catching up with the kernel.
    time.sleep(1.0)
    span = time.monotonic() - t0
    if approach == "naive":
        kernel.execute("_naive['stop'] = True")
    result: dict[str, Any] = {"total": total, "feed_s": feed_s, "processed": processed}
    if approach == "rt_widgets":
        r = kernel.execute(RT_CHECK.format(total=total), {"ok": "_bench_ok"})
        result["kernel_state_ok"] = r["user_expressions"]["ok"]["data"]["text/plain"] == "True"
    r = kernel.execute("", {"sent": "_bench_sent['comm_msg']"})
    sent = int(r["user_expressions"]["sent"]["data"]["text/plain"])
    # Wait (bounded) until the client has seen what the kernel published, or it stops arriving.
    deadline = time.monotonic() + 10
    last = -1
    while time.monotonic() < deadline:
        with kernel.tally.lock:
            now = kernel.tally.comm_msgs
        if now >= sent or now == last:
            break
        last = now
        time.sleep(0.5)
    t = kernel.tally
    with t.lock:
        result.update(
            sent=sent,
            received=t.comm_msgs,
            bytes=t.comm_bytes,
            rate_warnings=t.rate_warnings,
            per_comm={t.views.get(c, "?"): n for c, n in t.per_comm.items()},
            bytes_by=dict(t.bytes_by),
            field_bytes=dict(t.field_bytes),
            lower=dict(t.lower),
            cells=dict(t.cells),
        )
        active = max(1e-9, (t.last_comm or 0) - (t.first_comm or 0))
        result["active_s"] = active
        result["span_s"] = span
        if approach == "rt_widgets":
            want = final_table(total)
            tables = [v for v in t.tables.values()]
            got = tables[0]["rows"] if tables else {}
            result["client_state_ok"] = got == want
            result["gaps"] = sum(v["gaps"] for v in tables)
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.comm_budget")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rate", type=float, default=20_000)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--only", choices=("direct", "server"), default=None)
    p.add_argument("--approach", choices=("rt_widgets", "naive"), default=None)
    a = p.parse_args(argv)
    seconds = a.seconds or (5.0 if a.quick else 30.0)
    header("bench.comm_budget", ["bench.comm_budget", *(argv or [])])
    rows: list[list[Any]] = []
    byte_rows: list[list[Any]] = []
    field_rows: list[list[Any]] = []
    sessions = 0
    with Feed() as feed:
        server = None if a.only == "direct" else JupyterServer()
        try:
            for where in ("direct", "server"):
                if a.only and a.only != where:
                    continue
                for approach in ("rt_widgets", "naive"):
                    if a.approach and a.approach != approach:
                        continue
                    kernel: Any = DirectKernel() if where == "direct" else ServerKernel(server)
                    try:
                        # The feed's next session (one that did not finish may never report).
                        sessions = len(feed.done) + 1
                        r = run_one(kernel, feed, approach, a.rate, seconds, sessions)
                    except TimeoutError as exc:  # the other runs' rows still count
                        print(where, approach, "did not finish:", exc, flush=True)
                        rows.append([kernel.name, approach, f"did not finish: {exc}",
                                     *[""] * 10])
                        continue
                    finally:
                        kernel.close()
                    print(where, approach, {k: v for k, v in r.items() if k != "field_bytes"},
                          flush=True)
                    if approach == "rt_widgets":
                        byte_rows.extend(_byte_rows(kernel.name, r, a.rate))
                        field_rows.extend(_field_rows(kernel.name, r))
                    lost = r["sent"] - r["received"]
                    per_widget = ", ".join(
                        f"{v}: {n / r['feed_s']:.1f}/s" for v, n in sorted(r["per_comm"].items())
                    )
                    state = (
                        "n/a"
                        if approach == "naive"
                        else f"kernel {'ok' if r['kernel_state_ok'] else 'DIFFERS'}, client "
                        f"{'ok' if r['client_state_ok'] else 'DIFFERS'} (gaps {r['gaps']})"
                    )
                    rows.append(
                        [
                            kernel.name,
                            approach,
                            f"{r['total']:,} in {r['feed_s']:.1f} s",
                            r["processed"],
                            r["sent"],
                            r["received"],
                            lost,
                            f"{100 * lost / max(1, r['sent']):.1f}%",
                            r["bytes"],
                            r["received"] / r["feed_s"],
                            per_widget,
                            r["rate_warnings"],
                            state,
                        ]
                    )
        finally:
            if server is not None:
                server.close()
    table(
        f"comm budget: feed {a.rate:,.0f} msg/s for {seconds:g} s (goal: <= 100 comm msg/s "
        "per kernel, no loss, final state identical)",
        [
            "path",
            "approach",
            "feed sent",
            "kernel handled",
            "comm_msg sent",
            "comm_msg received",
            "lost",
            "lost %",
            "bytes received",
            "comm msg/s (over feed time)",
            "per widget",
            "rate-limit warnings",
            "final table state",
        ],
        rows,
    )
    if byte_rows:
        table(
            f"comm bytes at {a.rate:,.0f} msg/s: explorer + table + metrics + chart (goal: "
            f"<= {GOAL_MB_S} MB/s in all, within {GOAL_RATIO:g}x of the lower bound)",
            ["path", "widget", "comm msg/s", "MB/s", "bytes per changed cell",
             "lower bound per cell", "ratio to lower bound", "lower bound MB/s", "goal", "met"],
            byte_rows,
        )
        table("where the bytes go (rt_widgets, by widget and top-level field)",
              ["path", "widget", "field", "MB/s", "share"], field_rows)


GOAL_MB_S = 0.3
GOAL_RATIO = 2.0


def _byte_rows(path: str, r: dict[str, Any], rate: float) -> list[list[Any]]:
    """Per widget and in all: bytes/s, bytes per changed cell, the lower bound and the ratio."""
    secs = r["feed_s"]
    out: list[list[Any]] = []
    views = sorted(r["bytes_by"])
    for view in [*views, "all"]:
        if view == "all":
            nbytes, lower = r["bytes"], sum(r["lower"].values())
            cells, msgs = sum(r["cells"].values()), r["received"]
        else:
            nbytes, lower = r["bytes_by"][view], r["lower"].get(view, 0)
            cells, msgs = r["cells"].get(view, 0), r["per_comm"].get(view, 0)
        mb_s = nbytes / secs / 1e6
        ratio = nbytes / lower if lower else float("nan")
        if view == "all":
            goal = f"<= {GOAL_MB_S} MB/s, <= {GOAL_RATIO:g}x"
            met = "yes" if mb_s <= GOAL_MB_S and ratio <= GOAL_RATIO else "no"
        else:
            goal = met = ""
        out.append([path, view, msgs / secs, f"{mb_s:.3f}",
                    nbytes / cells if cells else float("nan"),
                    lower / cells if cells else float("nan"), f"{ratio:.2f}x",
                    f"{lower / secs / 1e6:.3f}", goal, met])
    return out


def _field_rows(path: str, r: dict[str, Any]) -> list[list[Any]]:
    secs = r["feed_s"]
    total = max(1, sum(r["field_bytes"].values()))
    ranked = sorted(r["field_bytes"].items(), key=lambda kv: -kv[1])
    return [[path, view, field, f"{n / secs / 1e6:.3f}", f"{100 * n / total:.1f}%"]
            for (view, field), n in ranked if n * 200 >= total]


if __name__ == "__main__":
    main(sys.argv[1:])
