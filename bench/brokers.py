"""Brokers: the NATS and MQTT adapters' message rates against each server's own reference client, on
the same server, in the same run.

One broker process runs for each section, and one publisher process (the reference client
publishing as fast as it can) feeds it; the subscribing clients, in this process, take turns
receiving the same N messages, each on a subject/topic of its own run, in a rotating order, several
times; medians are printed with the ratio to the reference client. Every client turns each message
into its JSON value (rt_widgets does it itself; the reference clients' callbacks call
``orjson.loads`` on the body, as a user of them would). Two figures per run: messages per second of
wall time from the first message to the N-th, and messages per CPU-second of this process over the
same span (the broker and the publisher run in processes of their own, so this is the client's own
cost, which other load on the machine barely moves).

- ``nats``: Debian's ``nats-server`` (one node): ``Connection(ws_url, protocol=NATS(subject))``
  against nats-py on the same WebSocket listener (nats-py's ``ws://`` transport, on aiohttp), and
  nats-py over plain TCP for reference; the publisher is nats-py over TCP.
- ``mqtt``: PyPI's amqtt broker (WebSocket listener, its own process and environment):
  ``Connection(ws_url, protocol=MQTT(topic))`` against paho-mqtt over the same listener; the
  publisher is paho-mqtt, QoS 0. amqtt is written in Python and is much slower than nats-server:
  the wall figures there are the broker's, and the CPU figures tell the clients apart.
- ``failover``: a three-node nats-server cluster, nats-py publishing ``{"seq": i}`` at 1,000
  messages a second on one node, ``Connection([urls], protocol=NATS(subject))`` on another; the
  client's node is killed (SIGKILL) or hung (SIGSTOP): the time until connected to the third
  node, until messages arrive again, and how many the client missed (core NATS delivers at most
  once: what is published while no node holds the client's subscription is not kept for it).

    .venv/bin/python -m bench.brokers [--quick] [--only nats,mqtt,failover] [--n N] [--reps R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from bench._util import header, median, table

GOAL_RATIO = 0.8
TIMEOUT = 300.0
ROOT = Path(__file__).resolve().parents[1]

# One client run: (messages per wall second, messages per CPU-second of this process).
Run = tuple[float, float]


def _bodies() -> list[bytes]:
    """100 sensor readings of about 110 bytes each, JSON."""
    return [orjson.dumps({"sensor": f"t-{i:03d}", "seq": i, "celsius": 20 + i / 40,
                          "humidity": 40 + i / 10, "battery": 0.9, "ts": 1_700_000_000.125 + i})
            for i in range(100)]


class _Counter:
    """Counts messages; notes wall and CPU time at the first and the N-th."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.first: tuple[float, float] = (0.0, 0.0)
        self.last: tuple[float, float] = (0.0, 0.0)
        self.done = threading.Event()

    def hit(self) -> None:
        self.count += 1
        if self.count == 1:
            self.first = (time.perf_counter(), time.process_time())
        elif self.count == self.n:
            self.last = (time.perf_counter(), time.process_time())
            self.done.set()

    def result(self) -> Run:
        wall = self.last[0] - self.first[0]
        cpu = self.last[1] - self.first[1]
        return (self.n - 1) / wall, (self.n - 1) / cpu if cpu > 0 else float("nan")

    def wait(self, what: str) -> Run:
        if not self.done.wait(TIMEOUT):
            raise RuntimeError(f"{what}: {self.count} of {self.n} messages in {TIMEOUT} s")
        return self.result()


