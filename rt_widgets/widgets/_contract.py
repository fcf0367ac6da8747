"""The comm contract between the widgets and their views, kernel side: every synced trait and
every custom message, in one place.

The TypeScript side is ``js/contract.ts``; ``tests/widgets/test_contract.py`` compares the two (and
this module with the widget classes and the stores), so a trait or a message field cannot change
on one side only.

- Traits are declared here, in one ``HasTraits`` mixin per interface; each widget class inherits
  its mixin (``class LiveTable(TableTraits, DataView)``) and declares no synced trait of its own.
  A trait whose traitlets type is too coarse for the wire (a ``Dict``) says what it holds with a
  ``wire=`` type in its metadata.
- Custom messages are ``TypedDict`` classes with a literal ``kind``; the ``*_KINDS`` constants
  are what the widgets send and match on.
- :func:`contract` describes both as JSON (``python -m rt_widgets.widgets._contract`` prints it),
  in a small type grammar that ``js/contract.ts`` turns into TypeScript types::

      string | integer | number | boolean | any | model | object     (model: "IPY_MODEL_<id>")
      list<T> | map<T>            (map: an object with string keys)
      <Enum> | <Shape>            (a name from "enums" / "shapes")
      T|null                      (nullable);   "field?" in a shape: the field may be absent
"""

# No `from __future__ import annotations` here: on Python 3.11 a TypedDict whose annotations are
# strings reports its NotRequired fields as required, and the contract would say they always come.
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NewType, NotRequired, TypedDict

import traitlets
from ipywidgets import widget_serialization

from ..explorer import VIEW_KINDS, Level, OverviewEntry
from ..sync import PACKED as PACKED  # the kind of a packed delta (the codec is in sync.py)

ModelRef = NewType("ModelRef", str)
"""A widget on the wire: ``"IPY_MODEL_<model id>"`` (what ``widget_serialization`` sends)."""

# -- enumerations -------------------------------------------------------------------------------

Status = Literal["connecting", "connected", "reconnecting", "disconnected", "closed"]
STATUSES: Final[tuple[str, ...]] = typing.get_args(Status)
Position = Literal["inline", "fixed"]
POSITIONS: Final[tuple[str, ...]] = typing.get_args(Position)
BrowserEventName = Literal["online", "offline", "visible", "hidden"]
BROWSER_EVENTS: Final[tuple[str, ...]] = typing.get_args(BrowserEventName)
LEVELS: Final[tuple[str, ...]] = typing.get_args(Level)

ENUMS: Final[Mapping[str, tuple[str, ...]]] = {
    "Status": STATUSES,
    "Position": POSITIONS,
    "ViewKind": VIEW_KINDS,
    "Level": LEVELS,
    "BrowserEvent": BROWSER_EVENTS,
}

# -- the data views' state: snapshots, deltas, items ---------------------------------------------


class TableState(TypedDict):
    """A table's whole state at ``seq`` (``TableStore.snapshot``): ``keys`` the fields whose values
    make a row's key (``key``: the first), ``errors`` the rows ignored (no key field, say) and
    ``last_error`` why the last one was."""

    seq: int
    key: str
    keys: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]
    errors: int
    last_error: str | None
    # The oldest rows left out of a snapshot too large to send whole (only when there are some).
    truncated: NotRequired[int]
    # The table's rows, when it is past ``WINDOW_AT``: views then hold the window they show
    # (``window`` requests and messages), and ``rows`` has only the newest.
    window: NotRequired[int]


class Threshold(TypedDict, total=False):
    above: float
    below: float


class MetricsState(TypedDict):
    """A metrics view's whole state at ``seq``: ``MetricsStore.snapshot`` plus ``history_size``
    (the points kept per series, so a view keeps as many)."""

    seq: int
    latest: dict[str, float]
    history: dict[str, list[list[float]]]
    series: list[str] | None
    thresholds: dict[str, Threshold]
    history_size: int


class Notification(TypedDict):
    id: int
    level: Level
    title: str
    message: str
    timestamp: str
    source: str


class NotificationsState(TypedDict):
    seq: int
    items: list[Notification]


