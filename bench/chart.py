"""The live chart: its frame cost in Chromium, and what a paused view costs on the comm.

1. frame cost (standalone page ``bench/chart_page.html``, the built bundle, Debian's Chromium): a
   chart of 8 series x 10,000 points (metrics-shaped: the series share their times, one point every
   0.1 s) receives one new point per series per flush, as the kernel sends it (one delta of 8
   columns). Per flush: the delta handled + the view's animation-frame callbacks (uPlot's redraw)
   + the style/layout they cause (forced with ``offsetHeight``). Two windows: the default 5 min
   (3,000 points of each series in view) and "All" (every point in view). Baseline, same run: the
   same view sent the whole state (a snapshot of 80,000 points) on every flush instead of a delta.
2. paused comm (in process, a real ``RealtimeWidget`` on the paced ``bench._feed``, every comm
   message recorded and JSON-encoded as the kernel would): a chart of the feed's metrics messages
   (10 series), live for a while, then paused for as long, then resumed. Counted per phase: data
   messages (deltas, snapshots, trait updates) and bytes sent to the chart's model.

    .venv/bin/python -m bench.chart [--quick] [--only frame|paused] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from bench._feed import Feed
from bench._util import header, median, percentile, table
from bench.browser import chromium, static_server

SERIES = 8
POINTS = 10_000
FRAME_GOAL_MS = 4.0

SNAPSHOT_EVERY_FLUSH_JS = """
async ({series, points, frames}) => {
  const mod = await import("/rt_widgets/static/widget.js");
  const t0 = 1_767_225_600;
  const names = Array.from({length: series}, (_, s) => `series_${s}`);
  const wave = (s, i) => Math.sin(i / 50 + s) * 40 + 50 + s * 10;
  const state = (n, seq) => {
    const t = Array.from({length: n}, (_, i) => t0 + i / 10);
    return {seq, series: names, columns: names.map((_, s) => ({s, ...(s === 0 ? {t} : {}),
      v: t.map((_, i) => wave(s, i))})), max_series: 32, max_points: points, dropped_series: 0,
      dropped_points: 0, ignored: 0};
  };
  const handlers = new Map();
  const model = {
    state: {_view: "chart", window: 300, paused: false, _snapshot: state(points, 1)},
    get(k) { return this.state[k]; }, send() {}, save_changes() {},
    on(e, cb) { (handlers.get(e) || handlers.set(e, []).get(e)).push(cb); },
    off(e, cb) {
      if (!e) handlers.clear();
      else handlers.set(e, (handlers.get(e) || []).filter((f) => f !== cb));
    },
    widget_manager: {get_model: async () => { throw new Error("none"); }},
  };
  const emit = (e, ...a) => { for (const cb of handlers.get(e) || []) cb(...a); };
  const host = document.getElementById("host");
  host.replaceChildren();
  const el = document.createElement("div");
  host.append(el);
  const controller = new AbortController();
  mod.default.render({model, el, signal: controller.signal, experimental: {}});
  const raf = () => new Promise((r) => requestAnimationFrame(() => r()));
  await raf(); await raf();
  const out = [];
  for (let f = 0; f < frames; f++) {
    const snap = {kind: "snapshot", ...state(points + f + 1, f + 2)};
    await raf();
    const a0 = performance.now();
    emit("msg:custom", snap, []);
    await new Promise((r) => requestAnimationFrame(() => { void document.body.offsetHeight; r(); }));
    out.push(performance.now() - a0);
  }
  controller.abort();
  return out;
}
"""


def frame_cost(quick: bool, bundle: str | None = None) -> list[list[Any]]:
    frames = 60 if quick else 240
    reps = 1 if quick else 3
    results: dict[str, list[dict[str, Any]]] = {"window": [], "all": []}
    baseline: list[float] = []
    with static_server(bundle) as base, chromium() as browser:
        for _ in range(reps):
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(f"{base}/bench/chart_page.html")
            page.wait_for_function("window.benchReady === true")
            for name, preset in (("window", None), ("all", "all")):
                results[name].append(page.evaluate(
                    "(a) => window.benchChart(a)",
                    {"series": SERIES, "points": POINTS, "frames": frames, "window": 300,
                     "preset": preset}))
            baseline += page.evaluate(SNAPSHOT_EVERY_FLUSH_JS, {
                "series": SERIES, "points": POINTS, "frames": 5 if quick else 15})
            if errors:
                raise RuntimeError(f"page errors: {errors}")
            page.close()
    base_med = median(baseline)
    rows: list[list[Any]] = []
    for name, label in (("window", "8 x 10,000 points, 5 min window (3,000 in view)"),
                        ("all", "8 x 10,000 points, window All (10,000 in view)")):
        res = results[name]
        total = [x for r in res for x in r["total"]]
        p50 = median(total)
        rows.append([label, p50, percentile(total, 95), max(total),
                     median([x for r in res for x in r["apply"]]),
                     median([x for r in res for x in r["render"]]),
                     median([x for r in res for x in r["layout"]]),
                     median([r["mountMs"] for r in res]), base_med / p50, FRAME_GOAL_MS,
                     "met" if p50 <= FRAME_GOAL_MS else "NOT met"])
    table("Chart frame cost in Chromium", ["case", "p50 ms", "p95 ms", "max ms", "delta ms",
          "rAF ms", "layout ms", "mount ms", "snapshot-per-flush / delta", "goal p50 ms", "goal"],
          rows)
    print(f"\nBaseline (same run): the whole state as a snapshot on every flush, median "
          f"{base_med:.1f} ms per flush ({len(baseline)} flushes). {frames} flushes x {reps} page(s) "
          f"per case, {SERIES} series, 1 new point each per flush.")
    return rows


# -- paused comm --------------------------------------------------------------------------------------


class Recorder:
    """Every comm message published in this process, JSON-encoded as the kernel sends it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[float, str, str, str, int]] = []  # t, comm id, msg type, kind, bytes

    def install(self) -> None:
        import comm
        from comm.base_comm import BaseComm

        recorder = self

        class RecordingComm(BaseComm):
            def publish_msg(self, msg_type: str, data: dict[str, Any] | None = None,
                            metadata: dict[str, Any] | None = None, buffers: Any = None,
                            **keys: Any) -> None:
                text = json.dumps(data or {}, allow_nan=False, separators=(",", ":"))
                size = len(text.encode()) + sum(len(b) for b in buffers or ())
                body = data or {}
                if body.get("method") == "custom":
                    kind = str(body.get("content", {}).get("kind"))
                elif body.get("method") == "update":
                    kind = "update:" + ",".join(sorted(body.get("state", {})))
                else:
                    kind = msg_type
                with recorder.lock:
                    recorder.log.append((time.monotonic(), self.comm_id, msg_type, kind, size))

        comm.create_comm = lambda *a, **k: RecordingComm(*a, **k)

    def from_view(self, widget: Any, content: dict[str, Any]) -> None:
        """Deliver a custom message from a view to ``widget``, as the kernel would."""
        widget.comm.handle_msg({"content": {"comm_id": widget.comm.comm_id,
                                            "data": {"method": "custom", "content": content}},
                                "buffers": []})

    def between(self, comm_id: str, t0: float, t1: float) -> list[tuple[str, int]]:
        with self.lock:
            return [(kind, size) for t, c, _, kind, size in self.log if c == comm_id and t0 <= t < t1]


