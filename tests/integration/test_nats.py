"""NATS over WebSocket against Debian's nats-server, one node and a three-node cluster, through the
public `Connection(url, protocol=NATS(...))`; nats-py is the second client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from rt_widgets import Connection, Message
from rt_widgets.backoff import Backoff
from rt_widgets.protocols import NATS
from rt_widgets.protocols.nats import MAX_LINE
from tests._servers import ServerLoop
from tests.conftest import wait_until
from tests.integration._brokers import NatsCluster, NatsPeer, NatsServer, read_until, scripted

FAST = Backoff(initial=0.05, maximum=0.5, jitter="none")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    servers: list[NatsServer] = []

    def factory(**options: Any) -> NatsServer:
        server = NatsServer(tmp_path, f"n{len(servers) + 1}", **options)
        servers.append(server)  # killed at the end even if it fails to start
        return server.start()

    yield factory
    for server in servers:
        server.kill()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path)
    try:
        yield nodes.start()
    finally:
        nodes.stop()


@pytest.fixture
def peers(server_loop: ServerLoop) -> Iterator[Callable[[str], NatsPeer]]:
    made: list[NatsPeer] = []

    def factory(url: str) -> NatsPeer:
        peer = NatsPeer(server_loop, url)
        made.append(peer)
        return peer

    yield factory
    for peer in made:
        peer.close()


def collect(conn: Connection) -> list[Message]:
    seen: list[Message] = []
    lock = threading.Lock()

    def add(message: Message) -> None:
        with lock:
            seen.append(message)

    conn.on("*", add)
    return seen


def started(make_conn: Any, url: str | list[str], protocol: NATS,
            **options: Any) -> tuple[Connection, list[Message]]:
    """A connection, started and connected, and the messages it receives from the start."""
    conn: Connection = make_conn(url, protocol=protocol, **options)
    seen = collect(conn)
    conn.start()
    conn.wait_for_state("connected", timeout=10)
    return conn, seen


def subscriptions_of(server: NatsServer, name: str = "rt_widgets") -> list[str]:
    """The subjects the server holds for the client called `name` (its monitoring endpoint)."""
    conns = server.monitor("connz?subs=1").get("connections") or []
    return sorted(s for c in conns if c.get("name") == name for s in c.get("subscriptions_list") or [])


# ------------------------------------------------------------------------------------ one node


def test_subscribes_and_receives_typed_messages(
    nats_server: Callable[..., NatsServer], peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    server = nats_server()
    conn, seen = started(make_conn, server.ws_url, NATS(["sensors.>", "alerts"]))
    assert subscriptions_of(server) == ["alerts", "sensors.>"]
    peer = peers(server.nats_url)
    peer.publish("sensors.t1", b'{"celsius": 21.5}')
    peer.publish("alerts", b"door open")
    peer.publish("sensors.raw", b"\xff\xfe")
    peer.publish("sensors.h", b"[1, 2]", headers={"Nats-Msg-Id": "m-1", "X-Other": "y"})
    peer.publish("sensors.empty", b"")
    peer.publish("elsewhere", b"{}")  # not subscribed
    wait_until(lambda: len(seen) == 5, 5, message=lambda: f"{seen} {conn.stats()}")
    assert [(m.type, m.payload) for m in seen] == [
        ("sensors.t1", {"celsius": 21.5}),
        ("alerts", "door open"),
        ("sensors.raw", b"\xff\xfe"),
        ("sensors.h", [1, 2]),
        ("sensors.empty", ""),
    ]
    assert seen[3].id == "m-1"
    stats = conn.stats()
    assert stats["messages_in"] == 5 and stats["decode_errors"] == 0
    assert stats["url"] == server.ws_url and stats["latency_ms"] is not None


def test_a_queue_group_shares_the_messages(
    nats_server: Callable[..., NatsServer], peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    server = nats_server()
    _, first = started(make_conn, server.ws_url, NATS("jobs.*", queue="workers"))
    _, second = started(make_conn, server.ws_url, NATS("jobs.*", queue="workers"))
    got = first, second
    peer = peers(server.nats_url)
    for i in range(40):
        peer.publish(f"jobs.{i}", b"%d" % i)
    wait_until(lambda: len(got[0]) + len(got[1]) == 40, 5)
    assert sorted(m.payload for m in [*got[0], *got[1]]) == list(range(40))
    assert got[0] and got[1], "the server spreads a queue group's messages over its members"


def test_send_publishes_to_a_second_client(
    nats_server: Callable[..., NatsServer], peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    server = nats_server()
    peer = peers(server.nats_url)
    peer.subscribe("cmd.>")
    conn, _ = started(make_conn, server.ws_url, NATS("unused"))
    assert conn.send("cmd.light", {"on": True, "level": 0.5}).wait(5) == "sent"
    assert conn.send("cmd.raw", b"\x00\x01binary").wait(5) == "sent"
    assert conn.send(b"PUB cmd.by-hand 2\r\nhi\r\n").wait(5) == "sent"  # raw protocol, as given
    wait_until(lambda: len(peer.received) == 3, 5, message=lambda: str(peer.received))
    assert peer.received == [
        ("cmd.light", b'{"on":true,"level":0.5}'),
        ("cmd.raw", b"\x00\x01binary"),
        ("cmd.by-hand", b"hi"),
    ]
    with pytest.raises(TypeError, match="only bytes"):
        conn.send({"not": "a publish"})
    with pytest.raises(ValueError, match="whitespace"):
        conn.send("bad subject", 1)


def test_subscribe_adds_a_subject_replayed_on_every_link(
    nats_server: Callable[..., NatsServer], peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    server = nats_server()
    conn, seen = started(make_conn, server.ws_url, NATS("a"), backoff=FAST)
    conn.subscribe("b.*")
    wait_until(lambda: subscriptions_of(server) == ["a", "b.*"], 5)
    server.restart()
    wait_until(lambda: conn.stats()["reconnects"] == 1 and conn.state == "connected", 10)
    wait_until(lambda: subscriptions_of(server) == ["a", "b.*"], 5)
    peers(server.nats_url).publish("b.x", b"1")
    wait_until(lambda: [m.type for m in seen] == ["b.x"], 5)


def test_a_restarted_server_gets_the_handshake_and_subscriptions_then_the_queued_sends_in_order(
    nats_server: Callable[..., NatsServer], make_conn: Any
) -> None:
    server = nats_server()
    # The client subscribes to what it publishes (NATS echoes a client's own messages to it):
    # each queued send comes back only if the SUB reached the server before it.
    conn, seen = started(make_conn, server.ws_url, NATS("orders.>"), backoff=FAST)
    server.kill()
    wait_until(lambda: conn.state == "reconnecting", 5)
    handles = [conn.send("orders.new", {"n": n}) for n in range(50)]
    assert conn.stats()["queued"] == 50
    server.start()
    wait_until(lambda: len(seen) == 50, 10, message=lambda: f"{len(seen)} {conn.stats()}")
    assert [m.payload["n"] for m in seen] == list(range(50))
    assert all(h.state == "sent" for h in handles)
    stats = conn.stats()
    assert stats["reconnects"] == 1 and stats["queued"] == 0 and stats["decode_errors"] == 0
    assert subscriptions_of(server) == ["orders.>"]


def test_a_silent_server_is_detected_dead_by_the_heartbeat(
    nats_server: Callable[..., NatsServer], make_conn: Any
) -> None:
    server = nats_server()
    conn, _ = started(make_conn, server.ws_url, NATS("x"), heartbeat_interval=0.5,
                      heartbeat_timeout=1.0, backoff=FAST)
    server.pause()  # SIGSTOP: the socket stays open, nothing answers a PING
    try:
        stopped = time.monotonic()
        wait_until(lambda: conn.state != "connected", 5)
        detected = time.monotonic() - stopped
        assert "heartbeat timeout" in (conn.last_error or ""), conn.last_error
        print(f"\nNATS: a silent server detected dead after {detected:.2f} s "
              "(heartbeat_interval 0.5 s + timeout 1.0 s)")
        assert detected < 3.0
    finally:
        server.resume()
    wait_until(lambda: conn.state == "connected", 10)
    assert conn.stats()["reconnects"] == 1


@pytest.mark.parametrize("credentials", [
    {"user": "alice", "password": "wrong-password"},
    {"user": "mallory", "password": "s3cret-pass"},
    {},
])
def test_rejected_credentials_stop_retrying_with_the_reason(
    nats_server: Callable[..., NatsServer], make_conn: Any, credentials: dict[str, str]
) -> None:
    server = nats_server(user="alice", password="s3cret-pass")
    conn = make_conn(server.ws_url, protocol=NATS("x", **credentials), backoff=FAST)
    conn.start()
    # A new connection is disconnected too: wait for the attempt's end.
    wait_until(lambda: conn.state == "disconnected" and conn.last_error, 10,
               message=lambda: str(conn.stats()))
    stats = conn.stats()
    assert stats["last_error"] == "NATS: Authorization Violation"
    assert stats["attempt"] == 1 and stats["reconnects"] == 0
    assert "wrong-password" not in repr(stats) and "wrong-password" not in repr(conn)
    # The right credentials get in.
    good, _ = started(make_conn, server.ws_url, NATS("x", user="alice", password="s3cret-pass"))
    assert good.stats()["last_error"] is None


def test_a_token_is_sent_and_a_wrong_one_refused(
    nats_server: Callable[..., NatsServer], make_conn: Any
) -> None:
    server = nats_server(token="t0ken-value")
    started(make_conn, server.ws_url, NATS("x", token="t0ken-value"))
    bad = make_conn(server.ws_url, protocol=NATS("x", token="nope-value"))
    bad.start()
    wait_until(lambda: bad.state == "disconnected" and bad.last_error, 10)
    assert bad.last_error == "NATS: Authorization Violation"


def test_malformed_protocol_frames_are_counted_never_fatal(
    server_loop: ServerLoop, make_conn: Any
) -> None:
    info = b'INFO {"server_id":"fake","max_payload":1024,"headers":true}\r\n'
    bad_frames: list[bytes | str] = [
        b"GARBAGE LINE\r\n",                          # an unknown operation
        b"MSG a 1 notanumber\r\n",                    # a malformed MSG line
        b"MSG a 1 3\r\nabcXYMSG ok.1 1 2\r\n",        # a payload not followed by CRLF
        b"MSG big 1 5000\r\n" + b"x" * 5000 + b"\r\n",  # over max_payload: skipped, not buffered
        b"INFO not-json\r\n",                         # an INFO that is not JSON
        b"A" * (MAX_LINE + 10),                        # a line over the bound...
        b"BBB\r\n",                                    # ...ends here
        b"HMSG h 1 5 3\r\n",                           # header size over the total size
        "MSG text.frame 1 2\r\nhi\r\n",                # a text frame: read the same way
        b"MSG good 1 4\r\nokay\r\nMSG sp",             # a good message, and one split...
        b"lit 1 2\r\n42\r\n",                          # ...across two frames
    ]

    async def script(ws: ServerConnection) -> None:
        await ws.send(info)
        await read_until(ws, b"PING\r\n")
        await ws.send(b"PONG\r\n")
        for frame in bad_frames:
            await ws.send(frame)

    with scripted(server_loop, script) as server:
        conn, seen = started(make_conn, server.url, NATS(">"))
        wait_until(lambda: [m.type for m in seen] == ["text.frame", "good", "split"], 5,
                   message=lambda: f"{seen} {conn.stats()}")
        assert [m.payload for m in seen] == ["hi", "okay", 42]
        stats = conn.stats()
        assert stats["decode_errors"] == 8, stats
        assert conn.state == "connected" and stats["reconnects"] == 0
        assert server.connections == 1


# -------------------------------------------------------------------------------------- cluster


class StateLog:
    """(time, state) of every state change, to measure failovers."""

    def __init__(self, conn: Connection) -> None:
        self.events: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        conn.on_state(self._on_state)

    def _on_state(self, old: Any, new: Any) -> None:
        with self._lock:
            self.events.append((time.monotonic(), str(new)))

    def connected_after(self, t: float) -> float | None:
        with self._lock:
            return next((at for at, state in self.events if at > t and state == "connected"), None)


def fail_over(conn: Connection, cluster: NatsCluster, log: StateLog) -> tuple[float, NatsServer]:
    """Kill the node in use; return the seconds until connected to another node, and that node."""
    node = cluster.node_of(conn.url)
    killed = time.monotonic()
    node.kill()
    at = wait_until(lambda: log.connected_after(killed), 5, message=lambda: str(conn.stats()))
    assert conn.url != node.ws_url
    return at - killed, node


def test_the_cluster_advertises_its_websocket_urls(cluster: NatsCluster, make_conn: Any) -> None:
    conn, _ = started(make_conn, cluster.nodes[0].ws_url, NATS("x"))
    wait_until(lambda: set(conn.urls) == set(cluster.ws_urls), 5, message=lambda: str(conn.urls))


def test_killing_the_node_in_use_fails_over_within_two_seconds(
    cluster: NatsCluster, peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    # Given one node only: the others come from INFO.
    conn, seen = started(make_conn, cluster.nodes[0].ws_url, NATS("sensors.>"))
    wait_until(lambda: len(conn.urls) == 3, 5)
    log = StateLog(conn)
    took, dead = fail_over(conn, cluster, log)
    print(f"\nNATS cluster: failover to another node after {took * 1000:.0f} ms")
    assert took < 2.0
    now = cluster.node_of(conn.url)
    wait_until(lambda: subscriptions_of(now) == ["sensors.>"], 5)
    # A publisher on a surviving node that is not the one in use (the message crosses a route).
    other = next(n for n in cluster.nodes if n is not dead and n is not now)
    peer = peers(other.nats_url)

    def delivered() -> bool:
        peer.publish("sensors.t", b'{"v": 1}')
        return any(m.type == "sensors.t" for m in seen)

    wait_until(delivered, 5, interval=0.05)
    assert conn.stats()["reconnects"] == 1 and conn.stats()["decode_errors"] == 0


def test_a_hung_node_is_left_for_another(
    cluster: NatsCluster, peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    conn, seen = started(make_conn, cluster.ws_urls, NATS("sensors.>"), heartbeat_interval=0.5,
                   heartbeat_timeout=0.5)
    log = StateLog(conn)
    node = cluster.node_of(conn.url)
    paused = time.monotonic()
    node.pause()  # SIGSTOP: its sockets stay open, it answers nothing
    try:
        at = wait_until(lambda: log.connected_after(paused), 5, message=lambda: str(conn.stats()))
    finally:
        node.resume()
    print(f"\nNATS cluster: a hung node left for another after {(at - paused) * 1000:.0f} ms "
          "(heartbeat_interval 0.5 s + timeout 0.5 s)")
    assert conn.url != node.ws_url and at - paused < 2.5
    now = cluster.node_of(conn.url)
    peer = peers(now.nats_url)

    def delivered() -> bool:
        peer.publish("sensors.t", b"1")
        return any(m.type == "sensors.t" for m in seen)

    wait_until(delivered, 5, interval=0.05)


def test_twenty_kill_restart_cycles_leave_nothing_stuck(
    cluster: NatsCluster, peers: Callable[[str], NatsPeer], make_conn: Any
) -> None:
    # A link that drops before stable_after counts as a failed attempt (a flapping server backs
    # off); each node here is lost only after the link to it has been up that long, so every kill
    # is a fresh failure that the next node replaces at once.
    stable_after = 0.5
    conn, seen = started(make_conn, cluster.ws_urls, NATS("cycle.>"), stable_after=stable_after)
    log = StateLog(conn)
    threads = threading.active_count()
    tasks_before = len(conn._tasks)
    times: list[float] = []
    peer_nodes = {n.name: peers(n.nats_url) for n in cluster.nodes}
    for cycle in range(20):
        wait_until(lambda: conn.stats()["uptime_s"] > stable_after, 5)
        took, dead = fail_over(conn, cluster, log)
        times.append(took)
        dead.start()
        cluster.wait_routes()
        now = cluster.node_of(conn.url)
        other = next(n for n in cluster.nodes if n is not now and n is not dead)
        # The node just restarted dropped its old peer: publish from a node that stayed up.
        peer = peer_nodes[other.name]

        def delivered(cycle: int = cycle, peer: NatsPeer = peer) -> bool:
            peer.publish(f"cycle.{cycle}", b"%d" % cycle)
            return any(m.type == f"cycle.{cycle}" for m in seen)

        wait_until(delivered, 5, interval=0.05, message=lambda: str(conn.stats()))
        # The peers of the restarted node reconnect for the next cycles.
        peer_nodes[dead.name].close()
        peer_nodes[dead.name] = peers(dead.nats_url)
    print(f"\nNATS cluster: 20 failovers, median {sorted(times)[10] * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms")
    assert max(times) < 2.0, times
    stats = conn.stats()
    assert conn.state == "connected" and stats["reconnects"] == 20
    assert stats["queued"] == 0 and stats["decode_errors"] == 0 and stats["handler_errors"] == 0
    assert sorted(conn.urls) == sorted(cluster.ws_urls), "no URL learned twice"
    assert threading.active_count() == threads
    wait_until(lambda: len(conn._tasks) <= tasks_before + 1, 5,
               message=lambda: f"{len(conn._tasks)} tasks: {conn._tasks}")
