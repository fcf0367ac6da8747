"""Coinbase Exchange websocket feed, ticker and heartbeat channels (docs.cdp.coinbase.com/exchange).

- Flat messages with a ``type``: ``{"type": "ticker", "sequence": ..., "product_id": "BTC-USD",
  "price": "...", ..., "time": "2022-10-19T23:28:22.061769Z", ...}``; prices are strings.
- A client must send ``{"type": "subscribe", "product_ids": [..], "channels": [..]}`` within 5 s
  of connecting, or it gets an ``error`` and the link is closed (code 1000 here). A channel may
  also be ``{"name": "ticker", "product_ids": [..]}``. The answer is a ``subscriptions`` message
  listing every channel the client now has; ``unsubscribe`` works the same way.
- ``sequence`` increases per product; the ticker channel shows only some of a product's
  messages, so its sequence numbers jump (here by 2 to 5 in one ticker in twenty).
- The ``heartbeat`` channel (opt-in) sends ``{"type": "heartbeat", "sequence", "last_trade_id",
  "product_id", "time"}`` once a second per product. No application ping: WebSocket pings only.

Configuration: ``messages=Fields(type="type", seq="sequence", timestamp="time", time_unit="iso")``.
Gaps are counted per message type, so they are exact for one product per connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import Format, Market, Out, Session, Update, iso, json_frame

__all__ = ["Coinbase"]

PRODUCTS = {"BTC-USD": 27_000.0, "ETH-USD": 1_650.0, "ETH-BTC": 0.061}
CHANNELS = ("ticker", "heartbeat")


def _money(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") if value < 1 else f"{value:.2f}"


class CoinbaseSession(Session):
    format: Coinbase

    def __init__(self, fmt: Format, number: int, path: str, query: str) -> None:
        super().__init__(fmt, number, path, query)
        self.subscribed_once = False
        self.last_beat = 0.0

    def receive(self, data: str | bytes) -> list[Out]:
        request = self.decode(data)
        kind = request.get("type") if isinstance(request, dict) else None
        if kind not in ("subscribe", "unsubscribe"):
            return [self._error("Failed to subscribe", "Type has to be either subscribe or unsubscribe")]
        assert isinstance(request, dict)
        products = request.get("product_ids", [])
        channels = request.get("channels")
        if not isinstance(products, list) or not isinstance(channels, list) or not channels:
            return [self._error("Failed to subscribe", "product_ids and channels must be lists")]
        wanted: set[str] = set()
        for channel in channels:
            if isinstance(channel, str):
                name, ids = channel, products
            elif isinstance(channel, dict) and isinstance(channel.get("name"), str):
                name, ids = channel["name"], channel.get("product_ids", products)
            else:
                return [self._error("Failed to subscribe", f"{channel!r} is not a channel")]
            if name not in CHANNELS:
                return [self._error("Failed to subscribe", f"{name} is not a valid channel")]
            if not isinstance(ids, list) or not ids:
                return [self._error("Failed to subscribe", f"{name} needs product_ids")]
            for product in ids:
                if product not in PRODUCTS:
                    return [self._error("Failed to subscribe", f"{product} is not a valid product")]
                wanted.add(f"{name}:{product}")
        if kind == "subscribe":
            self.topics |= wanted
            self.subscribed_once = True
        else:
            self.topics -= wanted
        listing = []
        for name in CHANNELS:
            ids = sorted(t.split(":", 1)[1] for t in self.topics if t.startswith(name + ":"))
            if ids:
                listing.append({"name": name, "product_ids": ids})
        return [json_frame({"type": "subscriptions", "channels": listing}, "reply")]

    def tick(self, now: float) -> list[Out]:
        fmt = self.format
        timeout = fmt.subscribe_timeout
        if not self.subscribed_once and timeout is not None and now - self.opened_at >= timeout:
            self.subscribed_once = True  # once: the link is closing
            self.closing = (1000, "no subscribe message")
            return [self._error("Failed to subscribe", f"subscribe within {timeout:g} s of connecting")]
        period = fmt.heartbeat_period
        if period is None or now - self.last_beat < period:
            return []
        products = sorted(t.split(":", 1)[1] for t in self.topics if t.startswith("heartbeat:"))
        if not products:
            return []
        self.last_beat = now
        stamp = iso(fmt.now())
        return [json_frame({"type": "heartbeat", "sequence": fmt.sequence[p],
                            "last_trade_id": fmt.market.trade_ids[p], "product_id": p, "time": stamp},
                           "heartbeat")
                for p in products]

    @staticmethod
    def _error(message: str, reason: str) -> Out:
        return json_frame({"type": "error", "message": message, "reason": reason}, "reply")


class Coinbase(Format):
    name = "coinbase"
    title = "Coinbase Exchange: ticker and heartbeat channels, sequence numbers per product"
    real_url = "wss://ws-feed.exchange.coinbase.com"
    path = "/"
    config = 'messages=Fields(type="type", seq="sequence", timestamp="time", time_unit="iso")'
    subscription = ({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["ticker"]},)
    heartbeat = 1.0
    topics = tuple(f"{c}:{p}" for c in CHANNELS for p in PRODUCTS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, PRODUCTS)
        self.sequence = {p: 3_262_786_978 + 1_000_000 * i for i, p in enumerate(PRODUCTS)}
        self.day = {p: {"open": v, "low": v, "high": v, "volume": 0.0} for p, v in PRODUCTS.items()}

    def session(self, number: int, path: str, query: str) -> Session:
        return CoinbaseSession(self, number, path, query)

    def update(self, topics: Sequence[str]) -> Update | None:
        tickers = [t for t in topics if t.startswith("ticker:")]
        if not tickers:
            return None
        topic = self.choose(tickers)
        product = topic.split(":", 1)[1]
        rng = self.rng
        self.sequence[product] += 1 if rng.random() >= 0.05 else rng.randint(2, 5)
        price, size, side, trade_id = self.market.trade(product)
        bid, bid_size, ask, ask_size = self.market.spread(product)
        day = self.day[product]
        day["low"], day["high"] = min(day["low"], price), max(day["high"], price)
        day["volume"] += size
        value = {
            "type": "ticker", "sequence": self.sequence[product], "product_id": product,
            "price": _money(price), "open_24h": _money(day["open"]),
            "volume_24h": f"{day['volume']:.8f}", "low_24h": _money(day["low"]),
            "high_24h": _money(day["high"]), "volume_30d": f"{day['volume'] * 30:.8f}",
            "best_bid": _money(bid), "best_bid_size": f"{bid_size:.8f}", "best_ask": _money(ask),
            "best_ask_size": f"{ask_size:.8f}", "side": side, "time": iso(self.now()),
            "trade_id": trade_id, "last_size": f"{size:.8f}",
        }
        return Update(topic, value)
