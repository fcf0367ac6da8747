"""The bundled demo feed, driven by a plain `websockets` client over loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

from rt_widgets import iothread
from rt_widgets.demo import CHANNELS, DemoServer
from tests.servers.node_ws import node_ws_server, read_line

ROOT = Path(__file__).resolve().parents[2]
TYPES = set(CHANNELS.values())
METRIC_NAMES = {"cpu", "memory", "latency_ms", "throughput", "error_rate", "queue_depth"}


def demo_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rt_widgets-demo" and t.is_alive()]


@pytest.fixture
def make_feed() -> Iterator[Any]:
    feeds: list[DemoServer] = []

    def make(**options: Any) -> DemoServer:
        feed = DemoServer(port=0, **options).start()
        feeds.append(feed)
        return feed

    yield make
    for feed in feeds:
        feed.stop()
    assert demo_threads() == []


@pytest.fixture
async def client_factory() -> AsyncIterator[Any]:
    opened: list[ClientConnection] = []

    async def open_client(url: str, **options: Any) -> ClientConnection:
        options.setdefault("compression", None)
        # Keep reading while closing, so a client that stopped consuming a fast stream still
        # sees the server's close frame promptly.
        options.setdefault("max_queue", None)
        ws = await connect(url, open_timeout=5, **options)
        opened.append(ws)
        return ws

    yield open_client
    for ws in opened:
        await ws.close()


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: ClientConnection, type_: str, timeout: float = 5.0) -> dict[str, Any]:
    """The first message of ``type_``; fails if none arrives within ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            message = orjson.loads(await ws.recv())
            if isinstance(message, dict) and message.get("type") == type_:
                return message