class LogEntry(TypedDict):
    """One message of a log: ``text`` its payload as bounded pretty JSON (``truncated``: something
    was cut; the whole text comes on request), ``time`` its own time or its arrival (ISO 8601),
    ``size`` its JSON size in bytes."""

    id: int
    type: str
    time: str
    text: str
    truncated: bool
    size: int


class LogState(TypedDict):
    """A log's kept messages (``LogStore.snapshot``), oldest first; ``total``: messages logged."""

    seq: int
    limit: int
    total: int
    entries: list[LogEntry]


class ChartColumn(TypedDict):
    """Points of series ``s`` (its index in the names): times ``t`` (epoch seconds) and values
    ``v``; ``t`` left out: the same times as the column before it."""

    s: int
    t: NotRequired[list[float]]
    v: list[float]


class ChartState(TypedDict):
    """A chart's whole state at ``seq`` (``ChartStore.snapshot``)."""

    seq: int
    series: list[str]
    columns: list[ChartColumn]
    max_series: int
    max_points: int
    dropped_series: int
    dropped_points: int
    ignored: int


# -- custom messages, kernel -> view ---------------------------------------------------------------

DELTA: Final = "delta"
SNAPSHOT: Final = "snapshot"


class TableDelta(TypedDict):
    """Apply in this order: ``clear``, ``delete`` (keys), ``upsert`` (rows; merge into a known
    key), then hold ``columns`` when given and append the ``add_columns`` not held yet."""

    kind: Literal["delta"]
    seq: int
    clear: NotRequired[bool]
    delete: NotRequired[list[Any]]
    upsert: NotRequired[list[dict[str, Any]]]
    columns: NotRequired[list[str]]
    add_columns: NotRequired[list[str]]
    errors: NotRequired[int]
    last_error: NotRequired[str | None]


class PackedColumn(TypedDict):
    """One column of a packed delta: JSON values ``j``, or ``n`` integers of type ``y`` ("i8",
    "u8", "i16", "u16", "u24", "i32", "u32", little-endian) at byte ``at`` of the message's buffer, each
    ``N = o + x`` (``d``: ``o`` plus the sum of the x so far), read as ``N`` (``i``) or ``N / 10**s``
    (``s``: decimals, 0 when absent); ``k``: the values are indexes into these texts; ``p``: they
    are the numbers of ids ``p`` + the number zero-padded to ``w`` digits."""

    j: NotRequired[list[Any]]
    y: NotRequired[str]
    at: NotRequired[int]
    n: NotRequired[int]
    o: NotRequired[int]
    s: NotRequired[int]
    i: NotRequired[bool]
    d: NotRequired[bool]
    k: NotRequired[list[str]]
    p: NotRequired[str]
    w: NotRequired[int]


class PackedRows(TypedDict):
    """Rows that hold the same fields ``f``: a column ``c`` per field."""

    f: list[str]
    c: list[PackedColumn]


class PackedPoints(TypedDict):
    """New points of one series (``n``: its name, metrics; ``s``: its index, chart): times ``t``
    (left out: those of the entry before) and values ``v``."""

    n: NotRequired[str]
    s: NotRequired[int]
    t: NotRequired[PackedColumn]
    v: PackedColumn


class TablePacked(TypedDict):
    """A ``TableDelta`` with ``upsert`` as ``rows`` (``order``: each row's group, in upsert order,
    when there are several); ``js/sync.ts`` unpacks it before the view applies it."""

    kind: Literal["packed"]
    seq: int
    clear: NotRequired[bool]
    delete: NotRequired[list[Any]]
    rows: NotRequired[list[PackedRows]]
    order: NotRequired[PackedColumn]
    columns: NotRequired[list[str]]
    add_columns: NotRequired[list[str]]
    errors: NotRequired[int]
    last_error: NotRequired[str | None]


class TableSnapshot(TableState):
    """The reply to a ``snapshot_request``."""

    kind: Literal["snapshot"]


class GroupedWindow(TypedDict):
    """A grouped window's table: ``rows`` the rows its groups hold, ``labels`` its columns'
    headers (with its ``columns``, the group rows' fields)."""

    rows: int
    labels: NotRequired[list[str]]


