"""Fifty views in one kernel: does the per-kernel comm budget keep every view live?

One ``RealtimeWidget`` (one connection) and 50 views made from it (20 keyed tables ``w.table``, 15
``w.metrics``, 15 ``w.chart``), each on its own message type, each type fed 1,000 msg/s (50,000 msg/s
in all, in frames of up to 100 messages) by the paced feed process of ``bench.peers``. The 50 views
are displayed in one ``ipywidgets.GridBox`` (five columns: a dashboard) in one notebook cell in
JupyterLab in Chromium.

Measured over the steady window (``--warm`` s after every view showed data, to the feed's end):

- comm messages per second, total (goal <= 100) and per view, counted at the kernel's
  ``BaseComm.publish_msg`` by comm id (a reporter thread in the kernel writes the tallies, the
  kernel's CPU time and the messages decoded to a file 4x a second);
- updates per second of every view (goal >= 2 each), counted in the page: a MutationObserver on the
  notebook counts the animation frames in which a view's DOM showed new data (a table cell's text,
  a metric card's value, a chart's ``data-rows``/``data-start``/``data-x-max``: the rows it holds
  and the time of its first and last point, set when it draws new data: a full chart keeps its
  row count, but its last point moves);
- kernel CPU (% of one core) and messages decoded per second;
- browser main-thread busy time per second (CDP ``Performance.getMetrics`` ``TaskDuration``).

Measuring options: ``--trace`` records a Chromium trace of the window and prints the main thread's
time per event (self time: style, layout, paint, script...) and its rendering frames a second;
``--bundle DIR`` shows the views with ``DIR/widget.js`` and ``DIR/widget.css`` (a bundle built from
another tree, to compare two builds interleaved against the same kernel code); ``--style CSS`` adds
a style sheet to the page (to try a CSS rule without a build).

    .venv/bin/python -m bench.many [--quick] [--seconds 30] [--explore] [--trace] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._util import header, median, percentile, table
from bench.browser import LabServer, chromium
from bench.peers import PRELUDE, PROFILE_CELL, metrics, open_and_run, paced_feed, view_types, write_notebook

ROOT = Path(__file__).resolve().parents[1]
RATE = 1_000  # per view (per message type)


# -- the notebook and the page ---------------------------------------------------------------

CELL = PRELUDE + """
from rt_widgets import RealtimeWidget
if {bundle!r}:
    from pathlib import Path as _P
    from rt_widgets.widgets._base import BaseWidget as _BW
    _BW._esm = (_P({bundle!r}) / "widget.js").read_text()
    _BW._css = (_P({bundle!r}) / "widget.css").read_text()
if {byte_budget!r}:
    from rt_widgets.sync import get_frame_clock as _gfc
    _gfc().byte_budget = float({byte_budget!r})
_w = RealtimeWidget({url!r}, heartbeat_interval=60.0, explore={explore!r})
_views = []
for _t in {types!r}:
    if _t.startswith("tab"):
        _views.append(_w.table(_t, key="id", max_rows=1000))
    elif _t.startswith("met"):
        _views.append(_w.metrics(_t))
    else:
        _views.append(_w.chart(_t, y="y", window=60.0))
_names = {{v.model_id: t for v, t in zip(_views, {types!r})}}
_routes = {{v._route: t for v, t in zip(_views, {types!r})}}
_bench["per_comm"] = {{}}
_bench["per_view"] = {{}}
_bench_pub2 = _bc.BaseComm.publish_msg
def _bench_count(self, msg_type, data=None, *a, **k):
    if msg_type == "comm_msg":
        name = _names.get(self.comm_id, "other")
        content = data.get("content") if isinstance(data, dict) else None
        # What each view receives: its own messages, and its items in bundles on other comms.
        if isinstance(content, dict) and content.get("kind") == "bundle":
            to = [_routes.get(i.get("to"), "other") for i in content.get("items", ())]
        else:
            to = [name]
        with _bench_lock:
            _bench["per_comm"][name] = _bench["per_comm"].get(name, 0) + 1
            for view in to:
                _bench["per_view"][view] = _bench["per_view"].get(view, 0) + 1
    return _bench_pub2(self, msg_type, data, *a, **k)
