"""Side by side with Perspective: one paced feed, the same JupyterLab and Chromium, interleaved runs.

The feed (``bench._feed``'s messages, from a feed process of this module that sends until its client
goes): 20,000 msg/s, one message per frame, three in four keyed ``mission_update`` upserts over
10,000 ids (the rest ``metrics_update``), each mission row stamped with its send time (``sent``:
``"T<epoch ms>"``). Two notebooks, run one after the other in fresh kernels (a, b, a, b, ...):

- rt_widgets: ``RealtimeWidget(url).table("mission_update", key="id")`` displayed (the explorer on,
  as by default).
- Perspective (perspective-python 5.x): ``perspective.table(schema, index="id")`` shown with its own
  ``PerspectiveWidget``, fed by a ``websockets`` sync client on a thread that parses each frame with
  orjson and calls ``table.update(rows)`` with the rows of every 50 ms (its streaming pattern).

Both views show the same twelve columns, ``sent`` first; the cell's source is collapsed, so the
view is on screen. Measured over a window of ``--seconds`` that opens ``--warm`` seconds after the
first value reached the screen:

- kernel CPU per message: the kernel's process CPU time (``time.process_time`` read by a reporter
  thread in the kernel every 250 ms) over the messages its client decoded in the same interval;
- comm bytes/s: every ``comm_msg`` the kernel publishes, counted at ``BaseComm.publish_msg``
  (the JSON of its data + its binary buffers);
- browser main-thread busy time per second: CDP ``Performance.getMetrics`` ``TaskDuration`` (and
  ``ScriptDuration``) deltas over the window's wall time;
- socket-to-screen latency: a MutationObserver on the page and on every shadow root under it
  (Perspective's datagrid renders inside ``perspective-viewer-datagrid``'s and ``regular-table``'s
  shadow roots) records ``Date.now() - sent`` the first time a table cell shows a new ``sent``
  stamp for a row (the row id read from the same ``<tr>``): the DOM is updated; paint follows
  within a frame. Both views render only their visible rows, so samples come from those rows.

    .venv/bin/python -m bench.peers [--quick] [--pairs 3] [--seconds 20] [--no-explore] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from bench._feed import _frame_header, message
from bench._util import header, median, percentile, table
from bench.browser import PANEL, LabServer, chromium

ROOT = Path(__file__).resolve().parents[1]
RATE = 20_000
KEYS = 10_000
COLUMNS = ["sent", "id", "name", "status", "progress", "lat", "lon", "alt_m", "battery", "crew",
           "region", "rev"]

# -- the feed process ------------------------------------------------------------------------
# ``python -m bench.peers --serve`` prints ``PORT <n>``; each session sends until its client goes
# (or ``seconds``), so a measuring window of any length sees a steady feed and a kernel shut down
# ends its session. Paths:
# - ``/mission?rate=20000&keys=10000``: ``bench._feed.message`` one per frame, every mission row
#   stamped with its send time (what ``bench._feed``'s ``/paced?stamp=1`` sends).
# - ``/many?rate=1000``: the 50 types of ``bench.many`` (:func:`view_types`), ``rate`` messages
#   per second each, in JSON arrays of up to 100 messages.

TABLES, METRICS, CHARTS = 20, 15, 15
TABLE_KEYS = 100
FRAME = 100  # messages per frame at most (/many)


def view_types() -> list[str]:
    return ([f"tab{i:02d}" for i in range(TABLES)] + [f"met{i:02d}" for i in range(METRICS)]
            + [f"cht{i:02d}" for i in range(CHARTS)])


def _many_payload(kind: str, n: int) -> dict[str, Any]:
    if kind == "tab":
        return {"id": f"k{n % TABLE_KEYS:03d}", "v": n, "x": (n * 37 % 1000) / 10,
                "state": ("a", "b", "c")[n % 3]}
    if kind == "met":
        return {"a": (n * 37 % 1000) / 10, "b": n * 7 % 10000, "c": (n * 13 % 500) / 10}
    return {"y": (n * 13 % 1000) / 10}


def _frames(path: str, sent: int, due: int, keys: int) -> list[bytes]:
    now = datetime.now(UTC)
    ts = now.isoformat()
    if path == "/mission":
        stamp = f"T{int(now.timestamp() * 1000)}"
        return [orjson.dumps(message(i, ts, keys, stamp)) for i in range(sent, due)]
    msgs = [{"type": t, "payload": _many_payload(t[:3], n), "timestamp": ts}
            for n in range(sent, due) for t in view_types()]
    return [orjson.dumps(msgs[i:i + FRAME]) for i in range(0, len(msgs), FRAME)]


async def _session(ws: Any) -> None:
    url = urlsplit(ws.request.path)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    rate = float(q.get("rate", RATE))
    total = int(rate * float(q.get("seconds", 600)))
    keys = int(q.get("keys", KEYS))
    transport = ws.transport
    sent = 0
    t0 = time.monotonic()
    while sent < total and not transport.is_closing():
        due = min(total, int((time.monotonic() - t0) * rate))
        if due > sent:
            # Text frames written straight to the transport (unmasked, FIN set: RFC 6455 5.2).
            chunk = b"".join(_frame_header(len(f)) + f for f in _frames(url.path, sent, due, keys))
            try:
                transport.write(chunk)
            except RuntimeError:  # the client closed: write() after write_eof()
                break
            sent = due
            while transport.get_write_buffer_size() > 4 << 20 and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.001)
    with contextlib.suppress(Exception):
        await ws.wait_closed()


async def _serve() -> None:
    from websockets.asyncio.server import serve

    async with serve(_session, "127.0.0.1", 0, compression=None, max_size=None,
                     ping_interval=None) as server:
        print(f"PORT {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextlib.contextmanager
def paced_feed() -> Iterator[Any]:
    """The feed process while the block runs; ``.port`` is where it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.peers", "--serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"feed process did not start: {line!r}")
        yield SimpleNamespace(port=int(line.split()[1]))
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the notebooks and the page --------------------------------------------------------------

