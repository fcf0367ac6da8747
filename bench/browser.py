"""Browser benchmarks in Debian's Chromium (Playwright drives it; its own browser is never used).

1. frame cost (standalone page): the built bundle ``rt_widgets/static/widget.js`` loaded into a plain
   HTML page (``bench/frame_page.html``) with a stand-in model. A 100,000-row table receives deltas
   of 1,000 changed rows, one per frame; a metrics view with eight sparklines receives one point
   per series per frame. Per flush: delta handling + the view's animation-frame callbacks + the
   style/layout they cause (forced with ``offsetHeight``). Baseline, same run: a naive table that
   rebuilds every row of a 10,000-row table per update.
2. end-to-end latency (JupyterLab): a lab server subprocess, a notebook with
   ``RealtimeWidget(url).table("mission_update")``, the feed process stamping each mission row with
   its send time (epoch ms) in a ``sent`` cell; a MutationObserver in the page records
   ``Date.now() - sent`` when a cell shows a new stamp (DOM updated; paint follows within a frame).

    .venv/bin/python -m bench.browser [--quick] [--only frame|e2e] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._feed import Feed
from bench._util import header, median, percentile, table
from tests.browser._helpers import CHROMIUM, CHROMIUM_ARGS, free_port

ROOT = Path(__file__).resolve().parents[1]
# The frame page collects the previous benchmark's garbage before measuring the next one.
LAUNCH_ARGS = [*CHROMIUM_ARGS, "--js-flags=--expose-gc"]


@contextlib.contextmanager
def static_server(bundle: str | None = None) -> Iterator[str]:
    """Serve the repository read-only on 127.0.0.1 (the page and the built bundle); with ``bundle``
    (a directory), ``/rt_widgets/static/`` is served from it (a bundle built from another tree)."""
    static = Path(bundle).resolve() if bundle else None

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def translate_path(self, path: str) -> str:
            prefix = "/rt_widgets/static/"
            if static is not None and path.startswith(prefix):
                return str(static / Path(path[len(prefix):].split("?", 1)[0]).name)
            return super().translate_path(path)

        def end_headers(self) -> None:
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

    handler = functools.partial(Quiet, directory=str(ROOT))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


NAIVE_TABLE_JS = """
async ({rows, frames}) => {
  const host = document.getElementById("host");
  host.replaceChildren();
  const cols = ["id","name","status","progress","lat","lon","alt_m","battery","crew","region"];
  const data = [];
  for (let k = 0; k < rows; k++) data.push({id: `m-${k}`, name: `Mission ${k}`, status: "planned",
    progress: k % 100, lat: 48, lon: 2, alt_m: k, battery: 50, crew: k % 7, region: "north"});
  const table = document.createElement("table");
  host.append(table);
  const out = [];
  for (let f = 0; f < frames; f++) {
    await new Promise((r) => requestAnimationFrame(r));
    const t0 = performance.now();
    for (let j = 0; j < 1000; j++) data[(j * 97 + f) % rows].progress = f;
    // The naive view: rebuild every row from the data on each update.
    const tbody = document.createElement("tbody");
    for (const row of data) {
      const tr = document.createElement("tr");
      for (const c of cols) { const td = document.createElement("td");
        td.textContent = String(row[c]); tr.append(td); }
      tbody.append(tr);
    }
    table.replaceChildren(tbody);
    void document.body.offsetHeight;
    out.push(performance.now() - t0);
  }
  host.replaceChildren();
  return out;
}
"""


# Not part of the product: tried here to see whether scoping layout to each card helps.
SPARK_CONTAIN_CSS = ".rtw-metric-card { contain: content; }"
TABLE_NO_TRANSITION_CSS = ".rtw-grid td { transition: none !important; }"


def frame_cost(quick: bool, bundle: str | None = None) -> list[list[Any]]:
    frames = 30 if quick else 120
    reps = 1 if quick else 3
    rows: list[list[Any]] = []
    with static_server(bundle) as base, chromium() as browser:
        results: dict[str, list[dict[str, Any]]] = {
            "table": [],
            "table_sorted": [],
            "table_notransition": [],
            "spark": [],
            "spark_contain": [],
        }
        naive: list[float] = []
        for _ in range(reps):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(f"{base}/bench/frame_page.html")
            page.wait_for_function("window.benchReady === true")
            results["table"].append(
                page.evaluate(
                    "(a) => window.benchTable(a)",
                    {"rows": 100_000, "changed": 1000, "frames": frames, "sortBy": None},
                )
            )
            results["table_sorted"].append(
                page.evaluate(
                    "(a) => window.benchTable(a)",
                    {"rows": 100_000, "changed": 1000, "frames": frames, "sortBy": "progress"},
                )
            )
            results["table_notransition"].append(
                page.evaluate(
                    "(a) => window.benchTable(a)",
                    {
                        "rows": 100_000,
                        "changed": 1000,
                        "frames": frames,
                        "sortBy": None,
                        "css": TABLE_NO_TRANSITION_CSS,
                    },
                )
            )
            results["spark"].append(
                page.evaluate(
                    "(a) => window.benchSparklines(a)", {"series": 8, "points": 300, "frames": frames}
                )
            )
            results["spark_contain"].append(
                page.evaluate(
                    "(a) => window.benchSparklines(a)",
                    {"series": 8, "points": 300, "frames": frames, "css": SPARK_CONTAIN_CSS},
                )
            )
            naive += page.evaluate(NAIVE_TABLE_JS, {"rows": 10_000, "frames": 3 if quick else 5})
            if errors:
                raise RuntimeError(f"page errors: {errors}")
            page.close()
    naive_med = median(naive)
    for name, label, goal in (
        ("table", "table 100k rows, 1,000 changed/flush", 4.0),
        ("table_sorted", "same, sorted by a changing column", 4.0),
        ("table_notransition", "same, experiment: no background transition on cells", 4.0),
        ("spark", "8 sparklines x 300 points, 1 point each/flush", 1.0),
        ("spark_contain", "same + experiment: `contain: content` on each card", 1.0),
    ):
        res = results[name]
        total = [x for r in res for x in r["total"]]
        apply = [x for r in res for x in r["apply"]]
        render = [x for r in res for x in r["render"]]
        layout = [x for r in res for x in r["layout"]]
        p50, p95 = median(total), percentile(total, 95)
        extra = f"DOM rows {res[0]['domRows']}" if "domRows" in res[0] else f"canvas/svg {res[0]['canvases']}"
        rows.append(
            [
                label,
                p50,
                p95,
                max(total),
                median(apply),
                median(render),
                median(layout),
                median([r["mountMs"] for r in res]),
                extra,
                naive_med if name.startswith("table") else "n/a",
                f"{naive_med / p50:,.0f}x faster" if name.startswith("table") else "n/a",
                f"<= {goal:g} ms",
                p50 <= goal,
            ]
        )
    return rows


# -- end-to-end in JupyterLab ------------------------------------------------------------------


RT_CELL = """\
from rt_widgets import RealtimeWidget
_w = RealtimeWidget({url!r}, heartbeat_interval=60.0)
_t = _w.table("mission_update", key="id", max_rows=1000)
_t
"""

# The naive way, as a baseline: a stock ipywidgets.HTML updated once per WebSocket message.
NAIVE_CELL = """\
import threading, orjson, ipywidgets
from websockets.sync.client import connect as _connect
_h = ipywidgets.HTML()
display(_h)
def _run():
    with _connect({url!r}, max_size=None) as ws:
        for frame in ws:
            m = orjson.loads(frame)
            if m["type"] == "mission_update":
                _h.value = m["payload"]["sent"]
