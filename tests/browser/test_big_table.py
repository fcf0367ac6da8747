"""A live table of 10,000 missions in JupyterLab: every row held, only the visible ones drawn.

The test runs a feed of its own, sized to 10,000 missions and fast enough that rows on screen
change while the test watches; the package feed stays as the other tests expect it.
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
from ._views import wait_text_change
from .conftest import SCREENSHOTS, Lab, readme_pictures, shot

pytestmark = pytest.mark.browser

MISSIONS = 10_000
NOTEBOOK = "big_table.ipynb"
# A row is 26 px high and a few are drawn beyond each edge of the view: a table of 10,000 rows
# that drew them all would be a hundred times over this.
MAX_DRAWN_ROWS = 200
PICTURE_WIDTH = 1100


@pytest.fixture
def big_feed() -> Iterator[DemoServer]:
    # ~620 mission updates a second spread over 10,000 rows: each row on screen changes every
    # fifteen seconds or so, several of the visible ones every second.
    with DemoServer(port=0, rate=1000, missions=MISSIONS, seed=7) as server:
        yield server


def test_ten_thousand_row_table_is_virtualised_and_live(
    lab: Lab, fresh_page: Any, big_feed: DemoServer
) -> None:
    page = fresh_page
    write_feed_notebook(lab, NOTEBOOK, big_feed.url)
    open_notebook(page, lab, NOTEBOOK)
    # More room for the table: the file browser is not part of the picture.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('application:toggle-left-area'); }")
    run_all(page)
    # One cell, so the table exists before the feed's opening burst of every mission arrives.
    table_cell = add_cell(
        page,
        'w = RealtimeWidget(url, explore=False)\nt = w.table("mission_update", key="id")\nt',
        "table",
    )
    view = table_cell.locator(".rtw-table").first
    expect(view.locator(".rtw-table-count")).to_have_text("10,000 rows", timeout=60_000)
    assert evaluate_py(page, "len(t.to_pandas())") == MISSIONS

    rows = view.locator("tr.rtw-row")
    expect(rows.first).to_be_visible()
    drawn = rows.count()
    assert 0 < drawn < MAX_DRAWN_ROWS, f"{drawn} rows in the DOM for a 10,000-row table"
    expect(view.locator("tr.rtw-row[data-key='1']")).to_be_visible()
    expect(view.locator(f"tr.rtw-row[data-key='{MISSIONS}']")).to_have_count(0)

    scroller = view.locator(".rtw-table-scroll")
    scroller.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    last = view.locator(f"tr.rtw-row[data-key='{MISSIONS}']")
    expect(last).to_be_visible()
    expect(last).to_contain_text(re.compile(r"Zenith-10000"))
    assert last.evaluate(
        "(tr) => { const box = tr.getBoundingClientRect();"
        " const view = tr.closest('.rtw-table-scroll').getBoundingClientRect();"
        " return box.bottom <= view.bottom + 1 && box.top >= view.top; }"
    ), "the last row is drawn inside the scrolled view"
    assert rows.count() < MAX_DRAWN_ROWS, "scrolling must not accumulate rows"
    expect(view.locator("tr.rtw-row[data-key='1']")).to_have_count(0)

    # The rows on screen keep changing as updates arrive, at the bottom of the table too.
    before = evaluate_py(page, "w.stats['messages_in']")
    wait_text_change(page, view.locator("tbody"), timeout_ms=30_000)
    wait_text_change(page, view.locator("tbody"), timeout_ms=30_000)
    wait_until(
        lambda: evaluate_py(page, "w.stats['messages_in']") > before + 1000,
        30,
        "the kernel stopped receiving updates",
    )
    expect(view.locator(".rtw-table-count")).to_have_text("10,000 rows")

    shot(page, "big-table")
    if readme_pictures():
        picture(page, table_cell)
    execute(page, "w.close()")


def picture(page: Any, table_cell: Any) -> None:
    """docs/screenshots/table.png: the cell's code and its table, at the README pictures' width."""
    # The cell toolbar and the selection outline belong to the active cell: make it the first one.
    page.evaluate(js("rtwPanel().content.activeCellIndex = 0; document.activeElement.blur();"))
    code = table_cell.locator(".jp-InputArea-editor").first.bounding_box()
    output = table_cell.locator(".jp-OutputArea-output").first.bounding_box()
    assert code is not None and output is not None, "the table cell is not laid out"
    top = code["y"]
    height = output["y"] + output["height"] - top
    assert output["width"] + 1 >= PICTURE_WIDTH, f"the output is only {output['width']} px wide"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOTS / "table.png"),
        clip={"x": output["x"], "y": top, "width": PICTURE_WIDTH, "height": height},
        animations="disabled",
    )