class Publisher:
    """The publisher process: told ``<subject> <n>`` on its stdin, it publishes n messages and
    answers ``done`` once they are all handed to the broker."""

    def __init__(self, kind: str, target: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.brokers", "--publisher", kind, target],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("ready")

    def _expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"the publisher said {line!r}, not {word!r}")

    def publish(self, subject: str, n: int) -> None:
        """Start publishing n messages (returns at once; the publisher says ``done`` later).
        ``publish("pace SUBJECT RATE SECONDS", 0)``: paced ``{"seq": i}`` messages instead."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{subject}\n" if subject.startswith("pace ") else f"{subject} {n}\n")
        self.process.stdin.flush()

    def finished(self) -> None:
        self._expect("done")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _rt_widgets(url: str, protocol: Any, subject: str, n: int, publisher: Publisher) -> Run:
    from rt_widgets import Connection

    counter = _Counter(n)
    conn = Connection(url, protocol=protocol, max_message_size=None)
    hit = counter.hit
    conn.on(subject, lambda _payload: hit())
    gc.collect()
    conn.start()
    conn.wait_for_state("connected", 30)  # subscribed: NATS's PONG, MQTT's SUBACK
    publisher.publish(subject, n)
    try:
        return counter.wait(f"rt_widgets on {subject}")
    finally:
        publisher.finished()
        conn.stop()


# ----------------------------------------------------------------------------------------- NATS


async def _nats_py(url: str, subject: str, n: int, publisher: Publisher) -> Run:
    import nats

    counter = _Counter(n)
    hit = counter.hit
    loads = orjson.loads
    nc = await nats.connect(url, allow_reconnect=False)

    async def on_message(msg: Any) -> None:
        loads(msg.data)
        hit()

    await nc.subscribe(subject, cb=on_message)
    await nc.flush()
    gc.collect()
    publisher.publish(subject, n)
    try:
        await asyncio.get_running_loop().run_in_executor(None, counter.done.wait, TIMEOUT)
        return counter.wait(f"nats-py on {subject}")
    finally:
        publisher.finished()
        await nc.close()


def bench_nats(n: int, reps: int, workdir: Path) -> str:
    from rt_widgets.protocols import NATS
    from tests.integration._brokers import NatsServer

    server = NatsServer(workdir, "bench").start()
    publisher = Publisher("nats", server.nats_url)
    runs = [0]

    def subject() -> str:
        runs[0] += 1
        return f"bench.run{runs[0]}"

    try:
        clients: dict[str, Callable[[], Run]] = {
            "rt_widgets NATS (ws)": lambda: _rt_widgets(
                server.ws_url, NATS(s := subject()), s, n, publisher),
            "nats-py (ws)": lambda: asyncio.run(_nats_py(server.ws_url, subject(), n, publisher)),
            "nats-py (tcp)": lambda: asyncio.run(_nats_py(server.nats_url, subject(), n, publisher)),
        }
        results = _interleaved(clients, reps)
    finally:
        publisher.close()
        server.kill()
    return _report(f"NATS: {n:,} messages per run, {reps} runs each (nats-server "
                   f"{_nats_version()})", results, "nats-py (ws)", "rt_widgets NATS (ws)")


def _nats_version() -> str:
    from tests.integration._brokers import nats_server_binary

    out = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True)
    return out.stdout.strip().rsplit(" ", 1)[-1]


# ------------------------------------------------------------------------------------ failover


def bench_failover(reps: int, workdir: Path, rate: float = 1000.0) -> str:
    """A three-node cluster, a publisher on one node at ``rate`` messages a second (``{"seq": i}``),
    a client on another; kill the client's node (SIGKILL) or hang it (SIGSTOP) and measure the
    time to connected on a third node, the time until messages arrive again, and how many of the
    publisher's messages the client missed."""
    from rt_widgets import Connection
    from rt_widgets.protocols import NATS
    from tests.integration._brokers import NatsCluster

    home = workdir / "failover"
    home.mkdir()
    cluster = NatsCluster(home).start()
    publisher_node = cluster.nodes[2]
    publisher = Publisher("nats", publisher_node.nats_url)
    rows: list[list[Any]] = []
    try:
        for how in ("killed (SIGKILL)", "hung (SIGSTOP), heartbeat 0.5 s + 0.5 s"):
            connected_ms: list[float] = []
            data_ms: list[float] = []
            lost: list[float] = []
            for rep in range(reps):
                first, second = cluster.nodes[rep % 2], cluster.nodes[1 - rep % 2]
                subject = f"failover.{len(rows)}.{rep}"
                seqs: list[tuple[float, int]] = []
                states: list[tuple[float, str]] = []
                options: dict[str, Any] = {}
                if how.startswith("hung"):
                    options = {"heartbeat_interval": 0.5, "heartbeat_timeout": 0.5}
                conn = Connection([first.ws_url, second.ws_url, publisher_node.ws_url],
                                  protocol=NATS(subject), **options)
                conn.on(subject, lambda p, seqs=seqs: seqs.append((time.monotonic(), p["seq"])))
                conn.on_state(lambda old, new, states=states: states.append(
                    (time.monotonic(), str(new))))
                conn.start()
                conn.wait_for_state("connected", 10)
                publisher.publish(f"pace {subject} {rate} 4", 0)  # "pace" takes no count
                _wait(lambda seqs=seqs: len(seqs) > rate, 10)
                cut = time.monotonic()
                if how.startswith("hung"):
                    first.pause()
                else:
                    first.kill()
                _wait(lambda states=states, cut=cut: any(
                    t > cut and st == "connected" for t, st in states), 10)
                back = next(t for t, st in states if t > cut and st == "connected")
                _wait(lambda seqs=seqs, back=back: any(t > back for t, _ in seqs), 10)
                publisher.finished()
                after = next(t for t, _ in seqs if t > back)
                got = {q for _, q in seqs}
                top = max(got)
                connected_ms.append((back - cut) * 1000)
                data_ms.append((after - cut) * 1000)
                lost.append(float(top + 1 - len(got)))
                conn.stop()
                first.kill()
                first.start()
                cluster.wait_routes()
            rows.append([how, median(connected_ms), f"{min(connected_ms):.0f}-{max(connected_ms):.0f}",
                         median(data_ms), median(lost), rate])
    finally:
        publisher.close()
        cluster.stop()
    return table(f"NATS cluster failover, {reps} runs each (3 nodes, nats-server {_nats_version()})",
                 ["node in use", "connected elsewhere after, ms (median)", "range, ms",
                  "messages again after, ms (median)", "messages missed (median)",
                  "publisher rate, msg/s"], rows)