async def closed_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Read until the server closes the link; return the close code."""
    async with asyncio.timeout(timeout):
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code


def parse_utc(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    return parsed


# -- envelope and content ----------------------------------------------------------------------


async def test_messages_use_the_envelope_with_increasing_seq(make_feed, client_factory) -> None:
    feed = make_feed(rate=2000, seed=3)
    ws = await client_factory(feed.url)
    messages = [await recv_json(ws) for _ in range(1500)]

    assert [m["seq"] for m in messages] == list(range(1, 1501))
    for message in messages:
        assert set(message) == {"type", "payload", "timestamp", "seq"}
        assert message["type"] in TYPES
        parse_utc(message["timestamp"])
    by_type: dict[str, list[Any]] = {t: [m["payload"] for m in messages if m["type"] == t] for t in TYPES}
    assert all(by_type.values()), "every message type appears in 1500 messages"

    # The first 25 messages are the whole mission table, so a new client starts complete.
    assert sorted(m["payload"]["id"] for m in messages[:25]) == list(range(1, 26))
    missions = by_type["mission_update"]
    assert {row["id"] for row in missions} == set(range(1, 26))
    for row in missions:
        assert set(row) == {"id", "name", "status", "progress", "updated_at"}
        assert row["status"] in {"queued", "active", "paused", "done", "failed"}
        assert 0.0 <= row["progress"] <= 100.0
        parse_utc(row["updated_at"])
    assert {row["status"] for row in missions} >= {"queued", "active", "done"}
    for metrics in by_type["metrics_update"]:
        assert set(metrics) == METRIC_NAMES
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values())
    for note in by_type["notification"]:
        assert set(note) == {"level", "title", "message"}
        assert note["level"] in {"info", "success", "warning", "error"}


async def test_same_seed_gives_the_same_stream(make_feed, client_factory) -> None:
    def content(message: dict[str, Any]) -> Any:
        payload = dict(message["payload"])
        payload.pop("updated_at", None)
        return message["type"], payload

    streams = []
    for _ in range(2):
        feed = make_feed(rate=1000, seed=42)
        ws = await client_factory(feed.url)
        streams.append([content(await recv_json(ws)) for _ in range(300)])
    assert streams[0] == streams[1]


async def test_batch_frames_are_json_arrays(make_feed, client_factory) -> None:
    feed = make_feed(rate=2000, batch=10)
    ws = await client_factory(feed.url)
    frames = [await recv_json(ws) for _ in range(20)]
    assert all(isinstance(frame, list) and 1 <= len(frame) <= 10 for frame in frames)
    seqs = [m["seq"] for frame in frames for m in frame]
    assert seqs == list(range(1, len(seqs) + 1))
    assert max(len(frame) for frame in frames) == 10


# -- protocol ----------------------------------------------------------------------------------


async def test_application_ping_gets_pong_echoing_the_timestamp(make_feed, client_factory) -> None:
    feed = make_feed(rate=50)
    ws = await client_factory(feed.url)
    await ws.send(orjson.dumps({"type": "ping", "timestamp": "2026-01-02T03:04:05.678Z"}).decode())
    pong = await recv_until(ws, "pong")
    assert pong == {"type": "pong", "timestamp": "2026-01-02T03:04:05.678Z"}
    assert feed.received_messages("ping") == []


async def test_subscribe_and_unsubscribe_filter_channels(make_feed, client_factory) -> None:
    feed = make_feed(rate=1000, seed=5)
    ws = await client_factory(feed.url)

    await ws.send(orjson.dumps({"type": "subscribe", "payload": {"channel": "metrics"}}).decode())
    ack = await recv_until(ws, "subscribed")
    assert ack["payload"] == {"channels": ["metrics"]}
    after = [await recv_json(ws) for _ in range(100)]
    assert {m["type"] for m in after} == {"metrics_update"}

    await ws.send(orjson.dumps({"type": "subscribe", "payload": {"channel": "missions"}}).decode())
    ack = await recv_until(ws, "subscribed")
    assert ack["payload"] == {"channels": ["metrics", "missions"]}
    after = [await recv_json(ws) for _ in range(200)]
    assert {m["type"] for m in after} == {"metrics_update", "mission_update"}
    # Subscribing to missions sends the whole table first.
    assert sorted(m["payload"]["id"] for m in after[:25]) == list(range(1, 26))

    await ws.send(orjson.dumps({"type": "unsubscribe", "payload": {"channel": "metrics"}}).decode())
    ack = await recv_until(ws, "subscribed")
    assert ack["payload"] == {"channels": ["missions"]}
    after = [await recv_json(ws) for _ in range(100)]
    assert {m["type"] for m in after} == {"mission_update"}

    await ws.send(orjson.dumps({"type": "subscribe", "payload": {"channel": "nope"}}).decode())
    error = await recv_until(ws, "error")
    assert "nope" in error["payload"]["message"]
    assert "missions, metrics, notifications" in error["payload"]["message"]


async def test_unsubscribe_before_subscribing_keeps_the_other_channels(make_feed, client_factory) -> None:
    feed = make_feed(rate=1000)
    ws = await client_factory(feed.url)
    await ws.send(orjson.dumps({"type": "unsubscribe", "payload": {"channel": "missions"}}).decode())
    ack = await recv_until(ws, "subscribed")
    assert ack["payload"] == {"channels": ["metrics", "notifications"]}
    after = [await recv_json(ws) for _ in range(100)]
    assert "mission_update" not in {m["type"] for m in after}


async def test_client_messages_are_recorded_in_order_and_echo_answered(
    make_feed, client_factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="rt_widgets.demo")
    feed = make_feed(rate=0)
    ws = await client_factory(feed.url)
    for n in range(50):
        await ws.send(orjson.dumps({"type": "order", "payload": {"n": n}}).decode())
        if n % 10 == 0:
            await ws.send(orjson.dumps({"type": "ping", "timestamp": str(n)}).decode())
    await ws.send(orjson.dumps({"type": "echo", "payload": {"hello": [1, 2]}}).decode())
    echo = await recv_until(ws, "echo")
    assert echo["payload"] == {"hello": [1, 2]}

    orders = feed.wait_for_received(50, type="order")
    assert [m["payload"]["n"] for m in orders] == list(range(50))
    assert [m["type"] for m in feed.received] == ["order"] * 50 + ["echo"]
    assert any('"n":49' in record.getMessage() for record in caplog.records)


async def test_invalid_client_frames_are_counted_and_answered(make_feed, client_factory) -> None:
    feed = make_feed(rate=0)
    ws = await client_factory(feed.url)
    await ws.send("not json")
    error = await recv_until(ws, "error")
    assert "string 'type'" in error["payload"]["message"]
    assert feed.invalid == 1
    assert feed.received == []


async def test_other_paths_get_http_404(make_feed) -> None:
    feed = make_feed()
    with pytest.raises(InvalidStatus) as caught:
        await connect(f"ws://127.0.0.1:{feed.port}/other", open_timeout=5)
    assert caught.value.response.status_code == 404


async def test_query_string_on_the_feed_path_is_accepted(make_feed, client_factory) -> None:
    feed = make_feed(rate=50)
    ws = await client_factory(feed.url + "?token=abc")
    assert (await recv_json(ws))["type"] == "mission_update"


# -- chaos -------------------------------------------------------------------------------------


async def test_drop_clients_closes_every_link_with_1012(make_feed, client_factory) -> None:
    feed = make_feed(rate=50)
    first, second = await client_factory(feed.url), await client_factory(feed.url)
    await asyncio.to_thread(feed.wait_for_clients, 2)
    assert await asyncio.to_thread(feed.drop_clients) == 2
    assert await closed_code(first) == 1012
    assert await closed_code(second) == 1012
    await asyncio.to_thread(feed.wait_for_clients, 0)
    third = await client_factory(feed.url)
    assert (await recv_json(third))["seq"] == 1
    assert feed.connections == 3


async def test_drop_every_drops_links_periodically(make_feed, client_factory) -> None:
    feed = make_feed(rate=50, drop_every=0.3)
    for _ in range(2):
        ws = await client_factory(feed.url)
        assert await closed_code(ws) == 1012
    feed.set_chaos(drop_every=None)
    assert feed.chaos.drop_every is None


@pytest.mark.parametrize("status", [401, 503])
async def test_refuse_status_rejects_the_handshake(make_feed, client_factory, status: int) -> None:
    feed = make_feed(refuse_status=status, retry_after=3 if status == 503 else None)
    with pytest.raises(InvalidStatus) as caught:
        await connect(feed.url, open_timeout=5)
    response = caught.value.response
    assert response.status_code == status
    assert response.headers.get("Retry-After") == ("3" if status == 503 else None)
    assert feed.connections == 0

    feed.set_chaos(refuse_status=None)
    ws = await client_factory(feed.url)
    assert (await recv_json(ws))["type"] == "mission_update"


async def test_refuse_status_set_at_runtime(make_feed) -> None:
    feed = make_feed()
    feed.set_chaos(refuse_status=401)
    with pytest.raises(InvalidStatus) as caught:
        await connect(feed.url, open_timeout=5)
    assert caught.value.response.status_code == 401


async def test_mute_heartbeat_looks_half_open_and_keepalive_detects_it(make_feed, client_factory) -> None:
    feed = make_feed(rate=50)
    ws = await client_factory(feed.url, ping_interval=0.3, ping_timeout=0.6, close_timeout=0.5)
    await recv_json(ws)
    # A protocol ping answered before muting: the client's keepalive works against this feed.
    await asyncio.wait_for(await ws.ping(), 5)

    feed.set_chaos(mute_heartbeat=True)
    await ws.send(orjson.dumps({"type": "ping", "timestamp": "t"}).decode())
    seen: list[str] = []
    async with asyncio.timeout(10):
        with pytest.raises(ConnectionClosed):
            while True:
                seen.append(orjson.loads(await ws.recv())["type"])
    assert "pong" not in seen
    # The client's own keepalive gave up (it sent 1011) and the server, reading nothing, never
    # answered the close: from the client's side the link ended abnormally (1006).
    assert ws.protocol.close_sent is not None
    assert (ws.protocol.close_sent.code, ws.protocol.close_sent.reason) == (
        1011,
        "keepalive ping timeout",
    )
    assert ws.close_code == 1006

    feed.set_chaos(mute_heartbeat=False)
    fresh = await client_factory(feed.url)
    await fresh.send(orjson.dumps({"type": "ping", "timestamp": "again"}).decode())
    assert (await recv_until(fresh, "pong"))["timestamp"] == "again"


async def test_muted_from_the_start_answers_no_ping_of_either_kind(make_feed, client_factory) -> None:
    feed = make_feed(rate=50, mute_heartbeat=True)
    ws = await client_factory(feed.url, ping_interval=None)
    await ws.send(orjson.dumps({"type": "ping", "timestamp": "t"}).decode())
    pong_waiter = await ws.ping()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(pong_waiter), 1.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.5)

    # Unmuting resumes the same link: the pending protocol pong, then data.
    feed.set_chaos(mute_heartbeat=False)
    await asyncio.wait_for(pong_waiter, 5)
    assert (await recv_until(ws, "pong"))["timestamp"] == "t"


async def test_broadcast_raw_sends_frames_as_given(make_feed, client_factory) -> None:
    feed = make_feed(rate=0)
    ws = await client_factory(feed.url)
    snapshot = [await recv_json(ws) for _ in range(25)]
    assert {m["type"] for m in snapshot} == {"mission_update"}
    assert await asyncio.to_thread(feed.broadcast_raw, "<img src=x onerror=alert(1)>") == 1
    assert await asyncio.wait_for(ws.recv(), 5) == "<img src=x onerror=alert(1)>"
    await asyncio.to_thread(feed.broadcast_raw, b'{"type":"bin"}')
    assert await asyncio.wait_for(ws.recv(), 5) == b'{"type":"bin"}'
    await asyncio.to_thread(feed.broadcast_raw, b'{"type":"txt"}', text=True)
    assert await asyncio.wait_for(ws.recv(), 5) == '{"type":"txt"}'


# -- binding, rate, lifecycle ------------------------------------------------------------------


def test_binds_loopback_by_default_and_refuses_other_hosts() -> None:
    feed = DemoServer()
    assert (feed.host, feed.port, feed.url) == ("127.0.0.1", 8765, "ws://127.0.0.1:8765/ws")
    assert DemoServer("localhost").host == "127.0.0.1"
    assert DemoServer("::1", port=0).url == "ws://[::1]:0/ws"
    for host in ("0.0.0.0", "192.168.1.20", "example.org", "::"):
        with pytest.raises(ValueError, match="allow_remote=True"):
            DemoServer(host)


def test_allow_remote_binds_all_interfaces(make_feed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="rt_widgets.demo")
    feed = make_feed(host="0.0.0.0", allow_remote=True)
    assert feed.url == f"ws://0.0.0.0:{feed.port}/ws"
    assert feed.bound == [("0.0.0.0", feed.port)]
    with socket.create_connection(("127.0.0.1", feed.port), timeout=5):
        pass
    assert any("reachable from other machines" in r.getMessage() for r in caplog.records)


def test_loopback_feed_logs_its_url(make_feed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="rt_widgets.demo")
    feed = make_feed()
    assert feed.bound == [("127.0.0.1", feed.port)]
    assert repr(feed) == f"<DemoServer ws://127.0.0.1:{feed.port}/ws running, 0 client(s)>"
    expected = f"demo feed listening on ws://127.0.0.1:{feed.port}/ws (loopback only)"
    assert expected in [r.getMessage() for r in caplog.records]


def test_invalid_options_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="rate must be >= 0"):
        DemoServer(rate=-1)
    with pytest.raises(ValueError, match="batch must be >= 1"):
        DemoServer(batch=0)
    with pytest.raises(ValueError, match="HTTP error status"):
        DemoServer(refuse_status=200)
    with pytest.raises(ValueError, match="drop_every must be > 0"):
        DemoServer(drop_every=0)
    with pytest.raises(ValueError, match="HTTP error status"):
        DemoServer().set_chaos(refuse_status=101)


async def test_sustains_20000_messages_per_second(make_feed, client_factory) -> None:
    feed = make_feed(rate=20_000)
    ws = await client_factory(feed.url)
    last_seq = (await recv_json(ws))["seq"]
    windows: list[int] = []
    # Best of three 1 s windows: other test runs share this small machine, and a burst of
    # their load should not fail a feed that keeps up whenever it gets the CPU.
    async with asyncio.timeout(30):
        while len(windows) < 3 and max(windows, default=0) < 15_000:
            count, start = 0, time.monotonic()
            while time.monotonic() - start < 1.0:
                frame = await ws.recv()
                count += 1
            windows.append(count)
            seq = orjson.loads(frame)["seq"]
            assert seq == last_seq + count, "no message lost or reordered"
            last_seq = seq
    # The feed measures ~20,000/s here when the machine is otherwise idle.
    assert max(windows) >= 15_000, f"messages per 1 s window: {windows}"


async def test_batches_carry_higher_rates(make_feed, client_factory) -> None:
    feed = make_feed(rate=50_000, batch=100)
    ws = await client_factory(feed.url)
    await recv_json(ws)
    windows: list[int] = []
    async with asyncio.timeout(30):
        while len(windows) < 3 and max(windows, default=0) < 35_000:
            messages, start = 0, time.monotonic()
            while time.monotonic() - start < 1.0:
                messages += len(orjson.loads(await ws.recv()))
            windows.append(messages)
    assert max(windows) >= 35_000, f"messages per 1 s window: {windows}"


async def test_async_context_manager_and_clean_stop(client_factory) -> None:
    async with DemoServer(port=0, rate=50) as feed:
        ws = await client_factory(feed.url)
        await recv_json(ws)
        assert len(demo_threads()) == 1
        port = feed.port
    assert await closed_code(ws) == 1001
    assert demo_threads() == []
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=2)


def test_sync_context_manager_restart_and_stop_idempotent() -> None:
    feed = DemoServer(port=0, rate=0)
    with feed:
        assert feed.running
        assert feed.start() is feed
    assert not feed.running
    assert feed.bound == []
    feed.stop()
    with feed:
        assert feed.running
    assert demo_threads() == []
    assert feed.drop_clients() == 0
    assert feed.broadcast_raw("x") == 0


def test_port_in_use_raises_oserror(make_feed) -> None:
    feed = make_feed()
    with pytest.raises(OSError):
        DemoServer(port=feed.port).start()
    assert len(demo_threads()) == 1


def test_feed_keeps_serving_while_the_io_thread_is_blocked(make_feed) -> None:
    """The feed has a thread of its own: a client whose I/O loop is stuck in a slow handler must not
    stall the feed it talks to (the widget tests depend on it)."""
    feed = make_feed(rate=500)
    blocked, release = threading.Event(), threading.Event()

    def slow_handler() -> None:
        blocked.set()
        release.wait(30)

    iothread.call_soon(slow_handler)
    try:
        assert blocked.wait(5)
        with sync_connect(feed.url, open_timeout=5, max_queue=None) as ws:
            seqs = [orjson.loads(ws.recv(timeout=5))["seq"] for _ in range(100)]
        assert seqs == list(range(1, 101))
        assert not release.is_set(), "the I/O thread was blocked throughout"
    finally:
        release.set()


def test_wait_returns_once_the_feed_has_stopped() -> None:
    feed = DemoServer(port=0, rate=0)
    assert feed.wait(0) is True  # never started
    feed.start()
    try:
        assert feed.wait(0.01) is False
    finally:
        feed.stop()
    assert feed.wait(0) is True
    assert demo_threads() == []


def test_stop_on_the_feeds_own_thread_stops_it(make_feed) -> None:
    """stop() from code running on the feed's loop (a handler, a callback) cannot wait for itself:
    it closes the links and ends the thread once it returns."""
    feed = make_feed(rate=50)
    with sync_connect(feed.url, open_timeout=5, max_queue=None) as ws:
        ws.recv(timeout=5)
        feed._io.call_soon(feed.stop)
        deadline = time.monotonic() + 10
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=max(0.0, deadline - time.monotonic()))
        assert ws.close_code == 1001
    assert feed.wait(10)
    assert not feed.running and feed.bound == []
    assert demo_threads() == []


# -- command line ------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m rt_widgets.demo ARGS`` to completion (for arguments it refuses)."""
    return subprocess.run(
        [sys.executable, "-m", "rt_widgets.demo", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=30,
    )


class FeedProcess:
    """``python -m rt_widgets.demo ARGS`` running; ``stderr`` is its log once it has ended."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rt_widgets.demo", "--port", "0", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stderr = ""

    def url(self) -> str:
        line = read_line(self.proc, 20.0)
        assert line.startswith("demo feed: ws://127.0.0.1:") and "/ws" in line
        return line.split()[2]

    def __enter__(self) -> FeedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None and proc.stdout is not None
        self.stderr = proc.stderr.read().decode()
        proc.stderr.close()
        proc.stdout.close()


def test_cli_prints_url_serves_and_stops_on_ctrl_c() -> None:
    with FeedProcess("--rate", "100", "--seed", "1") as feed:
        with sync_connect(feed.url(), open_timeout=5, max_queue=None) as ws:
            assert orjson.loads(ws.recv(timeout=5))["seq"] == 1
            feed.proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=max(0.0, deadline - time.monotonic()))
            assert ws.close_code == 1001
        assert feed.proc.wait(10) == 0
    assert "(loopback only)" in feed.stderr
    assert "stopped" in feed.stderr


def test_cli_stops_cleanly_when_ctrl_c_and_sigterm_arrive_together() -> None:
    """Ctrl-C in `make demo` reaches the feed as the terminal's SIGINT and the launcher's SIGTERM."""
    with (FeedProcess("--rate", "200", "--seed", "1") as feed,
          sync_connect(feed.url(), open_timeout=5, max_queue=None) as ws):
        ws.recv(timeout=5)
        feed.proc.send_signal(signal.SIGINT)
        feed.proc.send_signal(signal.SIGTERM)
        assert feed.proc.wait(10) == 0
    assert "Traceback" not in feed.stderr, feed.stderr
    assert "stopped" in feed.stderr


def test_cli_chaos_flags_reach_the_feed() -> None:
    with FeedProcess("--quiet", "--refuse-status", "503", "--retry-after", "2") as feed:
        with pytest.raises(InvalidStatus) as caught:
            sync_connect(feed.url(), open_timeout=5)
        assert caught.value.response.status_code == 503
        assert caught.value.response.headers["Retry-After"] == "2"
        feed.proc.terminate()
        assert feed.proc.wait(10) == 0


def test_cli_reports_a_taken_port(make_feed) -> None:
    feed = make_feed()
    result = run_cli("--port", str(feed.port))
    assert result.returncode == 1
    assert b"choose another port with --port" in result.stderr


def test_cli_refuses_a_remote_host_without_allow_remote() -> None:
    result = run_cli("--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert b"--allow-remote" in result.stderr


# -- the generic Node `ws` server used by the core tests ------------------------------------------


async def test_node_ws_server_ticks_echoes_and_ignores_application_ping() -> None:
    with node_ws_server() as url:
        async with connect(url, open_timeout=5) as ws:
            tick = await recv_until(ws, "tick")
            assert isinstance(tick["payload"]["n"], int)
            parse_utc(tick["timestamp"].replace("Z", "+00:00"))
            # The server answers in order, so an echo of the message sent after the ping,
            # with no pong before it, proves the ping was ignored.
            await ws.send(orjson.dumps({"type": "ping", "timestamp": "t"}).decode())
            await ws.send(orjson.dumps({"type": "hello", "payload": [1]}).decode())
            types = []
            async with asyncio.timeout(5):
                while not types or types[-1] != "echo":
                    message = orjson.loads(await ws.recv())
                    types.append(message["type"])
            assert set(types) <= {"tick", "echo"}
            assert message["payload"] == {"type": "hello", "payload": [1]}
            await asyncio.wait_for(await ws.ping(), 5)  # protocol pings are answered


# -- the size of the mission table ---------------------------------------------------------------


def as_messages(frame: Any) -> list[dict[str, Any]]:
    return frame if isinstance(frame, list) else [frame]


async def test_missions_sets_how_many_missions_the_feed_simulates(make_feed, client_factory) -> None:
    feed = make_feed(rate=2000, seed=8, missions=3)
    assert feed.missions == 3
    ws = await client_factory(feed.url)
    messages = [await recv_json(ws) for _ in range(600)]
    # A short table still arrives as single messages, the whole of it first.
    assert all(isinstance(m, dict) for m in messages)
    assert [m["payload"]["id"] for m in messages[:3]] == [1, 2, 3]
    assert [m["payload"]["name"] for m in messages[:3]] == ["Aurora-01", "Borealis-02", "Cassini-03"]
    ids = {m["payload"]["id"] for m in messages if m["type"] == "mission_update"}
    assert ids == {1, 2, 3}, "updates only ever touch the configured missions"


async def test_ten_thousand_missions_arrive_first_in_array_frames(make_feed, client_factory) -> None:
    feed = make_feed(rate=200, seed=4, missions=10_000)
    ws = await client_factory(feed.url)
    frames: list[Any] = []
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    async with asyncio.timeout(30):
        while len(rows) < 10_000:
            frame = orjson.loads(await ws.recv())
            frames.append(frame)
            rows.extend(as_messages(frame))
    took = time.monotonic() - started

    assert len(frames) == 20 and all(isinstance(f, list) and len(f) == 500 for f in frames)
    assert [m["seq"] for m in rows] == list(range(1, 10_001))
    assert [m["payload"]["id"] for m in rows] == list(range(1, 10_001))
    names = [m["payload"]["name"] for m in rows]
    assert len(set(names)) == 10_000
    assert names[:2] == ["Aurora-01", "Borealis-02"]
    assert names[24:27] == ["Zenith-25", "Aurora-0026", "Borealis-0027"]
    assert names[-1] == "Zenith-10000"
    for row in rows[::997]:
        assert set(row["payload"]) == {"id", "name", "status", "progress", "updated_at"}
    # A generous bound: on an idle machine the burst takes well under a second.
    assert took < 10, f"the 10,000-row burst took {took:.1f} s"

    # The live stream follows, single messages again (batch=1), with updates across the table.
    after = [as_messages(orjson.loads(await asyncio.wait_for(ws.recv(), 5))) for _ in range(300)]
    assert all(len(m) == 1 for m in after)
    assert after[0][0]["seq"] == 10_001
    updated = {m[0]["payload"]["id"] for m in after if m[0]["type"] == "mission_update"}
    assert len(updated) > 100 and max(updated) <= 10_000


async def test_same_seed_gives_the_same_large_table(make_feed, client_factory) -> None:
    tables = []
    for _ in range(2):
        feed = make_feed(rate=0, seed=11, missions=1200)
        ws = await client_factory(feed.url)
        rows: list[dict[str, Any]] = []
        async with asyncio.timeout(15):
            while len(rows) < 1200:
                rows.extend(m["payload"] for m in as_messages(orjson.loads(await ws.recv())))
        tables.append([(r["id"], r["name"], r["status"], r["progress"]) for r in rows])
    assert tables[0] == tables[1]
    assert len({status for _, _, status, _ in tables[0]}) == 5


async def test_resubscribing_to_missions_resends_the_large_table(make_feed, client_factory) -> None:
    feed = make_feed(rate=0, missions=1001)
    ws = await client_factory(feed.url)
    first: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while len(first) < 1001:
            first.extend(as_messages(orjson.loads(await ws.recv())))
    await ws.send(orjson.dumps({"type": "unsubscribe", "payload": {"channel": "missions"}}).decode())
    await recv_until(ws, "subscribed")
    await ws.send(orjson.dumps({"type": "subscribe", "payload": {"channel": "missions"}}).decode())
    ack = await recv_until(ws, "subscribed")
    assert "missions" in ack["payload"]["channels"]
    frames = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    assert [len(f) for f in frames] == [500, 500, 1]
    assert [m["payload"]["id"] for f in frames for m in f] == list(range(1, 1002))
    seqs = [m["seq"] for f in frames for m in f]
    assert seqs == list(range(ack["seq"] + 1, ack["seq"] + 1002))


def test_invalid_missions_say_what_to_do() -> None:
    for bad in (0, -5, 2.5, True, "10"):
        with pytest.raises(ValueError, match="missions must be a whole number >= 1"):
            DemoServer(missions=bad)  # type: ignore[arg-type]


def test_cli_missions_flag_sizes_the_table() -> None:
    options = ["--quiet", "--rate", "0", "--missions", "700"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_widgets.demo", "--port", "0", *options],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = read_line(proc, 20.0).split()[2]
        with sync_connect(url, open_timeout=5, max_queue=None) as ws:
            frames = [orjson.loads(ws.recv(timeout=5)) for _ in range(2)]
        assert [len(f) for f in frames] == [500, 200]
        assert frames[1][-1]["payload"]["id"] == 700
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_cli_rejects_zero_missions() -> None:
    result = run_cli("--port", "0", "--missions", "0")
    assert result.returncode == 2
    assert b"missions must be a whole number >= 1" in result.stderr