# Runs first in every kernel: comm messages and bytes counted at the source, and a reporter
# thread writing the kernel's CPU time, messages decoded and comm tallies to a file 4x a second.
PRELUDE = """
import json as _json, os as _os, threading as _th, time as _time
import orjson as _oj
import ipykernel.comm.comm as _bc
_bench = {{"comm_msgs": 0, "comm_bytes": 0, "msgs": 0, "kinds": {{}}}}
_bench_lock = _th.Lock()
_bench_pub = _bc.BaseComm.publish_msg
def _bench_size(data, buffers):
    try:
        n = len(_oj.dumps(data, default=str))
    except TypeError:
        n = len(_json.dumps(data, default=str))
    return n + sum(memoryview(b).nbytes for b in (buffers or ()))
def _bench_kind(data):
    if not isinstance(data, dict):
        return "?"
    method = str(data.get("method", "?"))
    if method == "custom" and isinstance(data.get("content"), dict):
        c = data["content"]
        return "custom " + str(c.get("kind", c.get("type", "?")))
    if method == "update" and isinstance(data.get("state"), dict):
        return "update " + ",".join(sorted(data["state"]))[:60]
    return method
def _bench_publish(self, msg_type, data=None, metadata=None, buffers=None, **keys):
    if msg_type == "comm_msg":
        n = _bench_size(data, buffers)
        kind = _bench_kind(data)
        with _bench_lock:
            _bench["comm_msgs"] += 1
            _bench["comm_bytes"] += n
            k = _bench["kinds"].setdefault(kind, [0, 0])
            k[0] += 1
            k[1] += n
    return _bench_pub(self, msg_type, data=data, metadata=metadata, buffers=buffers, **keys)
_bc.BaseComm.publish_msg = _bench_publish
def _bench_report(path, count):
    while True:
        with _bench_lock:
            snap = _json.loads(_json.dumps(_bench))
        snap.update(msgs=count(), cpu=_time.process_time(), t=_time.time(), pid=_os.getpid())
        with open(path + ".tmp", "w") as f:
            f.write(_json.dumps(snap))
        _os.replace(path + ".tmp", path)
        _time.sleep(0.25)
"""

