"""Finnhub websocket trades (finnhub.io/docs/api/websocket-trades).

- ``wss://ws.finnhub.io?token=<key>``: the handshake needs a ``token`` (the replica takes any
  non-empty one and refuses a missing one with HTTP 401).
- ``{"type": "subscribe", "symbol": "AAPL"}`` (and ``unsubscribe``) is not answered; trades then
  come as ``{"type": "trade", "data": [{"p": 122.1, "s": "AAPL", "t": 1672348887195, "v": 1,
  "c": ["1", "12"]}, ..]}`` (``t`` in ms). A frame that is not a subscription gets
  ``{"type": "error", "msg": ..}``.
- The server sends ``{"type": "ping"}`` now and then (every 15 s here); nothing needs answering.

Configuration: ``messages=Fields(type="type", rows="data", timestamp="t", time_unit="ms")``; pings
are messages of type ``ping``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

from ._core import Format, Market, Out, Session, Update, json_frame

__all__ = ["Finnhub"]

SYMBOLS = {"AAPL": 192.3, "MSFT": 410.5, "TSLA": 122.1, "BINANCE:BTCUSDT": 27_000.0}
CONDITIONS = ("1", "8", "12", "24", "37")


class FinnhubSession(Session):
    format: Finnhub

    def __init__(self, fmt: Format, number: int, path: str, query: str) -> None:
        super().__init__(fmt, number, path, query)
        self.last_ping = 0.0

    def receive(self, data: str | bytes) -> list[Out]:
        request = self.decode(data)
        kind = request.get("type") if isinstance(request, dict) else None
        symbol = request.get("symbol") if isinstance(request, dict) else None
        if kind not in ("subscribe", "unsubscribe") or not isinstance(symbol, str):
            return [json_frame({"type": "error", "msg": "Invalid message"}, "reply")]
        topic = f"trade:{symbol}"
        if topic in self.format.topics:  # the real service accepts unknown symbols silently too
            if kind == "subscribe":
                self.topics.add(topic)
            else:
                self.topics.discard(topic)
        return []

    def tick(self, now: float) -> list[Out]:
        period = self.format.heartbeat_period
        if period is None:
            return []
        if not self.last_ping:
            self.last_ping = self.opened_at
        if now - self.last_ping < period:
            return []
        self.last_ping = now
        return [json_frame({"type": "ping"}, "heartbeat")]


class Finnhub(Format):
    name = "finnhub"
    title = "Finnhub: trades in data[] rows, server pings"
    real_url = "wss://ws.finnhub.io?token=<your key>"
    path = "/"
    query = "token=sandbox"
    config = 'messages=Fields(type="type", rows="data", timestamp="t", time_unit="ms")'
    subscription = ({"type": "subscribe", "symbol": "AAPL"}, {"type": "subscribe", "symbol": "MSFT"})
    heartbeat = 15.0
    topics = tuple(f"trade:{s}" for s in SYMBOLS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, SYMBOLS)

    def refuse(self, path: str, query: str) -> tuple[int, str] | None:
        refusal = super().refuse(path, query)
        if refusal is None and not parse_qs(query).get("token", [""])[-1]:
            return 401, "Missing or empty token: connect to /?token=<your key>"
        return refusal

    def session(self, number: int, path: str, query: str) -> Session:
        return FinnhubSession(self, number, path, query)

    def update(self, topics: Sequence[str]) -> Update:
        topic = self.choose(topics)
        symbol = topic.split(":", 1)[1]
        now = int(self.now() * 1000)
        rows = []
        for _ in range(self.rng.randint(1, 3)):
            price, qty, _side, _trade_id = self.market.trade(symbol)
            volume = qty if ":" in symbol else max(1, round(qty * 1000))
            rows.append({"c": self.rng.sample(CONDITIONS, self.rng.randint(0, 2)), "p": price,
                         "s": symbol, "t": now - self.rng.randint(0, 5), "v": volume})
        return Update(topic, {"data": rows, "type": "trade"})
