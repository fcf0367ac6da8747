"""Real brokers for the NATS and MQTT tests and benchmarks, each a process of its own on 127.0.0.1.

- `NatsServer`: Debian's `nats-server` with a `websocket { no_tls: true }` listener, a client
  (TCP) port for the reference client, a monitoring port, optional `authorization`, and optional
  `cluster` routes; `NatsCluster` starts three of them routed to each other and waits until the
  routes are up. Each node can be killed (SIGKILL), restarted on the same ports, paused (SIGSTOP)
  and resumed (SIGCONT).
- `AmqttBroker`: PyPI's amqtt broker with one WebSocket listener, run by the interpreter of an
  environment of its own (`amqtt_python()`): amqtt pins websockets 15.0.1 while the project needs a
  newer release, so the two cannot share one environment.
- `ScriptedServer`: a plain `websockets` server whose connections run a given coroutine (a broker
  speaking its protocol badly).

Every wait is a poll with a deadline. Nothing here reaches beyond the loopback interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from tests._servers import HOST, ServerLoop

ROOT = Path(__file__).resolve().parents[2]
AMQTT_VERSION = "0.12.1"
AMQTT_RUNNER = Path(__file__).with_name("_amqtt_broker.py")
#: Where the broker's environment lives unless RT_WIDGETS_AMQTT_PYTHON names an interpreter.
AMQTT_ENV = ROOT / ".venv" / "amqtt"


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports on 127.0.0.1 (all bound at once: a port freed and asked for again
    may come back, so one at a time they could repeat)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists(
        "/usr/sbin/nats-server") else None)
    if found is None:
        raise RuntimeError("nats-server is not installed: apt-get install -y nats-server "
                           "(.ci/run installs it)")
    return found


class PortTaken(RuntimeError):
    """nats-server could not listen: another process took a port chosen for it."""


class NatsServer:
    """One `nats-server` process; see the module docstring. `ws_url` is what clients open."""

    def __init__(self, workdir: Path, name: str = "n1", *, user: str | None = None,
                 password: str | None = None, token: str | None = None,
                 cluster_port: int | None = None, routes: tuple[int, ...] = (),
                 ports: tuple[int, int, int] | None = None) -> None:
        self.name = name
        self.workdir = workdir
        self.cluster_port = cluster_port
        self.routes = routes
        self.log = workdir / f"{name}.log"
        self.config = workdir / f"{name}.conf"
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self._started = False
        self._auth = ""
        if user is not None:
            self._auth = (f"authorization {{ user: {json.dumps(user)}, "
                          f"password: {json.dumps(password)} }}\n")
        elif token is not None:
            self._auth = f"authorization {{ token: {json.dumps(token)} }}\n"
        self._configure(ports)

    def _configure(self, ports: tuple[int, int, int] | None = None) -> None:
        """(Re)write the configuration with these WebSocket, client and monitoring ports (new
        ones when None); the cluster port, which the other nodes' routes name, stays."""
        avoid = {self.cluster_port, *self.routes}
        chosen = list(ports) if ports else [p for p in free_ports(6) if p not in avoid][:3]
        self.ws_port, self.client_port, self.http_port = chosen
        cluster = ""
        if self.cluster_port is not None:
            listed = ", ".join(f'"nats-route://{HOST}:{p}"' for p in self.routes)
            cluster = (f'cluster {{ name: "rt", listen: "{HOST}:{self.cluster_port}", '
                       f"routes: [{listed}] }}\n")
        self.config.write_text(
            f'server_name: "{self.name}"\n'
            f'listen: "{HOST}:{self.client_port}"\n'
            f'http: "{HOST}:{self.http_port}"\n'
            f'websocket {{ listen: "{HOST}:{self.ws_port}", no_tls: true }}\n'
            # A client that stops reading (a paused test peer) is cut off soon, not after 10 s.
            f"write_deadline: \"2s\"\n"
            f"{self._auth}{cluster}"
        )

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://{HOST}:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, wait: bool = True) -> NatsServer:
        """Start the process (and with `wait`, until it listens). A first start whose ports
        another process took meanwhile tries again with new ones; a restart keeps its ports."""
        if self.running:
            return self
        for tries_left in (2, 1, 0):
            with self.log.open("ab") as log:
                self.process = subprocess.Popen([nats_server_binary(), "-c", str(self.config)],
                                                stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)
            self.paused = False
            if not wait:
                break
            try:
                self.wait_ready()
            except PortTaken:
                if self._started or not tries_left:
                    raise
                self._configure()
                continue
            except BaseException:
                self.kill()  # never left running behind a failed start
                raise
            break
        self._started = True
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                self.process = None
                text = self.log.read_text()[-2000:]
                if "address already in use" in text:
                    raise PortTaken(f"nats-server {self.name}: a port was taken: {text}")
                raise RuntimeError(f"nats-server {self.name} exited: {text}")
            return port_open(self.ws_port) and port_open(self.client_port)

        poll(ready, timeout, f"nats-server {self.name} listening")

    def monitor(self, endpoint: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{HOST}:{self.http_port}/{endpoint}", timeout=2) as r:
            return dict(json.load(r))

    def routes_up(self) -> int:
        try:
            return int(self.monitor("routez").get("num_routes", 0))
        except OSError:
            return 0

    def kill(self) -> None:
        """SIGKILL: every client sees its TCP connection end at once."""
        if self.process is not None:
            if self.paused:
                self.resume()
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: the sockets stay open and nothing answers (a silent, half-dead server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        self.kill()
        self.start()


class NatsCluster:
    """Three `NatsServer` nodes with full-mesh routes on loopback."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.workdir = workdir
        self.size = size
        self.nodes: list[NatsServer] = []
        self._configure()

    def _configure(self) -> None:
        ports = free_ports(4 * self.size)
        cluster_ports, others = ports[:self.size], ports[self.size:]
        self.nodes = [
            NatsServer(self.workdir, f"n{i + 1}", cluster_port=port,
                       routes=tuple(p for p in cluster_ports if p != port),
                       ports=(others[3 * i], others[3 * i + 1], others[3 * i + 2]))
            for i, port in enumerate(cluster_ports)
        ]

    @property
    def ws_urls(self) -> list[str]:
        return [node.ws_url for node in self.nodes]

    def start(self) -> NatsCluster:
        """Start every node and wait for the routes; if a port was taken meanwhile, start over
        with new ones. On failure no node is left running."""
        for tries_left in (2, 1, 0):
            try:
                for node in self.nodes:
                    node.start(wait=False)
                for node in self.nodes:
                    node.wait_ready()
                self.wait_routes()
                for node in self.nodes:
                    node._started = True
                return self
            except PortTaken:
                self.stop()
                if not tries_left:
                    raise
                self._configure()
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def wait_routes(self, timeout: float = 15.0) -> None:
        """Until every running node has a route to every other running node."""
        def meshed() -> bool:
            running = [n for n in self.nodes if n.running]
            return all(n.routes_up() >= len(running) - 1 for n in running)

        poll(meshed, timeout, "cluster routes up")

    def node_of(self, ws_url: str) -> NatsServer:
        for node in self.nodes:
            if node.ws_url == ws_url:
                return node
        raise KeyError(ws_url)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


# ------------------------------------------------------------------------------------- amqtt


def amqtt_python() -> str:
    """An interpreter with amqtt installed: RT_WIDGETS_AMQTT_PYTHON, or the environment at
    `AMQTT_ENV`, made (once, under a lock, from the package registry) when it is missing."""
    given = os.environ.get("RT_WIDGETS_AMQTT_PYTHON")
    if given:
        return given
    python = AMQTT_ENV / "bin" / "python"
    marker = AMQTT_ENV / f".amqtt-{AMQTT_VERSION}"
    if marker.exists():
        return str(python)
    AMQTT_ENV.parent.mkdir(parents=True, exist_ok=True)
    with open(AMQTT_ENV.parent / ".amqtt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", "--clear", str(AMQTT_ENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            f"amqtt=={AMQTT_VERSION}"], check=True)
            marker.touch()
    return str(python)


class AmqttBroker:
    """An amqtt broker process with one WebSocket listener; see the module docstring.
    `users` (name -> password) turns anonymous access off."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, name: str = "amqtt") -> None:
        self.workdir = workdir
        self.name = name
        self.port = 0
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.password_file: Path | None = None
        if users:
            self.password_file = workdir / f"{name}.passwd"
            lines = subprocess.run(
                [amqtt_python(), "-c", _HASH_USERS, json.dumps(users)],
                check=True, capture_output=True, text=True).stdout
            self.password_file.write_text(lines)

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> AmqttBroker:
        args = [amqtt_python(), str(AMQTT_RUNNER), str(self.port)]
        if self.password_file is not None:
            args.append(str(self.password_file))
        ready = self.workdir / f"{self.name}.ready"
        ready.unlink(missing_ok=True)
        with self.log.open("ab") as log, ready.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=log, stdin=subprocess.DEVNULL)
        self.paused = False

        def listening() -> int:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"amqtt exited: {self.log.read_text()[-2000:]}")
            for line in ready.read_text().splitlines():
                if line.startswith("READY "):
                    return int(line.split()[1])
            return 0

        try:
            self.port = poll(listening, timeout, "amqtt listening")
        except BaseException:
            self.kill()  # never left running behind a failed start
            raise
        return self

    def kill(self) -> None:
        if self.process is not None:
            if self.paused:
                self.resume()
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        """Kill, and come back on the same port."""
        self.kill()
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.start()


