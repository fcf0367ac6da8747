"""Benchmark feed: a WebSocket server meant to run in its own process.

Run as ``python -m bench._feed``; it prints ``PORT <n>`` once listening on 127.0.0.1 and, after
each session, ``DONE <path> <messages sent> <frames sent> <seconds>``. The request path picks the
session:

- ``/burst?n=200000&batch=1&end=0``: every message as fast as the socket takes it. Frames are
  encoded once per (n, batch) and written straight to the transport in large chunks, so the feed is
  never what limits the client being measured. ``end=1`` adds one frame ``{"type": "end"}`` after
  them, so a client can tell it has had everything without a handler on the measured types.
- ``/paced?rate=20000&seconds=60&batch=1&stamp=0``: ``rate`` messages per second for ``seconds``,
  released every millisecond-ish tick by deadline (no drift). ``stamp=1`` puts the send time
  (epoch milliseconds, as the string ``"T<ms>"``) in each mission row's ``sent`` column, for
  latency probes.

Message ``i`` is a pure function of ``i`` (:func:`message`), so anyone who knows how many
messages were sent can compute the final state a keyed table must end with (:func:`final_table`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

KEYS = 500  # distinct mission ids
STATUSES = ("planned", "en_route", "on_station", "returning", "landed")
REGIONS = ("north-atlantic", "south-pacific", "indian-ocean", "arctic-circle")
METRIC_EVERY = 4  # one message in four is a metrics_update, the rest mission_update
METRIC_NAMES = (
    "cpu",
    "memory",
    "latency_ms",
    "throughput",
    "errors",
    "queue_depth",
    "net_in",
    "net_out",
    "disk_io",
    "gc_pause_ms",
)


def message(
    i: int, ts: str | None = None, keys: int = KEYS, sent: str | None = None
) -> dict[str, Any]:
    """The ``i``-th message of every feed: a typical ~250-byte envelope."""
    if ts is None:
        ts = "2026-11-25T20:00:00.000000+00:00"
    if i % METRIC_EVERY == METRIC_EVERY - 1:
        payload: dict[str, Any] = {
            "cpu": (i * 37 % 1000) / 10,
            "memory": (i * 53 % 1000) / 10,
            "latency_ms": (i * 17 % 5000) / 10,
            "throughput": i * 7 % 10000,
            "errors": i % 13,
            "queue_depth": i % 97,
            "net_in": (i * 91 % 100000) / 100,
            "net_out": (i * 29 % 100000) / 100,
            "disk_io": (i * 43 % 100000) / 100,
            "gc_pause_ms": (i * 19 % 1000) / 100,
        }
        return {"type": "metrics_update", "payload": payload, "timestamp": ts, "seq": i}
    # Index among mission messages, so that every one of ``keys`` ids occurs.
    k = ((METRIC_EVERY - 1) * (i // METRIC_EVERY) + i % METRIC_EVERY) % keys
    payload = {
        "id": f"m-{k:04d}",
        "name": f"Mission {k}",
        "status": STATUSES[i % len(STATUSES)],
        "progress": (i * 7 % 1000) / 10,
        "lat": round(48.0 + (i * 13 % 10000) / 10000, 4),
        "lon": round(2.0 + (i * 31 % 10000) / 10000, 4),
        "alt_m": i * 3 % 12000,
        "battery": (i * 11 % 1000) / 10,
        "crew": i % 7,
        "region": REGIONS[k % len(REGIONS)],
        "rev": i,
    }
    if sent is not None:
        payload["sent"] = sent
    return {"type": "mission_update", "payload": payload, "timestamp": ts, "seq": i}


def final_table(total: int, keys: int = KEYS) -> dict[str, dict[str, Any]]:
    """The keyed table (by ``id``) after messages ``0 .. total-1``: the last row of each key."""
    rows: dict[str, dict[str, Any]] = {}
    for i in range(max(0, total - keys * METRIC_EVERY * 2), total):
        m = message(i, keys=keys)
        if m["type"] == "mission_update":
            rows[m["payload"]["id"]] = m["payload"]
    return rows


def final_metrics(total: int) -> dict[str, float]:
    """The latest value of every metric after messages ``0 .. total-1``."""
    for i in range(total - 1, -1, -1):
        m = message(i)
        if m["type"] == "metrics_update":
            return dict(m["payload"])
    return {}


def _frame_header(length: int) -> bytes:
    # Server-to-client text frame, FIN set, unmasked (RFC 6455 5.2).
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


def encode_frames(n: int, batch: int, start: int = 0) -> list[bytes]:
    """Wire bytes of ``n`` messages as text frames of ``batch`` messages (1: a bare object)."""
    ts = datetime.now(UTC).isoformat()
    frames: list[bytes] = []
    for first in range(start, start + n, batch):
        last = min(first + batch, start + n)
        if batch == 1:
            body = orjson.dumps(message(first, ts))
        else:
            body = orjson.dumps([message(i, ts) for i in range(first, last)])
        frames.append(_frame_header(len(body)) + body)
    return frames


_burst_cache: dict[tuple[int, int], list[bytes]] = {}


def _chunks(frames: list[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    buf: list[bytes] = []
    n = 0
    for f in frames:
        buf.append(f)
        n += len(f)
        if n >= size:
            yield b"".join(buf)
            buf, n = [], 0
    if buf:
        yield b"".join(buf)


async def _drain(ws: Any) -> None:
    # Respect the kernel socket buffer: wait while the transport holds more than a few MB.
    transport = ws.transport
    while transport.get_write_buffer_size() > 4 << 20:  # noqa: ASYNC110 (no event to wait on)
        await asyncio.sleep(0.001)


END_FRAME = orjson.dumps({"type": "end", "payload": None})


async def _burst(ws: Any, n: int, batch: int, end: bool) -> tuple[int, int]:
    frames = _burst_cache.get((n, batch))
    if frames is None:
        frames = _burst_cache[(n, batch)] = encode_frames(n, batch)
    for chunk in _chunks(frames):
        ws.transport.write(chunk)
        await _drain(ws)
    if end:
        ws.transport.write(_frame_header(len(END_FRAME)) + END_FRAME)
    return n, len(frames)


async def _paced(
    ws: Any, rate: float, seconds: float, batch: int, stamp: bool, keys: int
) -> tuple[int, int]:
    sent = frames = 0
    total = int(rate * seconds)
    t0 = time.monotonic()
    while sent < total:
        due = min(total, int((time.monotonic() - t0) * rate))
        if due - sent >= batch or (due == total and due > sent):
            now = datetime.now(UTC)
            ts = now.isoformat()
            stamp_s = f"T{int(now.timestamp() * 1000)}" if stamp else None
            out: list[bytes] = []
            while due - sent >= batch or (due == total and due > sent):
                last = min(sent + batch, due)
                if batch == 1:
                    body = orjson.dumps(message(sent, ts, keys, stamp_s))
                else:
                    body = orjson.dumps([message(i, ts, keys, stamp_s) for i in range(sent, last)])
                out.append(_frame_header(len(body)) + body)
                frames += 1
                sent = last
            ws.transport.write(b"".join(out))
            await _drain(ws)
        await asyncio.sleep(0.001)
    return sent, frames


async def _handler(ws: Any) -> None:
    url = urlsplit(ws.request.path)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    t0 = time.perf_counter()
    if url.path == "/burst":
        sent, frames = await _burst(ws, int(q.get("n", 200_000)), int(q.get("batch", 1)),
                                    q.get("end", "0") == "1")
    elif url.path == "/paced":
        sent, frames = await _paced(
            ws,
            float(q.get("rate", 20_000)),
            float(q.get("seconds", 10)),
            int(q.get("batch", 1)),
            q.get("stamp", "0") == "1",
            int(q.get("keys", KEYS)),
        )
    else:
        await ws.close(1008, "unknown path")
        return
    dt = time.perf_counter() - t0
    print(f"DONE {url.path} {sent} {frames} {dt:.3f}", flush=True)
    # Keep the link open: the client decides when it has read everything.
    with contextlib.suppress(Exception):
        await ws.wait_closed()


async def _main() -> None:
    from websockets.asyncio.server import serve

    async with serve(
        _handler, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        # Exit when the parent closes our stdin (or dies).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


class Feed:
    """The feed process, as a context manager: ``with Feed() as feed: feed.url("/burst?n=10")``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.done: list[tuple[str, int, int, float]] = []
        self._done_event = threading.Condition()

    def __enter__(self) -> Feed:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._feed"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"feed process did not start: {line!r}")
        self.port = int(line.split()[1])
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("DONE "):
                _, path, sent, frames, dt = line.split()
                with self._done_event:
                    self.done.append((path, int(sent), int(frames), float(dt)))
                    self._done_event.notify_all()

    def wait_done(self, count: int, timeout: float = 120.0) -> tuple[str, int, int, float]:
        """Wait until ``count`` sessions have finished sending; return the last one."""
        with self._done_event:
            if not self._done_event.wait_for(lambda: len(self.done) >= count, timeout):
                raise TimeoutError(f"feed session {count} did not finish within {timeout} s")
            return self.done[count - 1]

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    asyncio.run(_main())
