"""Shared test helpers and fixtures.

- `wait_until(predicate, timeout, interval=0.01)`: poll with a deadline; returns the first truthy value.
- `assert_stays(predicate, duration)`: poll for `duration` and fail the moment `predicate` turns false.
- `server_loop` (session): the background loop all test servers run on (see `tests/_servers.py`).
- `ws_server(**options)`: a started `WsServer` on 127.0.0.1, port 0; stoppable and restartable on the
  same port; stopped after the test.
- `make_conn(url, **options)`: a `Connection` (not started) that is stopped after the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests._servers import ServerLoop, SilentServer, TcpProxy, WsServer

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.01,
    message: str | Callable[[], str] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy; return that value.

    Raises AssertionError after `timeout` seconds, with `message` (or a callable producing it) so the
    failure says what was awaited and what was seen instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(
                f"condition not met within {timeout} s" + (f": {text}" if text else "")
            )
        time.sleep(interval)


def assert_stays(
    predicate: Callable[[], object],
    duration: float,
    interval: float = 0.01,
    message: str | Callable[[], str] | None = None,
) -> None:
    """Poll `predicate` for `duration` seconds; fail as soon as it is false."""
    deadline = time.monotonic() + duration
    while True:
        if not predicate():
            text = message() if callable(message) else message
            raise AssertionError("condition stopped holding" + (f": {text}" if text else ""))
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


@pytest.fixture(scope="session")
def server_loop() -> Iterator[ServerLoop]:
    loop = ServerLoop()
    yield loop
    loop.close()


@pytest.fixture
def ws_server(server_loop: ServerLoop) -> Iterator[Callable[..., WsServer]]:
    servers: list[WsServer] = []

    def factory(**options: Any) -> WsServer:
        server = WsServer(server_loop, **options).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.kill()


@pytest.fixture
def tcp_proxy(server_loop: ServerLoop) -> Iterator[Callable[[int], TcpProxy]]:
    proxies: list[TcpProxy] = []

    def factory(upstream_port: int) -> TcpProxy:
        proxy = TcpProxy(server_loop, upstream_port).start()
        proxies.append(proxy)
        return proxy

    yield factory
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def silent_server(server_loop: ServerLoop) -> Iterator[SilentServer]:
    server = SilentServer(server_loop).start()
    yield server
    server.stop()


@pytest.fixture
def make_conn() -> Iterator[Callable[..., Any]]:
    from rt_widgets import Connection

    made: list[Any] = []

    def factory(url: str, **options: Any) -> Any:
        conn = Connection(url, **options)
        made.append(conn)
        return conn

    yield factory
    for conn in made:
        conn.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slow real-browser suite last, so the fast layers fail first. (Its Playwright loop is
    package-scoped too: the sync API keeps an asyncio loop running on the main thread, which
    pytest-asyncio's own loops must never see.)"""
    items.sort(key=lambda item: "/tests/browser/" in str(item.path))
