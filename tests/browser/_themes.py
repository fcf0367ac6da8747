"""What the theme and screenshot tests share: a loopback feed with a type for each of the
explorer's views, a ``marimo run`` app in a chosen theme, and a text-contrast measurement made in
the page from computed styles.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests._servers import ServerLoop, WsServer

from ._helpers import free_port, port_open, wait_until
from .conftest import ARTIFACTS, REPO, _stop_process

# Types the feed sends, and the view the explorer gives each.
TYPES = {"mission_update": "table", "metrics_update": "metrics", "audit": "log",
         "notification": "notifications"}


def _envelope(type: str, payload: Any) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": type, "payload": payload, "timestamp": stamp}


def tick(i: int) -> list[dict[str, Any]]:
    """The messages of step ``i``: a mission row, a metrics sample, an audit record (nested, so
    the explorer logs it) and, every 20 steps, a notification."""
    statuses = ("queued", "running", "done", "failed")
    k = i % 12
    out = [
        _envelope("mission_update", {
            "id": f"M-{k:02d}", "name": f"mission {k}", "status": statuses[(i // 12 + k) % 4],
            "team": ("alpha", "bravo", "charlie")[k % 3], "progress": round((i % 50) / 50, 2),
            "cost": round(100 + 10 * k + 40 * math.sin(i / 7), 2),
        }),
        _envelope("metrics_update", {
            "cpu": round(50 + 30 * math.sin(i / 15), 2), "memory": round(60 + 10 * math.cos(i / 20), 2),
            "error_rate": round(abs(math.sin(i / 9)) * 3, 3),
        }),
        _envelope("audit", {
            "event": f"login #{i}", "actor": {"name": f"user {i % 5}", "roles": ["reader", "writer"]},
            "ok": i % 3 != 0, "latency_ms": round(12 + 8 * math.sin(i), 1), "tags": None,
        }),
    ]
    if i % 20 == 0:
        level = ("info", "warning", "error", "success")[(i // 20) % 4]
        out.append(_envelope("notification", {"level": level, "title": f"{level} {i}",
                                              "message": f"step {i} of the feed"}))
    return out


class ExplorerFeed:
    """A real ``websockets`` server on 127.0.0.1 that sends :func:`tick` every ``interval``
    seconds to every client, from a thread of its own."""

    def __init__(self, interval: float = 0.1) -> None:
        self._loop = ServerLoop()
        self.server = WsServer(self._loop).start()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="explorer-feed", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    def _run(self) -> None:
        i = 0
        # Event.wait paces the feed (and ends it at once on close).
        while not self._stop.wait(self._interval):
            if self.server.open_connections:
                try:
                    self.server.send(tick(i))
                except ConnectionClosed:  # a client that left while it was being sent to
                    continue
                i += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.stop()
        self._loop.close()


@contextmanager
def explorer_feed() -> Iterator[ExplorerFeed]:
    feed = ExplorerFeed()
    try:
        yield feed
    finally:
        feed.close()


MARIMO_APP = textwrap.dedent('''
    import marimo

    app = marimo.App(width="full")


    @app.cell
    def _():
        import os
        import time

        import marimo as mo

        from rt_widgets import RealtimeWidget

        w = RealtimeWidget(os.environ["RT_WIDGETS_FEED_URL"])
        # The explorer makes its views on the I/O thread from the first messages: show it once
        # every type has one.
        wanted = {"mission_update", "metrics_update", "audit"}
        deadline = time.monotonic() + 30
        while not wanted <= set(w.children) and time.monotonic() < deadline:
            time.sleep(0.05)
        return mo, w


    @app.cell
    def _(mo, w):
        mo.ui.anywidget(w)
        return


    if __name__ == "__main__":
        app.run()
''')


@contextmanager
def marimo_run(feed_url: str, theme: str, directory: Path) -> Iterator[str]:
    """``marimo run`` of :data:`MARIMO_APP` with ``[tool.marimo.display] theme`` set to
    ``theme`` in the app's pyproject.toml; yields the page's URL."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(MARIMO_APP)
    (directory / "pyproject.toml").write_text(f'[tool.marimo.display]\ntheme = "{theme}"\n')
    port = free_port()
    env = dict(os.environ, RT_WIDGETS_FEED_URL=feed_url,
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / f"marimo-{theme}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--host", "127.0.0.1",
         "--port", str(port), "--no-token", "--session-ttl", "1", "--no-sandbox", "--no-check"],
        cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 60,
                   "marimo run did not listen")
        assert proc.poll() is None, f"marimo run exited; see test-artifacts/marimo-{theme}.log"
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop_process(proc)
        log.close()