_HASH_USERS = """
import json, sys
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
hasher = PasswordHash((Argon2Hasher(),))
for user, password in json.loads(sys.argv[1]).items():
    print(f"{user}:{hasher.hash(password)}")
"""


# ------------------------------------------------------------------------------- reference peers


class NatsPeer:
    """nats-py, the server's own client, driven from sync test code on the servers' loop: it
    publishes, subscribes and collects what it receives (`received`: (subject, data) pairs)."""

    def __init__(self, loop: ServerLoop, url: str, **options: Any) -> None:
        import nats

        self._loop = loop
        self.received: list[tuple[str, bytes]] = []
        self.errors: list[Exception] = []

        async def on_error(error: Exception) -> None:
            self.errors.append(error)  # a killed node's peer loses its link: expected here

        options.setdefault("error_cb", on_error)
        self._nc: Any = loop.run(nats.connect(
            url, allow_reconnect=False, connect_timeout=5, **options))

    def subscribe(self, subject: str) -> None:
        async def on_message(msg: Any) -> None:
            self.received.append((msg.subject, msg.data))

        async def subscribe() -> None:
            await self._nc.subscribe(subject, cb=on_message)
            await self._nc.flush(5)

        self._loop.run(subscribe())

    def publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        async def publish() -> None:
            await self._nc.publish(subject, data, headers=headers)
            await self._nc.flush(5)

        self._loop.run(publish())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.run(self._nc.close(), timeout=5)


