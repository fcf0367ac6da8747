"""The simulated system behind the demo feed: missions advancing, metrics drifting, notifications.

Pure: no asyncio, no sockets, no wall clock of its own. Randomness comes from the ``random.Random``
it is given and time from an injected clock, so for a given seed the n-th update depends only on the
seed and n, never on timing or on who is connected::

    >>> import random
    >>> world = World(random.Random(1), missions=3, clock=lambda: 0.0)
    >>> [row["name"] for row in world.snapshot()]
    ['Aurora-01', 'Borealis-02', 'Cassini-03']
    >>> update = world.generate(1)[0]
    >>> (update.channel, update.type, update.timestamp)
    ('missions', 'mission_update', '1970-01-01T00:00:00.000Z')

The server (``server.py``) turns updates into envelopes and decides who receives them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

__all__ = ["CHANNELS", "MISSION_STATUSES", "Update", "World", "iso_timestamp", "mission_name"]

#: Subscription channel -> the message type it carries.
CHANNELS: Final[dict[str, str]] = {
    "missions": "mission_update",
    "metrics": "metrics_update",
    "notifications": "notification",
}

MISSION_STATUSES: Final = ("queued", "active", "paused", "done", "failed")

_MISSION_NAMES: Final = (
    "Aurora", "Borealis", "Cassini", "Dawn", "Europa", "Fermi", "Galileo", "Hubble", "Icarus",
    "Juno", "Kepler", "Lyra", "Magellan", "Nova", "Orion", "Pioneer", "Quasar", "Rosetta",
    "Stardust", "Triton", "Ulysses", "Vega", "Voyager", "Webb", "Zenith",
)  # fmt: skip

# Share of the message stream per channel: mostly table rows, a steady metrics beat, and
# notifications rare enough to read.
_WEIGHTS: Final = (("missions", 0.62), ("metrics", 0.37), ("notifications", 0.01))


class Update(NamedTuple):
    """One thing that happened in the world: a message of ``type`` for the subscribers of ``channel``."""

    channel: str
    type: str
    payload: Any
    timestamp: str


def iso_timestamp(seconds: float) -> str:
    """Seconds since the epoch as the feed writes times: ISO 8601, UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class World:
    """Missions, metrics and notifications, advanced one update at a time.

    ``rng`` drives every choice; ``clock`` returns seconds since the epoch (``time.time`` by default)
    and only stamps the updates. ``missions`` is how many distinct missions (ids 1 to ``missions``)
    exist; their names are unique.
    """

    def __init__(
        self,
        rng: random.Random,
        missions: int = len(_MISSION_NAMES),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rng = rng
        self._clock = clock
        now = self.now()
        self.missions: list[dict[str, Any]] = []
        for index in range(1, missions + 1):
            status = rng.choice(MISSION_STATUSES)
            progress = {"queued": 0.0, "done": 100.0}.get(status, round(rng.uniform(0, 95), 1))
            self.missions.append(
                {
                    "id": index,
                    "name": mission_name(index),
                    "status": status,
                    "progress": progress,
                    "updated_at": now,
                }
            )
        self.metrics: dict[str, float] = {
            "cpu": 42.0,
            "memory": 61.0,
            "latency_ms": 38.0,
            "throughput": 1200.0,
            "error_rate": 0.4,
            "queue_depth": 12.0,
        }
        self._channels = [name for name, _ in _WEIGHTS]
        self._cum_weights = list(_cumulative(weight for _, weight in _WEIGHTS))

    def now(self) -> str:
        """The clock's time, as the feed writes times."""
        return iso_timestamp(self._clock())

    def generate(self, count: int) -> list[Update]:
        """The next ``count`` updates, all stamped with the clock's time now."""
        now = self.now()
        out: list[Update] = []
        for _ in range(count):
            channel = self.next_channel()
            payload: Any
            if channel == "missions":
                payload = self.mission_update(now)
            elif channel == "metrics":
                payload = self.metrics_update()
            else:
                payload = self.notification()
            out.append(Update(channel, CHANNELS[channel], payload, now))
        return out

    def snapshot(self) -> list[dict[str, Any]]:
        """Every mission's current row (copies), in id order: what a new subscriber starts from."""
        return [dict(mission) for mission in self.missions]

    # -- one step of each kind (each draws from the rng in a fixed order) -------------------------

    def next_channel(self) -> str:
        roll = self._rng.random()
        for channel, bound in zip(self._channels, self._cum_weights, strict=True):
            if roll < bound:
                return channel
        return self._channels[-1]

    def mission_update(self, now: str) -> dict[str, Any]:
        """Advance one mission (chosen at random) and return a copy of its row."""
        rng = self._rng
        mission = rng.choice(self.missions)
        status = mission["status"]
        if status == "queued":
            if rng.random() < 0.5:
                status = "active"
        elif status == "active":
            mission["progress"] = round(min(100.0, mission["progress"] + rng.uniform(0.5, 6.0)), 1)
            roll = rng.random()
            if mission["progress"] >= 100.0:
                status = "done"
            elif roll < 0.03:
                status = "failed"
            elif roll < 0.09:
                status = "paused"
        elif status == "paused":
            if rng.random() < 0.4:
                status = "active"
        elif rng.random() < 0.3:  # done or failed: start a new run
            status = "queued"
            mission["progress"] = 0.0
        mission["status"] = status
        mission["updated_at"] = now
        return dict(mission)

    def metrics_update(self) -> dict[str, float]:
        """Move every metric one step and return them all (``queue_depth`` a whole number)."""
        rng = self._rng
        m = self.metrics

        def drift(name: str, mean: float, step: float, low: float, high: float) -> None:
            # Mean-reverting walk: wanders visibly on a sparkline but never runs away.
            value = m[name] + rng.gauss(0.0, step) + 0.1 * (mean - m[name])
            m[name] = min(high, max(low, value))

        drift("cpu", 45.0, 4.0, 0.0, 100.0)
        drift("memory", 62.0, 1.5, 0.0, 100.0)
        drift("latency_ms", 40.0, 6.0, 1.0, 2000.0)
        drift("throughput", 1200.0, 60.0, 0.0, 1e9)
        drift("error_rate", 0.5, 0.15, 0.0, 100.0)
        drift("queue_depth", 12.0, 3.0, 0.0, 1e9)
        snapshot = {name: round(value, 2) for name, value in m.items()}
        snapshot["queue_depth"] = float(round(m["queue_depth"]))
        return snapshot

    def notification(self) -> dict[str, str]:
        """A notification about a random mission or the ground link."""
        rng = self._rng
        mission = rng.choice(self.missions)
        name, progress = mission["name"], mission["progress"]
        roll = rng.random()
        if roll < 0.4:
            return {"level": "info", "title": "Mission update",
                    "message": f"{name} is {mission['status']} at {progress:.0f}%"}  # fmt: skip
        if roll < 0.65:
            return {"level": "success", "title": "Checkpoint reached",
                    "message": f"{name} passed {progress:.0f}%"}  # fmt: skip
        if roll < 0.9:
            latency = self.metrics["latency_ms"]
            return {"level": "warning", "title": "Latency rising",
                    "message": f"Ground link latency is {latency:.0f} ms"}  # fmt: skip
        return {"level": "error", "title": "Telemetry gap",
                "message": f"{name} missed a telemetry window"}  # fmt: skip


def mission_name(index: int) -> str:
    """The name of mission ``index`` (from 1): the built-in names, then again with a wider number."""
    base = _MISSION_NAMES[(index - 1) % len(_MISSION_NAMES)]
    if index <= len(_MISSION_NAMES):
        return f"{base}-{index:02d}"
    return f"{base}-{index:04d}"


def _cumulative(values: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for value in values:
        total += value
        yield total
