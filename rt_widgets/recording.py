"""Recordings: every frame a connection received, with its arrival time, before decoding.

The file format (version 1) is JSON Lines, UTF-8, optionally gzip-compressed (a ``.gz`` name):

- line 1, the header: ``{"rt_widgets_recording": 1, "url": <redacted URL>, "messages": <the
  messages= setting, when it is "auto" or "envelope", else its description>, "protocol": <the
  adapter's description or null>, "started": <ISO-8601 UTC>}``. It never holds a credential: the
  URL is redacted and descriptions go through the connection's ``Secrets``.
- then one line per frame: ``[t, "t", text]`` for a text frame or ``[t, "b", base64]`` for a binary
  one, ``t`` the seconds since the recording started.

Each frame is one line written whole, so the file can be appended to and a process killed mid-write
leaves every earlier frame readable: :func:`read_frames` stops at the first line that is cut or
not valid (for gzip, at the end of the last flushed block). Frames are flushed to the operating
system at least every :data:`FLUSH_EVERY` seconds.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "session.jsonl"
>>> rec = Recording(path, {"url": "ws://127.0.0.1:8765/ws"}, clock=iter([0.0, 0.5, 1.0]).__next__)
>>> rec.add(b'{"type": "tick", "payload": 1}', True); rec.add(b"\\x00\\x01", False); rec.stop()
>>> header, frames = read_recording(path)
>>> header["url"], frames
('ws://127.0.0.1:8765/ws', [(0.5, b'{"type": "tick", "payload": 1}', True), (1.0, b'\\x00\\x01', False)])
"""

from __future__ import annotations

import base64
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["FLUSH_EVERY", "FORMAT_VERSION", "Recording", "read_frames", "read_recording"]

FORMAT_VERSION = 1
FLUSH_EVERY = 0.5
_MAGIC = "rt_widgets_recording"

Frame = tuple[float, bytes, bool]


class Recording:
    """A recording being written. ``add(data, text)`` appends one frame (thread-safe, cheap);
    recording ends at ``stop()``, or by itself once ``max_bytes`` (of frame data) or
    ``max_seconds`` are reached. ``frames``, ``bytes`` and ``stopped`` say where it stands."""

    def __init__(
        self,
        path: str | Path,
        header: Mapping[str, Any],
        *,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        compress: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes is not None and not max_bytes > 0:
            raise ValueError(f"max_bytes must be > 0 or None, got {max_bytes!r}")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0 or None, got {max_seconds!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.compress = self.path.suffix == ".gz" if compress is None else compress
        self._clock = clock
        self._lock = threading.Lock()
        raw: IO[bytes] = open(self.path, "ab")  # noqa: SIM115 - closed in stop()
        self._file: IO[bytes] = (
            gzip.GzipFile(fileobj=raw, mode="ab") if self.compress else raw)  # type: ignore[assignment]
        self._raw = raw
        self._started = clock()
        self._flushed = self._started
        self.frames = 0
        self.bytes = 0
        self.stopped = False
        line = {_MAGIC: FORMAT_VERSION, **header,
                "started": datetime.now(UTC).isoformat(timespec="milliseconds")}
        self._write(orjson.dumps(line) + b"\n")
        self._flush()

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "recording"
        return f"<Recording {str(self.path)!r} {state}: {self.frames} frames, {self.bytes} bytes>"

    @property
    def size(self) -> int:
        """Bytes of the file on disk so far."""
        return self._raw.tell() if not self._raw.closed else self.path.stat().st_size

    def add(self, data: bytes | bytearray | memoryview, text: bool) -> None:
        """Append one received frame (``text``: a text frame)."""
        with self._lock:
            if self.stopped:
                return
            now = self._clock()
            if self.max_seconds is not None and now - self._started >= self.max_seconds:
                self._close()
                return
            body = bytes(data)
            if text:
                item: list[Any] = [round(now - self._started, 6), "t", body.decode("utf-8", "replace")]
            else:
                item = [round(now - self._started, 6), "b", base64.b64encode(body).decode()]
            self._write(orjson.dumps(item) + b"\n")
            self.frames += 1
            self.bytes += len(body)
            if now - self._flushed >= FLUSH_EVERY:
                self._flush()
                self._flushed = now
            if self.max_bytes is not None and self.bytes >= self.max_bytes:
                self._close()

    def stop(self) -> None:
        """Stop recording and close the file (idempotent)."""
        with self._lock:
            self._close()

    def _write(self, line: bytes) -> None:
        self._file.write(line)

    def _flush(self) -> None:
        if isinstance(self._file, gzip.GzipFile):
            self._file.flush(zlib.Z_SYNC_FLUSH)  # a reader gets every frame up to here
        self._file.flush()
        self._raw.flush()

    def _close(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self._file.close()
        if self._raw is not self._file:
            self._raw.close()


def _lines(path: Path) -> Generator[bytes, None, None]:
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    if not compressed:
        with open(path, "rb") as f:
            yield from f
        return
    # Decompressed by hand, so that a file cut mid-write gives all it holds (GzipFile raises and
    # drops its buffer at the cut); a file appended to is several gzip members in a row.
    pending = b""
    decoder = zlib.decompressobj(wbits=31)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            while chunk:
                try:
                    pending += decoder.decompress(chunk)
                except zlib.error:
                    return
                chunk = b""
                if decoder.eof:
                    chunk, decoder = decoder.unused_data, zlib.decompressobj(wbits=31)
            *whole, pending = pending.split(b"\n")
            for line in whole:
                yield line + b"\n"
    if pending:
        yield pending  # no newline: cut


def read_recording(path: str | Path) -> tuple[dict[str, Any], list[Frame]]:
    """The header and every whole frame of a recording."""
    frames = read_frames(path)
    return frames.header, list(frames)


class read_frames:
    """Iterate over a recording's whole frames as ``(t, data, text)``; ``header`` is its first
    line. Raises ``ValueError`` if the file is not a recording; stops quietly at a cut line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        lines = _lines(self.path)
        first = next(lines, b"")
        try:
            header = orjson.loads(first)
        except orjson.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get(_MAGIC) != FORMAT_VERSION:
            lines.close()
            raise ValueError(
                f"{self.path} is not an rt_widgets recording (version {FORMAT_VERSION}): its first "
                "line is not a recording header")
        self.header: dict[str, Any] = header
        self._lines = lines

    def __iter__(self) -> Iterator[Frame]:
        try:
            yield from self._frames()
        finally:
            self._lines.close()

    def _frames(self) -> Iterator[Frame]:
        for line in self._lines:
            if not line.endswith(b"\n"):
                return  # cut mid-write
            try:
                t, kind, body = orjson.loads(line)
                if kind == "t":
                    yield float(t), body.encode(), True
                elif kind == "b":
                    yield float(t), base64.b64decode(body, validate=True), False
                else:
                    return
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
                return

