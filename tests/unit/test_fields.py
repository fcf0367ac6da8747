"""Fields paths (compiled getters against the reference reading), timestamps (``to_seconds``) and
the classification rules of ``messages="auto"`` (design.md, Protocols), with no socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rt_widgets.dispatch import Dispatcher
from rt_widgets.link import Outgoing
from rt_widgets.protocol import Message
from rt_widgets.protocols.auto import TYPE_FIELDS, Auto
from rt_widgets.protocols.fields import MISSING, Fields, Path, compile_path, get_path, to_seconds

# -- paths -----------------------------------------------------------------------------------------

# Keys that look like indexes, or almost: digits, negative numbers, digits that int() rejects.
KEYS = st.one_of(
    st.sampled_from(["a", "b", "e", "data", "0", "1", "2", "-1", "-2", "10", "", "-", "--1", "²", "٣",
                     "1_0", " 1", "x.y", "0x1"]),
    st.text(max_size=4),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False),
                    st.text(max_size=5))
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


@st.composite
def value_and_path(draw: st.DrawFn) -> tuple[Any, Path]:
    """A JSON value and a path that mostly walks into it (existing keys and indexes) and sometimes
    misses (an absent key, an index out of range, a step through a scalar)."""
    value = draw(JSON)
    parts: list[str | int] = []
    node: Any = value
    for _ in range(draw(st.integers(0, 4))):
        if isinstance(node, dict) and node and draw(st.integers(0, 3)):
            key = draw(st.sampled_from(sorted(node)))
            parts.append(key)
            node = node[key]
        elif isinstance(node, list) and node and draw(st.integers(0, 3)):
            index = draw(st.integers(-len(node), len(node) - 1))
            # As an int, or as the string a dotted path would hold.
            parts.append(index if draw(st.booleans()) else str(index))
            node = node[index]
        else:
            parts.append(draw(KEYS | st.integers(-3, 3)))
            node = None
    dotted = all(isinstance(p, int) or "." not in p for p in parts)
    if dotted and draw(st.booleans()):
        return value, ".".join(str(p) for p in parts)
    return value, tuple(parts)


@settings(max_examples=500, deadline=None)
@given(value_and_path())
def test_compiled_getters_agree_with_the_reference_reading(case: tuple[Any, Path]) -> None:
    value, path = case
    # The very object (or MISSING): a getter reads, it never copies or converts.
    assert compile_path(path)(value) is get_path(value, path)


@settings(max_examples=200, deadline=None)
@given(JSON, st.lists(KEYS.filter(lambda k: "." not in k), min_size=1, max_size=3))
def test_key_only_paths_agree_as_dotted_strings_and_as_tuples(value: Any, keys: list[str]) -> None:
    # The compiled fast paths for one and two keys, and the general chain for three.
    dotted = ".".join(keys)
    assert compile_path(dotted)(value) is get_path(value, dotted)
    assert compile_path(tuple(keys))(value) is get_path(value, tuple(keys))


@pytest.mark.parametrize(("value", "path", "want"), [
    ({"stream": "s", "data": {"e": "trade", "E": 1}}, "data.e", "trade"),
    ({"data": [{"e": "a"}, {"e": "b"}]}, "data.1.e", "b"),
    ({"data": [{"e": "a"}, {"e": "b"}]}, "data.-1.e", "b"),
    ({"data": [{"e": "a"}]}, "data.1.e", MISSING),
    ({"data": [{"e": "a"}]}, ("data", 0, "e"), "a"),
    ({"a": {"1": "one"}}, "a.1", "one"),  # a number in a dotted path is a dict key too
    ([0, [1, 2, 3]], "1.2", 3),
    ([340, {"a": 1}, "ticker", "XBT/USD"], "2", "ticker"),
    ({"x.y": 1, "x": {"y": 2}}, ("x.y",), 1),
    ({"x.y": 1, "x": {"y": 2}}, "x.y", 2),
    ({"a": None}, "a", None),  # present and null is not missing
    ({"a": 1}, "a.b", MISSING),
    ({"a": "text"}, "a.0", MISSING),  # strings are not indexed
    ({"²": 1, "--1": 2, "٣": 3}, "²", 1),
    ({"²": 1, "--1": 2, "٣": 3}, "--1", 2),
    ({"²": 1, "--1": 2, "٣": 3}, "٣", 3),
    ([10, 20, 30, 40], "٣", MISSING),  # only ASCII digits index a list
    ([10, 20, 30, 40], "--1", MISSING),
    ({"a": 1}, "", {"a": 1}),
    ({"": 1}, ("",), 1),
])
def test_paths_read_what_the_design_says(value: Any, path: Path, want: Any) -> None:
    assert get_path(value, path) == want
    assert compile_path(path)(value) == want


@pytest.mark.parametrize("path", [5, ("a", True), ("a", 1.5), None, [b"a"]])
def test_a_path_of_another_shape_is_refused_when_compiled(path: Any) -> None:
    with pytest.raises(TypeError, match="path"):
        compile_path(path)
    with pytest.raises(TypeError, match="path"):
        Fields(type=path if path is not None else 5)


# -- timestamps --------------------------------------------------------------------------------------


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(("value", "unit", "want"), [
    (1672515782, "s", 1672515782.0),
    (1672515782.5, "s", 1672515782.5),
    (1672515782136, "ms", 1672515782.136),
    (1725911162329308, "us", 1725911162.329308),
    (1725911162329308123, "ns", 1725911162.329308),
    (-1.5, "s", -1.5),
    (0, "ms", 0.0),
    # numeric strings: OKX's ms, Kraken v1's seconds with µs, Bitstamp's µs
    ("1597026383085", "ms", 1597026383.085),
    ("1534614057.321597", "s", 1534614057.321597),
    ("1580336751488517", "us", 1580336751.488517),
    # inferred from the size
    (1672515782, None, 1672515782.0),
    (99_999_999_999, None, 99_999_999_999.0),  # still seconds (year 5138)
    (100_000_000_000, None, 100_000_000.0),  # from here, milliseconds
    (1672515782136, None, 1672515782.136),
    ("1672515782136", None, 1672515782.136),
    (1725911162329308, None, 1725911162.329308),
    (1725911162329308123, None, 1725911162.329308),
    (1672515782136, "iso", 1672515782.136),  # a number under "iso" is inferred too
])
def test_numbers_and_numeric_strings_in_each_unit(value: Any, unit: str | None, want: float) -> None:
    got = to_seconds(value, unit)
    assert isinstance(got, float)
    assert got == pytest.approx(want, rel=1e-15, abs=1e-6)


@pytest.mark.parametrize(("text", "want"), [
    ("2023-02-09T20:19:35.396Z", utc(2023, 2, 9, 20, 19, 35, 396000)),  # Kraken v2
    ("2017-09-02T17:05:49.250000Z", utc(2017, 9, 2, 17, 5, 49, 250000)),  # Coinbase
    ("2021-02-22T15:51:44.208123456Z", utc(2021, 2, 22, 15, 51, 44, 208123)),  # Alpaca, ns cut to µs
    ("2016-11-26T01:37:24.265429+00:00", utc(2016, 11, 26, 1, 37, 24, 265429)),  # Home Assistant
    ("2016-11-26T03:37:24+02:00", utc(2016, 11, 26, 1, 37, 24)),
    ("2016-11-26T01:37:24", utc(2016, 11, 26, 1, 37, 24)),  # no offset: UTC, wherever it is read
    ("2016-11-26 01:37:24Z", utc(2016, 11, 26, 1, 37, 24)),
])
def test_iso_strings_inferred_or_named(text: str, want: float) -> None:
    assert to_seconds(text, "iso") == want
    assert to_seconds(text, None) == want


def test_an_iso_string_without_offset_does_not_depend_on_the_local_zone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    if not hasattr(time, "tzset"):
        pytest.fail("time.tzset is needed to change the zone (POSIX)")
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        assert to_seconds("2016-11-26T01:37:24", None) == utc(2016, 11, 26, 1, 37, 24), zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("value", [None, True, False, "", "soon", "2023-13-45T99:00:00Z", [1], {"t": 1},
                                   "nan", "inf", "-infinity", float("nan"), float("inf"), 10**400])
def test_what_is_not_a_finite_time_is_none(value: Any) -> None:
    for unit in (None, "s", "ms", "us", "ns", "iso"):
        assert to_seconds(value, unit) is None, unit


def test_a_named_unit_reads_no_iso_string() -> None:
    assert to_seconds("2023-02-09T20:19:35.396Z", "ms") is None


@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # to 2100, in ms
def test_milliseconds_survive_every_spelling(ms_value: int) -> None:
    want = ms_value / 1000
    for spelled in (ms_value, str(ms_value), float(ms_value)):
        assert to_seconds(spelled, "ms") == pytest.approx(want, abs=1e-6)
    stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms_value)
    assert to_seconds(stamp.isoformat(), "iso") == pytest.approx(want, abs=1e-6)
    assert to_seconds(stamp.astimezone(timezone(timedelta(hours=-5))).isoformat(), None) == (
        pytest.approx(want, abs=1e-6))


# -- messages="auto" -----------------------------------------------------------------------------------


class Host:
    def __init__(self) -> None:
        self.pongs: list[str | None] = []
        self.replies: list[Outgoing] = []
        self.errors: list[str] = []

    def on_app_pong(self, key: str | None) -> None:
        self.pongs.append(key)

    def reply(self, frame: Outgoing) -> None:
        self.replies.append(frame)

    def learn_urls(self, urls: Any) -> None:
        pass

    def on_decode_error(self, text: str) -> None:
        self.errors.append(text)


def auto() -> tuple[Auto, Host, list[Message]]:
    protocol, host, seen = Auto(), Host(), []
    protocol.bind(host, Dispatcher())
    protocol.dispatcher.on("*", seen.append)
    return protocol, host, seen


def feed(protocol: Auto, value: Any, text: bool = True) -> int:
    data = value if isinstance(value, bytes) else orjson.dumps(value)
    return protocol.receive(data, text)


@pytest.mark.parametrize(("obj", "kind"), [
    ({"e": "trade", "s": "BTCUSDT"}, "trade"),  # Binance raw
    ({"stream": "btcusdt@trade", "data": {"e": "trade"}}, "btcusdt@trade"),  # Binance combined
    ({"channel": "trade", "type": "update", "data": []}, "update"),  # Kraken v2: "type" is tried first
    ({"event": "heartbeat"}, "heartbeat"),  # Kraken v1 control
    ({"ev": "T", "sym": "AAPL"}, "T"),  # Polygon
    ({"T": "t", "S": "AAPL"}, "t"),  # Alpaca
    ({"table": "orderBookL2", "action": "update"}, "orderBookL2"),  # BitMEX
    ({"topic": "publicTrade.BTCUSDT", "type": "snapshot"}, "snapshot"),  # Bybit
    ({"op": 0, "t": "MESSAGE_CREATE"}, "message"),  # Discord: an int op names no type
    ({"kind": "commit", "did": "did:plc:x"}, "commit"),  # Jetstream
    ({"method": "eth_subscription", "params": {}}, "eth_subscription"),
    ({"action": "subscribe"}, "subscribe"),
    ({"type": 5, "event": "x"}, "x"),  # not a string: the next field
    ({"type": "", "event": "x"}, "x"),  # an empty string names no type either
    ({"info": "Welcome"}, "message"),
    ({}, "message"),
])
def test_an_object_is_typed_by_the_first_string_among_the_usual_fields(
        obj: dict[str, Any], kind: str) -> None:
    protocol, _host, seen = auto()
    assert feed(protocol, obj) == 1
    assert seen == [Message(kind, obj)]
    assert protocol.decode_errors == 0
    assert not protocol.speaks_envelope


def test_the_usual_fields_in_their_order() -> None:
    assert TYPE_FIELDS == ("type", "event", "e", "ev", "T", "channel", "topic", "table", "stream", "op",
                           "kind", "method", "action")
    # Each field wins over every later one.
    for i, field in enumerate(TYPE_FIELDS):
        protocol, _host, seen = auto()
        feed(protocol, {later: f"v{j}" for j, later in enumerate(TYPE_FIELDS) if j >= i})
        assert seen[0].type == f"v{i}", field


def test_an_envelope_is_read_as_the_envelope_and_its_pongs_are_consumed() -> None:
    protocol, host, seen = auto()
    feed(protocol, {"type": "pong", "timestamp": "t0"})  # not yet known to speak the envelope
    assert protocol.ping() is None
    feed(protocol, {"type": "tick", "payload": {"v": 1}, "timestamp": "2026-01-01T00:00:00Z", "seq": 4})
    feed(protocol, {"type": "pong", "timestamp": "t1"})
    assert protocol.speaks_envelope
    assert seen == [Message("pong", {"type": "pong", "timestamp": "t0"}),
                    Message("tick", {"v": 1}, "2026-01-01T00:00:00Z", 4)]
    assert host.pongs == ["t1"]
    ping = protocol.ping()
    assert ping is not None and orjson.loads(ping[0].data)["type"] == "ping"


def test_a_users_heartbeat_message_is_sent_to_any_feed() -> None:
    protocol, _host, _seen = auto()
    protocol.set_heartbeat("ping")
    ping = protocol.ping()
    assert ping is not None and ping[0].data == "ping"


@pytest.mark.parametrize(("value", "want"), [
    ([{"ev": "T", "p": 1}, {"ev": "Q", "p": 2}], [("T", {"ev": "T", "p": 1}), ("Q", {"ev": "Q", "p": 2})]),
    ([{"type": "a", "payload": 1}, {"type": "b", "payload": 2}], [("a", 1), ("b", 2)]),
    ([{"type": "a", "payload": 1}, {"e": "x"}], [("a", 1), ("x", {"e": "x"})]),
    ([340, {"a": ["5525.4", 1]}, "ticker", "XBT/USD"], [("message", [340, {"a": ["5525.4", 1]}, "ticker",
                                                                    "XBT/USD"])]),  # Kraken v1
    (["EVENT", "sub1", {"id": "36c8"}], [("message", ["EVENT", "sub1", {"id": "36c8"}])]),  # Nostr
    ([], [("message", [])]),
    ([{"a": 1}, 2], [("message", [{"a": 1}, 2])]),
    (42, [("message", 42)]),
    ("quoted", [("message", "quoted")]),
    (None, [("message", None)]),
])
def test_arrays_and_other_values(value: Any, want: list[tuple[str, Any]]) -> None:
    protocol, _host, seen = auto()
    assert feed(protocol, value) == len(want)
    assert [(m.type, m.payload) for m in seen] == want
    assert protocol.decode_errors == 0


def test_frames_that_are_not_json_are_text_and_binary_messages() -> None:
    protocol, host, seen = auto()
    assert protocol.receive(b"pong", True) == 1
    assert protocol.receive(b"\xff\x00\x81", False) == 1
    assert protocol.receive(b'{"e": "trade"}', False) == 1  # a binary frame of JSON is JSON
    assert protocol.receive(b"{not json", True) == 1
    assert [(m.type, m.payload) for m in seen] == [
        ("text", "pong"), ("binary", b"\xff\x00\x81"), ("trade", {"e": "trade"}), ("text", "{not json")]
    assert protocol.decode_errors == 0 and host.errors == []


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_auto_delivers_some_message_for_any_json_value_and_never_a_decode_error(value: Any) -> None:
    protocol, _host, seen = auto()
    count = feed(protocol, value)
    assert count == len(seen) >= 1
    assert all(isinstance(m.type, str) and m.type for m in seen)
    assert protocol.decode_errors == 0


# -- Fields, the rest of its rules -------------------------------------------------------------------


def fields(**options: Any) -> tuple[Fields, list[Message]]:
    protocol, seen = Fields(**options), []
    protocol.bind(Host(), Dispatcher())
    protocol.dispatcher.on("*", seen.append)
    return protocol, seen


def test_a_missing_type_path_gives_the_default_type_and_is_counted() -> None:
    protocol, seen = fields(type="data.e", payload="data", default_type="other")
    protocol.receive(b'{"data": {"u": 1}}')
    protocol.receive(b'{"data": {"e": 7}}')  # a number names an op code
    protocol.receive(b'{"data": {"e": ""}}')
    assert [m.type for m in seen] == ["other", "7", "other"]
    assert protocol.unmatched == 2


def test_rows_read_type_action_and_seq_from_the_frame_and_the_rest_from_each_row() -> None:
    protocol, seen = fields(type="table", rows="data", action="action", seq="n", timestamp="ts",
                            time_unit="ms", payload="v")
    protocol.receive(b'{"table": "t", "action": "delete", "n": 3, "ts": 1, "data": [{"v": 1, "ts": 2000},'
                     b' {"v": 2}]}')
    protocol.receive(b'{"table": "t", "n": 6, "data": []}')
    protocol.receive(b'{"table": "t", "n": 7, "v": 9}')  # no rows: one message of the whole value
    assert seen == [Message("t", 1, 2.0, 3, None, "delete"), Message("t", 2, None, 3, None, "delete"),
                    Message("t", 9, None, 7, None, None)]
    assert protocol.gaps == 2


def test_a_type_function_that_raises_is_counted_and_gives_the_default_type() -> None:
    def kind(value: Any) -> str:
        return str(value["kind"])

    protocol, seen = fields(type=kind)
    protocol.receive(b'{"kind": "a"}')
    protocol.receive(b'{"other": 1}')
    assert [m.type for m in seen] == ["a", "message"]
    assert protocol.dispatcher.handler_errors == 1


def test_fields_reads_text_and_binary_that_are_not_json_as_auto_does() -> None:
    protocol, seen = fields(type="type")
    protocol.receive(b"pong", True)
    protocol.receive(b"\x00\xff", False)
    assert [(m.type, m.payload) for m in seen] == [("text", "pong"), ("binary", b"\x00\xff")]
    assert protocol.decode_errors == 0


def reference_fields(options: dict[str, Any], frames: list[Any]) -> tuple[list[list[Message]], int, int]:
    """design.md's Fields rules applied with get_path and to_seconds to decoded frames: each
    frame's messages, the gaps and the unmatched count."""
    batch = options.get("batch", "auto")
    out: list[list[Message]] = []
    unmatched, gaps, last = 0, 0, {}
    for value in frames:
        messages: list[Message] = []
        split = type(value) is list and batch is not False and value and (
            batch is True or all(type(v) is dict for v in value))
        for v in value if split else [value]:
            kind: Any = get_path(v, options["type"]) if options.get("type") is not None else MISSING
            if type(kind) in (int, float):
                kind = str(kind)
            elif type(kind) is not str or not kind:
                unmatched += options.get("type") is not None
                kind = "message"
            action = get_path(v, options["action"]) if options.get("action") is not None else None
            action = action if type(action) is str else None
            seq = get_path(v, options["seq"]) if options.get("seq") is not None else None
            seq = seq if type(seq) is int else None
            if seq is not None:
                if kind in last and seq > last[kind] + 1:
                    gaps += seq - last[kind] - 1
                last[kind] = seq
            rows = get_path(v, options["rows"]) if options.get("rows") is not None else MISSING
            for item in rows if type(rows) is list else [v]:
                payload = get_path(item, options["payload"]) if options.get("payload") is not None else item
                raw = (get_path(item, options["timestamp"]) if options.get("timestamp") is not None
                       else MISSING)
                stamp = None if raw is MISSING else to_seconds(raw, options.get("time_unit"))
                messages.append(Message(kind, None if payload is MISSING else payload, stamp, seq, None,
                                        action))
        out.append(messages)
    return out, gaps, unmatched


