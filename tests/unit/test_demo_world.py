"""The demo feed's simulated world, with no server: a seeded `random.Random` and a fake clock."""

from __future__ import annotations

import collections
import copy
import hashlib
import itertools
import random

import orjson
import pytest

from rt_widgets.demo.world import CHANNELS, MISSION_STATUSES, World, iso_timestamp, mission_name

METRIC_NAMES = {"cpu", "memory", "latency_ms", "throughput", "error_rate", "queue_depth"}
ROW_FIELDS = {"id", "name", "status", "progress", "updated_at"}


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_world(seed: int = 1, missions: int = 25, clock: FakeClock | None = None) -> World:
    return World(random.Random(seed), missions, clock=clock or FakeClock())


def envelope_stream(world: World, count: int) -> bytes:
    """The updates as the feed encodes them (before each client's ``seq``), concatenated."""
    return b"".join(
        u.channel.encode() + orjson.dumps({"type": u.type, "payload": u.payload, "timestamp": u.timestamp})
        for u in world.generate(count)
    )


def test_the_stream_for_a_seed_is_the_one_the_feed_has_always_sent() -> None:
    """Pins the exact content of the seeded stream: changing the world's draws changes every seeded
    notebook, test and benchmark that replays it."""
    stream = envelope_stream(World(random.Random(3), clock=lambda: 0.0), 2000)
    assert hashlib.sha256(stream).hexdigest() == (
        "073aab1c01575643da9078a852ce7be44307c27e8816dc5b4add8dcea79bb89c"
    )


def test_same_seed_same_updates_whatever_the_clock_or_batching() -> None:
    def content(world: World, sizes: list[int]) -> list[tuple[str, str, object]]:
        out: list[tuple[str, str, object]] = []
        for size in sizes:
            for update in world.generate(size):
                payload = dict(update.payload)
                payload.pop("updated_at", None)
                out.append((update.channel, update.type, payload))
        return out

    # The n-th update depends only on the seed and n: not on time, nor on how many per tick.
    first = content(make_world(42, clock=FakeClock(0.0)), [500])
    second = content(make_world(42, clock=FakeClock(1e9)), [1, 7, 92, 400])
    assert first == second
    assert content(make_world(43), [500]) != first


def test_the_clock_stamps_every_update_and_only_that() -> None:
    clock = FakeClock(1_700_000_000.0)
    world = make_world(5, missions=3, clock=clock)
    assert {row["updated_at"] for row in world.snapshot()} == {"2023-11-14T22:13:20.000Z"}

    clock.now += 1.25
    updates = world.generate(200)
    assert {u.timestamp for u in updates} == {"2023-11-14T22:13:21.250Z"}
    rows = [u.payload for u in updates if u.type == "mission_update"]
    assert rows and {row["updated_at"] for row in rows} == {"2023-11-14T22:13:21.250Z"}
    assert world.now() == "2023-11-14T22:13:21.250Z"


def test_iso_timestamp_is_utc_milliseconds_with_z() -> None:
    assert iso_timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_timestamp(1.9999) == "1970-01-01T00:00:01.999Z"
    assert iso_timestamp(1_767_323_045.678) == "2026-01-02T03:04:05.678Z"


def test_snapshot_is_every_mission_in_id_order_as_copies() -> None:
    world = make_world(2, missions=30)
    snapshot = world.snapshot()
    assert [row["id"] for row in snapshot] == list(range(1, 31))
    assert all(set(row) == ROW_FIELDS for row in snapshot)
    names = [row["name"] for row in snapshot[23:27]]
    assert names == ["Webb-24", "Zenith-25", "Aurora-0026", "Borealis-0027"]

    before = copy.deepcopy(world.missions)
    snapshot[0]["status"] = "tampered"
    assert world.missions == before
    update = next(u for u in world.generate(100) if u.type == "mission_update")
    update.payload["progress"] = -1
    assert world.missions[update.payload["id"] - 1]["progress"] != -1


def test_mission_names_are_unique_for_a_large_table() -> None:
    names = [mission_name(index) for index in range(1, 10_001)]
    assert len(set(names)) == 10_000
    assert names[:2] == ["Aurora-01", "Borealis-02"] and names[-1] == "Zenith-10000"


def test_updates_have_the_shapes_the_views_expect() -> None:
    world = make_world(9)
    updates = world.generate(5000)
    by_type = collections.defaultdict(list)
    for update in updates:
        assert CHANNELS[update.channel] == update.type
        by_type[update.type].append(update.payload)
    assert set(by_type) == set(CHANNELS.values())

    for row in by_type["mission_update"]:
        assert set(row) == ROW_FIELDS
        assert 1 <= row["id"] <= 25
        assert row["status"] in MISSION_STATUSES
        assert 0.0 <= row["progress"] <= 100.0
    assert {row["status"] for row in by_type["mission_update"]} == set(MISSION_STATUSES)
    for metrics in by_type["metrics_update"]:
        assert set(metrics) == METRIC_NAMES
        assert all(type(value) is float for value in metrics.values())
        assert 0.0 <= metrics["cpu"] <= 100.0 and 0.0 <= metrics["memory"] <= 100.0
        assert 1.0 <= metrics["latency_ms"] <= 2000.0
        assert metrics["queue_depth"] == round(metrics["queue_depth"])
    for note in by_type["notification"]:
        assert set(note) == {"level", "title", "message"}
        assert note["level"] in {"info", "success", "warning", "error"}


def test_channel_shares_follow_the_weights() -> None:
    counts = collections.Counter(u.channel for u in make_world(1).generate(20_000))
    assert counts["missions"] / 20_000 == pytest.approx(0.62, abs=0.02)
    assert counts["metrics"] / 20_000 == pytest.approx(0.37, abs=0.02)
    assert 0 < counts["notifications"] / 20_000 < 0.02


def test_missions_move_through_their_life_cycle() -> None:
    """From a table of one mission: queued -> active (progress rises) -> done or failed or paused,
    and a finished mission starts a new run from 0."""
    world = make_world(4, missions=1)
    seen = [(row["status"], row["progress"]) for row in world.snapshot()]
    rows = [u.payload for u in world.generate(3000) if u.type == "mission_update"]
    seen += [(row["status"], row["progress"]) for row in rows]
    transitions = {(a[0], b[0]) for a, b in itertools.pairwise(seen) if a[0] != b[0]}
    allowed = {
        ("queued", "active"),
        ("active", "done"),
        ("active", "failed"),
        ("active", "paused"),
        ("paused", "active"),
        ("done", "queued"),
        ("failed", "queued"),
    }
    assert transitions <= allowed
    assert {("queued", "active"), ("active", "done"), ("done", "queued")} <= transitions
    for (_, progress), (next_status, next_progress) in itertools.pairwise(seen):
        # Progress only rises within a run; a new run starts from 0.
        assert next_progress == 0.0 if next_status == "queued" else next_progress >= progress
    assert all(progress == 100.0 for status, progress in seen if status == "done")


def test_metrics_stay_near_their_means_over_a_long_run() -> None:
    world = make_world(6)
    cpu = [world.metrics_update()["cpu"] for _ in range(20_000)]
    assert 30 < sum(cpu) / len(cpu) < 60
    assert min(cpu) >= 0.0 and max(cpu) <= 100.0
