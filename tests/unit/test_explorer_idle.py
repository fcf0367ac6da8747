"""Types age out of the explorer's overview when idle (``IDLE_AFTER``), on a fake clock: every call
is given its ``now``."""

from __future__ import annotations

from rt_widgets.explorer import IDLE_AFTER, MAX_AUTO_VIEWS, MAX_TYPES, OTHER_TYPES, Explorer

WALL = 1_767_225_600.0


def test_a_type_with_no_view_leaves_the_overview_after_idle_after() -> None:
    ex = Explorer(make_views=False)
    ex.observe("junk", "x", 0.0)
    ex.observe("trade", "x", 100.0)
    assert set(ex.overview(IDLE_AFTER - 0.001, WALL)) == {"junk", "trade"}
    assert set(ex.overview(IDLE_AFTER, WALL)) == {"trade"}
    assert ex.aged_out == 1
    # A message keeps a type listed; one that comes back after aging out is a new entry.
    ex.observe("trade", "x", 399.0)
    ex.observe("junk", "y", 400.0)
    overview = ex.overview(600.0, WALL)
    assert overview["junk"]["count"] == 1 and overview["trade"]["count"] == 2
    assert ex.aged_out == 1


def test_a_type_the_explorer_made_a_view_for_stays_listed() -> None:
    ex = Explorer(idle_after=10.0)
    assert ex.observe("mission_update", {"id": 1}, 0.0) is not None
    assert ex.observe("chatter", "x", 0.0) is not None  # a log view
    overview = ex.overview(1000.0, WALL)
    assert set(overview) == {"mission_update", "chatter"}
    assert ex.aged_out == 0


def test_real_types_are_shown_after_200_idle_junk_types_and_junk_ages_out() -> None:
    ex = Explorer()
    junk = [f"junk-{i}" for i in range(MAX_TYPES)]
    for i, name in enumerate(junk):
        ex.observe(name, f"noise {i}", i / 1000)
    assert len(ex.overview(1.0, WALL)) == MAX_TYPES
    later = 1.0 + IDLE_AFTER
    note = ex.observe("notification", {"level": "info", "title": "hi"}, later)
    mission = ex.observe("mission_update", {"id": "m1", "state": "go"}, later)
    chatter = ex.observe("chatter", "a text message", later)
    overview = ex.overview(later, WALL)
    print(f"\ntypes seen: {MAX_TYPES + 3}, shown: {len(overview)}, aged out: {ex.aged_out}, "
          f"evicted: {ex.evicted}, retired: {ex.retired}")
    assert note is not None and note.kind == "notifications"
    assert mission is not None and mission.kind == "table" and mission.retire == "junk-0"
    # Every view was taken by idle junk logs: a new log takes the view of the one idle longest.
    assert chatter is not None and chatter.kind == "log" and chatter.retire == "junk-1"
    assert {"notification", "mission_update", "chatter"} <= set(overview)
    # The junk with no view aged out at once (nothing was evicted to make room); the junk that
    # gave its view away ages out with it; the junk that keeps a view stays.
    assert ex.aged_out == MAX_TYPES - MAX_AUTO_VIEWS + 2
    assert ex.evicted == 0
    kept = {name for name in overview if name.startswith("junk-")}
    assert kept == {f"junk-{i}" for i in range(2, MAX_AUTO_VIEWS)}


def test_a_new_log_takes_no_view_from_a_log_that_is_not_idle() -> None:
    ex = Explorer(idle_after=60.0)
    for i in range(MAX_AUTO_VIEWS):
        ex.observe(f"log-{i}", "x", float(i))
    assert ex.observe("chatter", "x", 59.0) is None  # log-0 was seen 59 s ago
    assert ex.observe("chatter-2", "x", 60.5) is not None  # log-0 is 60.5 s idle
    assert ex.retired == 1


def test_when_full_the_idle_types_go_before_the_least_recently_seen_one() -> None:
    ex = Explorer(make_views=False, max_types=3, idle_after=10.0)
    ex.observe("a", "x", 0.0)
    ex.observe("b", "x", 1.0)
    ex.observe("c", "x", 20.0)
    ex.observe("d", "x", 20.0)  # full: a and b are idle, both age out
    assert list(ex.types) == ["c", "d"]
    assert (ex.aged_out, ex.evicted) == (2, 0)
    ex.observe("e", "x", 21.0)
    ex.observe("f", "x", 22.0)  # full, none idle: c, seen least recently, is evicted
    assert list(ex.types) == ["d", "e", "f"]
    assert (ex.aged_out, ex.evicted) == (2, 1)


def test_other_types_ages_out_too() -> None:
    # Every listed type has a view: the newcomers are counted together, until that goes idle.
    ex = Explorer(max_types=2, idle_after=10.0)
    ex.observe("a", "x", 0.0)
    ex.observe("b", "x", 0.0)
    ex.observe("c", "x", 1.0)
    assert set(ex.overview(1.0, WALL)) == {"a", "b", OTHER_TYPES}
    assert set(ex.overview(11.0, WALL)) == {"a", "b"}
    assert ex.aged_out == 1
