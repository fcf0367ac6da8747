"""The explorer model: what a RealtimeWidget shows about its connection, decided with no widget.

Pure code (no ipywidgets, no asyncio, no clock of its own: every call is given ``now``), so each rule
is tested on plain values. A widget feeds it messages and connection events on its I/O thread and
carries out what it answers:

- :class:`Explorer` counts every message type (count, rate, per-second history), infers the natural
  view of each type from its payloads (:func:`infer_kind`, and a table's key: :func:`infer_key`,
  :func:`repeating_key`) and says which views to make, and with which messages to seed them
  (:class:`ViewPlan`); every type gets a view, a message log at least. :meth:`Explorer.overview`
  is the overview trait.
- :class:`ConnectionNotices` decides which connection events become notifications (reconnected,
  gave up, send queue overflow, malformed frames) and keeps the recent ones for views made later.

>>> ex = Explorer()
>>> ex.observe("mission_update", {"id": 1, "progress": 0.5}, now=100.0)
ViewPlan(kind='table', type='mission_update', seed=[{'id': 1, 'progress': 0.5}], key='id', retire=None)
>>> ex.observe("mission_update", {"id": 2}, now=100.1) is None   # known type: only counted
True
>>> ex.overview(now=100.2, wall=1_700_000_000.0)["mission_update"]["count"]
2
"""

# No `from __future__ import annotations`: OverviewEntry is part of the comm contract, which reads
# its fields at run time (see widgets/_contract.py).
import hashlib
import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple, TypedDict, get_args

__all__ = [
    "IDLE_AFTER",
    "MAX_AUTO_VIEWS",
    "MAX_TYPES",
    "MAX_TYPE_NAME",
    "OTHER_TYPES",
    "VIEW_KINDS",
    "ConnectionNotices",
    "Explorer",
    "Notice",
    "OverviewEntry",
    "TypeStats",
    "ViewKind",
    "ViewPlan",
    "infer_key",
    "infer_kind",
    "is_number",
    "repeating_key",
    "shown_type",
]

ViewKind = Literal["table", "metrics", "notifications", "log", "raw"]
"""The natural view of a message type: ``log`` (its last messages) for any type that is none of
the others; ``raw`` types (past the limits) are only counted."""
VIEW_KINDS: Final[tuple[str, ...]] = get_args(ViewKind)
AutoKind = Literal["table", "metrics", "notifications", "log"]

# The explorer makes a view per message type it can show; past this many it only counts them.
MAX_AUTO_VIEWS: Final = 24
# The overview counts at most this many types (a server that puts ids in the type must not grow it
# without bound): a new type past it takes the place of the type seen least recently (one with no
# view), so a real type that comes after many junk ones is still shown; when every type has a
# view, the new ones are counted together under OTHER_TYPES.
MAX_TYPES: Final = 200
OTHER_TYPES: Final = "(other types)"
# Longest type name the overview spells whole: a longer one is cut and told apart by a hash, so
# 200 types with 100 KB names make an overview of tens of KB, not 20 MB.
MAX_TYPE_NAME: Final = 200
# A type with no message for this long no longer changes the overview (its rates are all zero).
ACTIVE_FOR: Final = 61.0
# A type with no message for this long leaves the overview (``Explorer.aged_out`` counts them),
# unless the explorer made it a view; a logged type this idle gives its view to a new logged type
# when every automatic view is taken. A feed that sent 200 junk types once does not keep them
# listed, nor holding the views, for the life of the widget. The view hears of it with the next
# overview it is sent (a feed gone quiet costs no comm traffic).
IDLE_AFTER: Final = 300.0
# A logged type whose payloads are objects is watched for this many messages: a string field
# whose values repeat while others vary makes it a table keyed by that field.
SAMPLE_SIZE: Final = 8
# Fewest messages that can show a field repeating while others vary (a few status replies that
# happen to repeat one word are no key).
MIN_SAMPLE: Final = 6