class TableWindow(TypedDict):
    """What one view of a windowed table shows (``rt_widgets.window``): rows ``start`` on of the
    ``total`` its filter keeps of the ``size`` the table holds. ``order``: the keys of the window's
    rows, in order (as JSON values), when they changed; the view drops the rows it holds that are
    not among them. ``rows`` (and ``groups``, each row's group when there are several): the rows
    new to the window whole, the others as their key fields and what changed, packed as a packed
    delta's ``rows`` are. ``reset``: the view holds none of them yet (every row is whole)."""

    kind: Literal["window"]
    view: str
    start: int
    total: int
    size: int
    reset: NotRequired[bool]
    order: NotRequired[list[Any]]
    rows: NotRequired[list[PackedRows]]
    groups: NotRequired[PackedColumn]
    columns: NotRequired[list[str]]
    errors: NotRequired[int]
    last_error: NotRequired[str | None]
    # A grouped view's window: its rows are the groups, keyed by ``group`` (rt_widgets.window).
    grouped: NotRequired[GroupedWindow]


class MetricsDelta(TypedDict):
    kind: Literal["delta"]
    seq: int
    latest: NotRequired[dict[str, float]]
    append: NotRequired[dict[str, list[list[float]]]]
    series: NotRequired[list[str] | None]
    thresholds: NotRequired[dict[str, Threshold]]


class MetricsPacked(TypedDict):
    """A ``MetricsDelta`` with ``append`` as ``points``; ``latest`` holds only the values that are
    not their series' last new point."""

    kind: Literal["packed"]
    seq: int
    latest: NotRequired[dict[str, float]]
    points: NotRequired[list[PackedPoints]]
    series: NotRequired[list[str] | None]
    thresholds: NotRequired[dict[str, Threshold]]


class MetricsSnapshot(MetricsState):
    kind: Literal["snapshot"]


class NotificationsDelta(TypedDict):
    kind: Literal["delta"]
    seq: int
    add: list[Notification]


class NotificationsSnapshot(NotificationsState):
    kind: Literal["snapshot"]


class ChartDelta(TypedDict):
    """New series (they take the next indexes), then the new points; counters when they changed."""

    kind: Literal["delta"]
    seq: int
    series: NotRequired[list[str]]
    append: NotRequired[list[ChartColumn]]
    dropped_series: NotRequired[int]
    dropped_points: NotRequired[int]
    ignored: NotRequired[int]


class ChartPacked(TypedDict):
    """A ``ChartDelta`` with ``append`` as ``points``."""

    kind: Literal["packed"]
    seq: int
    series: NotRequired[list[str]]
    points: NotRequired[list[PackedPoints]]
    dropped_series: NotRequired[int]
    dropped_points: NotRequired[int]
    ignored: NotRequired[int]


class ChartSnapshot(ChartState):
    kind: Literal["snapshot"]


class LogDelta(TypedDict):
    """Entries logged since the last delta (the newest of them), oldest first."""

    kind: Literal["delta"]
    seq: int
    add: list[LogEntry]
    total: int


class LogSnapshot(LogState):
    kind: Literal["snapshot"]


ENTRY: Final = "entry"


class LogEntryText(TypedDict):
    """The answer to an ``entry_request``: the whole text of entry ``id`` (``None``: no longer
    kept)."""

    kind: Literal["entry"]
    id: int
    text: str | None


WAITING: Final = "waiting"


class Waiting(TypedDict):
    """While a data view is paused: how many updates arrived since its picture was last sent (the
    only message a paused view is sent, at most a few times a second)."""

    kind: Literal["waiting"]
    count: int


BUNDLE: Final = "bundle"


class BundleItem(TypedDict):
    """One message of a bundle: for the view whose ``_route`` is ``to``, with the bundle's buffers
    at the indexes ``b``."""

    to: str
    m: Any
    b: list[int]


class Bundle(TypedDict):
    """Messages for several views on one page, sent on the comm of one of them (a data view's
    deltas of one frame-clock tick); the page hands each to its view (``js/bus.ts``)."""

    kind: Literal["bundle"]
    items: list[BundleItem]


LIVE: Final = "live"


