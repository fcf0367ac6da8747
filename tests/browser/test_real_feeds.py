"""notebooks/real_feeds.ipynb in JupyterLab: the explorer on foreign feeds (local replicas of
Binance, BitMEX and Polygon, as the notebook starts them) lists each feed's types and shows each
one a view: the table keyed by the field it inferred or asked for, and a message log for the rest,
searchable and rendered as text. With RT_WIDGETS_SCREENSHOTS=1 the test also writes the pictures
docs/screenshots/explorer-binance.png, explorer-bitmex.png and explorer-polygon.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ._jupyter import js, open_notebook, run_all
from .conftest import SCREENSHOTS, Lab, close_page, new_page, readme_pictures, shot

pytestmark = pytest.mark.browser

CONNECT_MS = 45_000
# For each pictured feed: the type whose tab is shown, the key its table shows first, the fewest
# rows it must hold, and the kind of view of each type its overview must list.
FEEDS: dict[str, tuple[str, str, int, dict[str, str]]] = {
    "binance": ("trade", "t", 5, {"trade": "table", "message": "log"}),
    "bitmex": ("orderBookL2", "symbol", 10,
               {"orderBookL2": "table", "trade": "table", "message": "log"}),
    "polygon": ("T", "i", 3, {"T": "table", "Q": "table", "status": "log"}),
}


@pytest.fixture(scope="module")
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    lab.shutdown_kernels()
    p = new_page(browser, width=1280, height=1000)
    open_notebook(p, lab, "real_feeds.ipynb")
    p.evaluate(js("await window.jupyterapp.commands.execute('application:toggle-left-area');"))
    run_all(p)
    yield p
    close_page(p)
    lab.shutdown_kernels()


def explorer(page: Any, name: str) -> Any:
    return page.locator(f"[data-rtw-tag~='{name}'][data-rtw-tag~='explorer']")


@pytest.mark.parametrize("name", list(FEEDS))
def test_the_explorer_shows_each_type_of_a_foreign_feed_with_a_view(page: Any, name: str) -> None:
    tab, first_column, rows, types = FEEDS[name]
    cell = explorer(page, name)
    view = cell.locator(".rtw-explorer").first
    expect(view.locator(".rtw-status").first).to_have_attribute("data-status", "connected",
                                                                timeout=CONNECT_MS)
    for type, kind in types.items():
        row = view.locator(f".rtw-overview-row[data-type='{type}']")
        expect(row).to_be_visible(timeout=30_000)
        # Every type has a view: its row opens it, and its kind is never only a count.
        expect(row).to_have_class(re.compile(r"\brtw-has-view\b"), timeout=30_000)
        expect(row.locator(".rtw-kind")).to_have_text(kind)
    view.locator(f".rtw-tab[data-type='{tab}']").click()
    table = view.locator(f".rtw-tab-content[data-type='{tab}'] .rtw-table").first
    expect(table.locator("th").first).to_have_attribute("data-column", first_column)
    page.wait_for_function(
        "([el, n]) => el.querySelectorAll('tr.rtw-row').length >= n",
        arg=[table.element_handle(), rows], timeout=30_000, polling=200)
    shot(page, f"explorer-{name}")
    if readme_pictures():
        picture(page, cell, f"explorer-{name}")


def test_a_logged_type_shows_its_messages_as_searchable_text(page: Any) -> None:
    view = explorer(page, "binance").locator(".rtw-explorer").first
    view.locator(".rtw-tab[data-type='message']").click()
    log = view.locator(".rtw-tab-content[data-type='message'] .rtw-log").first
    # Binance's answer to the subscription, {"result": null, "id": 1}: its payload under the
    # documented configuration (payload="data") is absent, so null.
    expect(log.locator(".rtw-log-entry").first).to_be_visible(timeout=30_000)
    expect(log.locator(".rtw-log-text").first).to_have_text("null")
    # The log of every type (the last section) finds a product by search.
    everything = page.locator("[data-rtw-tag~='auto'][data-rtw-tag~='log'] .rtw-log").first
    expect(everything.locator(".rtw-log-entry").first).to_be_visible(timeout=30_000)
    everything.locator(".rtw-log-search").fill("ETH-USD")
    expect(everything.locator(".rtw-log-count")).to_contain_text("found", timeout=10_000)
    texts = everything.locator(".rtw-log-text").all_text_contents()
    assert texts and all("ETH-USD" in t for t in texts)
    assert everything.locator(".rtw-log-text b, .rtw-log-text img").count() == 0


def picture(page: Any, cell: Any, name: str) -> None:
    """The cell's code and its explorer, as the README shows them."""
    page.evaluate(js("rtwPanel().content.activeCellIndex = 0; document.activeElement.blur();"))
    page.mouse.move(0, 0)
    cell.scroll_into_view_if_needed()
    code = cell.locator(".jp-InputArea-editor").first.bounding_box()
    output = cell.locator(".jp-OutputArea-output").first.bounding_box()
    assert code is not None and output is not None, f"the {name} cell is not laid out"
    top = code["y"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOTS / f"{name}.png"),
        clip={"x": output["x"], "y": top, "width": output["width"],
              "height": output["y"] + output["height"] - top},
        animations="disabled",
    )