def paused_comm(quick: bool) -> list[list[Any]]:
    rate = 2000
    phase = 3.0 if quick else 10.0
    recorder = Recorder()
    recorder.install()
    from rt_widgets import RealtimeWidget

    rows: list[list[Any]] = []
    with Feed() as feed:
        url = feed.url(f"/paced?rate={rate}&seconds={int(3 * phase + 10)}")
        w = RealtimeWidget(url, explore=False, heartbeat_interval=60.0)
        chart = w.chart("metrics_update")
        deadline = time.monotonic() + 20
        while len(chart.series) < 10:
            if time.monotonic() > deadline:
                raise RuntimeError("no metrics reached the chart")
            time.sleep(0.05)
        cid = chart.comm.comm_id
        # A view is on screen: it renews its presence, as every rendered view does (kernels that
        # do not know the message ignore it).
        stop = threading.Event()

        def present() -> None:
            while not stop.is_set():
                recorder.from_view(chart, {"kind": "presence", "view": "bench", "lease": 10.0})
                stop.wait(2.0)

        threading.Thread(target=present, daemon=True).start()
        t_live = time.monotonic()
        time.sleep(phase)
        points_before = len(chart.points("cpu"))
        t_pause = time.monotonic()
        chart.pause()
        time.sleep(phase)
        t_resume = time.monotonic()
        points_paused = len(chart.points("cpu")) - points_before
        chart.resume()
        time.sleep(phase)
        t_end = time.monotonic()
        stop.set()
        w.close()

    def summary(label: str, t0: float, t1: float) -> list[Any]:
        sent = recorder.between(cid, t0, t1)
        data = [(k, s) for k, s in sent if k != "waiting"]
        waiting = [s for k, s in sent if k == "waiting"]
        seconds = t1 - t0
        return [label, seconds, len(data), sum(s for _, s in data) / seconds, len(waiting),
                sum(waiting) / seconds]

    live = summary("live", t_live, t_pause)
    # The pause itself is one trait update (paused: true), sent before the clock starts.
    paused = summary("paused", t_pause + 0.05, t_resume)
    resumed = summary("resumed (incl. the snapshot)", t_resume, t_end)
    for row, goal in ((live, ""), (paused, "0 data messages"), (resumed, "")):
        met = "" if not goal else ("met" if row[2] == 0 else "NOT met")
        rows.append([*row, goal, met])
    table("A paused chart on the comm", ["phase", "seconds", "data messages", "data bytes/s",
          "waiting counts", "count bytes/s", "goal", ""], rows)
    ratio = (paused[3] + paused[5]) / live[3] if live[3] else float("nan")
    print(f"\nFeed: {rate} msg/s (one in four a metrics_update with 10 numeric fields); "
          f"{phase:.0f} s per phase. While paused the kernel kept ingesting: {points_paused} points "
          f"of `cpu` arrived. Paused bytes / live bytes: {ratio:.4f}.")
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["frame", "paused"])
    p.add_argument("--bundle", default=None,
                   help="frame cost: a directory with widget.js and widget.css to measure instead of"
                        " rt_widgets/static (a bundle built from another tree)")
    a = p.parse_args()
    header("chart", ["bench.chart", *sys.argv[1:]])
    if a.only in (None, "frame"):
        frame_cost(a.quick, a.bundle)
    if a.only in (None, "paused"):
        paused_comm(a.quick)


if __name__ == "__main__":
    main()