def _wait(predicate: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout} s")
        time.sleep(0.002)


# ----------------------------------------------------------------------------------------- MQTT


def _paho(port: int, topic: str, n: int, publisher: Publisher) -> Run:
    import paho.mqtt.client as paho

    counter = _Counter(n)
    hit = counter.hit
    loads = orjson.loads
    subscribed = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, transport="websockets")

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        loads(message.payload)
        hit()

    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe(topic, 0)
        if not subscribed.wait(30):
            raise RuntimeError("paho: no SUBACK within 30 s")
        gc.collect()
        publisher.publish(topic, n)
        try:
            return counter.wait(f"paho on {topic}")
        finally:
            publisher.finished()
    finally:
        client.disconnect()
        client.loop_stop()


def bench_mqtt(n: int, reps: int, workdir: Path) -> str:
    from rt_widgets.protocols import MQTT
    from tests.integration._brokers import AMQTT_VERSION, AmqttBroker

    broker = AmqttBroker(workdir, name="bench-amqtt").start()
    publisher = Publisher("mqtt", str(broker.port))
    runs = [0]

    def topic() -> str:
        runs[0] += 1
        return f"bench/run{runs[0]}"

    try:
        clients: dict[str, Callable[[], Run]] = {
            "rt_widgets MQTT (ws)": lambda: _rt_widgets(
                broker.ws_url, MQTT(t := topic()), t, n, publisher),
            "paho-mqtt (ws)": lambda: _paho(broker.port, topic(), n, publisher),
        }
        results = _interleaved(clients, reps)
    finally:
        publisher.close()
        broker.kill()
    return _report(f"MQTT: {n:,} messages per run, {reps} runs each (amqtt {AMQTT_VERSION})",
                   results, "paho-mqtt (ws)", "rt_widgets MQTT (ws)")


# ------------------------------------------------------------------------------------ publisher


def _publisher(kind: str, target: str, commands: IO[str], out: IO[str]) -> None:
    bodies = _bodies()
    if kind == "nats":
        asyncio.run(_publish_nats(target, bodies, commands, out))
    else:
        _publish_mqtt(int(target), bodies, commands, out)


async def _publish_nats(url: str, bodies: list[bytes], commands: IO[str], out: IO[str]) -> None:
    import nats

    nc = await nats.connect(url, allow_reconnect=False, pending_size=8 << 20)
    print("ready", file=out, flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, commands.readline):
        words = line.split()
        publish = nc.publish
        if words[0] == "pace":
            # pace SUBJECT RATE SECONDS: {"seq": i} at RATE messages a second, flushed each time
            subject, rate, seconds = words[1], float(words[2]), float(words[3])
            start = time.monotonic()
            i = 0
            while (now := time.monotonic()) < start + seconds:
                due = int((now - start) * rate)
                while i < due:
                    await publish(subject, b'{"seq": %d}' % i)
                    i += 1
                await nc.flush(5)
                await asyncio.sleep(0.001)
        else:
            subject, count = words
            for i in range(int(count)):
                await publish(subject, bodies[i % 100])
        await nc.flush(60)
        print("done", file=out, flush=True)
    await nc.close()


