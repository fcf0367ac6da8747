"""What every replica is made of: a seeded market, a format (the shared world of one service) and a
session per client (its subscriptions and how it answers). Pure: no sockets, no event loop; the
server (``_server.py``) performs what these return.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qs

import orjson

from ...protocols.fields import Fields

__all__ = ["Format", "Market", "Out", "Session", "Update", "iso", "json_frame"]

Clock = Callable[[], float]


class Out(NamedTuple):
    """A frame a session asks the server to send: its bytes, whether it is a text frame, and what
    it is (``"data"``: the stream, snapshots included; ``"reply"``: an answer to the client;
    ``"heartbeat"``: the service's own keep-alive; ``"welcome"``: sent on connect)."""

    data: bytes
    text: bool = True
    kind: str = "data"


class Update(NamedTuple):
    """One step of a format's simulation: the topic it belongs to and its value."""

    topic: str
    value: Any


def json_frame(value: Any, kind: str = "data") -> Out:
    return Out(orjson.dumps(value), True, kind)


def iso(seconds: float, digits: int = 6) -> str:
    """``2022-10-19T23:28:22.061769Z`` (``digits`` fractional digits, 0 to 6)."""
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[: len(text) - 6 + digits] if digits else text[:-7]) + "Z"


class Market:
    """Seeded random walks of prices, one per symbol, each on its own price grid (``ticks``: a
    symbol's smallest price step, by default about a millionth of its first price, a power of ten
    no smaller than 1e-8)."""

    def __init__(self, rng: random.Random, prices: dict[str, float],
                 ticks: dict[str, float] | None = None) -> None:
        self.rng = rng
        self.prices = dict(prices)
        self.ticks = {s: (ticks or {}).get(s) or max(1e-8, 10.0 ** math.floor(math.log10(p / 1e6)))
                      for s, p in prices.items()}
        self.trade_ids = {symbol: 1000 * (i + 1) for i, symbol in enumerate(prices)}

    def _round(self, symbol: str, price: float) -> float:
        tick = self.ticks[symbol]
        return max(tick, round(round(price / tick) * tick, 10))

    def step(self, symbol: str) -> float:
        """Move ``symbol``'s price one step and return it."""
        price = self._round(symbol, self.prices[symbol] * math.exp(self.rng.gauss(0.0, 0.0004)))
        self.prices[symbol] = price
        return price

    def trade(self, symbol: str) -> tuple[float, float, str, int]:
        """(price, quantity, side, trade id) of the next trade in ``symbol``."""
        price = self.step(symbol)
        qty = round(self.rng.lognormvariate(-3.0, 1.0), 6) or 0.000001
        side = "buy" if self.rng.random() < 0.5 else "sell"
        self.trade_ids[symbol] += 1
        return price, qty, side, self.trade_ids[symbol]

    def spread(self, symbol: str) -> tuple[float, float, float, float]:
        """(bid, bid size, ask, ask size) around ``symbol``'s price."""
        price = self.prices[symbol]
        half = self.ticks[symbol] * self.rng.randint(1, 3)
        bid, ask = self._round(symbol, price - half), self._round(symbol, price + half)
        return bid, round(self.rng.uniform(0.01, 5.0), 6), ask, round(self.rng.uniform(0.01, 5.0), 6)


class Session:
    """One client of a replica: what it subscribed to and how it answers.

    The server sets ``opened_at`` and ``last_sent_at`` (its loop's clock) and performs what the
    methods return; ``closing`` (a close code and reason), once set, makes it close the link after
    the frames already asked for.
    """

    def __init__(self, fmt: Format, number: int, path: str, query: str) -> None:
        self.format = fmt
        self.number = number
        self.path = path
        self.query = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        self.topics: set[str] = set()
        self.opened_at = 0.0
        self.last_sent_at = 0.0
        self.closing: tuple[int, str] | None = None

    def opened(self) -> list[Out]:
        """Frames to send as soon as the client is connected."""
        return []

    def receive(self, data: str | bytes) -> list[Out]:
        """The answer to one frame from the client."""
        return []

    def tick(self, now: float) -> list[Out]:
        """Called every few milliseconds: heartbeats, timeouts."""
        return []

    def frames(self, update: Update) -> list[Out]:
        """What this client gets of ``update`` (its topic is one of ``topics``)."""
        return [json_frame(update.value)]

    @staticmethod
    def decode(data: str | bytes) -> Any:
        """The JSON value of a client frame, or ``None`` when it is not JSON."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return None


class Format:
    """The shared world of one replicated service: its simulation, its documented configuration
    and the subscription its real service expects. Subclasses set the class attributes and
    override :meth:`update` and :meth:`session`."""

    name: ClassVar[str]
    #: What the replica reproduces, in a few words.
    title: ClassVar[str]
    #: The real service's endpoint (the replica serves the same path on loopback).
    real_url: ClassVar[str]
    #: The path the replica serves, and the query its URL carries by default.
    path: ClassVar[str] = "/"
    query: ClassVar[str] = ""
    #: The one line of rt_widgets configuration that reads this format: keyword arguments of
    #: ``Connection``/``RealtimeWidget`` exactly as a notebook shows them. :meth:`options` runs
    #: this very text, so what is documented is what is tested.
    config: ClassVar[str]
    #: The subscription frames the real service expects, in order (for ``conn.subscribe``).
    subscription: ClassVar[tuple[Any, ...]]
    #: The service's WebSocket pings (seconds between them; ``None``: it sends none).
    ping_interval: ClassVar[float | None] = None
    #: The period of the service's own application heartbeat (``None``: it has none).
    heartbeat: ClassVar[float | None] = None
    #: Every topic the simulation knows, in a stable order.
    topics: ClassVar[tuple[str, ...]]

    def __init__(self, rng: random.Random, clock: Clock, *, heartbeat: float | None,
                 subscribe_timeout: float | None = None) -> None:
        self.rng = rng
        self.clock = clock
        self.heartbeat_period = heartbeat
        self.subscribe_timeout = subscribe_timeout

    @classmethod
    def options(cls) -> dict[str, Any]:
        """The keyword arguments of :attr:`config`, built afresh (a protocol object serves one
        connection)."""
        # The documented line itself is evaluated, so the notebook cannot drift from the tests.
        options: dict[str, Any] = eval(f"dict({cls.config})", {"Fields": Fields})
        return options

    def refuse(self, path: str, query: str) -> tuple[int, str] | None:
        """The HTTP status and text that refuse a handshake to ``path``, or ``None`` to accept it."""
        if path != self.path:
            return 404, f"No WebSocket endpoint at {path}: the {self.name} replica serves {self.path}"
        return None

    def session(self, number: int, path: str, query: str) -> Session:
        return Session(self, number, path, query)

    def update(self, topics: Sequence[str]) -> Update | None:
        """The next step of the simulation, on one of ``topics`` (subscribed by some client);
        ``None`` when none of them is a stream (a heartbeat channel alone, say)."""
        raise NotImplementedError

    def choose(self, topics: Sequence[str]) -> str:
        return topics[0] if len(topics) == 1 else self.rng.choice(sorted(topics))

    def now(self) -> float:
        return self.clock()


def unknown(names: Iterable[str], known: Iterable[str]) -> list[str]:
    allowed = set(known)
    return sorted({n for n in names if n not in allowed})