class Live(TypedDict):
    """The answer to a view's first ``presence``: a kernel holds this model (a saved view, which
    nobody answers, shows that it is a snapshot)."""

    kind: Literal["live"]
    view: str


# -- custom messages, view -> kernel ---------------------------------------------------------------

RECONNECT: Final = "reconnect"
DISCONNECT: Final = "disconnect"
CONNECT: Final = "connect"
SEND: Final = "send"
BROWSER: Final = "browser"
SNAPSHOT_REQUEST: Final = "snapshot_request"
PAUSE: Final = "pause"
RESUME: Final = "resume"


class ReconnectRequest(TypedDict):
    kind: Literal["reconnect"]


class DisconnectRequest(TypedDict):
    kind: Literal["disconnect"]


class ConnectRequest(TypedDict):
    kind: Literal["connect"]


class SendRequest(TypedDict):
    """Send ``type`` with ``payload`` on the connection (the explorer's form)."""

    kind: Literal["send"]
    type: str
    payload: Any


class BrowserEvent(TypedDict):
    """The page went online or offline, or was shown or hidden."""

    kind: Literal["browser"]
    event: BrowserEventName


class SnapshotRequest(TypedDict):
    """A data view missed a delta: it wants the whole state, then the deltas after it."""

    kind: Literal["snapshot_request"]


class PauseRequest(TypedDict):
    """Hold the picture still: no more deltas, only a ``waiting`` count."""

    kind: Literal["pause"]


class ResumeRequest(TypedDict):
    """Show the current state again: the kernel answers with a snapshot, then deltas."""

    kind: Literal["resume"]


DataRequest = SnapshotRequest | PauseRequest | ResumeRequest

WINDOW: Final = "window"


class WindowRequest(TypedDict):
    """A table view shows rows ``start`` to ``start + count`` of the table sorted by ``sort``
    (``None``: table order; ``desc``: descending) and filtered by ``filter``. Sent when that
    changes and with every presence beat; the kernel sends the window while the table is large."""

    kind: Literal["window"]
    view: str
    start: int
    count: int
    sort: str | None
    desc: bool
    filter: str
    # Grouped by this column: the kernel sends every group (the view sorts them).
    group: NotRequired[str | None]

ENTRY_REQUEST: Final = "entry_request"


class EntryRequest(TypedDict):
    """A log view wants the whole text of one entry."""

    kind: Literal["entry_request"]
    id: int


def parse_entry_request(content: object) -> EntryRequest | None:
    """The ``entry_request`` a log view sent, or ``None``."""
    if isinstance(content, dict) and content.get("kind") == ENTRY_REQUEST:
        id = content.get("id")
        if isinstance(id, int) and not isinstance(id, bool):
            return EntryRequest(kind="entry_request", id=id)
    return None

PRESENCE: Final = "presence"


class Presence(TypedDict):
    """Every rendered view, to its own model: count me for ``lease`` more seconds (0: I am gone).
    With no lease running the widgets send nothing (see ``_audience``)."""

    kind: Literal["presence"]
    view: str
    lease: float
    # One id per browser page, the same for every view on it: views on one page share messages.
    page: NotRequired[str]


ConnectionCommand = (ReconnectRequest | DisconnectRequest | ConnectRequest | SendRequest
                     | BrowserEvent)


def parse_command(content: object) -> ConnectionCommand | None:
    """The command a view sent to a connection's model, or ``None`` when it is not one (a newer or
    an older view may send what this kernel does not know: ignored, never fatal)."""
    if not isinstance(content, dict):
        return None
    kind = content.get("kind")
    if kind == RECONNECT:
        return ReconnectRequest(kind="reconnect")
    if kind == DISCONNECT:
        return DisconnectRequest(kind="disconnect")
    if kind == CONNECT:
        return ConnectRequest(kind="connect")
    if kind == SEND:
        type = content.get("type")
        if isinstance(type, str) and type:
            return SendRequest(kind="send", type=type, payload=content.get("payload"))
        return None
    if kind == BROWSER:
        event = content.get("event")
        for name in typing.get_args(BrowserEventName):
            if event == name:
                return BrowserEvent(kind="browser", event=name)
    return None


