"""`batch_impl`: run a test once with the C speedups and once with their pure-Python twins.

Modules whose stores and dispatcher must behave the same either way use
``pytestmark = pytest.mark.usefixtures("batch_impl")``. The C run fails (it is not skipped) when
the extension was not built: `pip install -e .` compiles it where a C compiler is available.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rt_widgets import _batch, dispatch, stores

NAMES = ("group_by_type", "coalesce_rows", "metric_columns")


def speedups() -> object:
    try:
        from rt_widgets import _speedups
    except ImportError as exc:  # pragma: no cover - what a machine without a C compiler sees
        raise AssertionError(
            "rt_widgets._speedups is not built: reinstall with a C compiler (pip install -e .)"
        ) from exc
    return _speedups


@pytest.fixture(params=["c", "python"])
def batch_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    source: object = speedups() if request.param == "c" else None
    for name in NAMES:
        function = getattr(source, name) if source is not None else getattr(_batch, f"py_{name}")
        for module in (dispatch, stores):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, function)
    yield request.param
