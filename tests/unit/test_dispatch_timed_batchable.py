"""A Timed handler's ``batchable``: a frame goes message by message while it says so (metrics with an
alert callback see each message in order, as Batched handlers do)."""

from __future__ import annotations

from typing import Any

from rt_widgets.dispatch import Batched, Dispatcher, Timed


def frame(*types: str) -> list[dict[str, Any]]:
    return [{"type": t, "payload": i, "timestamp": f"2026-01-01T00:00:0{i}Z"}
            for i, t in enumerate(types)]


def test_a_timed_handler_can_hold_a_batch_frame_to_message_by_message() -> None:
    d = Dispatcher()
    calls: list[tuple[str, Any]] = []
    batch = [True]
    d.on("m", Timed(lambda p, t: calls.append(("one", (p, t))),
                    lambda ps, ts: calls.append(("many", (ps, ts))), lambda: batch[0]))
    d.on("t", Batched(lambda p: calls.append(("t", p)), lambda ps: calls.append(("t*", ps))))
    assert d.dispatch_batch(frame("m", "t", "m"), "pong")
    assert calls == [("many", ([0, 2], ["2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z"])),
                     ("t*", [1])]
    calls.clear()
    batch[0] = False
    assert d.dispatch_batch(frame("m", "t", "m"), "pong") is False  # nothing delivered
    assert calls == []
    for obj in frame("m", "t", "m"):  # what the protocol does then: one at a time, in order
        d.dispatch_object(obj, obj["type"])
    assert calls == [("one", (0, "2026-01-01T00:00:00Z")), ("t", 1),
                     ("one", (2, "2026-01-01T00:00:02Z"))]
    # A frame without that type is not held.
    calls.clear()
    assert d.dispatch_batch(frame("t", "t"), "pong") and calls == [("t*", [0, 1])]
