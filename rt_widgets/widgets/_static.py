"""The plain copy of a widget's data that travels with its output: ``text/plain`` and ``text/html``.

Where no widget view can render (an offline ``nbconvert --to html`` export, GitHub, nbviewer, a
terminal), this is what is shown: the widget's type, what it held when the cell displayed it (the
status, the last rows, the latest values), the time of that copy, and how to get the live view back.
It is worded as a copy in the past tense, so that a notebook reopened without running claims nothing
live. Everything from the feed is escaped and cut to a bounded size.

Why IPython gets two outputs (:func:`show`)
-------------------------------------------
``nbconvert --to html`` renders one mimetype per output, the first of its ``display_data_priority``
that the output has, and the widget-view mimetype comes first. It skips that mimetype only when the
view's ``model_id`` is missing from the notebook's saved widget state
(``metadata.widgets["application/vnd.jupyter.widget-state+json"].state``); JupyterLab and Notebook 7
save the state of every live model there, ours included (they need it to draw the saved view). So in
a notebook saved with widget state the view wins, its ``<script>`` needs the widgets HTML manager
from a CDN, and a ``text/html`` in the same output is never shown: offline, the cell is empty.

A copy that shows there must therefore be an output of its own. IPython displays a widget through
``_ipython_display_`` (BaseWidget), which publishes the view (widget-view plus ``text/plain``) and
then this copy (``text/html`` only). A live front end would draw both, so the copy carries a style
rule that hides its output when the same output area holds a drawn rt_widgets view (``.rtw-root``):
JupyterLab, Notebook 7 and Voilà (``.jp-OutputArea``) and the classic layout (``.output_area``).
Hosts that lay outputs out otherwise (VS Code gives each output a container of its own, Colab its
own frames) match no such rule, so the copy also names its model (``data-rtw-copy="<model_id>"``)
and a view, once drawn, hides every copy of its own model in its page, with the host's wrapper
around a copy when that holds nothing else (js/static_copy.ts); the rule stays, so that JupyterLab
never shows the copy even for the moment before the view's script runs.
Where no view is drawn (an offline export, GitHub, nbviewer, an untrusted notebook, whose
widget views JupyterLab does not render), nothing matches, no script runs and the copy shows.
Hosts that call ``_repr_mimebundle_`` themselves (marimo) still get one bundle with the copy as
its ``text/html``.
Notebooks saved without widget state show the copy after the view's ``text/plain`` line.
The shipped notebooks are saved as JupyterLab saves them, with widget state
(``python tests/browser/_execute.py notebooks/NAME.ipynb``).
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ._base import read_on_io

__all__ = ["describe", "show"]

MAX_ROWS = 10
MAX_COLUMNS = 12
MAX_VALUES = 24
MAX_TEXT = 80
RERUN = "Run the cell for the live view."
VIEW = "application/vnd.jupyter.widget-view+json"
# Names the copy's model; a drawn view of that model hides the copy in any host (js/static_copy.ts).
COPY_ATTR = "data-rtw-copy"
# Hides the copy's own output next to a drawn view in the same output area (see above); not an
# output holding output areas of its own (an ipywidgets Output).
HIDE_NEXT_TO_A_VIEW = (
    "<style>"
    ".jp-OutputArea:has(.rtw-root)"
    " > .jp-OutputArea-child:has(.rtw-static-copy):not(:has(.jp-OutputArea)),"
    ".output:has(.rtw-root) > .output_area:has(.rtw-static-copy):not(:has(.output))"
    "{display: none}</style>"
)


def show(widget: Any) -> None:
    """Display ``widget`` in IPython: its view, then the copy of its data as an output of its own."""
    from IPython import display as ipython_display

    display: Callable[..., None] = ipython_display.display
    bundle = widget._repr_mimebundle_()
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
    if not isinstance(data, dict) or VIEW not in data:
        display(data if isinstance(data, dict) and data else {"text/plain": repr(widget)}, raw=True)
        return
    copy = data.pop("text/html", None)
    display(data, metadata=metadata or {}, raw=True)
    if copy:
        display({"text/html": HIDE_NEXT_TO_A_VIEW + copy}, raw=True)


def describe(widget: Any) -> tuple[str, str]:
    """``(text/plain, text/html)`` of ``widget``'s data now."""
    kind = str(getattr(widget, "_view", ""))
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    name = type(widget).__name__
    if kind == "realtime":
        head, body = _realtime(widget)
    elif kind == "status":
        head, body = _status(widget)
    elif kind in ("table", "metrics", "notifications", "chart"):
        state = _state(widget)
        head, body = _DATA[kind](widget, state)
    else:
        head, body = "", []
    if getattr(widget, "closed", False):
        when = f"closed; a copy of {at}"
    else:
        when = f"a copy of {at}, made when the cell ran"
    plain = f"{name}{': ' + head if head else ''} ({when}). {RERUN}"
    parts = [
        f"<div class=\"rtw-static-copy\"{_model_attr(widget)}><p><strong>{_e(name)}</strong>"
        f"{': ' + _e(head) if head else ''}</p>",
        *body,
        f"<p><em>{_e(when.capitalize())}, not live. {_e(RERUN)}</em></p></div>",
    ]
    return plain, "\n".join(parts)


