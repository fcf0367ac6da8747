"""Binance spot market streams (binance/binance-spot-api-docs, web-socket-streams.md).

- Raw streams at ``/ws/<stream>`` send the event object itself; combined streams at
  ``/stream?streams=<a>/<b>`` wrap it: ``{"stream": "btcusdt@trade", "data": {"e": "trade", ...}}``.
- ``{"method": "SUBSCRIBE", "params": [...], "id": 1}`` is answered ``{"result": null, "id": 1}``;
  ``UNSUBSCRIBE`` the same, ``LIST_SUBSCRIPTIONS`` with the list; anything else with
  ``{"code": .., "msg": .., "id": ..}``.
- Streams: ``<symbol>@trade``, ``<symbol>@aggTrade`` and ``<symbol>@bookTicker`` (which has no
  ``e`` and no ``E``: a ``Fields`` type path of ``data.e`` gives it the default type).
- The server sends a WebSocket ping every 20 s and closes a link that leaves one unanswered for a
  minute; the client never needs an application ping.

Configuration: ``messages=Fields(type="data.e", payload="data", timestamp="data.E",
time_unit="ms")``. Under ``messages="auto"`` a combined stream's type is its ``stream`` name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import Format, Market, Out, Session, Update, json_frame

__all__ = ["Binance"]

SYMBOLS = {"btcusdt": 27_000.0, "ethusdt": 1_650.0, "bnbbtc": 0.0082}
KINDS = ("trade", "aggTrade", "bookTicker")


def _decimal(value: float) -> str:
    return f"{value:.8f}"


class BinanceSession(Session):
    def __init__(self, fmt: Format, number: int, path: str, query: str) -> None:
        super().__init__(fmt, number, path, query)
        self.combined = path == "/stream"
        named: list[str] = []
        if self.combined:
            named = [s for s in self.query.get("streams", "").split("/") if s]
        elif path.startswith("/ws/"):
            named = [s for s in path[len("/ws/"):].split("/") if s]
        self.topics = {s for s in named if s in fmt.topics}

    def frames(self, update: Update) -> list[Out]:
        if self.combined:
            return [json_frame({"stream": update.topic, "data": update.value})]
        return [json_frame(update.value)]

    def receive(self, data: str | bytes) -> list[Out]:
        request = self.decode(data)
        if not isinstance(request, dict):
            return [json_frame({"code": 3, "msg": "Invalid JSON: expected an object"}, "reply")]
        ident = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        if not (ident is None or isinstance(ident, int | str)) or isinstance(ident, bool):
            return [self._error(2, "Invalid request: request ID must be an unsigned integer", None)]
        if method == "LIST_SUBSCRIPTIONS":
            return [json_frame({"result": sorted(self.topics), "id": ident}, "reply")]
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return [self._error(2, f"Invalid request: unknown method {method!r}", ident)]
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return [self._error(2, "Invalid request: params must be a list of stream names", ident)]
        unknown = [p for p in params if p not in self.format.topics]
        if unknown:
            return [self._error(2, f"Invalid request: unknown stream(s) {', '.join(unknown)}", ident)]
        if method == "SUBSCRIBE":
            self.topics |= set(params)
        else:
            self.topics -= set(params)
        return [json_frame({"result": None, "id": ident}, "reply")]

    @staticmethod
    def _error(code: int, msg: str, ident: Any) -> Out:
        return json_frame({"code": code, "msg": msg, "id": ident}, "reply")


class Binance(Format):
    name = "binance"
    title = "Binance spot: combined trade, aggTrade and bookTicker streams"
    real_url = "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade"
    path = "/stream"
    config = 'messages=Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms")'
    subscription = ({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 1},)
    ping_interval = 20.0
    topics = tuple(f"{s}@{k}" for s in SYMBOLS for k in KINDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, SYMBOLS)
        self.book_ids = 400_900_000

    def refuse(self, path: str, query: str) -> tuple[int, str] | None:
        if path in ("/stream", "/ws") or path.startswith("/ws/"):
            return None
        return 404, f"No WebSocket endpoint at {path}: Binance serves /ws/<stream> and /stream?streams="

    def session(self, number: int, path: str, query: str) -> Session:
        return BinanceSession(self, number, path, query)

    def update(self, topics: Sequence[str]) -> Update:
        topic = self.choose(topics)
        symbol, kind = topic.split("@")
        market = self.market
        now = int(self.now() * 1000)
        value: dict[str, Any]
        if kind == "bookTicker":
            market.step(symbol)
            bid, bid_size, ask, ask_size = market.spread(symbol)
            self.book_ids += 1
            value = {"u": self.book_ids, "s": symbol.upper(), "b": _decimal(bid), "B": _decimal(bid_size),
                     "a": _decimal(ask), "A": _decimal(ask_size)}
            return Update(topic, value)
        price, qty, side, trade_id = market.trade(symbol)
        traded = now - self.rng.randint(0, 3)
        if kind == "trade":
            value = {"e": "trade", "E": now, "s": symbol.upper(), "t": trade_id, "p": _decimal(price),
                     "q": _decimal(qty), "T": traded, "m": side == "sell", "M": True}
        else:
            value = {"e": "aggTrade", "E": now, "s": symbol.upper(), "a": trade_id, "p": _decimal(price),
                     "q": _decimal(qty), "f": trade_id * 2, "l": trade_id * 2 + self.rng.randint(0, 2),
                     "T": traded, "m": side == "sell", "M": True}
        return Update(topic, value)
