"""Routing messages to handlers: order, wildcard, unsubscribe, failing handlers."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import pytest

from rt_widgets.dispatch import Batched, Dispatcher
from rt_widgets.protocol import Message


def m(type: str, payload: Any = None) -> Message:
    return Message(type, payload, "2026-01-01T00:00:00Z", None)


def test_typed_handlers_in_registration_order_then_wildcards() -> None:
    d = Dispatcher()
    calls: list[tuple[str, Any]] = []
    d.on("*", lambda msg: calls.append(("star1", msg)))
    d.on("tick", lambda p: calls.append(("tick1", p)))
    d.on("other", lambda p: calls.append(("other", p)))
    d.on("tick", lambda p: calls.append(("tick2", p)))
    d.on("*", lambda msg: calls.append(("star2", msg)))
    message = m("tick", {"v": 1})
    d.dispatch(message)
    assert [name for name, _ in calls] == ["tick1", "tick2", "star1", "star2"]
    # Typed handlers get the payload; wildcards get the whole Message.
    assert calls[0][1] == {"v": 1} and calls[1][1] == {"v": 1}
    assert calls[2][1] is message and isinstance(calls[3][1], Message)
    assert calls[3][1].type == "tick" and calls[3][1].timestamp == "2026-01-01T00:00:00Z"


def test_message_without_handlers_is_ignored() -> None:
    d = Dispatcher()
    d.dispatch(m("nobody-listens", 1))
    assert d.handler_errors == 0


def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    d = Dispatcher()
    seen: list[Any] = []
    stars: list[Any] = []
    off = d.on("tick", seen.append)
    off_star = d.on("*", stars.append)
    d.dispatch(m("tick", 1))
    off()
    off_star()
    off()
    d.dispatch(m("tick", 2))
    assert seen == [1]
    assert len(stars) == 1


def test_unsubscribe_removes_only_that_registration() -> None:
    d = Dispatcher()
    a: list[Any] = []
    b: list[Any] = []
    d.on("tick", a.append)
    off_b = d.on("tick", b.append)
    off_b()
    d.dispatch(m("tick", 1))
    assert a == [1] and b == []


def test_handler_may_unsubscribe_itself_while_being_dispatched() -> None:
    d = Dispatcher()
    seen: list[Any] = []
    after: list[Any] = []
    offs: list[Any] = []

    def once(payload: Any) -> None:
        seen.append(payload)
        offs[0]()

    offs.append(d.on("tick", once))
    d.on("tick", after.append)
    d.dispatch(m("tick", 1))
    d.dispatch(m("tick", 2))
    assert seen == [1]
    assert after == [1, 2]


def test_raising_handler_is_counted_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[tuple[BaseException, Any, Message]] = []
    d = Dispatcher(on_error=lambda exc, handler, message: errors.append((exc, handler, message)))
    seen: list[str] = []

    def bad(payload: Any) -> None:
        raise ValueError("boom")

    def bad_star(message: Message) -> None:
        raise KeyError("star boom")

    d.on("tick", bad)
    d.on("tick", lambda p: seen.append("typed"))
    d.on("*", bad_star)
    d.on("*", lambda msg: seen.append("star"))
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            d.dispatch(m("tick", 1))
    assert seen == ["typed", "star"] * 3
    assert d.handler_errors == 6
    assert [type(e).__name__ for e, _, _ in errors[:2]] == ["ValueError", "KeyError"]
    assert errors[0][1] is bad or getattr(errors[0][1], "__wrapped__", None) is bad
    assert errors[0][2].type == "tick"


def test_async_handler_is_handed_to_the_scheduler() -> None:
    scheduled: list[tuple[Coroutine[Any, Any, Any], Message]] = []
    d = Dispatcher(schedule=lambda coro, handler, message: scheduled.append((coro, message)))
    results: list[Any] = []

    async def handler(payload: Any) -> None:
        results.append(payload)

    d.on("tick", handler)
    d.dispatch(m("tick", 5))
    assert len(scheduled) == 1
    coro, message = scheduled[0]
    # Running the coroutine is the scheduler's job; it does run the handler with the payload.
    with pytest.raises(StopIteration):
        coro.send(None)
    assert results == [5]
    # The scheduler reports a failing task against the message that started it.
    assert message.type == "tick"
    assert message.payload == 5


@pytest.mark.parametrize("bad_type", ["", 5, None])
def test_registering_with_a_bad_type_is_refused(bad_type: Any) -> None:
    d = Dispatcher()
    with pytest.raises(ValueError):
        d.on(bad_type, print)


def test_registering_a_non_callable_is_refused() -> None:
    d = Dispatcher()
    with pytest.raises(TypeError):
        d.on("tick", "not callable")  # type: ignore[arg-type]


def test_callable_object_with_async_call_is_treated_as_async() -> None:
    """A handler whose call returns a coroutine must be scheduled, not left un-awaited."""
    scheduled: list[Coroutine[Any, Any, Any]] = []
    d = Dispatcher(schedule=lambda coro, handler, message: scheduled.append(coro))
    seen: list[Any] = []

    class Sink:
        async def __call__(self, payload: Any) -> None:
            seen.append(payload)

    d.on("tick", Sink())
    d.dispatch(m("tick", 9))
    for coro in scheduled:
        with pytest.raises(StopIteration):
            coro.send(None)
    assert seen == [9]
    assert d.handler_errors == 0


def test_a_batch_is_dispatched_message_by_message_and_pongs_are_handed_back() -> None:
    d = Dispatcher()
    calls: list[tuple[str, Any]] = []
    d.on("a", lambda p: calls.append(("a", p)))
    d.on("*", lambda msg: calls.append(("*", msg.payload)))

    def fails_once_then_subscribes(p: Any) -> None:
        if p == 1:
            d.on("b", lambda p: calls.append(("late b", p)))
            raise ValueError("boom")

    d.on("b", fails_once_then_subscribes)
    batch = [{"type": "a", "payload": 0}, {"type": "pong", "id": 7}, {"type": "b", "payload": 1},
             {"type": "b", "payload": 2}, {"type": "a", "payload": 3}]
    pongs = d.dispatch_objects(batch, skip="pong")
    assert pongs == [{"type": "pong", "id": 7}]
    # In order; the failing handler is counted and the others still run; a handler subscribed by
    # a handler sees the rest of the batch.
    assert calls == [("a", 0), ("*", 0), ("*", 1), ("late b", 2), ("*", 2), ("a", 3), ("*", 3)]
    assert d.handler_errors == 1


def test_taps_get_type_and_payload_between_typed_and_wildcard_handlers() -> None:
    d = Dispatcher()
    calls: list[tuple[str, ...]] = []
    d.on("*", lambda msg: calls.append(("*", msg.type)))
    untap = d.tap(lambda type, payload: calls.append(("tap", type, payload)))
    d.tap(lambda type, payload: 1 / 0)  # counted, and the rest still run
    d.on("a", lambda p: calls.append(("a", p)))
    d.dispatch_object({"type": "a", "payload": "x"}, "a")
    d.dispatch_objects([{"type": "b", "payload": "y"}], skip="pong")
    d.dispatch(m("c", "z"))
    assert calls == [("a", "x"), ("tap", "a", "x"), ("*", "a"), ("tap", "b", "y"), ("*", "b"),
                     ("tap", "c", "z"), ("*", "c")]
    assert d.handler_errors == 3
    untap()
    calls.clear()
    d.dispatch_object({"type": "b", "payload": 1}, "b")
    assert calls == [("*", "b")]


class Recorder:
    """A batched handler that records how it was called: ("one", payload) or ("many", payloads)."""

    def __init__(self, calls: list[tuple[Any, ...]], name: str) -> None:
        self.handler = Batched(lambda p: calls.append((name, "one", p)),
                               lambda ps: calls.append((name, "many", list(ps))))


def envelopes(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"type": t, "payload": p} for t, p in pairs]


def test_a_batch_whose_handlers_all_take_batches_is_delivered_a_type_at_a_time() -> None:
    d = Dispatcher()
    calls: list[tuple[Any, ...]] = []
    d.on("a", Recorder(calls, "a1").handler)
    d.on("a", Recorder(calls, "a2").handler)
    d.on("b", Recorder(calls, "b").handler)
    d.tap(Batched(lambda t, p: calls.append(("tap", "one", t, p)),
                  lambda t, ps: calls.append(("tap", "many", t, list(ps)))))
    d.on("unrelated", lambda p: calls.append(("plain", p)))  # not in the frame: no effect
    frame = [*envelopes(("b", 0), ("a", 1), ("c", 2), ("a", 3), ("b", 4)), {"type": "a"}]
    assert d.dispatch_batch(frame, skip="pong")
    # Types in order of first appearance; each type's payloads in order (a missing payload is None);
    # typed handlers in registration order, then the taps; "c" has no handler but is tapped.
    assert calls == [
        ("b", "many", [0, 4]), ("tap", "many", "b", [0, 4]),
        ("a1", "many", [1, 3, None]), ("a2", "many", [1, 3, None]),
        ("tap", "many", "a", [1, 3, None]),
        ("tap", "many", "c", [2]),
    ]
    # A message of one message type goes to the single-message form.
    calls.clear()
    d.dispatch_object({"type": "a", "payload": 9}, "a")
    assert calls == [("a1", "one", 9), ("a2", "one", 9), ("tap", "one", "a", 9)]


@pytest.mark.parametrize(
    "why",
    ["plain handler", "wildcard", "plain tap", "not a dict", "no type", "type not a string",
     "unhashable type", "skipped type", "no batched handler at all"],
)
def test_a_batch_goes_message_by_message_unless_every_handler_takes_batches(why: str) -> None:
    d = Dispatcher()
    calls: list[tuple[Any, ...]] = []
    if why != "no batched handler at all":
        d.on("a", Recorder(calls, "a").handler)
    frame: list[Any] = envelopes(("a", 1), ("b", 2))
    if why == "plain handler":
        d.on("b", lambda p: calls.append(("plain", p)))
    elif why == "wildcard":
        d.on("*", lambda msg: calls.append(("*", msg.payload)))
    elif why == "plain tap":
        d.tap(lambda t, p: calls.append(("tap", p)))
    elif why == "not a dict":
        frame.append([1])
    elif why == "no type":
        frame.append({"payload": 3})
    elif why == "type not a string":
        frame.append({"type": 7})
    elif why == "unhashable type":
        frame.append({"type": ["a"]})
    elif why == "skipped type":
        frame.append({"type": "pong"})
    assert not d.dispatch_batch(frame, skip="pong")
    assert calls == []  # nothing delivered: the caller dispatches message by message


def test_a_failing_batch_form_is_counted_and_the_other_handlers_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = Dispatcher()
    calls: list[tuple[Any, ...]] = []

    def explode(payloads: list[Any]) -> None:
        raise RuntimeError("boom")

    d.on("a", Batched(lambda p: None, explode))
    d.on("a", Recorder(calls, "after").handler)
    with caplog.at_level(logging.ERROR, logger="rt_widgets"):
        assert d.dispatch_batch(envelopes(("a", 1), ("a", 2)), skip="pong")
    assert calls == [("after", "many", [1, 2])]
    assert d.handler_errors == 1
    assert "'a' message" in caplog.text


def test_unsubscribing_a_batched_handler_restores_message_by_message_delivery_rules() -> None:
    d = Dispatcher()
    calls: list[tuple[Any, ...]] = []
    off = d.on("a", Recorder(calls, "a").handler)
    plain_off = d.on("a", lambda p: calls.append(("plain", p)))
    assert not d.dispatch_batch(envelopes(("a", 1)), skip="pong")
    plain_off()
    assert d.dispatch_batch(envelopes(("a", 1)), skip="pong")
    off()
    assert not d.dispatch_batch(envelopes(("a", 1)), skip="pong")
    assert calls == [("a", "many", [1])]


def test_batched_needs_two_callables() -> None:
    with pytest.raises(TypeError, match="two callables"):
        Batched(print, None)  # type: ignore[arg-type]


def test_an_async_batch_form_is_handed_to_the_scheduler() -> None:
    scheduled: list[tuple[Any, Any]] = []

    def schedule(coro: Coroutine[Any, Any, Any], handler: Any, message: Message) -> None:
        scheduled.append((handler, message.payload))
        coro.close()

    d = Dispatcher(schedule=schedule)

    def one(payload: Any) -> None:
        pass

    async def many(payloads: list[Any]) -> None:
        pass

    d.on("a", Batched(one, many))
    assert d.dispatch_batch(envelopes(("a", 1), ("a", 2)), skip="pong")
    assert scheduled == [(one, 1)]


def test_a_batched_handler_can_send_frames_message_by_message_while_it_says_so() -> None:
    d = Dispatcher()
    calls: list[tuple[Any, ...]] = []
    ready = [True]
    recorder = Recorder(calls, "a").handler
    d.on("a", Batched(recorder.one, recorder.many, lambda: ready[0]))
    d.on("b", Recorder(calls, "b").handler)
    assert d.dispatch_batch(envelopes(("b", 1), ("a", 2)), skip="pong")
    ready[0] = False
    # A condition of a type in the frame decides; one of a type not in it does not.
    assert d.dispatch_batch(envelopes(("b", 3)), skip="pong")
    assert not d.dispatch_batch(envelopes(("b", 4), ("a", 5)), skip="pong")
    assert calls == [("b", "many", [1]), ("a", "many", [2]), ("b", "many", [3])]
    d.tap(Batched(print, print, lambda: False))
    assert not d.dispatch_batch(envelopes(("b", 6)), skip="pong")
