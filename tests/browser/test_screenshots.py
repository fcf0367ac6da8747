"""The README's pictures, made by the suite: the live chart, a table grouped by a column and the
message log (an entry open as a JSON tree), each as its cell shows it in JupyterLab's light and
dark themes, fed live by a loopback feed. Written to docs/screenshots/ (overwritten on every run);
the test checks that each file was written just now and is not blank (its pixels read back in the
browser: many colours, and a share of the picture that is not the background), and that the log
shows its newest message first.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ._jupyter import add_cell, evaluate_py, execute, js, open_notebook, run_all, write_feed_notebook
from ._themes import ExplorerFeed, explorer_feed, set_lab_theme
from .conftest import SCREENSHOTS, Lab

pytestmark = pytest.mark.browser

THEMES = (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark"))

# The colours of a PNG, read back through an <img> and a canvas: how many distinct colours, and the
# share of pixels that are not the most common colour (the background).
PIXELS = """
async (data) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + data;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const counts = new Map();
  for (let i = 0; i < d.length; i += 4) {
    const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  const top = Math.max(...counts.values());
  return {width: c.width, height: c.height, colours: counts.size, other: 1 - top / (d.length / 4)};
}
"""


@pytest.fixture
def picture_feed() -> Iterator[ExplorerFeed]:
    with explorer_feed() as feed:
        yield feed


def picture(page: Any, cell: Any, name: str) -> None:
    """docs/screenshots/<name>.png: the cell's code and its output."""
    cell.locator(".jp-OutputArea-output").first.scroll_into_view_if_needed()
    code = cell.locator(".jp-InputArea-editor").first.bounding_box()
    output = cell.locator(".jp-OutputArea-output").first.bounding_box()
    assert code is not None and output is not None, f"the cell of {name} is not laid out"
    top = code["y"]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled",
                    clip={"x": output["x"], "y": top, "width": output["width"],
                          "height": output["y"] + output["height"] - top})


def check_picture(page: Any, name: str, since: float) -> dict[str, Any]:
    path = SCREENSHOTS / f"{name}.png"
    assert path.is_file() and path.stat().st_mtime >= since, f"{path} was not written"
    found: dict[str, Any] = page.evaluate(PIXELS, base64.b64encode(path.read_bytes()).decode())
    assert found["width"] >= 300 and found["height"] >= 150, f"{name}: {found}"
    assert found["colours"] >= 50 and found["other"] >= 0.02, f"{name} is blank: {found}"
    return found


def test_readme_screenshots_of_the_chart_a_grouped_table_and_the_log_in_light_and_dark(
        lab: Lab, fresh_page: Any, picture_feed: ExplorerFeed) -> None:
    page = fresh_page
    page.set_viewport_size({"width": 1100, "height": 1400})
    write_feed_notebook(lab, "pictures.ipynb", picture_feed.url)
    open_notebook(page, lab, "pictures.ipynb")
    page.evaluate("async () => { await window.jupyterapp.commands.execute('application:toggle-left-area'); }")
    run_all(page)
    chart_cell = add_cell(
        page, 'w = RealtimeWidget(url, explore=False)\nc = w.chart("metrics_update", window=60)\nc', "chart")
    table_cell = add_cell(page, 't = w.table("mission_update")\nt', "table")
    log_cell = add_cell(page, 'log = w.log("audit", limit=50)\nlog', "log")
    chart = chart_cell.locator(".rtw-chart").first
    table = table_cell.locator(".rtw-table").first
    log = log_cell.locator(".rtw-log").first

    # About 20 s of the chart; the table grouped by team (three groups, their figures live).
    page.wait_for_function("(el) => Number(el.dataset.rows) >= 200", arg=chart.element_handle(),
                           timeout=60_000, polling=200)
    chart.locator(".rtw-chart-preset[data-window='all']").click()
    table.locator("select.rtw-table-group").select_option(label="team")
    table.locator("tr.rtw-row[data-group]").nth(2).wait_for(timeout=15_000)
    # The log held still with its newest entry open as a tree.
    log.locator(".rtw-log-entry").nth(5).wait_for(timeout=15_000)
    log.locator(".rtw-pause-button").click()
    log.locator(".rtw-pause-badge").wait_for(state="visible")
    # Newest first: the held entries count down, the first is the newest the view was sent, and
    # the kernel has that message.
    shown = [int(t.split('"login #', 1)[1].split('"', 1)[0])
             for t in log.locator(".rtw-log-text").all_text_contents()]
    assert shown == sorted(shown, reverse=True) and len(set(shown)) == len(shown), shown
    kept = evaluate_py(page, '[e["text"] for e in log.entries]')
    assert any(f'"login #{shown[0]}"' in text for text in kept), (shown[0], kept[-3:])
    assert f'"login #{shown[0] + 1}"' not in log.locator(".rtw-log-list").text_content()
    log.locator(".rtw-log-entry .rtw-log-toggle").first.click()
    log.locator(".rtw-log-entry .rtw-log-body .rtw-json-key").first.wait_for()

    page.evaluate(js("rtwPanel().content.activeCellIndex = 0; document.activeElement.blur();"))
    page.mouse.move(0, 0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    since = time.time() - 1
    names = []
    try:
        for theme, suffix in THEMES:
            set_lab_theme(page, theme)
            # The chart reads its axis colours at most once a second: wait until it has the
            # theme's, then for a frame drawn after that.
            page.wait_for_function(
                "(el) => el.dataset.axisColor"
                " === getComputedStyle(el).getPropertyValue('--rtw-muted').trim()",
                arg=chart.element_handle(), polling=100)
            drawn = chart.evaluate("(el) => el.dataset.xMax")
            page.wait_for_function("([el, x]) => el.dataset.xMax !== x", arg=[chart.element_handle(), drawn],
                                   polling=100)
            for cell, stem in ((chart_cell, "chart"), (table_cell, "table-grouped"), (log_cell, "log")):
                picture(page, cell, f"{stem}-{suffix}")
                names.append(f"{stem}-{suffix}")
    finally:
        set_lab_theme(page, "JupyterLab Light")
    for name in names:
        found = check_picture(page, name, since)
        print(f"{name}.png: {found['width']}x{found['height']}, {found['colours']} colours, "
              f"{found['other']:.0%} not background")
    assert len(names) == 6
    execute(page, "w.close()")