threading.Thread(target=_run, daemon=True).start()
"""


def _notebook(code: str) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": "bench",
                    "metadata": {},
                    "outputs": [],
                    "source": code,
                }
            ],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


class LabServer:
    def __init__(self, notebooks: dict[str, str]) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="rtw-bench-lab-"))
        root = self.home / "root"
        root.mkdir()
        for name, code in notebooks.items():
            (root / name).write_text(_notebook(code))
        settings = self.home / "settings"
        for name, content in {
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
                "fetchNews": "false",
                "checkForUpdates": False,
            },
            "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        }.items():
            p = settings / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(content))
        self.port = free_port()
        self.token = secrets.token_hex(16)
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        self.log = (self.home / "lab.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=self.home,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=5)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {self.home}/lab.log") from None
                time.sleep(0.25)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.base}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


PANEL = """
const rtwPanel = () => {
  const app = window.jupyterapp;
  if (!app) return null;
  const cur = app.shell.currentWidget;
  if (cur && cur.sessionContext && cur.content && cur.content.widgets) return cur;
  for (const w of app.shell.widgets('main')) {
    if (w.sessionContext && w.content && w.content.widgets) return w;
  }
  return null;
};
"""

OBSERVE_JS = """
() => {
  window.__lat = [];
  const seen = new Set();
  const re = /^T(\\d{13})$/;
  const take = (node) => {
    const text = node.nodeType === 3 ? node.data : node.textContent;
    const m = re.exec(text || "");
    if (!m) return;
    const tr = (node.nodeType === 3 ? node.parentElement : node)?.closest("tr");
    const id = tr ? (tr.dataset.key || "") : "";
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
        else if (n.querySelectorAll) for (const td of n.querySelectorAll("td")) take(td);
      }
    }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  window.__obs = obs;
}
"""


def _measure(page: Any, lab: LabServer, notebook: str, feed: Feed, session: int, seconds: float) -> list[Any]:
    # A fresh workspace per page: JupyterLab must not restore the previous runs' notebooks.
    page.goto(f"{lab.base}/lab/workspaces/bench{session}/tree/{notebook}?reset&token={lab.token}")
    page.wait_for_function(
        f"() => {{ {PANEL} const p = rtwPanel(); return !!(p && p.context.isReady"
        " && p.sessionContext.session && p.sessionContext.session.kernel"
        " && p.sessionContext.session.kernel.status === 'idle'); }",
        polling=250,
    )
    page.evaluate(OBSERVE_JS)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    t0 = time.monotonic()
    page.wait_for_function("() => window.__lat.length > 0", polling=100, timeout=60_000)
    feed.wait_done(session, timeout=seconds * 4 + 30)
    print(f"  feed done after {time.monotonic() - t0:.1f} s", flush=True)
    # The last frames after the feed's last message: stop once no new sample came for 1 s
    # (bounded: a swamped page may keep trickling old values for a long time).
    last, still = -1, time.monotonic()
    deadline = still + 15
    while time.monotonic() - still < 1.0 and time.monotonic() < deadline:
        n = page.evaluate("() => window.__lat.length")
        if n != last:
            last, still = n, time.monotonic()
        time.sleep(0.1)
    return list(page.evaluate("() => window.__lat"))


def e2e(
    quick: bool,
    rates: tuple[int, ...] = (1_000, 10_000),
    approaches: tuple[str, ...] = ("rt_widgets", "naive"),
) -> list[list[Any]]:
    seconds = 8.0 if quick else 20.0
    warm = 2.0
    rows: list[list[Any]] = []
    with Feed() as feed, chromium() as browser:
        notebooks: dict[str, str] = {}
        for rate in rates:
            url = feed.url(f"/paced?rate={rate}&seconds={seconds:g}&stamp=1&keys=20")
            notebooks[f"rt_{rate}.ipynb"] = RT_CELL.format(url=url)
            notebooks[f"naive_{rate}.ipynb"] = NAIVE_CELL.format(url=url)
        lab = LabServer(notebooks)
        session = 0
        try:
            for rate in rates:
                p50s: dict[str, float] = {}
                for approach in approaches:
                    session += 1
                    page = browser.new_page(viewport={"width": 1600, "height": 1000})
                    page.set_default_timeout(90_000)
                    nb = f"{'rt' if approach == 'rt_widgets' else 'naive'}_{rate}.ipynb"
                    try:
                        lat = _measure(page, lab, nb, feed, session, seconds)
                    finally:
                        page.close()
                        lab.shutdown_kernels()
                    first_sent = min(s for _, s in lat)
                    steady = [d for d, s in lat if s >= first_sent + warm * 1000]
                    print(
                        f"e2e {approach} {rate} msg/s: {len(lat)} samples, {len(steady)} after warm-up",
                        flush=True,
                    )
                    p50, p99 = median(steady), percentile(steady, 99)
                    p50s[approach] = p50
                    goal = approach == "rt_widgets"
                    rows.append(
                        [
                            f"{rate:,} msg/s",
                            "RealtimeWidget.table" if goal else "naive: ipywidgets.HTML per message",
                            len(steady),
                            p50,
                            p99,
                            max(steady) if steady else float("nan"),
                            "" if goal or "rt_widgets" not in p50s else f"{p50s['rt_widgets'] / p50:.2f}",
                            "<= 50 / <= 150 ms" if goal else "",
                            (p50 <= 50 and p99 <= 150) if goal else "",
                        ]
                    )
        finally:
            lab.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.browser")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=("frame", "e2e"), default=None)
    p.add_argument("--rates", default="1000,10000", help="e2e feed rates, msg/s")
    p.add_argument("--approaches", default="rt_widgets,naive")
    p.add_argument("--bundle", default=None,
                   help="frame cost: a directory with widget.js and widget.css to measure instead of"
                        " rt_widgets/static (a bundle built from another tree, to compare two builds)")
    a = p.parse_args(argv)
    header("bench.browser", ["bench.browser", *(argv or [])])
    if a.only in (None, "frame"):
        table(
            "frame cost, standalone page (built widget.js + stand-in model), ms per flush",
            [
                "view",
                "p50 ms",
                "p95 ms",
                "max ms",
                "delta apply p50 ms",
                "frame callback p50 ms",
                "layout p50 ms",
                "mount ms",
                "note",
                "naive 10k-row rebuild ms",
                "vs naive",
                "goal (p50)",
                "met",
            ],
            frame_cost(a.quick, a.bundle),
        )
    if a.only in (None, "e2e"):
        table(
            "end-to-end latency, feed send -> DOM cell (JupyterLab, fps=20 default)",
            [
                "feed rate",
                "view",
                "samples",
                "p50 ms",
                "p99 ms",
                "max ms",
                "rt_widgets p50 / this p50",
                "goal p50 / p99",
                "met",
            ],
            e2e(
                a.quick,
                tuple(int(r) for r in a.rates.split(",")),
                tuple(a.approaches.split(",")),
            ),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
