"""The offline send queue and its handles: pure logic on a fake clock."""

from __future__ import annotations

import threading

import pytest

from rt_widgets import QueueFullError, SendHandle, SendState
from rt_widgets.outbox import Outbox


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def msg(i: int) -> dict[str, object]:
    return {"type": "t", "payload": i}


def payloads(box: Outbox) -> list[object]:
    """Drain the queue the way the connection does: take the head, write it, mark it sent."""
    out = []
    while (handle := box.take()) is not None:
        out.append(handle.message["payload"])
        box.sent(handle)
    return out


def test_put_queues_in_order_and_handles_start_queued() -> None:
    box = Outbox(limit=10)
    handles = [box.put(msg(i)) for i in range(5)]
    assert len(box) == 5
    assert all(isinstance(h, SendHandle) for h in handles)
    assert all(h.state == SendState.QUEUED and h.state == "queued" and not h.done for h in handles)
    assert payloads(box) == [0, 1, 2, 3, 4]
    assert all(h.state == "sent" and h.done and h.reason is None for h in handles)
    assert len(box) == 0


def test_drop_oldest_discards_the_head_and_keeps_the_newest() -> None:
    box = Outbox(limit=3, overflow="drop_oldest")
    handles = [box.put(msg(i)) for i in range(5)]
    assert len(box) == 3
    assert [h.state for h in handles] == ["dropped", "dropped", "queued", "queued", "queued"]
    assert handles[0].reason and "full" in handles[0].reason
    assert box.dropped == 2
    assert payloads(box) == [2, 3, 4]


def test_drop_newest_refuses_the_incoming_message() -> None:
    box = Outbox(limit=3, overflow="drop_newest")
    handles = [box.put(msg(i)) for i in range(5)]
    assert len(box) == 3
    assert [h.state for h in handles] == ["queued", "queued", "queued", "dropped", "dropped"]
    assert handles[4].done and handles[4].reason
    assert box.dropped == 2
    assert payloads(box) == [0, 1, 2]


def test_overflow_error_raises_and_leaves_the_queue_untouched() -> None:
    box = Outbox(limit=2, overflow="error")
    first = [box.put(msg(i)) for i in range(2)]
    with pytest.raises(QueueFullError) as info:
        box.put(msg(2))
    assert "full" in str(info.value)
    assert len(box) == 2
    assert box.dropped == 0
    assert all(h.state == "queued" for h in first)
    assert payloads(box) == [0, 1]


def test_a_message_being_written_is_never_the_overflow_victim() -> None:
    box = Outbox(limit=2, overflow="drop_oldest")
    a = box.put(msg(0))
    b = box.put(msg(1))
    head = box.take()
    assert head is a
    c = box.put(msg(2))
    # The in-flight head survives; the oldest waiting one makes room.
    assert a.state == "queued" and b.state == "dropped" and c.state == "queued"
    box.sent(a)
    assert payloads(box) == [2]


def test_a_failed_write_goes_back_to_the_head() -> None:
    box = Outbox(limit=10)
    handles = [box.put(msg(i)) for i in range(3)]
    head = box.take()
    assert head is handles[0]
    box.failed(head)
    assert head.state == "queued"
    assert payloads(box) == [0, 1, 2]


def test_ttl_expires_only_old_messages() -> None:
    clock = FakeClock()
    box = Outbox(limit=10, ttl=1.0, clock=clock)
    old = box.put(msg(0))
    clock.advance(0.5)
    young = box.put(msg(1))
    clock.advance(0.6)
    assert box.expire() == 1
    assert old.state == SendState.EXPIRED and old.done and old.reason
    assert young.state == "queued"
    assert box.expired == 1
    assert len(box) == 1
    clock.advance(0.5)
    assert box.expire() == 1
    assert young.state == "expired"
    assert box.expired == 2
    assert len(box) == 0


def test_no_ttl_means_nothing_ever_expires() -> None:
    clock = FakeClock()
    box = Outbox(limit=10, ttl=None, clock=clock)
    handle = box.put(msg(0))
    clock.advance(1e9)
    assert box.expire() == 0
    assert handle.state == "queued"


def test_wait_times_out_on_a_queued_handle() -> None:
    box = Outbox()
    handle = box.put(msg(0))
    with pytest.raises(TimeoutError):
        handle.wait(timeout=0.05)
    assert handle.state == "queued"


def test_wait_returns_the_final_state_set_from_another_thread() -> None:
    box = Outbox()
    handle = box.put(msg(0))
    taken = threading.Event()

    def writer() -> None:
        taken.wait(5)
        head = box.take()
        assert head is not None
        box.sent(head)

    thread = threading.Thread(target=writer)
    thread.start()
    taken.set()
    assert handle.wait(timeout=5) == SendState.SENT
    thread.join(5)


def test_wait_on_a_finished_handle_returns_immediately() -> None:
    box = Outbox(limit=1, overflow="drop_newest")
    box.put(msg(0))
    dropped = box.put(msg(1))
    assert dropped.wait(timeout=0) == "dropped"


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"limit": -1}, "queue_limit"), ({"ttl": 0}, "queue_ttl"), ({"overflow": "spill"}, "overflow")],
)
def test_bad_outbox_options_are_refused(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError) as info:
        Outbox(**kwargs)  # type: ignore[arg-type]
    assert word in str(info.value)
