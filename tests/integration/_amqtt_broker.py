"""An amqtt broker with one WebSocket listener on 127.0.0.1, run as a process of its own.

    python _amqtt_broker.py PORT [PASSWORD_FILE]

PORT 0 takes a free port. Once listening it prints ``READY <port>`` on a line of its own, then
serves until it is killed. With PASSWORD_FILE (``user:argon2-hash`` lines) only those users are let
in; without it, anyone. Run by the interpreter of the broker's own environment (see
``_brokers.amqtt_python``): amqtt pins a websockets release of its own, so it cannot share the
project's environment. Imports nothing from the project.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any


async def main(port: int, password_file: str | None) -> None:
    from amqtt.broker import Broker

    plugins: dict[str, Any] = {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": password_file is None},
    }
    if password_file is not None:
        plugins["amqtt.plugins.authentication.FileAuthPlugin"] = {"password_file": password_file}
    config = {
        "listeners": {"default": {"type": "ws", "bind": f"127.0.0.1:{port}"}},
        "plugins": plugins,
    }
    broker = Broker(config)
    await broker.start()
    server = broker._servers["default"].instance
    actual = next(iter(server.sockets)).getsockname()[1]
    print(f"READY {actual}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