def parse_data_request(content: object) -> DataRequest | None:
    """The request a view sent to a data view's model, or ``None``."""
    if not isinstance(content, dict):
        return None
    kind = content.get("kind")
    if kind == SNAPSHOT_REQUEST:
        return SnapshotRequest(kind="snapshot_request")
    if kind == PAUSE:
        return PauseRequest(kind="pause")
    if kind == RESUME:
        return ResumeRequest(kind="resume")
    return None


# -- synced traits ---------------------------------------------------------------------------------
# echo_update=False on every trait the kernel owns: a view never writes them, and the kernel does
# not echo a write back (mosaic-widget does the same).


class ConnectionTraits(traitlets.HasTraits):
    """A connection's status, refreshed by the kernel. Any model with these traits can be the
    ``source`` of a status indicator, which reads them and sends ``ConnectionCommand``s back."""

    status = traitlets.Unicode("disconnected").tag(sync=True, echo_update=False)
    attempt = traitlets.Int(0).tag(sync=True, echo_update=False)
    # Seconds to the next attempt, sent when a wait starts; the view counts down by itself.
    next_retry_in = traitlets.Float(None, allow_none=True).tag(sync=True, echo_update=False)
    error = traitlets.Unicode(None, allow_none=True).tag(sync=True, echo_update=False)
    latency_ms = traitlets.Float(None, allow_none=True).tag(sync=True, echo_update=False)
    queued = traitlets.Int(0).tag(sync=True, echo_update=False)
    stats = traitlets.Dict().tag(sync=True, echo_update=False)
    url = traitlets.Unicode("").tag(sync=True, echo_update=False)


class RealtimeTraits(ConnectionTraits):
    """The explorer: a connection's status, its message types, and the views made for them."""

    _view = traitlets.Unicode("realtime").tag(sync=True)
    overview = traitlets.Dict().tag(sync=True, echo_update=False, wire=dict[str, OverviewEntry])
    # The tab of each message type that has a view; only views the explorer made or a method of
    # the widget returned.
    children = traitlets.Dict().tag(sync=True, echo_update=False, wire=dict[str, ModelRef],
                                    **widget_serialization)
    # When the traits were last brought up to date (ISO 8601, UTC, to the second): what a saved view
    # shows as the time of its data.
    as_of = traitlets.Unicode("").tag(sync=True, echo_update=False)
    # The first chart made for each message type: the explorer shows it in that type's tab, under
    # the tab's own view (a chart that is itself the tab is shown once).
    charts = traitlets.Dict().tag(sync=True, echo_update=False, wire=dict[str, ModelRef],
                                  **widget_serialization)


class StatusTraits(traitlets.HasTraits):
    """A status indicator; it shows the traits of ``source`` and sends its commands there."""

    _view = traitlets.Unicode("status").tag(sync=True)
    source = traitlets.Instance(ConnectionTraits, allow_none=True).tag(
        sync=True, echo_update=False, **widget_serialization)
    details = traitlets.Bool(True).tag(sync=True)
    position = traitlets.Enum(POSITIONS, "inline").tag(sync=True)


class DataTraits(traitlets.HasTraits):
    """What every data view (table, metrics, notifications) syncs: its message type(s) and a
    throttled snapshot of its state; changes travel as ``delta`` messages."""

    message_type = traitlets.Unicode("").tag(sync=True, echo_update=False)
    # What addresses this view's deltas in a bundle (a random id, set by the kernel).
    _route = traitlets.Unicode("").tag(sync=True, echo_update=False)
    _snapshot = traitlets.Dict().tag(sync=True, echo_update=False)
    # The time of ``_snapshot`` (ISO 8601, UTC, to the second): what a saved view shows.
    as_of = traitlets.Unicode("").tag(sync=True, echo_update=False)
    # Held still: the kernel sends no deltas, only ``waiting`` counts (the view asks with
    # ``pause``/``resume``; the kernel owns the value, so every view of the model agrees).
    paused = traitlets.Bool(False).tag(sync=True, echo_update=False)