def _publish_mqtt(port: int, bodies: list[bytes], commands: IO[str], out: IO[str]) -> None:
    import paho.mqtt.client as paho

    print("ready", file=out, flush=True)
    while line := commands.readline():
        topic, count = line.split()
        # A connection of its own for each run: here a paho-mqtt WebSocket link to amqtt that
        # lived past about 20 s (amqtt's WebSocket server pings every 20 s) was dropped mid-run.
        connected = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, transport="websockets")
        client.on_connect = lambda *args, connected=connected: connected.set()
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not connected.wait(30):
            raise RuntimeError("the MQTT publisher did not connect within 30 s")
        info = None
        for i in range(int(count)):
            info = client.publish(topic, bodies[i % 100])
            if i % 500 == 499:
                info.wait_for_publish(TIMEOUT)  # a short queue: paho's thread keeps reading too
        if info is not None:
            info.wait_for_publish(TIMEOUT)
        client.disconnect()
        client.loop_stop()
        print("done", file=out, flush=True)


# ---------------------------------------------------------------------------------------- report


def _interleaved(clients: dict[str, Callable[[], Run]], reps: int) -> dict[str, list[Run]]:
    """Run every client ``reps`` times, the order rotating each round, after one warm-up each."""
    names = list(clients)
    for name in names:
        clients[name]()
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for rep in range(reps):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            runs[name].append(clients[name]())
            print(f"  rep {rep + 1}/{reps} {name}: {runs[name][-1][0]:,.0f} msg/s, "
                  f"{runs[name][-1][1]:,.0f} msg/CPU-s", flush=True)
    return runs


def _report(title: str, runs: dict[str, list[Run]], reference: str, ours: str) -> str:
    walls = {name: [r[0] for r in rs] for name, rs in runs.items()}
    cpus = {name: [r[1] for r in rs] for name, rs in runs.items()}
    ref_wall, ref_cpu = median(walls[reference]), median(cpus[reference])
    rows = []
    for name in runs:
        wall, cpu = median(walls[name]), median(cpus[name])
        spread = f"{min(walls[name]):,.0f}-{max(walls[name]):,.0f}"
        rows.append([name, wall, spread, cpu, wall / ref_wall, cpu / ref_cpu])
    text = table(title, ["client", "msg/s (median)", "range", "msg per CPU-s (median)",
                         f"wall ratio to {reference}", f"CPU ratio to {reference}"], rows)
    wall_ratio = median(walls[ours]) / ref_wall
    cpu_ratio = median(cpus[ours]) / ref_cpu
    verdict = (f"\n{ours} / {reference}: {wall_ratio:.2f} (wall), {cpu_ratio:.2f} (CPU); goal >= "
               f"{GOAL_RATIO}: {'met' if min(wall_ratio, cpu_ratio) >= GOAL_RATIO else 'NOT met'}")
    print(verdict, flush=True)
    return text + verdict


SECTIONS = ("nats", "mqtt", "failover")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.brokers")
    p.add_argument("--quick", action="store_true", help="fewer messages and runs")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    p.add_argument("--n", type=int, default=None, help="messages per run (NATS; MQTT takes a tenth)")
    p.add_argument("--reps", type=int, default=None, help="runs per client")
    p.add_argument("--publisher", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.publisher:
        _publisher(a.publisher[0], a.publisher[1], sys.stdin, sys.stdout)
        return 0
    names = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    n = a.n or (50_000 if a.quick else 200_000)
    reps = a.reps or (3 if a.quick else 5)
    header("brokers", ["bench.brokers", *(argv if argv is not None else sys.argv[1:])])
    with tempfile.TemporaryDirectory(prefix="rt-bench-brokers-") as tmp:
        if "nats" in names:
            bench_nats(n, reps, Path(tmp))
        if "mqtt" in names:
            bench_mqtt(max(n // 10, 100), reps, Path(tmp))
        if "failover" in names:
            bench_failover(reps * 2, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
