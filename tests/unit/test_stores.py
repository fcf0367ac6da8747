"""TableStore, MetricsStore and NotificationStore: pure logic, no I/O."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest

from rt_widgets.stores import Alert, MetricsStore, NotificationStore, TableStore


def apply_delta(view: dict[Any, dict[str, Any]], delta: dict[str, Any]) -> None:
    """What a view does with a table delta (dict keeps first-insertion order)."""
    if delta.get("clear"):
        view.clear()
    for key in delta.get("delete", []):
        view.pop(key, None)
    for row in delta.get("upsert", []):
        if row["id"] in view:
            view[row["id"]].update(row)
        else:
            view[row["id"]] = dict(row)


# -- TableStore ---------------------------------------------------------------------------


def test_upsert_merges_partial_updates_and_keeps_position() -> None:
    t = TableStore()
    t.apply({"id": "a", "status": "queued"})
    t.apply({"id": "b", "status": "running"})
    t.apply({"id": "a", "progress": 0.5})
    assert t.rows == [
        {"id": "a", "status": "queued", "progress": 0.5},
        {"id": "b", "status": "running"},
    ]
    assert t.columns == ["id", "status", "progress"]


def test_list_payload_is_a_batch_applied_in_order() -> None:
    t = TableStore()
    t.apply([{"id": 1, "v": 1}, {"id": 2, "v": 2}, {"id": 1, "v": 3}])
    assert t.rows == [{"id": 1, "v": 3}, {"id": 2, "v": 2}]


def test_rows_without_key_are_counted_with_a_clear_message() -> None:
    t = TableStore(key="mission")
    t.apply({"id": 1})
    assert t.errors == 1 and len(t) == 0
    assert t.last_error is not None and "no 'mission' field" in t.last_error
    t.apply(["not a row", {"mission": "m1"}, {"mission": ["unhashable"]}])
    assert t.errors == 3 and len(t) == 1
    assert "not a usable key" in (t.last_error or "")


def test_cap_evicts_oldest_first_inserted() -> None:
    t = TableStore(max_rows=3)
    for i in range(5):
        t.apply({"id": i})
    t.apply({"id": 2, "x": 1})  # an update keeps the row's place: it is still the oldest
    t.apply({"id": 5})
    assert [r["id"] for r in t.rows] == [3, 4, 5]
    assert t.evicted == 3


def test_delete_and_apply_delete_forms() -> None:
    t = TableStore()
    t.apply([{"id": i} for i in range(6)])
    assert t.delete(0) is True
    assert t.delete(99) is False
    t.apply_delete(1)
    t.apply_delete({"id": 2})
    t.apply_delete([3, {"id": 4}, {"nokey": 1}])
    assert [r["id"] for r in t.rows] == [5]
    assert t.errors == 1


def test_drain_reports_changes_since_last_drain_with_increasing_seq() -> None:
    t = TableStore()
    assert t.drain() is None
    t.apply({"id": 1, "a": 1})
    t.apply({"id": 2, "a": 2})
    d1 = t.drain()
    assert d1 == {"seq": 1, "upsert": [{"id": 1, "a": 1}, {"id": 2, "a": 2}],
                  "add_columns": ["a"]}
    assert t.drain() is None
    t.apply({"id": 1, "b": 5})
    t.delete(2)
    d2 = t.drain()
    # A row sent before comes back as its key and what changed.
    assert d2 == {"seq": 2, "upsert": [{"b": 5, "id": 1}], "delete": [2],
                  "add_columns": ["b"]}
    t.apply({"id": 1, "a": 1, "b": 6})  # only b differs from what the view holds
    t.apply({"id": 2, "a": 3})  # deleted before: whole again
    assert t.drain() == {"seq": 3, "upsert": [{"b": 6, "id": 1}, {"id": 2, "a": 3}]}
    t.apply({"id": 1, "b": 6})  # no change at all: no delta
    assert t.drain() is None and t.seq == 3


def test_a_snapshot_read_between_deltas_leaves_the_new_columns_to_the_next_delta() -> None:
    # A view starts from the empty table's snapshot (seq 0: the key column). The first rows come
    # with their fields; a snapshot is read before the first delta (the static copy the cell's
    # display makes reaches no view). The view holds seq 0 and applies delta 1: it must learn the
    # columns from it, or it shows the key column alone until it next takes a snapshot.
    t = TableStore(key="id")
    view = t.snapshot()
    t.queue({"id": "m-0000", "status": "ok", "sent": "T1"})
    copy = t.snapshot()
    assert copy["seq"] == view["seq"] == 0 and copy["columns"] == ["id", "status", "sent"]
    delta = t.drain()
    assert delta is not None and delta["seq"] == 1
    held = list(view["columns"])
    held += [c for c in delta.get("add_columns", ()) if c not in held]
    assert held == t.columns == ["id", "status", "sent"]
    # A view reset to that snapshot holds them already and appends none twice; later deltas
    # name no column again.
    t.queue({"id": "m-0000", "status": "ok", "sent": "T2"})
    later = t.drain()
    assert later is not None and "add_columns" not in later


def test_delete_then_reinsert_in_one_frame_moves_the_row_last() -> None:
    t = TableStore()
    t.apply([{"id": 1}, {"id": 2}])
    t.drain()
    t.delete(1)
    t.apply({"id": 1, "v": 2})
    assert t.drain() == {"seq": 2, "delete": [1], "upsert": [{"id": 1, "v": 2}],
                         "add_columns": ["v"]}
    assert [r["id"] for r in t.rows] == [2, 1]


def test_clear_delta() -> None:
    t = TableStore()
    t.apply([{"id": 1}, {"id": 2}])
    t.drain()
    t.clear()
    t.apply({"id": 3})
    t.delete(3)
    t.apply({"id": 4})
    assert t.drain() == {"seq": 2, "clear": True, "upsert": [{"id": 4}]}


def test_fixed_columns_are_not_extended() -> None:
    t = TableStore(columns=["id", "name"])
    t.apply({"id": 1, "name": "x", "extra": 2})
    assert t.columns == ["id", "name"]
    assert "columns" not in (t.drain() or {})
    assert t.rows == [{"id": 1, "name": "x", "extra": 2}]


def test_snapshot() -> None:
    t = TableStore(key="k")
    t.apply({"k": "x", "v": 1})
    t.drain()
    assert t.snapshot() == {"seq": 1, "key": "k", "keys": ["k"], "columns": ["k", "v"],
                            "rows": [{"k": "x", "v": 1}], "errors": 0, "last_error": None}


def test_rows_are_copies_and_input_is_not_mutated() -> None:
    t = TableStore()
    first = {"id": 1, "a": 1}
    t.apply(first)
    t.apply({"id": 1, "a": 2})
    assert first == {"id": 1, "a": 1}
    t.rows[0]["a"] = 99
    assert t.get(1) == {"id": 1, "a": 2}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_invalid_max_rows(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_rows must be a positive integer"):
        TableStore(max_rows=bad)


@pytest.mark.parametrize("how", ["apply", "queue"])
def test_view_replaying_deltas_matches_store_under_random_traffic(how: str) -> None:
    rng = random.Random(7)
    t = TableStore(max_rows=50)
    upsert = getattr(t, how)
    view: dict[Any, dict[str, Any]] = {}
    for _ in range(200):
        for _ in range(rng.randrange(1, 40)):
            op = rng.random()
            if op < 0.5:
                upsert({"id": rng.randrange(120), f"f{rng.randrange(4)}": rng.random()})
            elif op < 0.7:
                upsert({"id": rng.randrange(120), **{f"f{i}": rng.random() for i in range(4)}})
            elif op < 0.97:
                t.delete(rng.randrange(120))
            else:
                t.clear()
        delta = t.drain()
        if delta is not None:
            apply_delta(view, delta)
        assert list(view.values()) == t.rows
    # Cross-check the view's order against the store (first-insertion order) once more.
    assert [r["id"] for r in t.snapshot()["rows"]] == list(view)


def test_per_message_cost_does_not_grow_with_table_size() -> None:
    def rate(max_rows: int) -> float:
        t = TableStore(max_rows=max_rows)
        n = 60_000
        start = time.perf_counter()
        for i in range(n):
            t.apply({"id": i, "v": i})  # every insert past the cap evicts the oldest row
        return n / (time.perf_counter() - start)

    small, large = rate(100), rate(50_000)
    # Linear-time eviction would make the large table thousands of times slower; allow noise.
    assert large > small / 4, (small, large)


# -- MetricsStore -------------------------------------------------------------------------


def test_metrics_merge_latest_and_bounded_history() -> None:
    now = [100.0]
    m = MetricsStore(history=3, clock=lambda: now[0])
    for i in range(5):
        now[0] += 1
        m.apply({"cpu": i, "mem": 50.5})
    m.apply({"disk": 7}, t=1.0)
    assert m.latest == {"cpu": 4, "mem": 50.5, "disk": 7}
    assert m.history("cpu") == [(103.0, 2), (104.0, 3), (105.0, 4)]
    assert m.history("disk") == [(1.0, 7)]
    assert m.history("none") == []
    assert m.names == ["cpu", "mem", "disk"]


def test_metrics_ignore_and_count_non_numeric() -> None:
    m = MetricsStore(clock=lambda: 0.0)
    m.apply({"cpu": 1, "host": "a", "ok": True, "nested": {"x": 1}, "nan": math.nan,
             "inf": math.inf})
    m.apply("text")
    assert m.latest == {"cpu": 1}
    assert m.ignored == 6


def test_metrics_drain_and_snapshot() -> None:
    now = [0.0]
    m = MetricsStore(history=2, clock=lambda: now[0])
    assert m.drain() is None
    for v in (1, 2, 3):
        now[0] += 1
        m.apply({"cpu": v})
    assert m.drain() == {"seq": 1, "latest": {"cpu": 3}, "append": {"cpu": [[2.0, 2], [3.0, 3]]}}
    assert m.drain() is None
    m.set_series(["cpu"])
    m.set_threshold("cpu", above=90)
    assert m.drain() == {"seq": 2, "series": ["cpu"], "thresholds": {"cpu": {"above": 90.0}}}
    assert m.snapshot() == {"seq": 2, "latest": {"cpu": 3},
                            "history": {"cpu": [[2.0, 2], [3.0, 3]]},
                            "series": ["cpu"], "thresholds": {"cpu": {"above": 90.0}}}


def test_threshold_crossings_alert_once_per_crossing() -> None:
    alerts: list[Alert] = []
    m = MetricsStore(thresholds={"cpu": {"above": 90}, "mem": {"below": 10}},
                     on_alert=alerts.append, clock=lambda: 0.0)
    for v in (50, 95, 97, 80, 91):
        m.apply({"cpu": v})
    m.apply({"mem": 5})
    assert [(a.name, a.when, a.value) for a in alerts] == [
        ("cpu", "above", 95), ("cpu", "above", 91), ("mem", "below", 5)]
    assert alerts[0].message == "cpu is 95, above 90"
    m.set_threshold("cpu")
    m.apply({"cpu": 99})
    assert len(alerts) == 3
    with pytest.raises(ValueError, match="must be a number"):
        m.set_threshold("x", above="high")  # type: ignore[arg-type]


# -- NotificationStore --------------------------------------------------------------------


def test_notifications_bounded_with_ids_and_defaults() -> None:
    n = NotificationStore(limit=2, clock=lambda: 0.0)
    n.apply("plain text")
    n.apply({"level": "WARNING", "title": "Disk", "message": "92%", "timestamp": "t1"})
    n.apply({"level": "bogus", "text": "hi", "source": "ops"})
    items = n.items
    assert [i["id"] for i in items] == [2, 3]
    assert items[0] == {"id": 2, "level": "warning", "title": "Disk", "message": "92%",
                        "timestamp": "t1", "source": "server"}
    assert items[1]["level"] == "info" and items[1]["source"] == "ops"
    assert items[1]["timestamp"] == "1970-01-01T00:00:00+00:00"


def test_notifications_drain_and_listeners() -> None:
    n = NotificationStore(limit=5, clock=lambda: 0.0)
    seen: list[dict[str, Any]] = []
    stop = n.subscribe(seen.append)
    n.add("error", "Down", "feed lost", source="connection")
    stop()
    n.add("info", "", "later")
    assert [s["message"] for s in seen] == ["feed lost"]
    delta = n.drain()
    assert delta is not None and delta["seq"] == 1
    assert [i["message"] for i in delta["add"]] == ["feed lost", "later"]
    assert n.drain() is None
    assert n.snapshot()["seq"] == 1 and len(n.snapshot()["items"]) == 2


# -- queued application: the same state as applying each message at once --------------------


class EagerTable:
    """The table semantics, one row at a time (the reference for the queued TableStore)."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows: dict[Any, dict[str, Any]] = {}
        self.columns = ["id"]
        self.errors = 0
        self.evicted = 0

    def apply(self, row: Any) -> None:
        if not isinstance(row, dict) or "id" not in row:
            self.errors += 1
            return
        if row["id"] in self.rows:
            self.rows[row["id"]].update(row)
        else:
            self.rows[row["id"]] = dict(row)
            if len(self.rows) > self.max_rows:
                del self.rows[next(iter(self.rows))]
                self.evicted += 1
        self.columns += [name for name in row if name not in self.columns]