_bc.BaseComm.publish_msg = _bench_count
import ipywidgets as _ipw
display(_ipw.GridBox(_views, layout=_ipw.Layout(grid_template_columns="repeat(5, minmax(0, 1fr))")))
_th.Thread(target=_bench_report, args=({stats!r}, lambda: _w.connection.stats()["messages_in"]),
           daemon=True).start()
"""

# Counts, per view (its root element, in document order), the animation frames in which it
# showed new data.
OBSERVE_JS = """
() => {
  let frame = 0;
  const tick = () => { frame += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const outputs = new Map();
  const last = new Map();
  window.__updates = new Map();
  const VIEWS = ".rtw-table, .rtw-metrics, .rtw-chart";
  const hit = (el) => {
    const out = el && el.closest ? el.closest(VIEWS) : null;
    if (!out) return;
    if (last.get(out) === frame) return;
    last.set(out, frame);
    window.__updates.set(out, (window.__updates.get(out) || 0) + 1);
  };
  const obs = new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === 3 ? r.target.parentElement : r.target;
      if (!el || !el.closest) continue;
      if (r.type === "attributes") {
        if (el.getAttribute(r.attributeName) !== r.oldValue && el.classList.contains("rtw-chart")) hit(el);
      } else if (el.closest("td, .rtw-metric-value")) {
        hit(el);
      } else if (r.type === "childList" && el.tagName === "TBODY") {
        hit(el);
      }
    }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true,
                              attributeOldValue: true,
                              attributeFilter: ["data-rows", "data-start", "data-x-max"]});
  // The views, in document order (the grid's order); the text of any output that has no view.
  window.__counts = () => [...document.querySelectorAll(VIEWS)].map((v) => window.__updates.get(v) || 0);
  window.__others = () => [...document.querySelectorAll(".jp-OutputArea-output")]
    .filter((out) => !out.querySelector(".rtw-root") && !out.querySelector(".rtw-static-copy"))
    .map((out) => (out.textContent || "").slice(0, 300));
}
"""


def _self_times(prof: dict[str, Any], top: int = 20) -> list[tuple[float, str]]:
    """A CDP CPU profile's self time per function (ms), the largest first."""
    by_id = {n["id"]: n for n in prof["nodes"]}
    self_ms: dict[str, float] = {}
    for node_id, dt in zip(prof.get("samples", []), prof.get("timeDeltas", []), strict=False):
        f = by_id[node_id]["callFrame"]
        name = f"{f['functionName'] or '(anonymous)'} {f['url'].rsplit('/', 1)[-1]}:{f['lineNumber'] + 1}"
        self_ms[name] = self_ms.get(name, 0.0) + dt / 1000
    return sorted(((ms, name) for name, ms in self_ms.items()), reverse=True)[:top]


# Trace categories: the timeline (script, style, layout, paint) and the scheduler's tasks.
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel", "blink",
                    "cc", "v8.execute"]


