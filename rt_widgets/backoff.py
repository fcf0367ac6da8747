"""Reconnect timing: the backoff curve and the retry bookkeeping around it.

Pure logic: no asyncio, no sockets. Time comes from an injected clock and randomness from an injected
``random.Random``, so thousands of reconnect cycles can be checked in milliseconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["Backoff", "Jitter", "RetryPolicy"]

Jitter = Literal["full", "decorrelated", "none"]
_JITTERS = ("full", "decorrelated", "none")


class Backoff:
    """Exponential backoff with jitter.

    The n-th delay of a run of failures (n = 0, 1, 2, ...) is bounded by
    ``min(maximum, initial * multiplier**n)``. With ``jitter="full"`` (the default) it is uniform in
    ``[0, bound(n)]``; with ``"none"`` it is exactly ``bound(n)``; with ``"decorrelated"`` it is
    ``min(maximum, uniform(initial, 3 * previous))``.

    >>> Backoff(initial=1.0, maximum=8.0, jitter="none").delay(5)
    8.0
    """

    __slots__ = ("initial", "jitter", "maximum", "multiplier")

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 15.0,
        multiplier: float = 2.0,
        jitter: Jitter = "full",
    ) -> None:
        if not initial >= 0:
            raise ValueError(f"Backoff initial must be >= 0, got {initial!r}")
        if not maximum >= initial:
            raise ValueError(f"Backoff maximum must be >= initial ({initial!r}), got {maximum!r}")
        if not multiplier >= 1:
            raise ValueError(f"Backoff multiplier must be >= 1, got {multiplier!r}")
        if jitter not in _JITTERS:
            raise ValueError(f"Backoff jitter must be one of {_JITTERS}, got {jitter!r}")
        self.initial = float(initial)
        self.maximum = float(maximum)
        self.multiplier = float(multiplier)
        self.jitter: Jitter = jitter

    def bound(self, n: int) -> float:
        """The largest delay the n-th wait may take: ``min(maximum, initial * multiplier**n)``."""
        if n < 0:
            raise ValueError(f"delay index must be >= 0, got {n}")
        try:
            return min(self.maximum, self.initial * self.multiplier**n)
        except OverflowError:
            return self.maximum

    def delay(
        self, n: int, rng: random.Random | None = None, previous: float | None = None
    ) -> float:
        """The n-th delay of a run of failures, drawn with this policy's jitter."""
        draw = (rng or random).uniform
        if self.jitter == "none":
            return self.bound(n)
        if self.jitter == "full":
            return draw(0.0, self.bound(n))
        # Decorrelated jitter grows from the previous delay rather than from n.
        base = self.initial if previous is None or n == 0 else max(previous, self.initial)
        return min(self.maximum, draw(self.initial, base * 3.0))

    def __repr__(self) -> str:
        return (
            f"Backoff(initial={self.initial}, maximum={self.maximum}, "
            f"multiplier={self.multiplier}, jitter={self.jitter!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Backoff):
            return NotImplemented
        return (self.initial, self.maximum, self.multiplier, self.jitter) == (
            other.initial,
            other.maximum,
            other.multiplier,
            other.jitter,
        )

    def __hash__(self) -> int:
        return hash((self.initial, self.maximum, self.multiplier, self.jitter))


class RetryPolicy:
    """Counts consecutive failures and says how long to wait before the next attempt.

    ``attempt`` is the number of consecutive failed attempts. A link that drops after less than
    ``stable_after`` seconds counts as a failed attempt, so a server that accepts and immediately closes
    still backs off; a link that stayed up at least ``stable_after`` seconds resets ``attempt`` to 0.

    >>> clock = iter([0.0, 1.0]).__next__
    >>> p = RetryPolicy(Backoff(jitter="none"), stable_after=5.0, clock=clock)
    >>> p.on_attempt_failed(); p.attempt
    1
    """

    __slots__ = ("_clock", "_connected_at", "_previous", "_rng", "attempt", "backoff",
                 "max_attempts", "stable_after")

    def __init__(
        self,
        backoff: Backoff,
        max_attempts: int | None = None,
        stable_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts must be None or >= 1, got {max_attempts!r}")
        if not stable_after >= 0:
            raise ValueError(f"stable_after must be >= 0, got {stable_after!r}")
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.stable_after = float(stable_after)
        self._clock = clock
        self._rng = rng
        self._connected_at: float | None = None
        self._previous: float | None = None
        self.attempt = 0

    def on_connected(self) -> None:
        self._connected_at = self._clock()

    def on_attempt_failed(self) -> None:
        self.attempt += 1

    def on_link_lost(self) -> None:
        """Record the loss of an established link; returns nothing, updates ``attempt``."""
        up_since = self._connected_at
        self._connected_at = None
        if up_since is not None and self._clock() - up_since >= self.stable_after:
            self.reset()
        else:
            self.attempt += 1

    def exhausted(self) -> bool:
        return self.max_attempts is not None and self.attempt >= self.max_attempts

    def next_delay(self, n: int | None = None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` once ``max_attempts`` is reached.

        ``n`` is the index of the wait in the run (default: ``attempt - 1``; with several URLs the
        link core counts failed rounds instead)."""
        if self.exhausted():
            return None
        index = max(self.attempt - 1, 0) if n is None else n
        delay = self.backoff.delay(index, self._rng, self._previous)
        self._previous = delay
        return delay

    def reset(self) -> None:
        self.attempt = 0
        self._previous = None
