"""Arbitrary frames through a real socket: no crash, no hang, every bad frame counted.

Each example sends a few generated frames, then a sentinel message, over one live connection. Once the
sentinel is dispatched every earlier frame has been handled, so the counters can be compared with what an
independent strict JSON reading of the same frames says.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rt_widgets import Connection, Message
from tests._servers import WsServer
from tests.conftest import wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]

INT64 = 2**63


@dataclass
class Expect:
    """Bounds on what one frame may produce (a range where implementations may legitimately differ,
    such as JSON nested past a parser's depth limit or integers past 64 bits)."""

    errors: tuple[int, int]
    delivered: tuple[int, int]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _walk(value: Any) -> tuple[int, bool]:
    """(nesting depth, whether a number lies past what 64-bit parsers hold), without recursion: the
    values checked here may be nested deeper than Python's own stack allows."""
    depth, big = 0, False
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            depth = max(depth, level + 1)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            depth = max(depth, level + 1)
            stack.extend((v, level + 1) for v in item)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            big = big or not -INT64 <= item < 2**64
        elif isinstance(item, float):
            big = big or math.isinf(item)
    return depth, big


def _element(value: Any) -> tuple[int, int, int, int]:
    """(min errors, max errors, min delivered, max delivered) for one message-or-not."""
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        if value["type"] == "pong":
            return 0, 0, 0, 0  # feeds the heartbeat, never dispatched
        if value["type"] == "ping":
            return 0, 0, 0, 1  # a server ping may be answered rather than dispatched
        return 0, 0, 1, 1
    return 1, 1, 0, 0


def expect(frame: str | bytes) -> Expect:
    if isinstance(frame, bytes):
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError:
            return Expect((1, 1), (0, 0))
    else:
        text = frame
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return Expect((0, 1), (0, 1))
    except ValueError:
        return Expect((1, 1), (0, 0))
    depth, big = _walk(value)
    if depth > 200 or big:
        units = len(value) if isinstance(value, list) else 1
        return Expect((0, max(units, 1)), (0, units))
    if isinstance(value, list):
        if not value:
            return Expect((0, 1), (0, 0))
        lo_e = hi_e = lo_d = hi_d = 0
        for item in value:
            a, b, c, d = _element(item)
            lo_e, hi_e, lo_d, hi_d = lo_e + a, hi_e + b, lo_d + c, hi_d + d
        return Expect((lo_e, hi_e), (lo_d, hi_d))
    a, b, c, d = _element(value)
    return Expect((a, b), (c, d))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-INT64, max_value=INT64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
types = st.sampled_from(["a", "b", "tick", "pong", ""]) | json_values
messages = st.builds(
    lambda t, p, extra: {**extra, "type": t, "payload": p},
    types,
    json_values,
    st.dictionaries(st.sampled_from(["seq", "timestamp", "id"]), json_values, max_size=2),
)
as_text = st.builds(
    json.dumps, st.one_of(messages, json_values, st.lists(messages | json_values, max_size=5))
)
deep = st.integers(min_value=1, max_value=5000).map(
    lambda d: '{"type": "deep", "payload": ' + "[" * d + "]" * d + "}"
)
huge_numbers = st.sampled_from(["1" + "0" * 30, "-9" * 40, "1e400", "-1e400", "123456789" * 50]).map(
    lambda n: '{"type": "num", "payload": ' + n + "}"
)
nan_text = st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(
    lambda c: '{"type": "nan", "payload": ' + c + "}"
)
good_types = st.sampled_from(["a", "b", "tick", "ünï", "x" * 200])
good = st.builds(lambda t, p: {"type": t, "payload": p}, good_types, json_values)
frames = st.one_of(
    good.map(json.dumps),
    st.lists(good | json_values, min_size=1, max_size=6).map(json.dumps),
    st.binary(max_size=64),
    st.text(max_size=64),
    as_text,
    as_text.map(str.encode),
    deep,
    huge_numbers,
    nan_text,
    st.builds(lambda t: json.dumps({"type": t}), json_values),
)


def test_arbitrary_frames_never_break_the_link(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, messages="envelope")
    seen: list[Message] = []
    lock = threading.Lock()

    def collect(message: Message) -> None:
        with lock:
            seen.append(message)

    conn.on("*", collect)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    counter = iter(range(1_000_000))
    totals = {"frames": 0, "bad": 0, "delivered": 0}

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=st.lists(frames, min_size=1, max_size=4))
    def check(batch: list[str | bytes]) -> None:
        mark = next(counter)
        with lock:
            start = len(seen)
        errors_before = conn.stats()["decode_errors"]
        server.send(*batch, {"type": "sentinel", "payload": mark})

        def arrived() -> bool:
            with lock:
                return any(m.type == "sentinel" and m.payload == mark for m in seen[start:])

        wait_until(arrived, 10, message=lambda: f"sentinel {mark} not dispatched: {conn.stats()}")
        with lock:
            delivered = [m for m in seen[start:] if m.type != "sentinel"]
        errors = conn.stats()["decode_errors"] - errors_before
        bounds = [expect(f) for f in batch]
        lo_e = sum(b.errors[0] for b in bounds)
        hi_e = sum(b.errors[1] for b in bounds)
        lo_d = sum(b.delivered[0] for b in bounds)
        hi_d = sum(b.delivered[1] for b in bounds)
        assert lo_e <= errors <= hi_e, (batch, errors, conn.stats()["last_error"])
        assert lo_d <= len(delivered) <= hi_d, (batch, delivered)
        assert conn.state == "connected" and conn.stats()["reconnects"] == 0
        totals["frames"] += len(batch)
        totals["bad"] += errors
        totals["delivered"] += len(delivered)

    check()
    print(f"\nfuzz: {totals['frames']} frames, {totals['delivered']} messages delivered, "
          f"{totals['bad']} bad messages counted, link never dropped")
    assert server.connection_count == 1
