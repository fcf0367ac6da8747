"""FrameClock: rate limits, final flush, global budget. A fake loop provides the clock."""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from rt_widgets.sync import FrameClock


class FakeTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """A loop whose time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, FakeTimer, Callable[..., object]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,
                context: contextvars.Context | None = None) -> FakeTimer:
        timer = FakeTimer()
        heapq.heappush(self._timers, (when, next(self._order), timer, callback))
        return timer

    @property
    def pending(self) -> int:
        return sum(1 for t in self._timers if not t[2].cancelled)

    def advance(self, dt: float) -> None:
        """Move time forward by dt, running every timer that falls due, in order."""
        end = self.now + dt
        while self._timers and self._timers[0][0] <= end:
            when, _, timer, callback = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, when)
            callback()
        self.now = end


class Recorder:
    def __init__(self, loop: FakeLoop, name: str = "") -> None:
        self.loop = loop
        self.name = name
        self.times: list[float] = []
        self.value = 0
        self.seen: list[int] = []

    def flush(self) -> None:
        self.times.append(self.loop.now)
        self.seen.append(self.value)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window))
    return best


def test_burst_flushes_at_most_fps_and_always_the_final_state() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)
    r = Recorder(loop)
    clock.register(r, fps=20)
    # 20,000 changes spread over one second, in steps of 50 µs.
    for i in range(20_000):
        r.value = i + 1
        clock.mark_dirty(r)
        loop.advance(0.00005)
    loop.advance(1.0)
    assert r.seen[-1] == 20_000
    assert max_in_window(r.times) <= 20
    assert len(r.times) >= 19  # and it does keep up: not starved
    assert loop.pending == 0  # asleep once nothing is dirty


def test_first_change_after_idle_flushes_without_waiting() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)
    r = Recorder(loop)
    clock.register(r, fps=10)
    clock.mark_dirty(r)
    loop.advance(0)
    assert r.times == [1000.0]
    clock.mark_dirty(r)
    loop.advance(0.05)
    assert len(r.times) == 1  # within 1/fps of the last flush: waits
    loop.advance(0.06)
    assert len(r.times) == 2


def test_unregistered_and_clean_syncables_are_not_flushed() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)
    r = Recorder(loop)
    clock.mark_dirty(r)  # never registered: ignored
    clock.register(r, fps=5)
    assert r in clock
    loop.advance(5)
    assert r.times == []
    clock.mark_dirty(r)
    clock.unregister(r)
    loop.advance(5)
    assert r.times == [] and r not in clock


def test_global_budget_shared_among_many_dirty_syncables() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop, budget=100)
    recorders = [Recorder(loop, str(i)) for i in range(20)]
    for r in recorders:
        clock.register(r, fps=30)
    for step in range(4000):  # 2 s of every syncable changing every 0.5 ms
        for r in recorders:
            r.value = step
            clock.mark_dirty(r)
        loop.advance(0.0005)
    loop.advance(2.0)
    everything = sorted(t for r in recorders for t in r.times)
    assert max_in_window(everything) <= 100
    for r in recorders:
        assert r.seen[-1] == 3999  # final state reached each one
        assert len(r.times) >= 6  # shared fairly: about 5/s each over 2 s


def test_a_syncable_that_changes_during_its_flush_is_flushed_again() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)

    class Again(Recorder):
        def flush(self) -> None:
            super().flush()
            if len(self.times) == 1:
                clock.mark_dirty(self)

    r = Again(loop)
    clock.register(r, fps=10)
    clock.mark_dirty(r)
    loop.advance(1)
    assert len(r.times) == 2
    assert r.times[1] - r.times[0] == pytest.approx(0.1, rel=0.01)


def test_failing_flush_is_counted_and_others_still_flush() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)

    class Broken:
        def flush(self) -> None:
            raise RuntimeError("boom")

    broken, ok = Broken(), Recorder(loop)
    clock.register(broken, fps=10)
    clock.register(ok, fps=10)
    clock.mark_dirty(broken)
    clock.mark_dirty(ok)
    loop.advance(0.5)
    assert clock.errors == 1 and len(ok.times) == 1


def test_flush_now_bypasses_the_rate_and_clears_dirty() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)
    r = Recorder(loop)
    clock.register(r, fps=1)
    clock.mark_dirty(r)
    loop.advance(0)
    clock.mark_dirty(r)
    clock.flush_now(r)
    loop.advance(5)
    assert len(r.times) == 2


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf"), "20", True])
def test_invalid_fps(fps: Any) -> None:
    clock = FrameClock(FakeLoop())
    with pytest.raises(ValueError, match="fps must be a number > 0"):
        clock.register(Recorder(FakeLoop()), fps=fps)


async def test_on_a_real_loop_final_state_arrives() -> None:
    loop = asyncio.get_running_loop()
    clock = FrameClock(loop)
    done = asyncio.Event()

    class Target:
        value = 0
        flushed: list[int] = []

        def flush(self) -> None:
            self.flushed.append(self.value)
            if self.value == 500:
                done.set()

    target = Target()
    clock.register(target, fps=50)
    for i in range(1, 501):
        target.value = i
        clock.mark_dirty(target)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the loop run between parts of the burst
    await asyncio.wait_for(done.wait(), timeout=10)
    assert target.flushed[-1] == 500
    assert len(target.flushed) <= 6


def test_spent_messages_count_against_the_budget() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop, budget=10)
    r = Recorder(loop)
    clock.register(r, fps=100)
    clock.spend(8)
    assert clock.has_room()
    clock.mark_dirty(r)
    loop.advance(0)
    clock.spend()
    assert not clock.has_room()
    clock.mark_dirty(r)
    loop.advance(0.5)
    assert len(r.times) == 1  # the budget is spent for the next second
    loop.advance(0.6)
    assert len(r.times) == 2 and clock.has_room()


def test_has_room_counts_the_messages_asked_for() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop, budget=3)
    clock.spend(2)
    assert clock.has_room() and not clock.has_room(2)
    loop.advance(1.0)
    assert clock.has_room(3) and not clock.has_room(4)


class Heavy:
    """A syncable whose every flush sends ``size`` bytes, and that always has more to send."""

    def __init__(self, clock: FrameClock, size: int) -> None:
        self.clock = clock
        self.size = size
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        self.clock.spend_bytes(self.size)
        self.clock.mark_dirty(self)


def test_the_byte_budget_bounds_bytes_a_second_and_defers_flushes() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop, byte_budget=500_000)
    heavy = Heavy(clock, 100_000)
    light = Heavy(clock, 1_000)
    clock.register(heavy, fps=100)
    clock.register(light, fps=100)
    clock.mark_dirty(heavy)
    clock.mark_dirty(light)
    loop.advance(10.0)
    sent = heavy.flushes * heavy.size + light.flushes * light.size
    print(f"10 s: {heavy.flushes} heavy and {light.flushes} light flushes, {sent / 10 / 1e3:.0f} KB/s")
    assert sent / 10 <= 500_000 + 100_000
    # Deferred, not dropped: both keep flushing, evenly enough.
    assert heavy.flushes >= 30 and light.flushes >= 30
    assert clock.bytes_in_last_second() <= 600_000
    assert not clock.has_room() or clock.bytes_in_last_second() < 500_000


def test_byte_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="byte_budget must be > 0"):
        FrameClock(FakeLoop(), byte_budget=0)


def test_a_large_snapshot_is_refreshed_less_often_than_a_small_one() -> None:
    clock = FrameClock(FakeLoop(), byte_budget=100_000)
    assert clock.snapshot_interval(1_000, 2.0) == 2.0
    # A refresh may take a tenth of the budget: 50 KB every 5 s.
    assert clock.snapshot_interval(50_000, 2.0) == pytest.approx(5.0)


def test_a_held_syncable_is_not_flushed_and_flushes_its_last_state_on_release() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)
    shown, hidden = Recorder(loop, "shown"), Recorder(loop, "hidden")
    clock.register(shown, fps=10)
    clock.register(hidden, fps=10)
    clock.hold(hidden)
    for i in range(20):
        shown.value = hidden.value = i
        clock.mark_dirty(shown)
        clock.mark_dirty(hidden)
        loop.advance(0.1)
    assert hidden.times == [] and len(shown.times) >= 10
    # A held syncable takes no share of the budget from the others.
    assert clock._share(loop.now) == 1 / clock.budget
    clock.release(hidden)
    loop.advance(0.01)
    assert hidden.seen == [19], "one flush of what changed while held"
    clock.release(hidden)  # released twice: nothing more
    loop.advance(1.0)
    assert hidden.seen == [19]
    clock.hold(shown)
    clock.release(shown)  # held while clean: nothing to flush
    loop.advance(1.0)
    assert shown.seen[-1] == 19 and len(shown.seen) == len(set(shown.seen))


def test_many_views_refreshing_snapshots_share_one_tenth_of_the_byte_budget() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop, byte_budget=100_000)
    # Fifty views of 4 KB each, every one refreshed when its interval says so, for two minutes.
    due = [loop.now] * 50
    sent: list[tuple[float, int]] = []
    end = loop.now + 120.0
    while loop.now < end:
        for i, at in enumerate(due):
            if at <= loop.now:
                sent.append((loop.now, 4_000))
                due[i] = loop.now + clock.snapshot_interval(4_000, 2.0)
        loop.advance(0.1)
    # Alone, each would refresh every 2 s (4 KB is well within a tenth): 100 KB/s in all.
    late = [n for t, n in sent if t >= end - 60.0]
    assert sum(late) / 60.0 <= 0.1 * 100_000 * 1.25
    assert min(due) - loop.now < 30.0, "every view is still refreshed, only less often"
    alone = FrameClock(FakeLoop(), byte_budget=100_000)
    assert alone.snapshot_interval(4_000, 2.0) == 2.0


# -- groups: the views of one page share one message per tick --------------------------------------


class PageView:
    """A grouped syncable: each flush collects one message (as a data view's delta does)."""

    def __init__(self, clock: FrameClock, loop: FakeLoop, route: str, sent: list[tuple[Any, ...]],
                 nbytes: int = 100) -> None:
        self.clock, self.loop, self.route, self.sent, self.nbytes = clock, loop, route, sent, nbytes
        self.flushes = 0

    def send(self, content: dict[str, Any], buffers: list[bytes] | None) -> None:
        self.sent.append((self.loop.now, self.route, content, buffers))

    def flush(self) -> None:
        self.flushes += 1
        content = {"kind": "delta", "seq": self.flushes}
        if not self.clock.collect(self.route, content, [self.route.encode()], self.send, self.nbytes):
            self.send(content, [self.route.encode()])
            self.clock.spend_bytes(self.nbytes)


def page_views(n: int, *, fps: float, page: str | None, budget: float = 100,
               byte_budget: float = 1e9, nbytes: int = 100
               ) -> tuple[FakeLoop, FrameClock, list[PageView], list[tuple[Any, ...]]]:
    loop = FakeLoop()
    clock = FrameClock(loop, budget=budget, byte_budget=byte_budget)
    sent: list[tuple[Any, ...]] = []
    views = [PageView(clock, loop, f"r{i}", sent, nbytes) for i in range(n)]
    for v in views:
        clock.register(v, fps=fps)
        clock.set_group(v, page)
    return loop, clock, views, sent


def change_every_10ms(loop: FakeLoop, clock: FrameClock, views: list[PageView], ticks: int) -> None:
    for _ in range(ticks):
        for v in views:
            clock.mark_dirty(v)
        loop.advance(0.01)


def test_a_group_sends_one_bundle_per_tick_and_fifty_views_update_at_their_fps() -> None:
    from rt_widgets.sync import unbundle

    loop, clock, views, sent = page_views(50, fps=5, page="page-1")
    change_every_10ms(loop, clock, views, 400)  # 4 s
    # Every view flushed at its own 5 fps, where 50 views on their own would get 100 / 50 = 2.
    assert min(v.flushes for v in views) >= 19
    times = [t for t, *_ in sent]
    assert max_in_window(times) <= 6  # messages: one bundle per tick
    last = sent[-1]
    items = unbundle(last[2], last[3])
    assert len(items) == 50 and last[2]["kind"] == "bundle"
    assert {route for route, _, _ in items} == {f"r{i}" for i in range(50)}
    assert all(bufs == [route.encode()] for route, _, bufs in items)
    assert clock.bundles == len(sent)


def test_ungrouped_views_keep_their_own_messages_and_share_the_budget() -> None:
    loop, clock, views, sent = page_views(50, fps=5, page=None)
    change_every_10ms(loop, clock, views, 400)
    assert all(content["kind"] == "delta" for _, _, content, _ in sent)
    assert max_in_window([t for t, *_ in sent]) <= 100
    assert max(v.flushes for v in views) <= 4 * 2 + 2  # the budget's share: 2 a second each


def test_two_pages_two_bundles_and_a_lone_view_sends_on_its_own_comm() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop, budget=100, byte_budget=1e9)
    sent: list[tuple[Any, ...]] = []
    a = [PageView(clock, loop, f"a{i}", sent) for i in range(3)]
    b = [PageView(clock, loop, "b0", sent)]
    for v, page in [*((v, "A") for v in a), *((v, "B") for v in b)]:
        clock.register(v, fps=10)
        clock.set_group(v, page)
    for v in [*a, *b]:
        clock.mark_dirty(v)
    loop.advance(0.001)
    kinds = sorted((route, content["kind"]) for _, route, content, _ in sent)
    # A's bundle goes on the comm of the first of A to flush; B's one message on its own.
    assert [k for _, k in kinds] == ["bundle", "delta"]
    assert ("b0", "delta") in kinds


