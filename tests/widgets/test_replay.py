"""Record and replay, widget side: a live demo session recorded with ``w.record()`` and replayed
with ``RealtimeWidget.replay()`` gives the same tables and metrics, with no feed running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rt_widgets import Backoff, RealtimeWidget
from rt_widgets.demo import DemoServer
from rt_widgets.recording import read_recording
from rt_widgets.widgets._base import read_on_io
from tests.browser._helpers import free_port
from tests.conftest import wait_until

from .conftest import CommSpy


def rows_by_id(table: Any) -> dict[Any, dict[str, Any]]:
    return {row["id"]: row for row in table.rows}


@pytest.mark.parametrize("name", ["session.jsonl", "session.jsonl.gz"])
def test_a_replayed_session_shows_what_the_live_run_showed(comm_spy: CommSpy, tmp_path: Path,
                                                          name: str) -> None:
    port = free_port()
    # The widget exists (and records) before the feed does, so the recording holds every frame
    # the live views were built from.
    live = RealtimeWidget(f"ws://127.0.0.1:{port}/ws?token=s3cret",
                          backoff=Backoff(initial=0.05, maximum=0.1, jitter="none"))
    replayed: RealtimeWidget | None = None
    try:
        recording = live.record(tmp_path / name)
        with DemoServer(port=port, rate=200, seed=11):
            wait_until(lambda: live.status == "connected", 10)
            table = live.table("mission_update")
            metrics = live.metrics("metrics_update")
            wait_until(lambda: len(table.rows) >= 10 and len(metrics.latest) >= 3, 10)
            wait_until(lambda: live.connection.stats()["messages_in"] >= 300, 10)

            def stop_and_read() -> tuple[dict[Any, Any], dict[str, float], int]:
                # On the I/O thread: no frame lands between the last one recorded and the read.
                recording.stop()
                return (rows_by_id(table), dict(metrics.latest),
                        live.connection.stats()["messages_in"])

            live_rows, live_latest, live_count = read_on_io(stop_and_read)
        header, frames = read_recording(tmp_path / name)
        assert "s3cret" not in (tmp_path / name).read_bytes().decode("latin-1")
        assert header["messages"] == "auto" and frames
        size = (tmp_path / name).stat().st_size
        print(f"{name}: {len(frames)} frames, {live_count} messages, {size} bytes, "
              f"{size / live_count:.0f} bytes per message")

        replayed = RealtimeWidget.replay(tmp_path / name, speed=0)
        assert replayed.url.startswith("ws://127.0.0.1:")
        rt, rm = replayed.table("mission_update"), replayed.metrics("metrics_update")
        wait_until(lambda: replayed.connection.stats()["messages_in"] >= live_count, 20,
                   message=lambda: f"{replayed.connection.stats()['messages_in']} of {live_count}")
        wait_until(lambda: rows_by_id(rt) == live_rows, 10,
                   message=lambda: f"{len(rt.rows)} rows, live {len(live_rows)}")
        assert rm.latest == live_latest
        assert replayed.connection.stats()["messages_in"] == live_count
        assert "replay of " + name in replayed._repr_mimebundle_()[0]["text/plain"]
    finally:
        live.close()
        if replayed is not None:
            replayed.close()
    # The replay feed went with the widget.
    assert replayed is not None and replayed.connection.state.value == "closed"


def test_replay_takes_connection_options_and_rejects_unknown_ones(comm_spy: CommSpy,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    from rt_widgets.recording import Recording

    rec = Recording(path, {"url": "ws://x/", "messages": "envelope"})
    rec.add(b'{"type": "tick", "payload": {"id": 1}, "timestamp": "2026-01-01T00:00:00Z"}', True)
    rec.stop()
    w = RealtimeWidget.replay(path, speed=0, loop=True, heartbeat_interval=5.0)
    try:
        assert w.connection.stats()["url"].startswith("ws://127.0.0.1:")
        t = w.table("tick")
        wait_until(lambda: t.rows, 10)
        wait_until(lambda: w.connection.stats()["messages_in"] > 5, 10)  # loop=True: again and again
    finally:
        w.close()
    with pytest.raises(TypeError, match="colour"):
        RealtimeWidget.replay(path, colour="red")
    with pytest.raises(ValueError, match="not an rt_widgets recording"):
        (tmp_path / "bad.jsonl").write_text("hello\n")
        RealtimeWidget.replay(tmp_path / "bad.jsonl")
