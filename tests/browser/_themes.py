"""What the theme and screenshot tests share: a loopback feed with a type for each of the
explorer's views, a ``marimo run`` app in a chosen theme, and a text-contrast measurement made in
the page from computed styles.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
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


def measure_explorer(page: Any, explorer: Any) -> list[dict[str, Any]]:
    """The contrast of every visible text of ``explorer`` with each of its tabs open in turn, the
    send form open, and a paused view's badge shown."""
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


def write_notebook(lab: Any, name: str, url: str) -> None:
    """A notebook `name` in the lab's root whose one cell imports RealtimeWidget and sets `url`."""
    setup: dict[str, Any] = {
        "cell_type": "code", "execution_count": None, "id": "setup", "metadata": {"tags": ["setup"]},
        "outputs": [], "source": f"from rt_widgets import RealtimeWidget\n\nurl = {url!r}",
    }
    notebook = {
        "cells": [setup],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (lab.root / name).write_text(json.dumps(notebook))


def set_lab_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab to `theme` ("JupyterLab Light", "JupyterLab Dark") and wait until it shows."""
    page.evaluate("async (t) => { await window.jupyterapp.commands.execute("
                  "'apputils:change-theme', {theme: t}); }", theme)
    light = "true" if theme.endswith("Light") else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