# Every visible text node under `root`: its computed colour against its effective background (the
# background colours of it and its ancestors, across shadow roots, composed from the page up),
# with each element's opacity applied to the text. Colours are read through a 1x1 canvas, so any
# syntax the browser computes (rgb(), color(srgb ...), color-mix results) is handled. Text of a
# disabled control is left out (inactive controls are exempt from the contrast rule); finite
# animations are finished first.
CONTRAST = """
(root) => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000'; ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const over = (top, under) => {
    const a = top[3] + under[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    const mix = (i) => (top[i] * top[3] + under[i] * under[3] * (1 - top[3])) / a;
    return [mix(0), mix(1), mix(2), a];
  };
  const parent = (el) => el.parentElement || (el.parentNode && el.parentNode.host) || null;
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = parent(e)) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];  // the canvas under everything
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  // What a user reads: a toast's 0.18 s entrance (opacity from 0) measured at its end.
  for (const a of root.getAnimations({subtree: true})) {
    if (Number.isFinite(a.effect.getComputedTiming().endTime)) a.finish();
  }
  const results = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el) continue;
    if (el.closest(':disabled, [aria-disabled="true"]')) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || el.getClientRects().length === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const box = range.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    let opacity = 1;
    for (let e = el; e; e = parent(e)) opacity *= Number(getComputedStyle(e).opacity);
    const bg = background(el);
    const fg = rgba(style.color);
    fg[3] *= opacity;
    const shown = over(fg, bg);
    const [a, b] = [lum(shown), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    results.push({text: text.slice(0, 40), ratio, color: style.color,
                  background: `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`,
                  where: el.className && String(el.className).slice(0, 60) || el.tagName});
  }
  return results;
}
"""


