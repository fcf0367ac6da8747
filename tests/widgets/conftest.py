"""A comm spy: every widget comm message, recorded as the front end would receive it.

`comm.create_comm` (which ipywidgets calls to open a widget's comm) is patched to build a
`SpyComm`, a real `comm.base_comm.BaseComm` whose `publish_msg` records the message instead of
writing to a kernel's iopub socket. Each message is JSON-encoded at publish time, as the kernel
would, so a value that cannot be sent fails the test and later mutation cannot rewrite history.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

from rt_widgets.sync import BUNDLE, decode_delta


@dataclass
class Published:
    t: float
    comm_id: str
    msg_type: str  # comm_open, comm_msg, comm_close
    data: dict[str, Any]
    text: str  # the JSON the front end would receive


class CommSpy:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published: list[Published] = []
        self.comms: dict[str, SpyComm] = {}

    def record(self, comm_id: str, msg_type: str, data: dict[str, Any] | None,
               buffers: Any = None) -> None:
        text = json.dumps(data or {}, allow_nan=False)
        seen = json.loads(text)
        if seen.get("method") == "custom":
            # A packed delta as the views get it, once js/sync.ts has unpacked it; a bundle's
            # messages each with its own buffers, as js/bus.ts hands them out.
            raw = [bytes(b) for b in buffers or ()]
            content = seen.get("content")
            if isinstance(content, dict) and content.get("kind") == BUNDLE:
                for item in content["items"]:
                    item["m"] = decode_delta(item["m"], [raw[i] for i in item["b"]])
            else:
                seen["content"] = decode_delta(content, raw)
        with self.lock:
            self.published.append(Published(time.monotonic(), comm_id, msg_type, seen, text))

    def messages(self, widget: Any = None) -> list[Published]:
        with self.lock:
            items = list(self.published)
        if widget is None:
            return items
        # _model_id outlives the comm: a closed widget's history stays readable
        model_id = widget._model_id
        return [p for p in items if p.comm_id == model_id]

    def custom(self, widget: Any, kind: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        """(time, content) of the custom messages sent to `widget`'s view."""
        out = []
        for p in self.messages(widget):
            if p.msg_type == "comm_msg" and p.data.get("method") == "custom":
                content = p.data["content"]
                if kind is None or content.get("kind") == kind:
                    out.append((p.t, content))
        return out

    def routed(self, widget: Any, kind: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        """(time, content) of the custom messages for `widget`'s view, on its own comm or in a
        bundle on another's (addressed by its ``_route``)."""
        own = widget._model_id
        route = widget._route
        out = []
        for p in self.messages():
            if p.msg_type != "comm_msg" or p.data.get("method") != "custom":
                continue
            content = p.data["content"]
            if content.get("kind") == BUNDLE:
                found = [item["m"] for item in content["items"] if item["to"] == route]
            else:
                found = [content] if p.comm_id == own else []
            out.extend((p.t, c) for c in found if kind is None or c.get("kind") == kind)
        return out

    def updates(self, widget: Any) -> list[tuple[float, dict[str, Any]]]:
        """(time, state) of the trait updates sent to `widget`'s view."""
        return [(p.t, p.data["state"]) for p in self.messages(widget)
                if p.msg_type == "comm_msg" and p.data.get("method") == "update"]

    def view_state(self, widget: Any) -> dict[str, Any]:
        """The state the front end holds: the comm_open state with every update applied."""
        state: dict[str, Any] = {}
        for p in self.messages(widget):
            if p.msg_type == "comm_open" or (
                    p.msg_type == "comm_msg" and p.data.get("method") == "update"):
                state.update(p.data["state"])
        return state

    def all_text(self) -> str:
        return "\n".join(p.text for p in self.messages())

    def from_front_end(self, widget: Any, content: dict[str, Any]) -> None:
        """Deliver a custom message from the view to the widget, as the kernel would."""
        self.comms[widget.model_id].handle_msg({
            "content": {"comm_id": widget.model_id,
                        "data": {"method": "custom", "content": content}},
            "buffers": [],
        })


class SpyComm(BaseComm):
    spy: CommSpy

    def __init__(self, spy: CommSpy, **kwargs: Any) -> None:
        self.spy = spy
        super().__init__(**kwargs)
        spy.comms[self.comm_id] = self

    def publish_msg(self, msg_type: str, data: dict[str, Any] | None = None,
                    metadata: dict[str, Any] | None = None, buffers: Any = None,
                    **keys: Any) -> None:
        self.spy.record(self.comm_id, msg_type, data, buffers)


@pytest.fixture
def comm_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[CommSpy]:
    spy = CommSpy()

    def create_comm(*args: Any, **kwargs: Any) -> SpyComm:
        return SpyComm(spy, *args, **kwargs)

    monkeypatch.setattr(comm, "create_comm", create_comm)
    yield spy


@pytest.fixture
def make_widget(comm_spy: CommSpy) -> Iterator[Any]:
    """RealtimeWidget factory; every widget made is closed after the test."""
    from rt_widgets.widgets import RealtimeWidget

    made: list[Any] = []

    def factory(url: str, **options: Any) -> Any:
        widget = RealtimeWidget(url, **options)
        made.append(widget)
        return widget

    yield factory
    for widget in made:
        widget.close()