class TableTraits(DataTraits):
    _view = traitlets.Unicode("table").tag(sync=True)
    _snapshot = traitlets.Dict().tag(sync=True, echo_update=False, wire=TableState)


class MetricsTraits(DataTraits):
    _view = traitlets.Unicode("metrics").tag(sync=True)
    _snapshot = traitlets.Dict().tag(sync=True, echo_update=False, wire=MetricsState)


class NotificationsTraits(DataTraits):
    _view = traitlets.Unicode("notifications").tag(sync=True)
    _snapshot = traitlets.Dict().tag(sync=True, echo_update=False, wire=NotificationsState)


class LogTraits(DataTraits):
    _view = traitlets.Unicode("log").tag(sync=True)
    _snapshot = traitlets.Dict().tag(sync=True, echo_update=False, wire=LogState)


class ChartTraits(DataTraits):
    _view = traitlets.Unicode("chart").tag(sync=True)
    _snapshot = traitlets.Dict().tag(sync=True, echo_update=False, wire=ChartState)
    # The time span shown when following live data, in seconds; None: everything kept.
    window = traitlets.Float(300.0, allow_none=True).tag(sync=True, echo_update=False)


# -- the interfaces ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interface:
    """What one kind of model syncs and which custom messages it sends and takes."""

    name: str
    traits: type[traitlets.HasTraits]
    to_view: tuple[type, ...] = ()
    to_kernel: tuple[type, ...] = ()

    @property
    def messages_to_view(self) -> tuple[type, ...]:
        """``to_view``, and for an interface with a view, the ``live`` answer to its presence."""
        return self.to_view if self.view is None else (*self.to_view, Live)

    @property
    def messages_to_kernel(self) -> tuple[type, ...]:
        """``to_kernel``, and for an interface with a view, the ``presence`` every view sends."""
        return self.to_kernel if self.view is None else (*self.to_kernel, Presence)

    @property
    def view(self) -> str | None:
        """The renderer a model of this interface asks for (its ``_view``); ``None``: an interface
        only (``connection``), which models of other views implement."""
        trait = self.traits.class_traits().get("_view")
        return None if trait is None else str(trait.default_value)


_COMMANDS: Final = (ReconnectRequest, DisconnectRequest, ConnectRequest, SendRequest, BrowserEvent)
_DATA_REQUESTS: Final = (SnapshotRequest, PauseRequest, ResumeRequest)

INTERFACES: Final[tuple[Interface, ...]] = (
    Interface("connection", ConnectionTraits, to_kernel=_COMMANDS),
    Interface("realtime", RealtimeTraits, to_kernel=_COMMANDS),
    Interface("status", StatusTraits),
    Interface("table", TableTraits,
              (TableDelta, TablePacked, TableSnapshot, TableWindow, Waiting, Bundle),
              (*_DATA_REQUESTS, WindowRequest)),
    Interface("metrics", MetricsTraits, (MetricsDelta, MetricsPacked, MetricsSnapshot, Waiting, Bundle),
              _DATA_REQUESTS),
    Interface("notifications", NotificationsTraits,
              (NotificationsDelta, NotificationsSnapshot, Waiting, Bundle), _DATA_REQUESTS),
    Interface("chart", ChartTraits, (ChartDelta, ChartPacked, ChartSnapshot, Waiting, Bundle),
              _DATA_REQUESTS),
    Interface("log", LogTraits, (LogDelta, LogSnapshot, LogEntryText, Waiting, Bundle),
              (*_DATA_REQUESTS, EntryRequest)),
)


def synced_traits(cls: type[traitlets.HasTraits]) -> dict[str, traitlets.TraitType[Any, Any]]:
    """The synced traits ``cls`` declares through its contract mixin."""
    return dict(sorted(cls.class_traits(sync=True).items()))


# -- the contract as JSON ----------------------------------------------------------------------------


