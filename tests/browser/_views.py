"""Reading the rt_widgets views in the page: status, table, sparklines."""

from __future__ import annotations

from typing import Any

# Counts the painted pixels of every sparkline canvas under a root element.
SPARKLINE_PIXELS = """
(root) => Array.from(root.querySelectorAll('.rtw-metric-card[data-series] canvas')).map((c) => {
  if (!c.width || !c.height) return 0;
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
})
"""

# Resolves once `root`'s text differs from `before`: the view changed.
TEXT_CHANGED = "([root, before]) => root.textContent !== before"


def sparkline_pixels(scope: Any) -> list[int]:
    return list(scope.evaluate(SPARKLINE_PIXELS))


def text_of(scope: Any) -> str:
    return str(scope.evaluate("(el) => el.textContent"))


def wait_text_change(page: Any, scope: Any, timeout_ms: int = 15_000) -> None:
    """Wait until the element's text is no longer what it is now."""
    handle = scope.element_handle()
    before = handle.evaluate("(el) => el.textContent")
    page.wait_for_function(TEXT_CHANGED, arg=[handle, before], timeout=timeout_ms, polling=100)


def wait_sparklines(page: Any, scope: Any, timeout_ms: int = 20_000) -> None:
    """Wait until some sparkline under ``scope`` has painted pixels."""
    page.wait_for_function(
        "(root) => Array.from(root.querySelectorAll('.rtw-metric-card[data-series] canvas'))"
        ".some((c) => { if (!c.width || !c.height) return false;"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; })",
        arg=scope.element_handle(),
        timeout=timeout_ms,
        polling=200,
    )