RT_CELL = PRELUDE + """
from rt_widgets import RealtimeWidget
_w = RealtimeWidget({url!r}, heartbeat_interval=60.0, explore={explore!r})
_t = _w.table("mission_update", key="id", max_rows={keys}, columns={columns!r})
display(_t)
_th.Thread(target=_bench_report, args=({stats!r}, lambda: _w.connection.stats()["messages_in"]),
           daemon=True).start()
"""

# With --profile: cProfile on the I/O thread (where rt_widgets decodes, stores and flushes) for
# `seconds` from `start` s after the cell ran; the top functions by own time go to `path`.
PROFILE_CELL = """
import cProfile as _cp, io as _sio, pstats as _ps
from rt_widgets import iothread as _io
_prof = _cp.Profile()
def _bench_profile(path, start, seconds):
    _time.sleep(start)
    _io.call_soon(_prof.enable)
    _time.sleep(seconds)
    done = _th.Event()
    def _stop():
        _prof.disable()
        done.set()
    _io.call_soon(_stop)
    done.wait(10)
    out = _sio.StringIO()
    st = _ps.Stats(_prof, stream=out)
    st.sort_stats("tottime").print_stats(25)
    st.sort_stats("cumulative").print_stats(25)
    with open(path, "w") as f:
        f.write(out.getvalue())
_th.Thread(target=_bench_profile, args=({path!r}, {start!r}, {seconds!r}), daemon=True).start()
"""

PSP_CELL = PRELUDE + """
import perspective
from perspective.widget import PerspectiveWidget
from websockets.sync.client import connect as _connect
_schema = {{"id": "string", "name": "string", "status": "string", "progress": "float",
           "lat": "float", "lon": "float", "alt_m": "integer", "battery": "float",
           "crew": "integer", "region": "string", "rev": "integer", "sent": "string"}}
_pt = perspective.table(_schema, index="id")
_pw = PerspectiveWidget(_pt, columns={columns!r})
display(_pw)
_psp = {{"msgs": 0}}
def _psp_run():
    rows = []
    due = _time.monotonic() + 0.05
    with _connect({url!r}, max_size=None, compression=None) as ws:
        while True:
            try:
                frame = ws.recv(timeout=max(0.0, due - _time.monotonic()))
            except TimeoutError:
                frame = None
            if frame is not None:
                m = _oj.loads(frame)
                _psp["msgs"] += 1
                if m["type"] == "mission_update":
                    rows.append(m["payload"])
            if _time.monotonic() >= due:
                if rows:
                    _pt.update(rows)
                    rows = []
                due = _time.monotonic() + 0.05
_th.Thread(target=_psp_run, daemon=True).start()
_th.Thread(target=_bench_report, args=({stats!r}, lambda: _psp["msgs"]), daemon=True).start()
"""

