"""What importing rt_widgets costs: the connection needs no Jupyter module, the widgets load the Jupyter
stack when first named, and every public name resolves either way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rt_widgets

JUPYTER = ("IPython", "ipywidgets", "anywidget", "traitlets", "comm", "ipykernel")
WIDGET_NAMES = ("ConnectionStatus", "LiveMetrics", "LiveStore", "LiveTable", "Notifications",
                "RealtimeWidget")


def fresh_interpreter(code: str, *args: str) -> str:
    """Run ``code`` in a new interpreter (a clean ``sys.modules``) and return its stdout."""
    result = subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def loaded_after(statement: str) -> set[str]:
    """The top-level Jupyter packages in ``sys.modules`` after ``statement`` in a new interpreter."""
    out = fresh_interpreter(
        f"import sys, json\n{statement}\n"
        f"print(json.dumps(sorted({{m.partition('.')[0] for m in sys.modules}} & {set(JUPYTER)!r})))"
    )
    return set(json.loads(out.strip().splitlines()[-1]))


def test_the_connection_imports_no_jupyter_module() -> None:
    assert loaded_after("from rt_widgets import Connection, Backoff, ConnectionState, SendHandle") == set()
    assert loaded_after("import rt_widgets, rt_widgets.stores, rt_widgets.dispatch") == set()


def test_importtime_shows_no_jupyter_module() -> None:
    out = fresh_interpreter("from rt_widgets import Connection", "-X", "importtime")
    imported = {line.rpartition("|")[2].strip().partition(".")[0]
                for line in out.splitlines() if line.startswith("import time:")}
    assert "rt_widgets" in imported
    assert imported.isdisjoint(JUPYTER), sorted(imported & set(JUPYTER))


@pytest.mark.parametrize("name", WIDGET_NAMES)
def test_a_widget_name_loads_the_jupyter_stack(name: str) -> None:
    assert {"IPython", "ipywidgets", "anywidget", "traitlets", "comm"} <= loaded_after(
        f"from rt_widgets import {name}")


def test_every_public_name_resolves_to_its_module_object() -> None:
    from rt_widgets import widgets

    for name in rt_widgets.__all__:
        assert getattr(rt_widgets, name) is not None, name
    for name in WIDGET_NAMES:
        assert getattr(rt_widgets, name) is getattr(widgets, name)
    assert set(rt_widgets.__all__) <= set(dir(rt_widgets))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'LiveTabel'"):
        rt_widgets.LiveTabel  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError, match="LiveTabel"):
        exec("from rt_widgets import LiveTabel", {})
