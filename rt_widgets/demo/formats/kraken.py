"""Kraken spot websockets v2, ticker and trade channels (docs.kraken.com/exchange, spot-websocket).

- Every message has a ``channel``; data messages are ``{"channel": "trade", "type": "snapshot" |
  "update", "data": [..]}`` with rows keyed by ``symbol`` (and ``trade_id``), times in RFC 3339.
- On connect: ``{"channel": "status", "type": "update", "data": [{"system": "online", ...}]}``.
- ``{"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]}, "req_id": 1}``
  is answered per symbol ``{"method": "subscribe", "result": {..}, "success": true, "time_in",
  "time_out", "req_id": 1}``, then a snapshot (the last trades; the current ticker).
- ``{"method": "ping"}`` is answered ``{"method": "pong", "time_in", "time_out"}`` (with the
  ``req_id`` if it had one); when a subscribed link has been idle for a second the server sends
  ``{"channel": "heartbeat"}``.

Configuration: ``messages=Fields(type="channel", rows="data", timestamp="timestamp",
time_unit="iso"), heartbeat_message={"method": "ping"}``. Under ``messages="auto"`` the type is
the ``type`` field: ``snapshot`` or ``update``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from ._core import Format, Market, Out, Session, Update, iso, json_frame

__all__ = ["Kraken"]

SYMBOLS = {"BTC/USD": 27_000.0, "ETH/USD": 1_650.0, "SOL/USD": 21.5}
CHANNELS = ("ticker", "trade")
_SNAPSHOT_TRADES = 50


class KrakenSession(Session):
    format: Kraken

    def opened(self) -> list[Out]:
        status = {"api_version": "v2", "connection_id": 7_000_000 + self.number, "system": "online",
                  "version": "2.0.10"}
        return [json_frame({"channel": "status", "type": "update", "data": [status]}, "welcome")]

    def receive(self, data: str | bytes) -> list[Out]:
        request = self.decode(data)
        fmt = self.format
        stamp = iso(fmt.now())
        if not isinstance(request, dict):
            return [json_frame({"error": "Malformed request", "success": False, "time_in": stamp,
                                "time_out": stamp}, "reply")]
        method = request.get("method")
        answer: dict[str, Any] = {"method": method}
        if method == "ping":
            answer = {"method": "pong"}
            if "req_id" in request:
                answer["req_id"] = request["req_id"]
            answer |= {"time_in": stamp, "time_out": stamp}
            return [json_frame(answer, "reply")]
        if method not in ("subscribe", "unsubscribe"):
            return [self._error(method, f"Method {method!r} not found", request, stamp)]
        params = request.get("params")
        channel = params.get("channel") if isinstance(params, dict) else None
        symbols = params.get("symbol") if isinstance(params, dict) else None
        if channel not in CHANNELS:
            return [self._error(method, f"Channel {channel!r} not found", request, stamp)]
        if not isinstance(symbols, list) or not symbols or not all(s in SYMBOLS for s in symbols):
            return [self._error(method, f"Currency pair not supported: {symbols!r}", request, stamp)]
        outs: list[Out] = []
        for symbol in symbols:
            topic = f"{channel}:{symbol}"
            result = {"channel": channel, "symbol": symbol}
            if method == "subscribe":
                self.topics.add(topic)
                result["snapshot"] = True
            else:
                self.topics.discard(topic)
            ack = {"method": method, "result": result, "success": True, "time_in": stamp,
                   "time_out": stamp}
            if "req_id" in request:
                ack["req_id"] = request["req_id"]
            outs.append(json_frame(ack, "reply"))
        if method == "subscribe":
            rows = [row for symbol in symbols for row in fmt.snapshot(channel, symbol)]
            if rows:
                outs.append(json_frame({"channel": channel, "type": "snapshot", "data": rows}))
        return outs

    def tick(self, now: float) -> list[Out]:
        period = self.format.heartbeat_period
        if period is None or not self.topics or now - self.last_sent_at < period:
            return []
        self.last_sent_at = now  # one per idle period, not one per tick until it is written
        return [json_frame({"channel": "heartbeat"}, "heartbeat")]

    def frames(self, update: Update) -> list[Out]:
        channel = update.topic.split(":", 1)[0]
        return [json_frame({"channel": channel, "type": "update", "data": [update.value]})]

    @staticmethod
    def _error(method: Any, text: str, request: dict[str, Any], stamp: str) -> Out:
        answer = {"error": text, "method": method, "success": False, "time_in": stamp, "time_out": stamp}
        if "req_id" in request:
            answer["req_id"] = request["req_id"]
        return json_frame(answer, "reply")


class Kraken(Format):
    name = "kraken"
    title = "Kraken v2: ticker and trade channels, snapshots and updates, heartbeat, ping"
    real_url = "wss://ws.kraken.com/v2"
    path = "/v2"
    config = ('messages=Fields(type="channel", rows="data", timestamp="timestamp", time_unit="iso"), '
              'heartbeat_message={"method": "ping"}')
    subscription = ({"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]},
                     "req_id": 1},)
    heartbeat = 1.0
    topics = tuple(f"{c}:{s}" for c in CHANNELS for s in SYMBOLS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, SYMBOLS, {"BTC/USD": 0.1, "ETH/USD": 0.01, "SOL/USD": 0.01})
        self.trades: dict[str, deque[dict[str, Any]]] = {s: deque(maxlen=_SNAPSHOT_TRADES) for s in SYMBOLS}
        self.tickers: dict[str, dict[str, Any]] = {}
        self.volume = dict.fromkeys(SYMBOLS, 0.0)

    def session(self, number: int, path: str, query: str) -> Session:
        return KrakenSession(self, number, path, query)

    def snapshot(self, channel: str, symbol: str) -> list[dict[str, Any]]:
        if channel == "trade":
            return list(self.trades[symbol])
        return [self.ticker(symbol)] if symbol not in self.tickers else [self.tickers[symbol]]

    def ticker(self, symbol: str) -> dict[str, Any]:
        market = self.market
        market.step(symbol)
        bid, bid_qty, ask, ask_qty = market.spread(symbol)
        last = market.prices[symbol]
        first = SYMBOLS[symbol]
        row = {"symbol": symbol, "bid": bid, "bid_qty": bid_qty, "ask": ask, "ask_qty": ask_qty,
               "last": last, "volume": round(self.volume[symbol], 8), "vwap": round((first + last) / 2, 2),
               "low": round(min(first, last), 2), "high": round(max(first, last), 2),
               "change": round(last - first, 2), "change_pct": round((last - first) / first * 100, 2),
               "timestamp": iso(self.now())}
        self.tickers[symbol] = row
        return row

    def update(self, topics: Sequence[str]) -> Update:
        topic = self.choose(topics)
        channel, symbol = topic.split(":", 1)
        if channel == "ticker":
            return Update(topic, self.ticker(symbol))
        price, qty, side, trade_id = self.market.trade(symbol)
        self.volume[symbol] += qty
        row = {"symbol": symbol, "side": side, "price": price, "qty": qty,
               "ord_type": "limit" if self.rng.random() < 0.7 else "market", "trade_id": trade_id,
               "timestamp": iso(self.now())}
        self.trades[symbol].append(row)
        return Update(topic, row)