class MqttPeer:
    """paho-mqtt over the broker's WebSocket listener, in its own network thread: it publishes,
    subscribes (waiting for the SUBACK) and collects what it receives (`received`)."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None) -> None:
        import threading

        import paho.mqtt.client as paho

        self.received: list[tuple[str, bytes, int]] = []
        self._lock = threading.Lock()
        self._subacks: set[int] = set()
        self._connected = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, transport="websockets",
                             client_id=f"peer-{os.getpid()}-{id(self)}")
        if username is not None:
            client.username_pw_set(username, password)
        client.on_connect = lambda c, u, f, reason, p: self._connected.set()
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.client = client
        client.connect(HOST, port, keepalive=30)
        client.loop_start()
        if not self._connected.wait(10):
            client.loop_stop()
            raise AssertionError("the MQTT peer did not connect within 10 s")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload), message.qos))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        with self._lock:
            self._subacks.add(mid)

    def subscribe(self, topic: str, qos: int = 0) -> None:
        _, mid = self.client.subscribe(topic, qos)
        poll(lambda: mid in self._subacks, 10, f"SUBACK for {topic!r}")

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.client.publish(topic, payload, qos).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ------------------------------------------------------------------------------------ scripted


class ScriptedServer:
    """A `websockets` server on 127.0.0.1 whose every connection runs `script(ws)`; the connection
    stays open until the script returns and the client or `stop()` closes it."""

    def __init__(self, loop: ServerLoop, script: Callable[[ServerConnection], Awaitable[None]],
                 subprotocols: tuple[str, ...] = ()) -> None:
        self._loop = loop
        self._script = script
        self._subprotocols = subprotocols
        self._server: Server | None = None
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def start(self) -> ScriptedServer:
        async def start() -> None:
            from websockets.typing import Subprotocol

            self._server = await serve(
                self._handler, HOST, 0, ping_interval=None,
                subprotocols=[Subprotocol(p) for p in self._subprotocols] or None)
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run(start())
        return self

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        await self._script(ws)
        with contextlib.suppress(Exception):
            await ws.wait_closed()

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None

        self._loop.run(stop())


@contextlib.contextmanager
def scripted(loop: ServerLoop, script: Callable[[ServerConnection], Awaitable[None]],
             subprotocols: tuple[str, ...] = ()) -> Iterator[ScriptedServer]:
    server = ScriptedServer(loop, script, subprotocols).start()
    try:
        yield server
    finally:
        server.stop()


async def read_until(ws: ServerConnection, marker: bytes, timeout: float = 5.0) -> bytes:
    """Read frames until their bytes hold `marker`; return what was read."""
    seen = b""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            frame = await ws.recv()
            seen += frame.encode() if isinstance(frame, str) else frame
    return seen