def _trace_summary(raw: bytes, top: int = 25) -> dict[str, Any]:
    """A trace's renderer main thread: ``rows``, (self ms, inclusive ms, event name) per event name,
    the largest self time first; ``span_s``, the traced seconds; ``frames``, its rendering frames
    (BeginMainFrame); ``forced``, ms of style and layout that script forced (inside a FunctionCall)
    and how many times; ``layout_objects``, the objects the layouts visited (dirty, total)."""
    events = json.loads(raw)
    events = events["traceEvents"] if isinstance(events, dict) else events
    main: set[tuple[int, int]] = {(e["pid"], e["tid"]) for e in events
                                  if e.get("ph") == "M" and e.get("name") == "thread_name"
                                  and e.get("args", {}).get("name") == "CrRendererMain"}
    spans: list[tuple[float, float, str, dict[str, Any]]] = []
    open_: dict[tuple[int, int], list[tuple[float, str, dict[str, Any]]]] = {}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key not in main or "ts" not in e:
            continue
        ph = e.get("ph")
        if ph == "X":
            spans.append((e["ts"], e["ts"] + e.get("dur", 0), e["name"], e.get("args", {})))
        elif ph == "B":
            open_.setdefault(key, []).append((e["ts"], e["name"], e.get("args", {})))
        elif ph == "E" and open_.get(key):
            ts, name, args = open_[key].pop()
            spans.append((ts, e["ts"], name, args))
    if not spans:
        return {"rows": [], "span_s": 0.0, "frames": 0, "forced": {}, "layout_objects": (0, 0)}
    # Longest first at the same start: parents before their children.
    spans.sort(key=lambda sp: (sp[0], -sp[1]))
    self_us: dict[str, float] = {}
    incl_us: dict[str, float] = {}
    forced: dict[str, list[float]] = {}
    dirty = total = 0
    stack: list[list[Any]] = []  # [end, name, child time, start]

    def close(until: float) -> None:
        while stack and stack[-1][0] <= until:
            end, name, kids, start = stack.pop()
            self_us[name] = self_us.get(name, 0.0) + max(0.0, end - start - kids)
            incl_us[name] = incl_us.get(name, 0.0) + (end - start)
            if stack:
                stack[-1][2] += end - start

    for start, end, name, args in spans:
        close(start)
        if stack and end > stack[-1][0]:
            end = stack[-1][0]  # a child never outlasts its parent
        if name in ("Layout", "UpdateLayoutTree") and any(s[1] == "FunctionCall" for s in stack):
            f = forced.setdefault(name, [0.0, 0])
            f[0] += (end - start) / 1000
            f[1] += 1
        if name == "Layout":
            begin = args.get("beginData", {})
            dirty += int(begin.get("dirtyObjects", 0))
            total += int(begin.get("totalObjects", 0))
        stack.append([end, name, 0.0, start])
    close(float("inf"))
    rows = sorted(((self_us[n] / 1000, incl_us[n] / 1000, n) for n in self_us), reverse=True)
    return {
        "rows": rows[:top],
        "span_s": (max(sp[1] for sp in spans) - min(sp[0] for sp in spans)) / 1e6,
        "frames": sum(1 for sp in spans if sp[2] == "ProxyMain::BeginMainFrame"),
        "forced": forced,
        "layout_objects": (dirty, total),
    }