# Records socket-to-screen latency on the page and in every shadow root below it.
OBSERVE_JS = """
() => {
  window.__lat = [];
  const seen = new Set();
  const re = /^T(\\d{13})$/;
  const idRe = /m-\\d{4}/;
  const take = (node) => {
    const text = node.nodeType === 3 ? node.data : node.textContent;
    const m = re.exec(text || "");
    if (!m) return;
    const el = node.nodeType === 3 ? node.parentElement : node;
    const tr = el && el.closest ? el.closest("tr") : null;
    const id = tr ? (tr.dataset.key || (idRe.exec(tr.textContent || "") || [""])[0]) : "";
    const k = id + "|" + m[1];
    if (seen.has(k)) return;
    seen.add(k);
    window.__lat.push([Date.now() - Number(m[1]), Number(m[1])]);
  };
  const obs = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "characterData") take(r.target);
      else for (const n of r.addedNodes) {
        if (n.nodeType === 3) take(n);
        else if (n.querySelectorAll) {
          if (n.tagName === "TD" || n.tagName === "TH") take(n);
          for (const td of n.querySelectorAll("td, th")) take(td);
        }
      }
    }
  });
  const roots = new WeakSet();
  const attach = (root) => {
    if (roots.has(root)) return;
    roots.add(root);
    obs.observe(root, {subtree: true, childList: true, characterData: true});
  };
  const scan = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { attach(el.shadowRoot); scan(el.shadowRoot); }
    }
  };
  attach(document.body);
  scan(document);
  // New shadow roots appear while the view mounts; stop looking 3 s after the first sample.
  let firstAt = 0;
  const timer = setInterval(() => {
    scan(document);
    if (window.__lat.length && !firstAt) firstAt = Date.now();
    if (firstAt && Date.now() - firstAt > 3000) clearInterval(timer);
  }, 250);
}
"""


