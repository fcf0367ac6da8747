"""Backoff and retry policy: pure logic on a fake clock and a seeded random source."""

from __future__ import annotations

import random
import statistics

import pytest

from rt_widgets.backoff import Backoff, RetryPolicy

DRAWS = 5000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_bound_grows_geometrically_up_to_the_cap() -> None:
    b = Backoff(initial=0.5, maximum=15.0, multiplier=2.0, jitter="none")
    assert [b.bound(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    # Huge attempt numbers must not overflow: the cap holds forever.
    assert b.bound(10_000) == 15.0


def test_default_backoff_matches_the_documented_defaults() -> None:
    b = Backoff()
    assert (b.initial, b.maximum, b.multiplier, b.jitter) == (0.5, 15.0, 2.0, "full")


def test_no_jitter_gives_the_bound_exactly() -> None:
    b = Backoff(initial=0.1, maximum=1.0, multiplier=3.0, jitter="none")
    rng = random.Random(1)
    assert [b.delay(n, rng=rng) for n in range(5)] == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])


@pytest.mark.parametrize("n", [0, 1, 3, 8])
def test_full_jitter_is_uniform_between_zero_and_the_bound(n: int) -> None:
    b = Backoff(initial=0.5, maximum=15.0, multiplier=2.0, jitter="full")
    rng = random.Random(1234 + n)
    bound = b.bound(n)
    draws = [b.delay(n, rng=rng) for _ in range(DRAWS)]
    assert all(0.0 <= d <= bound for d in draws)
    # Spread over the whole interval, not clustered: the uniform mean is bound/2, and both ends are reached.
    assert statistics.fmean(draws) == pytest.approx(bound / 2, rel=0.05)
    assert min(draws) < 0.02 * bound
    assert max(draws) > 0.98 * bound
    # Roughly uniform: each tenth of the interval holds about a tenth of the draws.
    counts = [0] * 10
    for d in draws:
        counts[min(int(d / bound * 10), 9)] += 1
    assert all(0.07 * DRAWS < c < 0.13 * DRAWS for c in counts), counts


def test_full_jitter_never_exceeds_the_cap() -> None:
    b = Backoff(initial=1.0, maximum=3.0, multiplier=10.0, jitter="full")
    rng = random.Random(7)
    assert max(b.delay(n, rng=rng) for n in range(50) for _ in range(100)) <= 3.0


def test_decorrelated_jitter_stays_between_initial_and_three_times_previous_and_the_cap() -> None:
    b = Backoff(initial=0.2, maximum=5.0, multiplier=2.0, jitter="decorrelated")
    rng = random.Random(99)
    previous: float | None = None
    seen: list[float] = []
    for n in range(DRAWS):
        d = b.delay(n, rng=rng, previous=previous)
        assert 0.2 <= d <= 5.0
        if previous is not None:
            assert d <= max(0.2, 3 * previous) + 1e-9
        seen.append(d)
        previous = d
    # It must actually vary and actually reach the cap region over a long run.
    assert len({round(d, 6) for d in seen}) > DRAWS // 2
    assert max(seen) > 4.5


def test_decorrelated_first_delay_without_previous_is_within_bounds() -> None:
    b = Backoff(initial=0.5, maximum=15.0, jitter="decorrelated")
    rng = random.Random(5)
    draws = [b.delay(0, rng=rng) for _ in range(500)]
    assert all(0.5 <= d <= 15.0 for d in draws)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1},
        {"maximum": -1.0},
        {"multiplier": 0},
        {"jitter": "bogus"},
    ],
)
def test_bad_backoff_parameters_are_refused_with_a_clear_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError) as info:
        Backoff(**kwargs)  # type: ignore[arg-type]
    assert next(iter(kwargs)) in str(info.value)


def _policy(**kwargs: object) -> tuple[RetryPolicy, FakeClock]:
    clock = FakeClock()
    backoff = Backoff(initial=0.1, maximum=1.0, multiplier=2.0, jitter="none")
    policy = RetryPolicy(backoff, clock=clock, rng=random.Random(0), **kwargs)  # type: ignore[arg-type]
    return policy, clock


def test_delay_follows_consecutive_failures_and_caps() -> None:
    policy, _ = _policy()
    assert policy.attempt == 0
    delays = []
    for _ in range(7):
        policy.on_attempt_failed()
        delays.append(policy.next_delay())
    assert policy.attempt == 7
    # n = attempt - 1: 0.1, 0.2, 0.4, 0.8, then the 1.0 cap.
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_first_delay_before_any_failure_is_the_initial_one() -> None:
    policy, _ = _policy()
    assert policy.next_delay() == pytest.approx(0.1)


def test_short_lived_link_counts_as_a_failed_attempt() -> None:
    policy, clock = _policy(stable_after=5.0)
    for _ in range(3):
        policy.on_attempt_failed()
    policy.on_connected()
    assert policy.attempt == 3, "connecting alone must not reset the backoff"
    clock.advance(4.9)
    policy.on_link_lost()
    assert policy.attempt == 4
    assert policy.next_delay() == pytest.approx(0.8)


def test_link_that_stayed_up_resets_the_backoff() -> None:
    policy, clock = _policy(stable_after=5.0)
    for _ in range(4):
        policy.on_attempt_failed()
    policy.on_connected()
    clock.advance(5.0)
    policy.on_link_lost()
    assert policy.attempt == 0
    assert policy.next_delay() == pytest.approx(0.1)


def test_flapping_links_keep_growing_the_delay() -> None:
    """A server that accepts then drops at once must not be hammered at the initial delay."""
    policy, clock = _policy(stable_after=5.0)
    delays = []
    for _ in range(6):
        policy.on_connected()
        clock.advance(0.01)
        policy.on_link_lost()
        delays.append(policy.next_delay())
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_max_attempts_gives_none_once_reached() -> None:
    policy, _ = _policy(max_attempts=3)
    results = []
    for _ in range(4):
        policy.on_attempt_failed()
        results.append(policy.next_delay())
    assert results[:2] == pytest.approx([0.1, 0.2])
    assert results[2] is None
    assert results[3] is None


def test_reset_returns_to_the_first_delay_and_allows_new_attempts() -> None:
    policy, _ = _policy(max_attempts=2)
    policy.on_attempt_failed()
    policy.on_attempt_failed()
    assert policy.next_delay() is None
    policy.reset()
    assert policy.attempt == 0
    policy.on_attempt_failed()
    assert policy.next_delay() == pytest.approx(0.1)


def test_thousands_of_cycles_run_in_milliseconds_on_the_fake_clock() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        Backoff(initial=0.5, maximum=15.0, jitter="full"), clock=clock, rng=random.Random(3)
    )
    for cycle in range(5000):
        policy.on_attempt_failed()
        delay = policy.next_delay()
        assert delay is not None and 0.0 <= delay <= 15.0
        clock.advance(delay)
        if cycle % 10 == 9:
            policy.on_connected()
            clock.advance(6.0)
            policy.on_link_lost()
            assert policy.attempt == 0