def _model_attr(widget: Any) -> str:
    """The copy's ``data-rtw-copy`` attribute: the model id a drawn view of the widget looks for."""
    try:
        model_id = widget.model_id
    except AttributeError:  # closed: no comm, no id
        return ""
    if not isinstance(model_id, str) or not model_id:
        return ""
    return f' {COPY_ATTR}="{html.escape(model_id, quote=True)}"'


def _state(widget: Any) -> Mapping[str, Any]:
    state: Mapping[str, Any] = read_on_io(widget._state)
    return state


def _e(value: Any) -> str:
    text = value if isinstance(value, str) else _text(value)
    return html.escape(text, quote=True)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        text = repr(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _realtime(widget: Any) -> tuple[str, list[str]]:
    # Its traits follow the connection a few times a second: the copy says what holds now.
    if not widget.closed:
        with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
            read_on_io(widget._sync_now)
    source = getattr(widget, "_replaying", None)
    where = f"a replay of {source}" if source else str(widget.url)
    stats = widget.stats if isinstance(widget.stats, Mapping) else {}
    received = stats.get("messages_in", 0)
    head = f"{where}, {widget.status} ({received} messages received)"
    overview = widget.overview if isinstance(widget.overview, Mapping) else {}
    rows = [(t, e.get("count"), e.get("kind"), e.get("last_seen"))
            for t, e in list(overview.items())[:MAX_ROWS] if isinstance(e, Mapping)]
    body = [_table(("type", "count", "view", "last seen"), rows)] if rows else []
    return head, body


def _status(widget: Any) -> tuple[str, list[str]]:
    source = widget.source
    if source is None:
        return "no connection", []
    return f"{source.url}, {source.status}", []


def _data_table(widget: Any, state: Mapping[str, Any]) -> tuple[str, list[str]]:
    rows = state.get("rows") or []
    columns = list(state.get("columns") or [])
    if not columns:
        for row in rows[-MAX_ROWS:]:
            columns.extend(c for c in row if c not in columns)
    shown = columns[:MAX_COLUMNS]
    head = (f"{widget.message_type} messages keyed by {state.get('key')}, {len(rows)} rows"
            + (f" (the last {MAX_ROWS})" if len(rows) > MAX_ROWS else ""))
    if not rows:
        return head, []
    last = rows[-MAX_ROWS:]
    return head, [_table(shown, [[row.get(c) for c in shown] for row in last])]


def _data_metrics(widget: Any, state: Mapping[str, Any]) -> tuple[str, list[str]]:
    latest = state.get("latest") or {}
    head = f"{widget.message_type} messages, {len(latest)} series"
    if not latest:
        return head + ", no values yet", []
    items = list(latest.items())[:MAX_VALUES]
    return head, [_table(("series", "latest"), items)]


def _data_notifications(widget: Any, state: Mapping[str, Any]) -> tuple[str, list[str]]:
    items = state.get("items") or []
    head = f"{len(items)} notifications"
    last = items[-MAX_ROWS:]
    rows = [(i.get("timestamp"), i.get("level"), i.get("title"), i.get("message")) for i in last]
    return head, [_table(("time", "level", "title", "message"), rows)] if rows else []


def _data_chart(widget: Any, state: Mapping[str, Any]) -> tuple[str, list[str]]:
    series = list(state.get("series") or [])
    last: dict[int, Any] = {}
    for column in state.get("columns") or []:
        values = column.get("v") or []
        if values:
            last[column.get("s", -1)] = values[-1]
    head = f"{widget.message_type} messages, {len(series)} series"
    rows = [(name, last.get(i)) for i, name in enumerate(series[:MAX_VALUES])]
    return head, [_table(("series", "latest"), rows)] if rows else []


_DATA = {
    "table": _data_table,
    "metrics": _data_metrics,
    "notifications": _data_notifications,
    "chart": _data_chart,
}
