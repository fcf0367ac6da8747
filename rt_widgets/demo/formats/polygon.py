"""Polygon.io (now Massive) stocks websocket: trades ``T`` and quotes ``Q`` (massive.com/docs/websocket).

- Every frame is a top-level JSON array of events, each with ``ev``: ``[{"ev": "T", "sym": "AAPL",
  "p": 192.31, "s": 100, "t": 1748476801234, ...}]`` (``t`` in ms).
- On connect: ``[{"ev": "status", "status": "connected", ...}]``. The client sends
  ``{"action": "auth", "params": "<key>"}`` first (``auth_success``; ``auth_failed`` and a close
  for a wrong key), then ``{"action": "subscribe", "params": "T.AAPL,Q.AAPL"}`` (``T.*``: every
  symbol), each topic answered with a ``status`` event. A subscription before ``auth`` is refused.
- No application heartbeat: WebSocket pings.

Configuration: ``messages=Fields(type="ev", timestamp="t", time_unit="ms")``: a top-level array
of objects is a batch, each element one message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import Format, Market, Out, Session, Update, json_frame

__all__ = ["Polygon"]

SYMBOLS = {"AAPL": 192.3, "MSFT": 410.5, "NVDA": 880.0}
EVENTS = ("T", "Q")


def _status(status: str, message: str) -> dict[str, str]:
    return {"ev": "status", "status": status, "message": message}


class PolygonSession(Session):
    format: Polygon

    def __init__(self, fmt: Format, number: int, path: str, query: str) -> None:
        super().__init__(fmt, number, path, query)
        self.authenticated = False

    def opened(self) -> list[Out]:
        return [json_frame([_status("connected", "Connected Successfully")], "welcome")]

    def receive(self, data: str | bytes) -> list[Out]:
        request = self.decode(data)
        action = request.get("action") if isinstance(request, dict) else None
        params = request.get("params") if isinstance(request, dict) else None
        if action == "auth":
            key = self.format.api_key
            if not isinstance(params, str) or not params or (key is not None and params != key):
                self.closing = (1008, "authentication failed")
                return [json_frame([_status("auth_failed", "authentication failed")], "reply")]
            self.authenticated = True
            return [json_frame([_status("auth_success", "authenticated")], "reply")]
        if action not in ("subscribe", "unsubscribe") or not isinstance(params, str):
            return [json_frame([_status("error", "unknown action or params")], "reply")]
        if not self.authenticated:
            return [json_frame([_status("error", "not authorized")], "reply")]
        answers = []
        for item in (p.strip() for p in params.split(",") if p.strip()):
            event, _, symbol = item.partition(".")
            symbols = list(SYMBOLS) if symbol == "*" else [symbol]
            if event not in EVENTS or not all(s in SYMBOLS for s in symbols):
                answers.append(_status("error", f"unknown channel: {item}"))
                continue
            topics = {f"{event}.{s}" for s in symbols}
            if action == "subscribe":
                self.topics |= topics
                answers.append(_status("success", f"subscribed to: {item}"))
            else:
                self.topics -= topics
                answers.append(_status("success", f"unsubscribed to: {item}"))
        return [json_frame(answers, "reply")]

    def frames(self, update: Update) -> list[Out]:
        return [json_frame(update.value)]


class Polygon(Format):
    name = "polygon"
    title = "Polygon/Massive stocks: top-level arrays of trades and quotes, auth first"
    real_url = "wss://socket.massive.com/stocks"
    path = "/stocks"
    config = 'messages=Fields(type="ev", timestamp="t", time_unit="ms")'
    subscription = ({"action": "auth", "params": "<your key>"},
                    {"action": "subscribe", "params": "T.AAPL,Q.AAPL"})
    ping_interval = 30.0
    topics = tuple(f"{e}.{s}" for e in EVENTS for s in SYMBOLS)
    #: The key ``auth`` must carry (``None``: any non-empty key).
    api_key: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, SYMBOLS)
        self.sequence = 1_000_000

    def session(self, number: int, path: str, query: str) -> Session:
        return PolygonSession(self, number, path, query)

    def update(self, topics: Sequence[str]) -> Update:
        topic = self.choose(topics)
        event, symbol = topic.split(".", 1)
        rng, market = self.rng, self.market
        now = int(self.now() * 1000)
        events: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 3)):
            self.sequence += 1
            if event == "T":
                price, qty, _side, trade_id = market.trade(symbol)
                events.append({"ev": "T", "sym": symbol, "x": rng.choice((4, 11, 12)), "i": str(trade_id),
                               "z": 3, "p": price, "s": max(1, round(qty * 1000)),
                               "c": rng.sample((12, 14, 37, 41), rng.randint(0, 2)), "t": now,
                               "q": self.sequence})
            else:
                market.step(symbol)
                bid, bid_size, ask, ask_size = market.spread(symbol)
                events.append({"ev": "Q", "sym": symbol, "bx": rng.choice((4, 11, 12)), "bp": bid,
                               "bs": max(1, round(bid_size)), "ax": rng.choice((4, 11, 12)), "ap": ask,
                               "as": max(1, round(ask_size)), "c": 1, "i": [604], "t": now,
                               "q": self.sequence, "z": 3})
        return Update(topic, events)