def test_bundled_bytes_count_one_envelope() -> None:
    from rt_widgets.sync import ENVELOPE_BYTES

    loop, clock, views, sent = page_views(10, fps=10, page="p", nbytes=1000)
    for v in views:
        clock.mark_dirty(v)
    loop.advance(0.001)
    assert len(sent) == 1
    spent = clock.bytes_in_last_second()
    assert 10 * 1000 + ENVELOPE_BYTES <= spent < 10 * 1000 + 2 * ENVELOPE_BYTES


def test_collect_outside_a_grouped_flush_sends_nothing_itself() -> None:
    loop = FakeLoop()
    clock = FrameClock(loop)
    assert clock.collect("r", {"kind": "delta"}, [], lambda c, b: None, 10) is False


def test_the_byte_budget_holds_a_group_back_too() -> None:
    loop, clock, views, _ = page_views(3, fps=20, page="p", byte_budget=50_000, nbytes=5_000)
    change_every_10ms(loop, clock, views, 300)
    total = sum(v.flushes for v in views)
    # 50 kB a second of 5 kB deltas: about 10 a second over 3 s, not 3 views x 20 fps.
    assert 20 <= total <= 3 * 12 + 3


def test_many_busy_views_get_view_bytes_each() -> None:
    from rt_widgets.sync import DEFAULT_BYTE_BUDGET, VIEW_BYTES

    # 50 views of 5 kB deltas: the default budget alone would leave each one a second.
    loop, clock, views, _ = page_views(50, fps=5, page="p", byte_budget=DEFAULT_BYTE_BUDGET,
                                       nbytes=5_000)
    change_every_10ms(loop, clock, views, 400)
    assert clock.byte_limit == 50 * VIEW_BYTES
    assert min(v.flushes for v in views) >= 4 * 2
    # Past it by one delta at most, and the bundle's envelope and framing.
    assert clock.bytes_in_last_second() <= 50 * VIEW_BYTES + 5_000 + 1_400 + 20 + 60 * 50
    # A few views: the budget as it was.
    loop, clock, views, _ = page_views(4, fps=20, page=None, byte_budget=DEFAULT_BYTE_BUDGET,
                                       nbytes=50_000)
    change_every_10ms(loop, clock, views, 300)
    assert clock.byte_limit == DEFAULT_BYTE_BUDGET
    assert sum(v.flushes for v in views) <= 3 * (DEFAULT_BYTE_BUDGET / 50_000 + 1) + 4