#: Fields that name an instrument, a product or a thing a feed reports on, in the order tried
#: after ``id``: a table keyed by one holds a row per instrument (Binance ``s``, Coinbase
#: ``product_id``, Kraken ``symbol``, OKX ``instId``, Polygon ``sym``, Hyperliquid ``coin``...).
KEY_FIELDS: Final = ("symbol", "product_id", "instId", "instrument_name", "instrument", "s", "sym",
                     "S", "pair", "coin", "ticker", "market", "asset", "entity_id", "key", "uuid")
# Then any other field named like an id: ``trade_id``, ``orderId``, ``trdMatchID``...
_ID_LIKE = re.compile(r".+(?:_id|Id|ID)")
_NUMERIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def is_number(value: Any) -> bool:
    """Whether a value counts as a number: an int or float (not a bool), or a numeric string
    (``"192.31"``, as exchanges send prices).

    >>> is_number(1.5), is_number("192.31"), is_number(True), is_number("BTC")
    (True, True, False, False)
    """
    kind = type(value)
    if kind is int or kind is float:
        return math.isfinite(value)
    if kind is str:
        return len(value) <= 64 and _NUMERIC.fullmatch(value) is not None
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _usable(value: Any, numbers: bool) -> bool:
    """Whether a field's value can key a row (a string that is not a number; with ``numbers``,
    an int too)."""
    if type(value) is str:
        return value != "" and not is_number(value)
    return numbers and type(value) is int


def infer_key(payload: Any) -> str | None:
    """The field that keys rows of this payload (an object, or a list of objects that all have
    it), or ``None``: ``id``, then an instrument field (:data:`KEY_FIELDS`), then another field
    named like an id. Key values are strings (not numeric ones) or, for ids, integers.

    >>> infer_key({"e": "trade", "s": "BTCUSDT", "t": 12345, "p": "0.01"})
    's'
    >>> infer_key({"type": "ticker", "trade_id": 1, "product_id": "BTC-USD"})
    'product_id'
    >>> infer_key({"symbol": "XBTUSD", "id": 8799, "side": "Sell"}), infer_key({"p": "1.5"})
    ('id', None)
    """
    rows = payload if isinstance(payload, list) else [payload]
    if not rows or not all(isinstance(row, dict) for row in rows):
        return None
    first = rows[0]
    candidates = ["id", *(f for f in KEY_FIELDS if f in first),
                  *(f for f in first if isinstance(f, str) and _ID_LIKE.fullmatch(f)
                    and f not in KEY_FIELDS)]
    for field in candidates:
        ids = field == "id" or field not in KEY_FIELDS
        if all(field in row and _usable(row[field], ids) for row in rows):
            return field
    return None


def repeating_key(type: str, samples: list[Any]) -> str | None:
    """A string field of every sample (objects, at least :data:`MIN_SAMPLE`) whose values repeat
    across them (at most half as many values as rows) while another field's vary: a key that rows
    come back to (the one with the most distinct values; ties: the first). Fields whose value is
    the type itself, numbers and numeric strings are not keys.

    >>> rows = [{"pump": p, "temp": t} for p, t in zip("ABABAB", range(6))]
    >>> repeating_key("reading", rows)
    'pump'
    """
    rows = [row for sample in samples
            for row in (sample if isinstance(sample, list) else [sample])]
    if len(rows) < MIN_SAMPLE or not all(isinstance(row, dict) for row in rows):
        return None
    fields = [f for f in rows[0] if isinstance(f, str) and all(f in row for row in rows)]
    distinct: dict[str, int] = {}
    for field in fields:
        values = [row[field] for row in rows]
        try:
            distinct[field] = len(set(values))
        except TypeError:  # unhashable values: objects or arrays
            distinct[field] = len(rows)
    best: str | None = None
    for field in fields:
        values = [row[field] for row in rows]
        if not all(_usable(v, False) and v != type for v in values):
            continue
        n = distinct[field]
        varying = any(distinct[other] > 1 for other in fields if other != field)
        if 2 * n <= len(rows) and varying and (best is None or n > distinct[best]):
            best = field
    return best