def run(quick: bool, seconds: float, warm: float, explore: bool, profile: bool,
        byte_budget: float | None, trace: bool = False, bundle: str | None = None,
        style: str | None = None) -> dict[str, Any]:
    types = view_types()
    tmp = Path(tempfile.mkdtemp(prefix="rtw-many-"))
    stats = tmp / "stats.json"
    with paced_feed() as feed, chromium() as browser:
        # The feed outlasts the window (the kernel's shutdown ends it).
        url = f"ws://127.0.0.1:{feed.port}/many?rate={RATE}"
        lab = LabServer({})
        code = CELL.format(url=url, types=types, stats=str(stats), explore=explore, byte_budget=byte_budget,
                           bundle=str(Path(bundle).resolve()) if bundle else None)
        kprof = tmp / "profile.txt"
        if profile:
            # Kernel side: from 6 s after the cell ran (every view shows data by then), for the window.
            code += PROFILE_CELL.format(path=str(kprof), start=6.0 + warm, seconds=max(2.0, seconds - 3.0))
        write_notebook(lab, "many.ipynb", code)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(90_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            cdp = open_and_run(page, lab, "many", "many.ipynb", OBSERVE_JS)
            if style:
                page.add_style_tag(content=style)
            t_run = time.monotonic()
            # Every view has shown data (or 60 s passed: then the slow ones are reported).
            deadline = t_run + 60
            while time.monotonic() < deadline:
                counts = page.evaluate("() => window.__counts()")
                if stats.exists():
                    st = json.loads(stats.read_text())
                    print(f"  {time.monotonic() - t_run:.1f} s: {sum(1 for c in counts if c)} views shown,"
                          f" kernel msgs {st['msgs']}, comm {st['comm_msgs']}", flush=True)
                if len(counts) >= len(types) and all(counts):
                    break
                time.sleep(0.25)  # a poll inside a deadline
            t_all = time.monotonic() - t_run
            print(f"views with data: {sum(1 for c in counts if c)} of {len(counts)} after {t_all:.1f} s",
                  flush=True)
            start = time.monotonic() + warm
            while time.monotonic() < start or not stats.exists():
                if time.monotonic() > start + 30:
                    raise TimeoutError("no kernel stats within 30 s")
                time.sleep(0.1)  # the measuring window opens `warm` s later
            s0, m0, c0, w0 = json.loads(stats.read_text()), metrics(cdp), page.evaluate(
                "() => window.__counts()"), time.monotonic()
            if profile:
                cdp.send("Profiler.enable")
                cdp.send("Profiler.start")
            if trace:
                browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
            while time.monotonic() - w0 < seconds:
                time.sleep(0.1)  # the measuring window
            s1, m1, c1, w1 = json.loads(stats.read_text()), metrics(cdp), page.evaluate(
                "() => window.__counts()"), time.monotonic()
            js_profile = _self_times(cdp.send("Profiler.stop")["profile"]) if profile else []
            traced = _trace_summary(browser.stop_tracing()) if trace else {}
            deadline = time.monotonic() + 30
            while profile and not kprof.exists() and time.monotonic() < deadline:
                time.sleep(0.1)  # the kernel writes its profile (a poll inside a deadline)
            others = page.evaluate("() => window.__others()")
            if others:
                print(f"other outputs: {others}", flush=True)
            shot = tmp / "many.png"
            if not quick:
                page.screenshot(path=str(shot))
            if errors:
                print(f"page errors: {errors[:3]}", flush=True)
            page.close()
        finally:
            lab.close()
    dt = s1["t"] - s0["t"]
    wall = w1 - w0
    if len(c1) != len(types):
        raise RuntimeError(f"expected {len(types)} outputs in the page, found {len(c1)}")
    page_ups = {t: (c1[i] - c0[i]) / wall for i, t in enumerate(types)}
    comm = {t: (s1["per_view"].get(t, 0) - s0["per_view"].get(t, 0)) / dt for t in types}
    other = (s1["per_comm"].get("other", 0) - s0["per_comm"].get("other", 0)) / dt
    return {
        "kernel_profile": kprof.read_text() if kprof.exists() else "no kernel profile written",
        "seconds_to_all_views": t_all,
        "comm_msgs_per_s": (s1["comm_msgs"] - s0["comm_msgs"]) / dt,
        "comm_bytes_per_s": (s1["comm_bytes"] - s0["comm_bytes"]) / dt,
        "other_comm_msgs_per_s": other,
        "kernel_cpu_pct": (s1["cpu"] - s0["cpu"]) / dt * 100,
        "msgs_per_s": (s1["msgs"] - s0["msgs"]) / dt,
        "feed_msgs_per_s_target": RATE * len(types),
        "busy_ms_per_s": (m1["TaskDuration"] - m0["TaskDuration"]) / wall * 1000,
        "script_ms_per_s": (m1["ScriptDuration"] - m0["ScriptDuration"]) / wall * 1000,
        "layout_ms_per_s": (m1["LayoutDuration"] - m0["LayoutDuration"]) / wall * 1000,
        "style_ms_per_s": (m1["RecalcStyleDuration"] - m0["RecalcStyleDuration"]) / wall * 1000,
        "js_profile": js_profile,
        "trace": traced,
        "page_updates": page_ups,
        "comm_per_view": comm,
        "window_s": dt,
        "screenshot": str(shot),
    }


def _dist(xs: list[float]) -> str:
    return (f"min {min(xs):.2f}, p10 {percentile(xs, 10):.2f}, median {median(xs):.2f}, "
            f"max {max(xs):.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.many")
    p.add_argument("--quick", action="store_true", help="a 5 s window")
    p.add_argument("--seconds", type=float, default=None, help="measuring window, s (default 30; quick 5)")
    p.add_argument("--warm", type=float, default=None, help="seconds after every view showed data")
    p.add_argument("--explore", action="store_true", help="keep the widget's explorer on")
    p.add_argument("--byte-budget", type=float, default=None,
                   help="experiment: the frame clock's byte budget, bytes/s (default: the library's)")
    p.add_argument("--profile", action="store_true",
                   help="cProfile on the kernel's I/O thread and a CDP CPU profile of the page")
    p.add_argument("--trace", action="store_true",
                   help="a Chromium trace of the window: the main thread's time per event, its frames/s")
    p.add_argument("--bundle", default=None,
                   help="a directory with widget.js and widget.css to show the views with (A/B builds)")
    p.add_argument("--style", default=None, help="experiment: a style sheet added to the page")
    a = p.parse_args(argv)
    seconds = a.seconds or (5.0 if a.quick else 30.0)
    warm = a.warm if a.warm is not None else (1.0 if a.quick else 3.0)
    header("bench.many", ["bench.many", *(argv or [])])
    r = run(a.quick, seconds, warm, a.explore, a.profile, a.byte_budget, a.trace, a.bundle, a.style)
    ups, comm = r["page_updates"], r["comm_per_view"]
    kinds = {"tab": "tables", "met": "metrics", "cht": "charts"}
    starved = sorted(t for t, u in ups.items() if u < 2)
    rows: list[list[Any]] = [
        ["comm messages/s, all 50 views (kernel publish)", r["comm_msgs_per_s"], "<= 100",
         r["comm_msgs_per_s"] <= 100],
        ["view updates/s in the page, slowest view", min(ups.values()), ">= 2 each", not starved],
    ]
    for prefix, label in kinds.items():
        xs = [u for t, u in ups.items() if t.startswith(prefix)]
        cs = [c for t, c in comm.items() if t.startswith(prefix)]
        rows.append([f"{label} ({len(xs)}): page updates/s", _dist(xs), ">= 2 each", min(xs) >= 2])
        rows.append([f"{label}: msgs/s to each view (own comm or in a bundle)", _dist(cs), "", ""])
    rows += [
        ["comm messages/s not from the 50 views (widget status)", r["other_comm_msgs_per_s"], "", ""],
        ["comm bytes/s", r["comm_bytes_per_s"], "", ""],
        ["kernel CPU, % of one core", r["kernel_cpu_pct"], "", ""],
        ["messages decoded/s (feed: 50 x 1,000)", r["msgs_per_s"], "", ""],
        ["browser main-thread busy, ms/s (TaskDuration)", r["busy_ms_per_s"], "", ""],
        ["browser script time, ms/s (ScriptDuration)", r["script_ms_per_s"], "", ""],
        ["browser layout, ms/s (LayoutDuration)", r["layout_ms_per_s"], "", ""],
        ["browser style recalculation, ms/s (RecalcStyleDuration)", r["style_ms_per_s"], "", ""],
        ["seconds from running the cell to every view showing data", r["seconds_to_all_views"], "", ""],
    ]
    table(
        f"50 views in one kernel (20 tables, 15 metrics, 15 charts), {RATE:,} msg/s each, "
        f"{r['window_s']:.0f} s window{' (explorer on)' if a.explore else ''}"
        f"{f', byte budget {a.byte_budget:,.0f} B/s' if a.byte_budget else ''}",
        ["measure", "rt_widgets", "goal", "met"],
        rows,
    )
    print("\nper view, page updates/s (comm msgs/s):", flush=True)
    print(", ".join(f"{t} {ups[t]:.1f} ({comm[t]:.1f})" for t in view_types()), flush=True)
    print(f"views under 2 updates/s: {', '.join(starved) or 'none'}", flush=True)
    print(f"screenshot: {r['screenshot']}", flush=True)
    if a.trace:
        t = r["trace"]
        span = t["span_s"] or 1.0
        dirty, total = t["layout_objects"]
        forced = ", ".join(f"{name} {ms / span:.1f} ms/s ({n / span:.1f}/s)"
                           for name, (ms, n) in t["forced"].items())
        print(f"\npage main thread (trace, {span:.1f} s): {t['frames'] / span:.1f} rendering frames/s;"
              f" layout objects/s dirty {dirty / span:,.0f}, visited {total / span:,.0f};"
              f" forced by script: {forced or 'none'}; ms/s self, inclusive:", flush=True)
        for self_ms, incl_ms, name in t["rows"]:
            print(f"  {self_ms / span:8.1f} {incl_ms / span:8.1f}  {name}", flush=True)
    if a.profile:
        print("\npage CPU profile, self time (ms) in the window:", flush=True)
        for ms, name in r["js_profile"]:
            print(f"  {ms:8.1f}  {name}", flush=True)
        print("\nkernel I/O thread (cProfile):\n" + r["kernel_profile"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