SHORT_PATHS = st.one_of(
    st.lists(st.sampled_from(["a", "b", "e", "data", "0", "1", "-1", "t"]), min_size=1, max_size=3)
    .map(".".join),
    st.lists(st.sampled_from(["a", "e", "data", 0, 1, -1, "t"]), min_size=1, max_size=3).map(tuple),
)
FIELD_VALUES = st.recursive(
    st.one_of(SCALARS, st.integers(0, 2_000_000_000_000)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["a", "b", "e", "data", "0", "1", "t"]), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries({}, optional={
        "type": SHORT_PATHS, "payload": SHORT_PATHS, "rows": SHORT_PATHS, "timestamp": SHORT_PATHS,
        "time_unit": st.sampled_from(["s", "ms", "us", "ns", "iso"]), "seq": SHORT_PATHS,
        "action": SHORT_PATHS, "batch": st.sampled_from([True, False, "auto"])}),
    st.lists(FIELD_VALUES, min_size=1, max_size=4),
)
def test_fields_delivers_what_its_rules_give(options: dict[str, Any], frames: list[Any]) -> None:
    # What Fields compiles for its description, against the rules read one at a time.
    protocol, seen = fields(**options)
    decoded = [orjson.loads(orjson.dumps(frame)) for frame in frames]
    want, gaps, unmatched = reference_fields(options, decoded)
    counts = [protocol.receive(orjson.dumps(frame)) for frame in decoded]
    assert counts == [len(messages) for messages in want]
    assert seen == [m for messages in want for m in messages]
    assert (protocol.gaps, protocol.unmatched) == (gaps, unmatched)


@pytest.mark.parametrize(("options", "match"), [
    ({"time_unit": "minutes"}, "time_unit must be one of"),
    ({"default_type": ""}, "default_type must be a non-empty string"),
    ({"batch": "sometimes"}, "batch must be True, False or 'auto'"),
])
def test_fields_options_are_checked(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Fields(**options)