def test_queued_table_matches_row_by_row_application(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    coalesced = TableStore._settle_coalesced

    def spy(self: TableStore, batch: list[Any]) -> bool:
        taken.append(coalesced(self, batch))
        return taken[-1]

    monkeypatch.setattr(TableStore, "_settle_coalesced", spy)
    rng = random.Random(11)
    fields = [f"f{i}" for i in range(5)]
    for max_rows in (8, 40, 1000):
        t = TableStore(max_rows=max_rows)
        ref = EagerTable(max_rows)
        for _ in range(300):
            for _ in range(rng.randrange(1, 200)):
                k = rng.randrange(30)
                op = rng.random()
                row: Any
                if op < 0.75:  # a full row (every field seen), the common case of a feed
                    row = {f: rng.random() for f in ref.columns} | {"id": k}
                elif op < 0.9:  # a partial update
                    row = {"id": k, rng.choice(fields): rng.random()}
                elif op < 0.93:
                    row = {"id": k, f"new{rng.randrange(3)}": 1}
                elif op < 0.96:
                    row = {"no_id": k} if op < 0.95 else "junk"
                else:
                    row = [{"id": k, "f0": 0.5}, {"id": k + 1, "f1": 0.25}]
                t.queue(row)
                for r in row if isinstance(row, list) else [row]:
                    ref.apply(r)
            assert t.rows == list(ref.rows.values())
            assert (t.columns, t.errors, t.evicted) == (ref.columns, ref.errors, ref.evicted)
    # Both ways of applying the queue were exercised (and agreed with the reference).
    assert True in taken and False in taken


def test_queued_table_with_constant_eviction_matches_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ever-new keys into a capped table (a feed of events): queues whose new keys evict rows the
    queue does not hold are applied together, and the rows, columns, eviction count and what a view
    rebuilds from the deltas equal the rows applied one by one."""
    evicting: list[int] = []
    coalesced = TableStore._settle_coalesced

    def spy(self: TableStore, batch: list[Any]) -> bool:
        before = self._evicted
        applied = coalesced(self, batch)
        if applied and self._evicted > before:
            evicting.append(self._evicted - before)
        return applied

    monkeypatch.setattr(TableStore, "_settle_coalesced", spy)
    rng = random.Random(23)
    for max_rows in (5, 50, 300):
        t = TableStore(max_rows=max_rows)
        ref = EagerTable(max_rows)
        view: dict[Any, dict[str, Any]] = {}
        counter = 0
        for _ in range(150):
            for _ in range(rng.randrange(1, 300)):
                if rng.random() < 0.7:
                    counter += 1
                    k = counter
                else:  # a recent key: still held, or evicted and new again
                    k = counter - rng.randrange(min(counter, 60) + 1)
                row = ({"id": k, "f0": rng.random(), "f1": k, "f2": "x"} if rng.random() < 0.8
                       else {"id": k, "f1": -k})
                if rng.random() < 0.5:
                    t.queue(row)
                else:
                    t.queue_many([row])
                ref.apply(row)
            assert t.rows == list(ref.rows.values())
            assert (t.columns, t.evicted) == (ref.columns, ref.evicted)
            delta = t.drain()
            if delta is not None:
                apply_delta(view, delta)
            assert list(view.values()) == t.rows
    assert sum(evicting) > 1000, evicting  # the batch apply evicted, not only the row-by-row path


def test_payloads_of_a_single_series_are_applied_together() -> None:
    m = MetricsStore(history=3, clock=lambda: 7.0)
    m.apply({"cpu": 0})
    m.queue_many([{"cpu": 1}, {"cpu": 2.5}, {"cpu": 3}, {"cpu": 4}])
    assert m._inbox  # queued, applied on the next read
    assert m.history("cpu") == [(7.0, 2.5), (7.0, 3), (7.0, 4)]
    assert m.latest == {"cpu": 4}
    delta = m.drain()
    assert delta is not None and delta["append"] == {"cpu": [[7.0, 2.5], [7.0, 3], [7.0, 4]]}


def test_queued_rows_are_applied_before_a_delete_an_apply_and_in_deltas() -> None:
    t = TableStore()
    t.queue({"id": 1, "v": 1})
    assert t.delete(1) is True  # the queued row was applied first
    t.queue({"id": 1, "v": 2})
    t.apply({"id": 1, "w": 3})
    delta = t.drain()
    # The view never held the first row 1: no deletion is sent for it.
    assert delta is not None and "delete" not in delta
    assert delta["upsert"] == [{"id": 1, "v": 2, "w": 3}]


def test_apply_copies_and_stored_rows_never_change_in_place() -> None:
    t = TableStore()
    row = {"id": 1, "v": 0}
    for v in range(3):  # one dict reused by the caller
        row["id"] = v
        t.apply(row)
    assert [r["id"] for r in t.rows] == [0, 1, 2]
    t.queue({"id": 9, "v": 1})
    first = t.drain()
    assert first is not None
    handed_out = first["upsert"][-1]
    t.queue({"id": 9, "v": 2})
    t.queue({"id": 9, "extra": True})  # a partial row: merged into a new dict
    assert t.get(9) == {"id": 9, "v": 2, "extra": True}
    assert handed_out == {"id": 9, "v": 1}


def test_metrics_apply_is_immediate_and_queue_keeps_arrival_times() -> None:
    now = [10.0]
    m = MetricsStore(clock=lambda: now[0])
    m.queue({"cpu": 1})
    now[0] = 11.0
    m.apply({"cpu": 2})
    now[0] = 12.0
    m.queue({"cpu": 3})
    now[0] = 99.0
    assert m.history("cpu") == [(10.0, 1), (11.0, 2), (12.0, 3)]
    delta = m.drain()
    assert delta is not None and delta["append"] == {"cpu": [[10.0, 1], [11.0, 2], [12.0, 3]]}


def test_an_unread_store_holds_a_bounded_queue() -> None:
    from rt_widgets.stores import INBOX_LIMIT

    t = TableStore()
    m = MetricsStore()
    total = INBOX_LIMIT * 3 + 5
    for i in range(total):
        t.queue({"id": i % 7, "v": i})
        m.queue({"cpu": i})
    assert len(t._inbox) < INBOX_LIMIT and len(m._inbox) < INBOX_LIMIT
    assert t.get(6) == {"id": 6, "v": max(i for i in range(total) if i % 7 == 6)}
    assert m.latest == {"cpu": total - 1}


def test_queued_metrics_match_payload_by_payload_application(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken: list[bool] = []
    by_series = MetricsStore._settle_by_series

    def spy(self: MetricsStore, payloads: list[Any], times: list[float]) -> bool:
        taken.append(by_series(self, payloads, times))
        return taken[-1]

    monkeypatch.setattr(MetricsStore, "_settle_by_series", spy)
    rng = random.Random(5)
    now = [0.0]
    queued = MetricsStore(history=50, clock=lambda: now[0])
    eager: list[tuple[float, dict[str, Any]]] = []
    names = ["cpu", "mem", "disk"]
    # Not numbers, not finite, or finite but too large for fsum to add up.
    odd_values: list[Any] = ["x", True, None, math.nan, math.inf, [1], 1e308]
    for _ in range(200):
        for _ in range(rng.randrange(1, 300)):
            now[0] += 0.01
            op = rng.random()
            payload: Any
            if op < 0.85:  # every series, in any order
                payload = {n: rng.choice((rng.random(), rng.randrange(100)))
                           for n in rng.sample(names, len(names))}
            elif op < 0.93:
                payload = {rng.choice(names): rng.random()}
            elif op < 0.98:
                payload = {n: rng.random() for n in names}
                payload[rng.choice(names)] = rng.choice(odd_values)
            else:
                payload = rng.choice(["text", 3, [{"cpu": 1.5}]])
            if rng.random() < 0.5:
                queued.queue(payload)
            else:  # as a batch frame hands them over, one time for all
                queued.queue_many([payload])
            eager.append((now[0], payload))
        # The reference: every payload merged on its own, in order.
        latest: dict[str, Any] = {}
        history: dict[str, list[tuple[float, Any]]] = {}
        ignored = 0
        for t, p in eager:
            for item in p if isinstance(p, list) else [p]:
                if not isinstance(item, dict):
                    ignored += 1
                    continue
                for n, v in item.items():
                    if (isinstance(v, bool) or not isinstance(v, int | float)
                            or not math.isfinite(v)):
                        ignored += 1
                        continue
                    latest[n] = v
                    history.setdefault(n, []).append((t, v))
        assert queued.latest == latest
        assert queued.ignored == ignored
        assert {n: queued.history(n) for n in queued.names} == {
            n: pts[-50:] for n, pts in history.items()}
    assert True in taken and False in taken


def test_eviction_skips_deleted_keys_and_knows_reinserted_ones_are_new() -> None:
    t = TableStore(max_rows=3)
    for k in "abc":
        t.apply({"id": k})
    t.delete("a")
    t.apply({"id": "d"})  # 3 rows: no eviction
    t.apply({"id": "e"})  # evicts b, the oldest row still there (not the deleted a)
    assert [r["id"] for r in t.rows] == ["c", "d", "e"] and t.evicted == 1
    t.apply({"id": "a"})  # a again: the newest row, so c goes
    t.queue_many([{"id": "f"}])
    assert [r["id"] for r in t.rows] == ["e", "a", "f"] and t.evicted == 3
    t.delete("e")
    t.delete("a")
    t.apply({"id": "g"})
    t.apply({"id": "h"})
    assert [r["id"] for r in t.rows] == ["f", "g", "h"]


def test_many_deletes_do_not_grow_the_eviction_order() -> None:
    t = TableStore(max_rows=10_000)
    for i in range(50_000):
        t.apply({"id": i})
        t.delete(i)
    assert len(t) == 0 and len(t._order) <= 1024
    for i in range(10_001):
        t.apply({"id": i})
    assert t.get(0) is None and t.get(10_000) == {"id": 10_000} and t.evicted == 1


def test_a_key_deleted_and_inserted_again_is_evicted_by_its_new_place() -> None:
    t = TableStore(max_rows=3)
    for k in "abc":
        t.apply({"id": k})
    t.delete("a")
    t.queue({"id": "a"})  # now the newest
    t.apply({"id": "d"})
    assert [r["id"] for r in t.rows] == ["c", "a", "d"]


def test_a_full_table_takes_whole_rows_of_known_keys_together() -> None:
    """At its cap, a queue of whole rows for keys the table holds needs no eviction: each key's
    last row is stored as it is (the batch apply), not merged into a copy row by row."""
    table = TableStore(key="id", max_rows=3)
    for i in range(3):
        table.apply({"id": i, "v": -1})
    rows = [{"id": i % 3, "v": i} for i in range(10)]
    table.queue_many(rows)
    assert table.rows == [{"id": 0, "v": 9}, {"id": 1, "v": 7}, {"id": 2, "v": 8}]
    stored = table.snapshot()["rows"]
    assert [row is rows[i] for row, i in zip(stored, (9, 7, 8), strict=True)] == [True] * 3
    # A new key beyond the cap still evicts the oldest, row by row: 5 evicts 0, which comes back
    # as a new row and evicts 1.
    table.queue_many([{"id": 5, "v": 0}, {"id": 0, "v": 10}])
    assert table.rows == [{"id": 2, "v": 8}, {"id": 5, "v": 0}, {"id": 0, "v": 10}]
    assert table.evicted == 2
