"""The live chart and pause/resume in JupyterLab, in Debian's Chromium.

The chart draws (its canvas has the series' colour in it, read back from the pixels), follows live
data, a drag zooms into a time range and a double-click goes back to the live window; pausing holds
the DOM of a chart and of a table still while the kernel keeps ingesting and counting, and resuming
catches up with the kernel's state. With RT_WIDGETS_SCREENSHOTS=1 the test also writes the README's
pictures of the chart, in JupyterLab's light and dark themes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from rt_widgets.demo import DemoServer

from ._helpers import wait_until
from ._jupyter import add_cell, evaluate_py, execute, js, open_notebook, run_all, write_feed_notebook
from .conftest import SCREENSHOTS, Lab, readme_pictures, shot

pytestmark = pytest.mark.browser

NOTEBOOK = "live_chart.ipynb"

# Painted pixels of the chart's canvas, and those of the first series' colour (#1f77b4).
CANVAS_PIXELS = """
(root) => {
  const c = root.querySelector('.uplot canvas');
  if (!c || !c.width || !c.height) return [0, 0];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0, line = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    painted++;
    const near = (k, v) => Math.abs(d[i + k] - v) < 40;
    if (near(0, 0x1f) && near(1, 0x77) && near(2, 0xb4)) line++;
  }
  return [painted, line];
}
"""


@pytest.fixture
def chart_feed() -> Iterator[DemoServer]:
    # About 40 metrics updates a second (the rest missions and notifications).
    with DemoServer(port=0, rate=100, seed=3) as server:
        yield server


def x_range(view: Any) -> tuple[float, float]:
    lo, hi = view.evaluate("(el) => [Number(el.dataset.xMin), Number(el.dataset.xMax)]")
    return float(lo), float(hi)


def wait_range_change(page: Any, view: Any, before: tuple[float, float], timeout_ms: int = 15_000) -> None:
    page.wait_for_function(
        "([el, lo, hi]) => Number(el.dataset.xMin) !== lo || Number(el.dataset.xMax) !== hi",
        arg=[view.element_handle(), before[0], before[1]],
        timeout=timeout_ms,
        polling=100,
    )


def open_chart(page: Any, lab: Lab, feed: DemoServer) -> Any:
    write_feed_notebook(lab, NOTEBOOK, feed.url)
    open_notebook(page, lab, NOTEBOOK)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('application:toggle-left-area'); }")
    run_all(page)
    chart_cell = add_cell(
        page,
        'w = RealtimeWidget(url, explore=False)\n'
        'c = w.chart("metrics_update", y=["cpu", "memory", "error_rate"], window=60)\nc',
        "chart",
    )
    view = chart_cell.locator(".rtw-chart").first
    expect(view.locator(".uplot canvas").first).to_be_attached(timeout=60_000)
    return chart_cell


def test_the_chart_draws_zooms_on_a_drag_and_resets_on_a_double_click(
        lab: Lab, fresh_page: Any, chart_feed: DemoServer) -> None:
    page = fresh_page
    chart_cell = open_chart(page, lab, chart_feed)
    view = chart_cell.locator(".rtw-chart").first
    page.wait_for_function(f"(root) => ({CANVAS_PIXELS})(root)[1] > 50", arg=view.element_handle(),
                           timeout=30_000, polling=200)
    painted, line = view.evaluate(CANVAS_PIXELS)
    assert painted > 1000 and line > 50, f"{painted} painted pixels, {line} of the first series"
    expect(view.locator(".rtw-chart-series")).to_have_count(3)
    expect(view.locator(".rtw-chart-series .rtw-chart-name")).to_have_text(["cpu", "memory", "error_rate"])

    # Following live data: the window moves with every new point and spans 60 s at most.
    live = x_range(view)
    wait_range_change(page, view, live)
    lo, hi = x_range(view)
    assert hi > live[1] and hi - lo <= 60.0 + 1e-6

    # The values under the cursor.
    box = view.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.8, y)
    expect(view.locator(".rtw-chart-tooltip")).to_be_visible()
    expect(view.locator(".rtw-chart-tooltip .rtw-chart-tooltip-row")).to_have_count(3)

    # A drag zooms into the range it covers, and the range holds while data arrives.
    before = x_range(view)
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.up()
    expect(view).to_have_attribute("data-mode", "zoomed")
    zoomed = x_range(view)
    span = before[1] - before[0]
    assert zoomed[1] - zoomed[0] < span * 0.6, (before, zoomed)
    assert before[0] < zoomed[0] < zoomed[1] < before[1] + 1.0
    legend = view.locator(".rtw-chart-legend")
    shown = legend.text_content()
    page.wait_for_function("([el, t]) => el.textContent !== t", arg=[legend.element_handle(), shown],
                           timeout=15_000, polling=100)
    assert x_range(view) == zoomed
    expect(view.locator(".rtw-chart-reset")).to_be_visible()
    shot(page, "chart-zoomed")

    # A double-click goes back to following live data over the whole window.
    page.mouse.dblclick(box["x"] + box["width"] * 0.5, y)
    expect(view).to_have_attribute("data-mode", "live")
    lo, hi = x_range(view)
    assert hi - lo == pytest.approx(60.0) or hi - lo < 60.0
    assert hi >= zoomed[1]
    expect(view.locator(".rtw-chart-reset")).to_be_hidden()

    # A window preset and a series toggle.
    view.locator(".rtw-chart-preset[data-window='all']").click()
    expect(view.locator(".rtw-chart-preset[data-window='all']")).to_have_attribute("aria-pressed", "true")
    view.locator(".rtw-chart-series[data-series='error_rate']").click()
    expect(view.locator(".rtw-chart-series[data-series='error_rate']")).to_have_attribute(
        "aria-pressed", "false")
    view.locator(".rtw-chart-series[data-series='error_rate']").click()
    view.locator(".rtw-chart-preset[data-window='60']").click()

    if readme_pictures():
        pictures(page, chart_cell)
    execute(page, "w.close()")


def test_pause_holds_the_views_still_while_the_kernel_counts_and_resume_catches_up(
        lab: Lab, fresh_page: Any, chart_feed: DemoServer) -> None:
    page = fresh_page
    chart_cell = open_chart(page, lab, chart_feed)
    chart = chart_cell.locator(".rtw-chart").first
    table_cell = add_cell(page, 't = w.table("mission_update")\nt', "table")
    table = table_cell.locator(".rtw-table").first
    expect(table.locator("tr.rtw-row").first).to_be_visible(timeout=30_000)
    wait_range_change(page, chart, x_range(chart))

    for view in (chart, table):
        view.locator(".rtw-pause-button").click()
        expect(view.locator(".rtw-pause-button")).to_have_attribute("aria-pressed", "true")
    # The kernel knows: both views report paused.
    wait_until(lambda: evaluate_py(page, "[c.paused, t.paused]") == [True, True], 10,
               "the kernel did not pause the views")
    held_chart = chart.evaluate("(el) => el.querySelector('.rtw-chart-legend').innerHTML + el.dataset.xMax")
    # The rows' text (a cell's flash of an earlier change may still fade out).
    held_table = table.locator("tbody").text_content()
    points = evaluate_py(page, "len(c.points('cpu'))")
    messages = evaluate_py(page, "w.stats['messages_in']")

    # The kernel keeps ingesting while the views wait; their badges count what waits.
    wait_until(lambda: evaluate_py(page, "len(c.points('cpu'))") >= points + 40, 30,
               "the kernel stopped ingesting metrics")
    wait_until(lambda: evaluate_py(page, "w.stats['messages_in']") >= messages + 100, 30,
               "the kernel stopped ingesting")
    expect(chart.locator(".rtw-pause-badge")).to_have_text(
        re.compile(r"^[\d,]+ updates? waiting$"), timeout=10_000)
    first = chart.locator(".rtw-pause-badge").text_content()
    page.wait_for_function("([el, t]) => el.textContent !== t",
                           arg=[chart.locator(".rtw-pause-badge").element_handle(), first],
                           timeout=10_000, polling=100)
    expect(table.locator(".rtw-pause-badge")).to_contain_text("waiting")
    assert chart.evaluate("(el) => el.querySelector('.rtw-chart-legend').innerHTML + el.dataset.xMax") \
        == held_chart
    assert table.locator("tbody").text_content() == held_table
    shot(page, "chart-paused")

    # Resume: the current state at once.
    chart.locator(".rtw-pause-button").click()
    latest = evaluate_py(page, "c.points('cpu')[-2][0]")
    page.wait_for_function("([el, t]) => Number(el.dataset.xMax) >= t",
                           arg=[chart.element_handle(), latest], timeout=15_000, polling=100)
    expect(chart.locator(".rtw-pause-badge")).to_be_hidden()
    table.locator(".rtw-pause-button").click()
    page.wait_for_function("([el, h]) => el.textContent !== h",
                           arg=[table.locator("tbody").element_handle(), held_table],
                           timeout=15_000, polling=100)
    assert evaluate_py(page, "[c.paused, t.paused]") == [False, False]

    # From Python too: the view's button follows.
    execute(page, "c.pause()")
    expect(chart.locator(".rtw-pause-button")).to_have_attribute("aria-pressed", "true")
    execute(page, "c.resume()")
    expect(chart.locator(".rtw-pause-button")).to_have_attribute("aria-pressed", "false")
    execute(page, "w.close()")


def pictures(page: Any, chart_cell: Any) -> None:
    """docs/screenshots/chart-light.png and chart-dark.png: the cell's code and its chart."""
    # Everything the chart holds in view, once it holds some seconds of data.
    view = chart_cell.locator(".rtw-chart").first
    view.locator(".rtw-chart-preset[data-window='all']").click()
    page.wait_for_function("(el) => Number(el.dataset.rows) >= 400", arg=view.element_handle(),
                           timeout=60_000, polling=200)
    # The cell toolbar and the selection outline belong to the active cell: make it the first one.
    page.evaluate(js("rtwPanel().content.activeCellIndex = 0; document.activeElement.blur();"))
    page.mouse.move(0, 0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for theme, name in (("JupyterLab Light", "chart-light"), ("JupyterLab Dark", "chart-dark")):
            page.evaluate("async (t) => { await window.jupyterapp.commands.execute("
                          "'apputils:change-theme', {theme: t}); }", theme)
            light = "true" if theme.endswith("Light") else "false"
            page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
            # The chart reads its axis colours at most once a second: wait until it has the
            # theme's, then for a frame drawn after that.
            page.wait_for_function(
                "(el) => el.dataset.axisColor === getComputedStyle(el)"
                ".getPropertyValue('--rtw-muted').trim()",
                arg=view.element_handle(), polling=100)
            wait_range_change(page, view, x_range(view))
            code = chart_cell.locator(".jp-InputArea-editor").first.bounding_box()
            output = chart_cell.locator(".jp-OutputArea-output").first.bounding_box()
            assert code is not None and output is not None, "the chart cell is not laid out"
            top = code["y"]
            page.screenshot(
                path=str(SCREENSHOTS / f"{name}.png"),
                clip={"x": output["x"], "y": top, "width": output["width"],
                      "height": output["y"] + output["height"] - top},
                animations="disabled",
            )
    finally:
        page.evaluate("async () => { await window.jupyterapp.commands.execute("
                      "'apputils:change-theme', {theme: 'JupyterLab Light'}); }")