def write_notebook(lab: LabServer, name: str, code: str) -> None:
    """A one-cell notebook whose source is collapsed, so its output is at the top of the page."""
    cell = {"cell_type": "code", "execution_count": None, "id": "bench", "outputs": [], "source": code,
            "metadata": {"jupyter": {"source_hidden": True}}}
    nb = {"cells": [cell], "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}}
    (lab.home / "root" / name).write_text(json.dumps(nb))


def open_and_run(page: Any, lab: LabServer, workspace: str, notebook: str, observe_js: str) -> Any:
    """Open the notebook in a fresh workspace, wait for its idle kernel, install ``observe_js``,
    run the cell; return a CDP session with the Performance domain on."""
    page.goto(f"{lab.base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={lab.token}")
    page.wait_for_function(
        f"() => {{ {PANEL} const p = rtwPanel(); return !!(p && p.context.isReady"
        " && p.sessionContext.session && p.sessionContext.session.kernel"
        " && p.sessionContext.session.kernel.status === 'idle'); }",
        polling=250,
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.evaluate(observe_js)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    return cdp


def metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}


def _stats(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)  # a poll inside a deadline


def run_one(browser: Any, lab: LabServer, notebook: str, stats: Path, session: int,
            seconds: float, warm: float) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(90_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        cdp = open_and_run(page, lab, f"peers{session}", notebook, OBSERVE_JS)
        page.wait_for_function("() => window.__lat.length > 0", polling=100, timeout=90_000)
        first_screen = time.monotonic()
        # The steady window starts `warm` s after the first value reached the screen.
        _wait(lambda: time.monotonic() - first_screen >= warm and stats.exists(), 30, "kernel stats")
        s0, m0, w0 = _stats(stats), metrics(cdp), time.monotonic()
        while time.monotonic() - w0 < seconds:
            time.sleep(0.1)  # the measuring window
        s1, m1, w1 = _stats(stats), metrics(cdp), time.monotonic()
        # The last values on their way to the screen: stop once no new sample came for 1 s.
        last, still = -1, time.monotonic()
        deadline = still + 15
        while time.monotonic() - still < 1.0 and time.monotonic() < deadline:
            n = page.evaluate("() => window.__lat.length")
            if n != last:
                last, still = n, time.monotonic()
            time.sleep(0.1)  # a poll inside a deadline
        lat = list(page.evaluate("() => window.__lat"))
        if errors:
            print(f"  page errors: {errors[:3]}", flush=True)
    finally:
        page.close()
        lab.shutdown_kernels()
        stats.unlink(missing_ok=True)
    dt = s1["t"] - s0["t"]
    msgs = s1["msgs"] - s0["msgs"]
    wall = w1 - w0
    start_ms = s0["t"] * 1000
    end_ms = s1["t"] * 1000
    steady = [d for d, sent in lat if start_ms <= sent <= end_ms]
    if lat:
        print(f"  {len(lat)} latency samples, stamps from {(min(s for _, s in lat) - start_ms) / 1000:.1f}"
              f" to {(max(s for _, s in lat) - start_ms) / 1000:.1f} s of the window (0 to {dt:.1f})",
              flush=True)
    kinds = {
        k: ((v[0] - s0["kinds"].get(k, [0, 0])[0]) / dt, (v[1] - s0["kinds"].get(k, [0, 0])[1]) / dt)
        for k, v in s1["kinds"].items()
    }
    return {
        "cpu_us_per_msg": (s1["cpu"] - s0["cpu"]) / msgs * 1e6 if msgs else float("nan"),
        "kernel_cpu_pct": (s1["cpu"] - s0["cpu"]) / dt * 100,
        "msgs_per_s": msgs / dt,
        "comm_bytes_per_s": (s1["comm_bytes"] - s0["comm_bytes"]) / dt,
        "comm_msgs_per_s": (s1["comm_msgs"] - s0["comm_msgs"]) / dt,
        "busy_ms_per_s": (m1["TaskDuration"] - m0["TaskDuration"]) / wall * 1000,
        "script_ms_per_s": (m1["ScriptDuration"] - m0["ScriptDuration"]) / wall * 1000,
        "layout_ms_per_s": (m1["LayoutDuration"] - m0["LayoutDuration"]) / wall * 1000,
        "style_ms_per_s": (m1["RecalcStyleDuration"] - m0["RecalcStyleDuration"]) / wall * 1000,
        "samples": len(steady),
        "p50": median(steady),
        "p99": percentile(steady, 99),
        "window_s": dt,
        "kinds": kinds,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.peers")
    p.add_argument("--quick", action="store_true", help="one pair of 4 s windows")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--pairs", type=int, default=None, help="interleaved pairs (default 3; quick 1)")
    p.add_argument("--seconds", type=float, default=None, help="measuring window, s (default 20; quick 4)")
    p.add_argument("--warm", type=float, default=None, help="seconds after the first value on screen")
    p.add_argument("--no-explore", action="store_true",
                   help="experiment: RealtimeWidget(url, explore=False) (only the table takes messages)")
    p.add_argument("--profile", action="store_true",
                   help="one rt_widgets run, cProfile on the kernel's I/O thread: its top functions")
    a = p.parse_args(argv)
    if a.serve:
        asyncio.run(_serve())
        return
    pairs = a.pairs or (1 if a.quick else 3)
    seconds = a.seconds or (4.0 if a.quick else 20.0)
    warm = a.warm if a.warm is not None else (1.0 if a.quick else 3.0)
    header("bench.peers", ["bench.peers", *(argv or [])])
    tmp = Path(tempfile.mkdtemp(prefix="rtw-peers-"))
    results: dict[str, list[dict[str, Any]]] = {"rt_widgets": [], "perspective": []}
    if a.profile:
        pairs = 1
        del results["perspective"]
    with paced_feed() as feed, chromium() as browser:
        url = f"ws://127.0.0.1:{feed.port}/mission?rate={RATE}&keys={KEYS}"
        stats = {name: tmp / f"{name}.json" for name in ("rt_widgets", "perspective")}
        cells = {
            "rt_widgets": RT_CELL.format(url=url, keys=KEYS, columns=COLUMNS, stats=str(stats["rt_widgets"]),
                                         explore=not a.no_explore),
            "perspective": PSP_CELL.format(url=url, columns=COLUMNS, stats=str(stats["perspective"])),
        }
        profile = tmp / "profile.txt"
        if a.profile:
            cells["rt_widgets"] += PROFILE_CELL.format(path=str(profile), start=warm + 1.0,
                                                          seconds=max(2.0, seconds - 3.0))
        lab = LabServer({})
        for name in results:
            write_notebook(lab, f"{name}.ipynb", cells[name])
        session = 0
        try:
            for pair in range(pairs):
                for name in results:
                    session += 1
                    r = run_one(browser, lab, f"{name}.ipynb", stats[name], session, seconds, warm)
                    results[name].append(r)
                    print(f"pair {pair + 1} {name}: " + ", ".join(
                        f"{k} {v:.4g}" for k, v in r.items() if k != "kinds"), flush=True)
                    for kind, (n, b) in sorted(r["kinds"].items(), key=lambda kv: -kv[1][1]):
                        print(f"  comm {kind}: {n:.2f} msg/s, {b:,.0f} B/s", flush=True)
        finally:
            lab.close()
    if a.profile:
        deadline = time.monotonic() + 30
        while not profile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # a poll inside a deadline
        print(profile.read_text() if profile.exists() else "no profile written", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    shutil.rmtree(tmp, ignore_errors=True)
    keys = ("cpu_us_per_msg", "comm_bytes_per_s", "busy_ms_per_s", "p50", "p99", "script_ms_per_s",
            "layout_ms_per_s", "style_ms_per_s",
            "comm_msgs_per_s", "kernel_cpu_pct", "msgs_per_s", "samples")
    med = {name: {k: median([r[k] for r in rs]) for k in keys} for name, rs in results.items()}
    rows = []
    labels = {
        "cpu_us_per_msg": "kernel CPU per message, µs",
        "comm_bytes_per_s": "comm bytes/s (kernel publish)",
        "busy_ms_per_s": "browser main-thread busy, ms/s (TaskDuration)",
        "p50": "socket-to-screen latency p50, ms",
        "p99": "socket-to-screen latency p99, ms",
        "script_ms_per_s": "browser script time, ms/s (ScriptDuration)",
        "layout_ms_per_s": "browser layout, ms/s (LayoutDuration)",
        "style_ms_per_s": "browser style recalculation, ms/s (RecalcStyleDuration)",
        "comm_msgs_per_s": "comm messages/s",
        "kernel_cpu_pct": "kernel CPU, % of a core",
        "msgs_per_s": "messages decoded/s in the window",
        "samples": "latency samples (steady window)",
    }
    for k in keys:
        rt, peer = med["rt_widgets"][k], med["perspective"][k]
        goal = k in ("cpu_us_per_msg", "comm_bytes_per_s", "busy_ms_per_s", "p50", "p99")
        ratio = rt / peer if peer else float("nan")
        rows.append([labels[k], rt, peer, f"{ratio:.2f}", "< 1 (ahead)" if goal else "",
                     (ratio < 1) if goal else ""])
    table(
        f"rt_widgets vs Perspective, {RATE:,} msg/s over {KEYS:,} keys, {pairs} interleaved pair(s) "
        f"of {seconds:g} s, medians{' (rt_widgets: explore=False)' if a.no_explore else ''}",
        ["measure", "rt_widgets", "Perspective", "ratio rt/peer", "goal", "met"],
        rows,
    )
    per_run = [
        [f"{i // 2 + 1}", name, r["cpu_us_per_msg"], r["comm_bytes_per_s"], r["busy_ms_per_s"], r["p50"],
         r["p99"], r["samples"], r["msgs_per_s"]]
        for i, (name, r) in enumerate(
            (name, results[name][j]) for j in range(pairs) for name in results
        )
    ]
    table(
        "per run (in order)",
        ["pair", "system", "CPU µs/msg", "comm B/s", "busy ms/s", "p50 ms", "p99 ms", "samples", "msgs/s"],
        per_run,
    )
    met = all(r[-1] is True for r in rows if r[4])
    print(f"\ngoal (rt_widgets ahead on all four): {'met' if met else 'NOT met'}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