def _fits(payload: Any, kind: str, key: str | None) -> bool:
    """Whether a view of ``kind`` (a table keyed by ``key``) can show ``payload``."""
    if kind == "metrics":
        return isinstance(payload, dict)
    rows = payload if isinstance(payload, list) else [payload]
    return bool(rows) and all(isinstance(row, dict) and key in row for row in rows)


def infer_kind(type: str, payload: Any) -> ViewKind | None:
    """The natural view of a message type, from one of its payloads (``None``: undecided yet):
    rows with a key (:func:`infer_key`) make a table, an object of numbers (numeric strings too)
    metrics, ``notification`` notifications; any other payload a message log.

    >>> infer_kind("metrics_update", {"cpu": 1, "mem": "2.5"}), infer_kind("order", {"id": 7})
    ('metrics', 'table')
    >>> infer_kind("trade", {"s": "BTCUSDT", "p": "1.5"}), infer_kind("text", "hello")
    ('table', 'log')
    """
    if type == "notification":
        return "notifications"
    if payload is None:
        return None
    if infer_key(payload) is not None:
        return "table"
    if isinstance(payload, dict) and payload and all(map(is_number, payload.values())):
        return "metrics"
    return "log"


def shown_type(type: str) -> str:
    """The name of ``type`` in the overview: itself, or its first MAX_TYPE_NAME characters, an
    ellipsis and a short hash of the whole (two long names with one beginning stay two entries).

    >>> shown_type("trade"), len(shown_type("x" * 10_000))
    ('trade', 211)
    """
    if len(type) <= MAX_TYPE_NAME:
        return type
    digest = hashlib.blake2b(type.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{type[:MAX_TYPE_NAME]}… #{digest}"


class TypeStats:
    """Counts and rates of one message type. ``hit`` runs per message: a few integer operations.

    >>> s = TypeStats(10.0); s.hit(10.0, 3); (s.count, s.rate(10.5))
    (3, 3)
    """

    __slots__ = ("count", "kind", "last", "samples", "second", "second_n", "seconds", "tenth",
                 "tenth_n", "tenths")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.kind: ViewKind | None = None
        # The first payloads of a logged type of objects, while its key may still show (see
        # repeating_key); None once that is settled.
        self.samples: list[Any] | None = None
        self.last = now
        self.tenth = int(now * 10)
        self.tenth_n = 0
        # (tenth of a second, messages in it) for the last second: the rate is a sliding window.
        self.tenths: deque[tuple[int, int]] = deque(maxlen=10)
        self.second = int(now)
        self.second_n = 0
        # Messages per whole second for the last minute: the overview's trend line.
        self.seconds: deque[int] = deque(maxlen=60)

    def hit(self, now: float, n: int = 1) -> None:
        """Count ``n`` messages that arrived at ``now``."""
        tenth = int(now * 10)
        if tenth != self.tenth:
            self.advance(now)
        self.tenth_n += n
        self.second_n += n
        self.count += n
        self.last = now

    def advance(self, now: float) -> None:
        """Close the tenths and seconds that ended before ``now``."""
        tenth = int(now * 10)
        if tenth != self.tenth:
            if self.tenth_n:
                self.tenths.append((self.tenth, self.tenth_n))
            self.tenth, self.tenth_n = tenth, 0
        second = int(now)
        if second != self.second:
            self.seconds.append(self.second_n)
            self.seconds.extend([0] * min(second - self.second - 1, 60))
            self.second, self.second_n = second, 0

    def rate(self, now: float) -> int:
        """Messages in the last second."""
        self.advance(now)
        since = int(now * 10) - 10
        return self.tenth_n + sum(n for t, n in self.tenths if t > since)

    def active(self, now: float) -> bool:
        """Whether the overview entry of this type may still change with no new message."""
        return now - self.last < ACTIVE_FOR


class OverviewEntry(TypedDict):
    """One row of the explorer's overview (the ``overview`` trait maps each type to one)."""

    count: int
    rate: int
    last_seen: str
    rates: list[int]
    kind: ViewKind


@dataclass(frozen=True)
class ViewPlan:
    """A view the explorer asks for: one of ``kind`` for messages of ``type``.

    ``seed`` holds the messages of ``type`` dispatched before the view could subscribe (the one
    that decided the kind and the rest of its frame): a view made for this plan must apply them
    first, or it would miss them.
    """

    kind: AutoKind
    type: str
    seed: list[Any]
    #: The field that keys a table's rows (``None`` for other kinds).
    key: str | None = None
    #: A logged type whose view this one replaces (every automatic view was taken): close it.
    retire: str | None = None


class Explorer:
    """Type statistics, kind inference and the views to make, for one connection.

    ``make_views=False`` only counts (the overview still shows every type and its kind).
    Call :meth:`observe` / :meth:`observe_many` for every message, in arrival order.
    """

    def __init__(self, *, make_views: bool = True, max_types: int = MAX_TYPES,
                 max_views: int = MAX_AUTO_VIEWS, idle_after: float = IDLE_AFTER) -> None:
        self.make_views = make_views
        self.max_types = max_types
        self.max_views = max_views
        #: Seconds with no message after which a type with no view leaves the overview.
        self.idle_after = idle_after
        self.types: dict[str, TypeStats] = {}
        self.planned = 0
        # The types a view was planned for: they keep their place in the overview.
        self._viewed: set[str] = set()
        #: Types that gave their place in the overview to a newer one.
        self.evicted = 0
        #: Logged types whose view went to a table or metrics (every automatic view was taken).
        self.retired = 0
        #: Types that left the overview after ``idle_after`` seconds with no message.
        self.aged_out = 0

    def observe(self, type: str, payload: Any, now: float) -> ViewPlan | None:
        """Count one message; a plan when this message decided the kind of a new type (or showed
        the key of a logged one: a table, which then takes the type's tab)."""
        stats = self.types.get(type)
        if stats is not None and stats.kind is not None and stats.samples is None:
            stats.hit(now)
            return None
        return self._first(type, payload, now, stats, None)

    def observe_many(self, type: str, payloads: list[Any], now: float) -> ViewPlan | None:
        """:meth:`observe` for several messages of one type (a batch frame), in order."""
        plan: ViewPlan | None = None
        for i, payload in enumerate(payloads):
            stats = self.types.get(type)
            if stats is not None and stats.kind is not None and stats.samples is None:
                stats.hit(now, len(payloads) - i)
                break
            # The first messages of a type go one at a time, to infer its kind from them; a view
            # made now gets this message and the rest of the batch.
            plan = self._first(type, payload, now, stats, payloads[i:]) or plan
        return plan

    def _first(self, type: str, payload: Any, now: float, stats: TypeStats | None,
               pending: list[Any] | None) -> ViewPlan | None:
        """Count a message of a type whose kind is not known yet."""
        if stats is None:
            if len(self.types) >= self.max_types and not self.age(now) and not self._evict():
                type = OTHER_TYPES
                stats = self.types.get(type)
            if stats is None:
                stats = self.types[type] = TypeStats(now)
        stats.hit(now)
        seed = [payload] if pending is None else list(pending)
        if stats.samples is not None:
            return self._sample(type, stats, payload, seed)
        if stats.kind is not None:
            return None
        kind = "raw" if type == OTHER_TYPES else infer_kind(type, payload) or "log"
        stats.kind = kind
        if kind == "log":
            # Logged for now; its next messages may still show a table or metrics.
            stats.samples = [payload]
        # Notifications are one view, whatever else was made: they never wait for a free view.
        # A table or metrics may take the view of the logged type seen least recently.
        full = self.planned >= self.max_views and kind != "notifications"
        retire = None
        if full and kind in ("table", "metrics"):
            retire = self._retirable()
        elif full and kind == "log":
            # Another log only takes the view of a logged type gone idle.
            retire = self._retirable(seen_before=now - self.idle_after)
        if kind == "raw" or not self.make_views or (full and retire is None):
            stats.samples = None
            return None
        if retire is None:
            self.planned += 1
        self._viewed.add(type)
        return ViewPlan(kind, type, seed, infer_key(payload) if kind == "table" else None,
                        retire)

    def _sample(self, type: str, stats: TypeStats, payload: Any, seed: list[Any]
                ) -> ViewPlan | None:
        """Watch one more payload of a logged type: a payload with a key or of numbers (the first
        ones were empty, say), or a string field repeating across them, makes it a table or
        metrics, which take its tab."""
        samples = stats.samples
        assert samples is not None
        samples.append(payload)
        kind = infer_kind(type, payload)
        key = infer_key(payload) if kind == "table" else None
        if kind not in ("table", "metrics"):
            kind, key = "table", repeating_key(type, samples)
            if key is None:
                if len(samples) >= SAMPLE_SIZE:
                    stats.samples = None
                return None
        stats.samples = None
        if not self.make_views or self.planned >= self.max_views:
            return None
        stats.kind = kind
        self.planned += 1
        self._viewed.add(type)
        # The view starts with the messages so far that it can show (the samples before this
        # one), then this one and the rest of its frame.
        shown = [p for p in samples[:-1] if _fits(p, kind, key)]
        return ViewPlan(kind, type, shown + seed, key)

    def _retirable(self, seen_before: float = math.inf) -> str | None:
        """The logged type with a view seen least recently, before ``seen_before`` (its view may
        go to another type), taken off the viewed types; ``None`` when there is none."""
        oldest: str | None = None
        oldest_seen = 0.0
        for name in self._viewed:
            stats = self.types.get(name)
            if stats is None or stats.kind != "log" or stats.last > seen_before:
                continue
            if oldest is None or stats.last < oldest_seen:
                oldest, oldest_seen = name, stats.last
        if oldest is not None:
            self._viewed.discard(oldest)
            # With no view, it is no longer watched for a key either.
            self.types[oldest].samples = None
            self.retired += 1
        return oldest

    def age(self, now: float) -> int:
        """Drop the types with no view that had no message for ``idle_after`` seconds (counted in
        ``aged_out``); how many. :meth:`overview` calls it, and a new type when the overview is
        full (before taking the place of the type seen least recently).

        >>> ex = Explorer(make_views=False, idle_after=60.0)
        >>> ex.observe("junk", "x", now=0.0); ex.observe("trade", "x", now=50.0)
        >>> ex.age(now=70.0), list(ex.types), ex.aged_out
        (1, ['trade'], 1)
        """
        cutoff = now - self.idle_after
        viewed = self._viewed
        idle = [name for name, stats in self.types.items()
                if stats.last <= cutoff and name not in viewed]
        for name in idle:
            del self.types[name]
        self.aged_out += len(idle)
        return len(idle)

    def _evict(self) -> bool:
        """Make room for a new type: drop the type seen least recently that has no view (nor is
        OTHER_TYPES); ``False`` when there is none."""
        viewed = self._viewed
        oldest: str | None = None
        oldest_seen = 0.0
        for name, stats in self.types.items():
            if name in viewed or name == OTHER_TYPES:
                continue
            if oldest is None or stats.last < oldest_seen:
                oldest, oldest_seen = name, stats.last
        if oldest is None:
            return False
        del self.types[oldest]
        self.evicted += 1
        return True

    def active(self, now: float) -> bool:
        """Whether the overview may change with no new message (rates falling back to zero)."""
        return any(s.active(now) for s in self.types.values())

    def overview(self, now: float, wall: float) -> dict[str, OverviewEntry]:
        """The overview trait: per type its count, rate, last time seen (ISO, UTC, from ``wall``,
        the epoch time at ``now``), messages per second over the last minute, and kind. Types idle
        for ``idle_after`` seconds are dropped first (see :meth:`age`)."""
        self.age(now)
        return {
            shown_type(type): {
                "count": stats.count,
                "rate": stats.rate(now),
                "last_seen": datetime.fromtimestamp(wall - (now - stats.last), UTC)
                .isoformat(timespec="milliseconds"),
                "rates": list(stats.seconds),
                "kind": stats.kind or "raw",
            }
            for type, stats in self.types.items()
        }


Level = Literal["info", "success", "warning", "error"]


class Notice(NamedTuple):
    """A notification about the connection itself, for every Notifications view of a widget."""

    level: Level
    title: str
    message: str
    source: str = "connection"


# Connection troubles (overflow, malformed frames) are reported at most this often.
NOTICE_INTERVAL: Final = 5.0
NOTICE_BACKLOG: Final = 50
_COUNTERS: Final = (
    ("dropped", "Send queue full",
     "{n} queued message(s) dropped while offline; raise queue_limit to keep more."),
    ("decode_errors", "Malformed messages",
     "{n} frame(s) could not be decoded; see stats['last_error']."),
)


class ConnectionNotices:
    """Which connection events become notifications, and the recent ones (``backlog``).

    ``scrub`` masks credentials in error texts before they are shown. Every notice returned is also
    kept in ``backlog`` (the last :data:`NOTICE_BACKLOG`), so that a Notifications view made later
    can show what happened before it existed.

    >>> notices = ConnectionNotices()
    >>> notices.state_changed("connecting", "connected", attempt=0, last_error=None) is None
    True
    >>> notices.state_changed("connected", "reconnecting", attempt=1, last_error="close 1006")
    >>> notices.state_changed("reconnecting", "connected", attempt=2, last_error=None).title
    'Reconnected'
    """

    def __init__(self, scrub: Callable[[str], str] = str, *,
                 interval: float = NOTICE_INTERVAL, backlog: int = NOTICE_BACKLOG) -> None:
        self._scrub = scrub
        self.interval = interval
        self.backlog: deque[Notice] = deque(maxlen=backlog)
        self.expect_disconnect = False
        self._connected_once = False
        self._reported = {name: 0 for name, _, _ in _COUNTERS}
        self._reported_at = {name: -math.inf for name, _, _ in _COUNTERS}

    def _keep(self, notice: Notice) -> Notice:
        self.backlog.append(notice)
        return notice

    def state_changed(self, old: str, new: str, *, attempt: int,
                      last_error: str | None) -> Notice | None:
        """The notice for a state change, if it deserves one. ``attempt`` and ``last_error`` are
        the connection's as of the change. A ``disconnected`` the user asked for
        (``expect_disconnect``) is no news."""
        if new == "connected":
            first = not self._connected_once
            self._connected_once = True
            if first or old != "reconnecting":
                return None
            after = (f" after {attempt} failed attempt{'s' if attempt != 1 else ''}"
                     if attempt else "")
            return self._keep(Notice("success", "Reconnected", f"Connection restored{after}."))
        if new == "disconnected" and not self.expect_disconnect and last_error:
            return self._keep(Notice(
                "error", "Connection lost",
                f"{self._scrub(last_error)}. Gave up reconnecting: press Reconnect or call "
                "connect() to try again."))
        return None

    def counters(self, stats: Mapping[str, Any], now: float) -> list[Notice]:
        """Notices for counters that grew since they were last reported (``dropped``,
        ``decode_errors``), each at most once per ``interval`` seconds."""
        out: list[Notice] = []
        for name, title, text in _COUNTERS:
            value = stats.get(name)
            if not isinstance(value, int) or value <= self._reported[name]:
                continue
            if now - self._reported_at[name] < self.interval:
                continue
            n = value - self._reported[name]
            self._reported[name] = value
            self._reported_at[name] = now
            out.append(self._keep(Notice("warning", title, text.format(n=n))))
        return out

    def alert(self, message: str) -> Notice:
        """The notice for a metric threshold crossing."""
        return self._keep(Notice("warning", "Threshold crossed", message, source="threshold"))
