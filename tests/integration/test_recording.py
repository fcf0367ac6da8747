"""Recording a live feed and replaying it: the same data, a file cut mid-write still readable,
the replay command, and no credential in any recording."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from rt_widgets import Connection, Message
from rt_widgets.demo import DemoServer
from rt_widgets.dispatch import Batched
from rt_widgets.recording import Recording, read_frames, read_recording
from rt_widgets.replay import ReplayServer
from rt_widgets.stores import TableStore
from tests.conftest import wait_until

MakeServer = Any
MakeConn = Any


class Collector:
    """Every message a connection dispatches, and the demo's mission table folded from them."""

    def __init__(self, conn: Connection) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.table = TableStore(key="id", max_rows=10_000)
        self._lock = threading.Lock()
        conn.on("mission_update", Batched(self.table.queue, self.table.queue_many))
        conn.on("*", self._add)

    def _add(self, message: Message) -> None:
        with self._lock:
            self.messages.append((message.type, message.payload))

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


def test_a_replayed_recording_gives_what_the_live_run_gave(tmp_path: Path, make_conn: MakeConn) -> None:
    path = tmp_path / "demo.jsonl.gz"
    with DemoServer(port=0, rate=400.0, batch=5, seed=7) as feed:
        live = make_conn(feed.url)
        seen = Collector(live)
        live.start()
        live.wait_for_state("connected", timeout=5)
        recording = live.record(path)
        wait_until(lambda: recording.frames >= 200, 10, message=lambda: repr(recording))
        recording.stop()
        frames = recording.frames
        live.stop()
    assert recording.stopped and path.stat().st_size == recording.size > 0
    header, recorded = read_recording(path)
    assert len(recorded) == frames and header["messages"] == "auto"
    with ReplayServer(path, speed=0) as replay:
        again = make_conn(replay.url, messages=replay.messages)
        replayed = Collector(again)
        again.start()
        expected = sum(1 for _ in read_frames(path))
        assert expected == frames
        wait_until(lambda: again.stats()["messages_in"] >= seen_count(recorded), 10,
                   message=lambda: str(again.stats()))
        again.stop()
    # The recording began mid-stream: the replay is the live run's messages from there on.
    first_live = seen.messages.index(replayed.messages[0])
    span = seen.messages[first_live:first_live + len(replayed.messages)]
    assert span == replayed.messages
    # And the table the replay built is the one those live messages build.
    reference = TableStore(key="id", max_rows=10_000)
    for kind, payload in span:
        if kind == "mission_update":
            reference.apply(payload)
    assert replayed.table.rows and replayed.table.rows == reference.rows


def seen_count(frames: list[tuple[float, bytes, bool]]) -> int:
    import orjson

    total = 0
    for _t, data, _text in frames:
        value = orjson.loads(data)
        total += len(value) if isinstance(value, list) else 1
    return total


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_file_cut_mid_write_replays_up_to_its_last_whole_frame(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / ("cut.jsonl.gz" if compress else "cut.jsonl")
    clock = iter(float(i) for i in range(10_000)).__next__
    recording = Recording(path, {"url": "ws://x/"}, clock=clock)
    for i in range(300):
        recording.add(b'{"type": "n", "payload": %d}' % i, True)
        if i % 7 == 0:
            recording.add(bytes([i % 256, 255, 0]), False)
    recording.stop()
    whole = list(read_frames(path))
    assert len(whole) == 343
    data = path.read_bytes()
    for cut in sorted({len(data) // 3, len(data) // 2, len(data) - 5, len(data) - 1}):
        cut_path = tmp_path / f"at{cut}{path.suffix}"
        cut_path.write_bytes(data[:cut])
        got = list(read_frames(cut_path))
        assert got == whole[:len(got)], "a cut file gave a frame the recording did not hold"
        assert len(got) >= (len(whole) * cut) // len(data) - (60 if compress else 2)


def test_a_killed_process_leaves_a_readable_recording(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.gz"
    # The child writes frames until it is killed (or, should the test die first, for 60 s at most).
    code = f"""
import time
from rt_widgets.recording import Recording
rec = Recording({str(path)!r}, {{"url": "ws://x/"}})
end = time.monotonic() + 60
i = 0
while time.monotonic() < end:
    rec.add(b'{{"type": "n", "payload": %d}}' % i, True)
    i += 1
    if i == 2000:
        print("ready", flush=True)
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # Flushed at least every FLUSH_EVERY seconds: frames become readable while it writes.
        wait_until(lambda: len(list(read_frames(path))) > 2000, 10)
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    got = list(read_frames(path))
    assert got and [data for _t, data, _ in got] == [b'{"type": "n", "payload": %d}' % i
                                                     for i in range(len(got))]


def test_the_replay_command_serves_a_recording_in_order(tmp_path: Path, make_conn: MakeConn) -> None:
    path = tmp_path / "session.jsonl"
    recording = Recording(path, {"url": "ws://x/", "messages": "auto"})
    for i in range(50):
        recording.add(b'{"type": "tick", "payload": %d}' % i, True)
    recording.add(b"\x00binary", False)
    recording.stop()
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "rt_widgets.replay", str(path), "--port", str(port), "--speed", "0"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert child.stdout is not None
        assert "replaying 51 frames" in child.stdout.readline()
        conn = make_conn(f"ws://127.0.0.1:{port}/")
        got: list[Any] = []
        conn.on("tick", got.append)
        binary: list[Any] = []
        conn.on("binary", binary.append)
        conn.start()
        wait_until(lambda: len(got) == 50 and binary, 10, message=lambda: str(conn.stats()))
        assert got == list(range(50)) and binary == [b"\x00binary"]
    finally:
        child.terminate()
        assert child.wait(10) == 0
        assert child.stdout is not None
        child.stdout.close()


def test_no_credential_reaches_a_recording(tmp_path: Path, ws_server: MakeServer,
                                           make_conn: MakeConn) -> None:
    server = ws_server()
    url = server.url.replace("ws://", "ws://alice:s3cr3t-pw@") + "?token=tok-123456&room=1"
    conn = make_conn(url, headers=lambda: {"Authorization": "Bearer hdr-abcdef"})
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    for name in ("rec.jsonl", "rec.jsonl.gz"):
        recording = conn.record(tmp_path / name)
        server.send({"type": "x", "payload": 1})
        wait_until(lambda rec=recording: rec.frames == 1, 5)
        recording.stop()
        raw = (tmp_path / name).read_bytes()
        text = gzip.decompress(raw) if name.endswith(".gz") else raw
        for secret in (b"s3cr3t-pw", b"alice", b"tok-123456", b"hdr-abcdef"):
            assert secret not in text, f"{secret!r} in {name}"
        assert b"room=1" in text  # the rest of the URL is kept


def test_recording_limits_stop_it(tmp_path: Path) -> None:
    recording = Recording(tmp_path / "small.jsonl", {"url": "ws://x/"}, max_bytes=100)
    for _ in range(20):
        recording.add(b"x" * 30, True)
    assert recording.stopped and recording.frames == 4
    now = [0.0]
    timed = Recording(tmp_path / "short.jsonl", {"url": "ws://x/"}, max_seconds=1.0,
                      clock=lambda: now[0])
    for step in range(5):
        now[0] = step * 0.4
        timed.add(b"y", True)
    assert timed.stopped and timed.frames == 3
    with pytest.raises(ValueError, match="not an rt_widgets recording"):
        read_frames(tmp_path / "none.jsonl") if (tmp_path / "none.jsonl").write_text("{}\n") else None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
