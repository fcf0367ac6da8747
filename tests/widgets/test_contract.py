"""The comm contract: the kernel's side (rt_widgets/widgets/_contract.py) against the view's side
(js/contract.ts, built with the project's esbuild and evaluated by node), against the widget
classes, and against what the widgets really send."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anywidget
import pytest
import traitlets

from rt_widgets import ConnectionState
from rt_widgets import stores as stores_module
from rt_widgets.explorer import VIEW_KINDS
from rt_widgets.widgets import (
    ConnectionStatus,
    LiveChart,
    LiveLog,
    LiveMetrics,
    LiveTable,
    Notifications,
    RealtimeWidget,
)
from rt_widgets.widgets._contract import (
    ENUMS,
    INTERFACES,
    LEVELS,
    STATUSES,
    contract,
    parse_command,
    parse_data_request,
    synced_traits,
)
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

ROOT = Path(__file__).resolve().parents[2]
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"

WIDGETS: dict[str, type[traitlets.HasTraits]] = {
    "realtime": RealtimeWidget,
    "status": ConnectionStatus,
    "table": LiveTable,
    "metrics": LiveMetrics,
    "notifications": Notifications,
    "chart": LiveChart,
    "log": LiveLog,
}


def view_contract() -> Any:
    """CONTRACT as js/contract.ts exports it at run time."""
    node = shutil.which("node")
    assert node is not None and ESBUILD.exists(), (
        "the contract test needs node and the project's node_modules: run npm ci")
    bundle = subprocess.run(
        [str(ESBUILD), str(ROOT / "js" / "contract.ts"), "--bundle", "--format=iife",
         "--global-name=rtwContract", "--platform=neutral", "--log-level=error",
         "--footer:js=process.stdout.write(JSON.stringify(rtwContract.CONTRACT));"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    out = subprocess.run([node], input=bundle, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return json.loads(out)


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, one line per difference ("kernel" is a, "view" is b)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only on the kernel's side" for k in a.keys() - b.keys()]
        out += [f"{path}.{k}: only on the view's side" for k in b.keys() - a.keys()]
        for k in a.keys() & b.keys():
            out += differences(a[k], b[k], f"{path}.{k}")
        return sorted(out)
    if a != b:
        return [f"{path}: kernel {json.dumps(a)} != view {json.dumps(b)}"]
    return []


def test_the_kernel_and_the_view_declare_the_same_contract() -> None:
    kernel = contract()
    assert differences(kernel, view_contract()) == []
    # The comparison is not vacuous: it sees every interface, and a change on one side.
    assert set(kernel["interfaces"]) == {"connection", *WIDGETS}
    changed = json.loads(json.dumps(kernel))
    changed["interfaces"]["table"]["to_view"]["delta"]["clear?"] = "integer"
    assert differences(changed, kernel) == [
        '.interfaces.table.to_view.delta.clear?: kernel "integer" != view "boolean"']


def test_python_module_prints_the_contract() -> None:
    import sys

    out = subprocess.run([sys.executable, "-m", "rt_widgets.widgets._contract"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out) == contract()


@pytest.mark.parametrize("name", sorted(WIDGETS))
def test_each_widget_syncs_exactly_its_contract_traits(name: str) -> None:
    widget = WIDGETS[name]
    interface = next(i for i in INTERFACES if i.name == name)
    base = set(anywidget.AnyWidget.class_traits(sync=True))
    own = {k: v for k, v in widget.class_traits(sync=True).items() if k not in base}
    declared = synced_traits(interface.traits)
    assert set(own) == set(declared)
    # Declared once: the widget's traits are the contract's own trait objects, not copies.
    assert all(own[k] is declared[k] for k in declared)
    assert interface.view == name
    assert widget.class_traits()["_view"].default_value == name
    # The kernel owns everything it syncs but what a view may set itself (none of these is
    # written by a view today; echo_update=False keeps a stray write from bouncing back).
    view_settable = {"_view", "details", "position"}
    assert all(t.metadata.get("echo_update") is False
               for k, t in declared.items() if k not in view_settable)


def test_the_enums_are_the_ones_the_code_uses() -> None:
    assert tuple(s.value for s in ConnectionState) == STATUSES
    assert LEVELS == stores_module.LEVELS
    assert ENUMS["ViewKind"] == VIEW_KINDS


def test_commands_parse_exactly_as_declared() -> None:
    connection = contract()["interfaces"]["connection"]["to_kernel"]
    samples = {"reconnect": {}, "disconnect": {}, "connect": {},
               "send": {"type": "t", "payload": [1]}, "browser": {"event": "online"}}
    assert set(samples) == set(connection)
    for kind, fields in samples.items():
        assert set(fields) == set(connection[kind])
        assert parse_command({"kind": kind, **fields}) == {"kind": kind, **fields}
    for bad in (None, [], {}, {"kind": "nonsense"}, {"kind": "send", "type": 5},
                {"kind": "send", "type": ""}, {"kind": "browser", "event": "sleepy"},
                {"kind": "snapshot_request"}):
        assert parse_command(bad) is None
    assert parse_data_request({"kind": "snapshot_request"}) == {"kind": "snapshot_request"}
    for kind in ("pause", "resume"):
        assert parse_data_request({"kind": kind, "extra": 1}) == {"kind": kind}
    assert parse_data_request({"kind": "reconnect"}) is None


# -- what the widgets send fits the contract --------------------------------------------------------


def conforms(value: Any, descriptor: str, where: str, c: dict[str, Any]) -> list[str]:
    """Why ``value`` does not fit ``descriptor`` (the grammar of _contract.py), one line each."""
    if descriptor.endswith("|null"):
        return [] if value is None else conforms(value, descriptor[:-5], where, c)
    bad = [f"{where}: {json.dumps(value)[:80]} is not {descriptor}"]
    if descriptor == "any":
        return []
    if descriptor in ("string", "model"):
        ok = isinstance(value, str) and (descriptor == "string" or value.startswith("IPY_MODEL_"))
        return [] if ok else bad
    if descriptor == "integer":
        return [] if isinstance(value, int) and not isinstance(value, bool) else bad
    if descriptor == "number":
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else bad
    if descriptor == "boolean":
        return [] if isinstance(value, bool) else bad
    if descriptor == "object":
        return [] if isinstance(value, dict) else bad
    if descriptor.startswith("list<"):
        if not isinstance(value, list):
            return bad
        return [e for i, v in enumerate(value) for e in conforms(v, descriptor[5:-1],
                                                                  f"{where}[{i}]", c)]
    if descriptor.startswith("map<"):
        if not isinstance(value, dict):
            return bad
        return [e for k, v in value.items() for e in conforms(v, descriptor[4:-1],
                                                               f"{where}.{k}", c)]
    if descriptor in c["enums"]:
        return [] if value in c["enums"][descriptor] else bad
    if descriptor in c["shapes"]:
        return fits_fields(value, c["shapes"][descriptor], where, c)
    return [f"{where}: unknown descriptor {descriptor}"]


def fits_fields(value: Any, fields: dict[str, str], where: str, c: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    names = {k.rstrip("?"): (d, k.endswith("?")) for k, d in fields.items()}
    out = [f"{where}.{k}: not in the contract" for k in value.keys() - names.keys()]
    for name, (descriptor, optional) in names.items():
        if name in value:
            out += conforms(value[name], descriptor, f"{where}.{name}", c)
        elif not optional:
            out.append(f"{where}.{name}: missing")
    return out


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload, "timestamp": "2026-01-01T00:00:00Z"})


def test_every_trait_and_message_the_widgets_send_fits_the_contract(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50)
    table = w.table("mission_update", delete_type="mission_removed")
    metrics_view = w.metrics("metrics_update", history=50)
    metrics_view.set_threshold("cpu", above=90)
    indicator = w.status_indicator(details=False, position="fixed")
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    server.send(frame("mission_update", {"id": 1, "s": "a"}),
                frame("mission_update", [{"id": 2}, {"id": 1, "s": "b"}]),
                frame("mission_removed", {"id": 2}),
                frame("metrics_update", {"cpu": 95, "mem": 1.5}),
                frame("notification", {"level": "warning", "title": "T", "message": "m"}),
                frame("log", "text"))
    wait_until(lambda: {"mission_update", "metrics_update", "notification"}
               <= set(comm_spy.view_state(w).get("children", {})), 10)
    wait_until(lambda: len(table) == 1 and metrics_view.latest, 10)
    notes = w.notifications()
    log_view = w.log("log")  # the explorer's: "log" messages have no other view
    wait_until(lambda: len(log_view) == 1, 10)
    table.clear()
    for view in (table, metrics_view, notes, log_view):
        comm_spy.from_front_end(view, {"kind": "snapshot_request"})
    comm_spy.from_front_end(log_view, {"kind": "entry_request", "id": 1})
    comm_spy.from_front_end(log_view, {"kind": "entry_request", "id": 99})  # not kept: null
    views = (table, metrics_view, notes, log_view)
    wait_until(lambda: all(comm_spy.custom(v, "snapshot") for v in views), 10)
    wait_until(lambda: comm_spy.custom(notes, "delta") and comm_spy.custom(log_view, "delta")
               and len(comm_spy.custom(log_view, "entry")) == 2, 10)
    w.close()

    c = contract()
    problems: list[str] = []
    checked: dict[str, set[str]] = {}
    for widget, name in ((w, "realtime"), (indicator, "status"), (table, "table"),
                         (metrics_view, "metrics"), (notes, "notifications"), (log_view, "log")):
        interface = c["interfaces"][name]
        state = comm_spy.view_state(widget)
        own = {k: v for k, v in state.items() if k in interface["traits"]}
        problems += fits_fields(own, interface["traits"], name, c)
        for _, message in comm_spy.custom(widget):
            kind = message.get("kind")
            checked.setdefault(name, set()).add(str(kind))
            if kind not in interface["to_view"]:
                problems.append(f"{name}: sent {kind!r}, which the contract does not declare")
                continue
            body = {k: v for k, v in message.items() if k != "kind"}
            problems += fits_fields(body, interface["to_view"][kind], f"{name}.{kind}", c)
    assert problems == []
    # Every data message kind was really seen, not just none at all.
    assert checked == {**{n: {"delta", "snapshot"} for n in ("table", "metrics", "notifications")},
                       "log": {"delta", "snapshot", "entry"}}