class _Describer:
    """Python types and traits -> the descriptor grammar of the module docstring."""

    def __init__(self) -> None:
        self.shapes: dict[str, dict[str, str]] = {}

    def type(self, tp: Any) -> str:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any:
            return "any"
        if tp is ModelRef:
            return "model"
        if tp is bool:  # before int: bool is an int subclass
            return "boolean"
        if tp is str:
            return "string"
        if tp is int:
            return "integer"
        if tp is float:
            return "number"
        if origin in (types.UnionType, typing.Union):
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1 and len(args) == 2:
                return f"{self.type(rest[0])}|null"
        if origin is list:
            return f"list<{self.type(args[0])}>"
        if origin is dict and args[0] is str:
            return "object" if args[1] is Any else f"map<{self.type(args[1])}>"
        if origin is Literal:
            return self.enum(args)
        if typing.is_typeddict(tp):
            name = tp.__name__
            if name not in self.shapes:
                self.shapes[name] = {}  # a placeholder first: shapes may refer to themselves
                self.shapes[name] = self.fields(tp)
            return str(name)
        raise TypeError(f"no wire descriptor for {tp!r}: use str, int, float, bool, Any, list, "
                        "dict[str, ...], a Literal of an enum, ModelRef, a TypedDict or X | None")

    @staticmethod
    def enum(values: Iterable[object]) -> str:
        wanted = set(values)
        for name, members in ENUMS.items():
            if wanted == set(members):
                return name
        raise TypeError(f"the literal {sorted(map(str, wanted))} is no enum of the contract: add "
                        "it to ENUMS (and to js/contract.ts)")

    def fields(self, td: Any, *, skip: Iterable[str] = ()) -> dict[str, str]:
        if any(isinstance(a, str | typing.ForwardRef) for a in td.__annotations__.values()):
            raise TypeError(f"{td.__name__} has string annotations: define the TypedDicts of the "
                            "contract in a module without `from __future__ import annotations`")
        hints = typing.get_type_hints(td)
        optional = td.__optional_keys__
        return {(f"{name}?" if name in optional else name): self.type(tp)
                for name, tp in hints.items() if name not in skip}

    def message(self, td: Any) -> tuple[str, dict[str, str]]:
        kind = typing.get_type_hints(td).get("kind")
        if typing.get_origin(kind) is not Literal or len(typing.get_args(kind)) != 1:
            raise TypeError(f"{td.__name__} needs a field kind: Literal['<kind>']")
        return str(typing.get_args(kind)[0]), self.fields(td, skip=("kind",))

    def trait(self, trait: traitlets.TraitType[Any, Any]) -> str:
        wire = trait.metadata.get("wire")
        if wire is not None:
            if not isinstance(trait, traitlets.Dict | traitlets.List):
                raise TypeError(f"wire= refines a Dict or List trait, not {type(trait).__name__}")
            base = self.type(wire)
        elif isinstance(trait, traitlets.Enum):
            base = self.enum(trait.values or ())
        elif isinstance(trait, traitlets.Bool):
            base = "boolean"
        elif isinstance(trait, traitlets.Unicode):
            base = "string"
        elif isinstance(trait, traitlets.Int):
            base = "integer"
        elif isinstance(trait, traitlets.Float):
            base = "number"
        elif isinstance(trait, traitlets.Dict):
            base = "object"
        elif isinstance(trait, traitlets.List):
            base = "list<any>"
        elif isinstance(trait, traitlets.Instance) and "to_json" in trait.metadata:
            base = "model"
        else:
            raise TypeError(f"no wire descriptor for the trait {trait!r}")
        return f"{base}|null" if trait.allow_none else base


def contract() -> dict[str, Any]:
    """The whole contract as plain JSON values: enums, shapes, and per interface its view, traits
    and messages each way (by kind: their fields besides ``kind``)."""
    describe = _Describer()
    interfaces: dict[str, Any] = {}
    for interface in INTERFACES:
        interfaces[interface.name] = {
            "view": interface.view,
            "traits": {name: describe.trait(trait)
                       for name, trait in synced_traits(interface.traits).items()},
            "to_view": dict(map(describe.message, interface.messages_to_view)),
            "to_kernel": dict(map(describe.message, interface.messages_to_kernel)),
        }
    return {
        "enums": {name: list(values) for name, values in ENUMS.items()},
        "shapes": dict(sorted(describe.shapes.items())),
        "interfaces": interfaces,
    }


if __name__ == "__main__":
    print(json.dumps(contract(), indent=2, sort_keys=True))
