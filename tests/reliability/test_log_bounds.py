"""The message log and the notification history keep their last ``limit`` entries whatever a feed
sends, and what a view is sent of them stays small: 100,000 messages of 10 KB each."""

from __future__ import annotations

import json
import tracemalloc

from rt_widgets.stores import LogStore, NotificationStore


def test_the_message_log_keeps_its_last_entries_and_sends_little() -> None:
    log = LogStore(limit=200, clock=lambda: 0.0)
    blob = "x" * 10_000
    tracemalloc.start()
    for i in range(100_000):
        log.add(f"type-{i % 7}", {"n": i, "blob": blob})
        if i % 10_000 == 0:
            log.drain()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    snapshot = json.dumps(log.snapshot())
    print(f"\n100,000 messages of 10 KB: {len(log)} kept of {log.total:,}, snapshot "
          f"{len(snapshot) / 1e3:.0f} KB, peak {peak / 1e6:.1f} MB traced")
    assert len(log) == 200 and log.total == 100_000
    assert [e["id"] for e in log.entries][-1] == 100_000
    assert len(snapshot) < 1_000_000
    assert peak < 50_000_000


def test_the_notification_history_keeps_its_last_entries() -> None:
    store = NotificationStore(limit=200, clock=lambda: 0.0)
    for i in range(100_000):
        store.add("info", f"title {i}", "m" * 1000)
    snapshot = json.dumps(store.snapshot())
    print(f"\n100,000 notifications of 1 KB: {len(store)} kept, snapshot {len(snapshot) / 1e3:.0f} KB")
    assert len(store) == 200
    assert store.items[-1]["title"] == "title 99999"
    assert len(snapshot) < 1_000_000