def measure_explorer(page: Any, explorer: Any,
                     on_tab: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The contrast of every visible text of ``explorer`` with each of its tabs open in turn, the
    send form open, and a paused view's badge shown; ``on_tab(type)`` runs once a tab shows."""
    found: list[dict[str, Any]] = []
    explorer.locator(".rtw-send summary").click()
    tabs = explorer.locator(".rtw-tabs .rtw-tab")
    wait_until(lambda: tabs.count() >= 3, 30, "the explorer has fewer than 3 tabs")
    panel = explorer.locator(".rtw-tab-panel")
    for i in range(tabs.count()):
        tab = tabs.nth(i)
        tab.click()
        wait_until(lambda: explorer.locator(".rtw-tab-panel .rtw-root").count() > 0, 15,
                   f"tab {tab.text_content()!r} shows no view")
        wait_until(lambda: "No messages yet" not in panel.inner_text()
                   and "No rows" not in panel.inner_text(), 15,
                   f"tab {tab.text_content()!r} shows no data")
        if on_tab is not None:
            on_tab(tab.text_content() or "")
        found += explorer.evaluate(CONTRAST)
        pause = panel.locator(".rtw-pause-button").first
        if pause.count():
            pause.click()
            panel.locator(".rtw-pause-badge").first.wait_for(state="visible")
            found += explorer.evaluate(CONTRAST)
            pause.click()
    return found


def report(name: str, found: list[dict[str, Any]]) -> None:
    """Print the minimum ratio and the count, and fail with the worst texts under 4.5:1."""
    assert found, f"{name}: no text measured"
    worst = min(found, key=lambda r: r["ratio"])
    print(f"{name}: {len(found)} text nodes, minimum contrast {worst['ratio']:.2f}:1 "
          f"({worst['text']!r} in .{worst['where']}: {worst['color']} on {worst['background']})")
    bad = sorted((r for r in found if r["ratio"] < 4.5), key=lambda r: r["ratio"])
    seen: set[tuple[str, str]] = set()
    lines = []
    for r in bad:
        if (r["where"], r["color"]) in seen:
            continue
        seen.add((r["where"], r["color"]))
        lines.append(f"  {r['ratio']:.2f}:1 {r['text']!r} in .{r['where']}: "
                     f"{r['color']} on {r['background']}")
    assert not bad, f"{name}: {len(bad)} of {len(found)} texts under 4.5:1:\n" + "\n".join(lines[:20])


# ---------------------------------------------------------------------------------------------
# JupyterLab


def set_lab_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab to `theme` ("JupyterLab Light", "JupyterLab Dark") and wait until it shows."""
    page.evaluate("async (t) => { await window.jupyterapp.commands.execute("
                  "'apputils:change-theme', {theme: t}); }", theme)
    light = "true" if theme.endswith("Light") else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")


# ---------------------------------------------------------------------------------------------
# A plain HTML page: the bundle and its stylesheet, with no host variables at all (or VS Code's).

STATIC = REPO / "rt_widgets" / "static"
PLAIN_ORIGIN = "http://rtw.test"

# VS Code's default themes (Dark Modern, Light Modern) as its webviews define them: the variables
# the views read, on <html>, and the body's class.
VSCODE_THEMES: dict[str, tuple[str, dict[str, str]]] = {
    "dark": ("vscode-dark", {
        "--vscode-editor-background": "#1f1f1f", "--vscode-editor-foreground": "#cccccc",
        "--vscode-descriptionForeground": "#9d9d9d", "--vscode-panel-border": "#2b2b2b",
        "--vscode-input-border": "#3c3c3c", "--vscode-textLink-foreground": "#4daafc",
        "--vscode-testing-iconPassed": "#73c991", "--vscode-editorWarning-foreground": "#cca700",
        "--vscode-errorForeground": "#f85149", "--vscode-editorInfo-foreground": "#3794ff",
    }),
    "light": ("vscode-light", {
        "--vscode-editor-background": "#ffffff", "--vscode-editor-foreground": "#3b3b3b",
        "--vscode-descriptionForeground": "#3b3b3b", "--vscode-panel-border": "#e5e5e5",
        "--vscode-input-border": "#cecece", "--vscode-textLink-foreground": "#005fb8",
        "--vscode-testing-iconPassed": "#388a34", "--vscode-editorWarning-foreground": "#bf8803",
        "--vscode-errorForeground": "#f85149", "--vscode-editorInfo-foreground": "#1a85ff",
    }),
}

# The page: the bundle's default export renders an explorer whose models hold what a kernel's
# would (status, overview, a table, metrics, a message log, notifications). The models answer a
# view's presence as a kernel does, so the views are live, not saved.
PLAIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="/widget.css"></head>
<body><div id="out"></div>
<script type="module">
import widget from "/widget.js";
class Model {
  constructor(attrs, manager) {
    this.attrs = attrs; this.handlers = new Map(); this.widget_manager = manager;
  }
  get(k) { return this.attrs[k]; }
  set(k, v) { this.attrs[k] = v; this.emit("change:" + k); }
  save_changes() {}
  on(e, f) { if (!this.handlers.has(e)) this.handlers.set(e, []); this.handlers.get(e).push(f); }
  off(e, f) {
    if (!e) { this.handlers.clear(); return; }
    this.handlers.set(e, f ? (this.handlers.get(e) || []).filter((g) => g !== f) : []);
  }
  emit(e, ...args) { for (const f of [...(this.handlers.get(e) || [])]) f(...args); }
  send(msg) {
    if (msg && msg.kind === "presence") queueMicrotask(() => this.emit("msg:custom", {kind: "live"}, []));
  }
}
const models = new Map();
const manager = { get_model: async (id) => models.get(id) };
const now = Date.now() / 1000;
const iso = (s) => new Date((now - s) * 1000).toISOString();
const pretty = (v) => JSON.stringify(v, null, 2);
const rows = [];
for (let k = 0; k < 12; k++) rows.push({id: `M-${k}`, team: ["alpha", "bravo", "charlie"][k % 3],
  status: ["queued", "running", "done", "failed"][k % 4], progress: k / 12, cost: 100 + 10 * k});
const hist = (f) => Array.from({length: 60}, (_, i) => [now - 60 + i, f(i)]);
const entries = Array.from({length: 8}, (_, i) => ({id: i + 1, type: "audit", time: iso(8 - i),
  text: pretty({event: `login #${i}`, actor: {name: `user ${i}`, roles: ["reader"]}, ok: i % 2 === 0,
                n: null}),
  truncated: false, size: 90}));
const levels = ["info", "warning", "error", "success"];
models.set("t1", new Model({_view: "table", paused: false,
  _snapshot: {seq: 0, key: "id", columns: ["id", "team", "status", "progress", "cost"], rows}}, manager));
models.set("m1", new Model({_view: "metrics", paused: false, _snapshot: {seq: 0,
  latest: {cpu: 42.5, memory: 61.2, error_rate: 2.4},
  history: {cpu: hist((i) => 40 + i % 7), memory: hist((i) => 60 + i % 3), error_rate: hist((i) => i % 4)},
  series: null, thresholds: {error_rate: {above: 2}}}}, manager));
models.set("l1", new Model({_view: "log", paused: false, message_type: "audit",
  _snapshot: {seq: 0, limit: 200, total: 8, entries}}, manager));
const items = (from) => levels.map((level, i) => ({id: String(from + i), level, title: `${level} title`,
  message: `a ${level} message`, timestamp: iso(i), source: "notification"}));
models.set("n1", new Model({_view: "notifications", _snapshot: {seq: 0, items: items(0)}}, manager));
// New notifications show as toasts (the snapshot fills the history).
window.rtwNotify = () => models.get("n1").emit("msg:custom", {kind: "delta", seq: 1, add: items(10)}, []);
const overview = {
  mission_update: {count: 1200, rate: 12.5, last_seen: now - 1, rates: [1, 3, 2, 5], kind: "table"},
  metrics_update: {count: 400, rate: 10, last_seen: now - 1, rates: [9, 10, 11], kind: "metrics"},
  audit: {count: 8, rate: 1, last_seen: now - 2, rates: [1, 1, 0], kind: "log"},
  notification: {count: 4, rate: 0.2, last_seen: now - 3, rates: [0, 1], kind: "notifications"},
};
const explorer = new Model({_view: "realtime", status: "connected", attempt: 0, next_retry_in: null,
  error: null, latency_ms: 12, queued: 0, stats: {messages_in: 1612, messages_out: 0}, overview,
  children: {mission_update: "IPY_MODEL_t1", metrics_update: "IPY_MODEL_m1", audit: "IPY_MODEL_l1",
             notification: "IPY_MODEL_n1"}}, manager);
widget.render({model: explorer, el: document.getElementById("out"), signal: new AbortController().signal});
</script></body></html>
"""


def open_plain_page(page: Any, vscode: str | None = None) -> None:
    """Serve :data:`PLAIN_PAGE` and the built bundle at :data:`PLAIN_ORIGIN` and open it; with
    ``vscode`` ("dark" or "light") the page carries that VS Code theme's body class and variables."""
    html = PLAIN_PAGE
    if vscode is not None:
        body_class, variables = VSCODE_THEMES[vscode]
        style = "; ".join(f"{k}: {v}" for k, v in variables.items())
        html = html.replace("<html>", f'<html style="{style}">')
        html = html.replace("<body>", f'<body class="{body_class}">')
    files = {"/": ("text/html", html.encode()),
             "/widget.js": ("text/javascript", (STATIC / "widget.js").read_bytes()),
             "/widget.css": ("text/css", (STATIC / "widget.css").read_bytes())}

    def serve(route: Any) -> None:
        path = route.request.url[len(PLAIN_ORIGIN):] or "/"
        if path not in files:
            route.fulfill(status=404, body="")
            return
        kind, body = files[path]
        route.fulfill(status=200, content_type=kind, body=body)

    page.route(f"{PLAIN_ORIGIN}/**", serve)
    page.goto(f"{PLAIN_ORIGIN}/")
