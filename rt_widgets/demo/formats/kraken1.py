"""Kraken spot websockets v1 (docs.kraken.com/exchange, the v1 API), ticker and trade channels.

- Data messages are arrays ``[channelID, payload, channelName, pair]``: a trade's payload is a
  list of ``[price, volume, time, side, orderType, misc]`` string arrays, times in seconds as
  strings with microseconds; a ticker's an object of arrays. Control messages are objects with
  an ``event``.
- On connect: ``{"connectionID": .., "event": "systemStatus", "status": "online", ...}``.
- ``{"event": "subscribe", "pair": ["XBT/USD"], "subscription": {"name": "trade"}}`` is answered
  per pair with ``{"channelID", "channelName", "event": "subscriptionStatus", "pair",
  "status": "subscribed", "subscription"}``.
- ``{"event": "ping", "reqid": 42}`` is answered ``{"event": "pong", "reqid": 42}``; a subscribed
  link idle for a second gets ``{"event": "heartbeat"}``.

Configuration: a callable, as arrays have no field to name:
``messages=lambda v: [(v[-2], v[1])] if isinstance(v, list) else [(v.get("event", "message"), v)],
heartbeat_message={"event": "ping"}``. Under ``messages="auto"`` every array is one ``message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import Format, Market, Out, Session, Update, json_frame

__all__ = ["KrakenV1"]

PAIRS = {"XBT/USD": 27_000.0, "ETH/USD": 1_650.0}
CHANNELS = ("ticker", "trade")


def _price(value: float) -> str:
    return f"{value:.5f}"


class KrakenV1Session(Session):
    format: KrakenV1

    def opened(self) -> list[Out]:
        return [json_frame({"connectionID": 8_628_615_390_848_610_000 + self.number,
                            "event": "systemStatus", "status": "online", "version": "1.9.1"},
                           "welcome")]

    def receive(self, data: str | bytes) -> list[Out]:
        request = self.decode(data)
        if not isinstance(request, dict):
            return [json_frame({"errorMessage": "Malformed request", "event": "error",
                                "status": "error"}, "reply")]
        event = request.get("event")
        extra = {"reqid": request["reqid"]} if "reqid" in request else {}
        if event == "ping":
            return [json_frame({"event": "pong", **extra}, "reply")]
        if event not in ("subscribe", "unsubscribe"):
            return [json_frame({"errorMessage": f"Unsupported event {event!r}", "event": "error",
                                "status": "error", **extra}, "reply")]
        subscription = request.get("subscription")
        name = subscription.get("name") if isinstance(subscription, dict) else None
        pairs = request.get("pair")
        outs: list[Out] = []
        if not isinstance(pairs, list) or not pairs:
            return [json_frame({"errorMessage": "Pair field must be an array", "event": "subscriptionStatus",
                                "status": "error", "subscription": subscription, **extra}, "reply")]
        for pair in pairs:
            status: dict[str, Any] = {"event": "subscriptionStatus", "pair": pair}
            if name not in CHANNELS:
                status |= {"errorMessage": f"Subscription name invalid: {name!r}", "status": "error"}
            elif pair not in PAIRS:
                status |= {"errorMessage": f"Currency pair not supported {pair}", "status": "error"}
            else:
                topic = f"{name}:{pair}"
                if event == "subscribe":
                    self.topics.add(topic)
                else:
                    self.topics.discard(topic)
                status = {"channelID": self.format.channel_id(topic), "channelName": name,
                          **status, "status": "subscribed" if event == "subscribe" else "unsubscribed"}
            outs.append(json_frame({**status, "subscription": subscription, **extra}, "reply"))
        return outs

    def tick(self, now: float) -> list[Out]:
        period = self.format.heartbeat_period
        if period is None or not self.topics or now - self.last_sent_at < period:
            return []
        self.last_sent_at = now
        return [json_frame({"event": "heartbeat"}, "heartbeat")]

    def frames(self, update: Update) -> list[Out]:
        name, pair = update.topic.split(":", 1)
        return [json_frame([self.format.channel_id(update.topic), update.value, name, pair])]


class KrakenV1(Format):
    name = "kraken1"
    title = "Kraken v1: array messages [channelID, payload, name, pair], heartbeat, ping"
    real_url = "wss://ws.kraken.com"
    path = "/"
    config = ('messages=lambda v: [(v[-2], v[1])] if isinstance(v, list) else '
              '[(v.get("event", "message"), v)], heartbeat_message={"event": "ping"}')
    subscription = ({"event": "subscribe", "pair": ["XBT/USD"], "subscription": {"name": "trade"}},)
    heartbeat = 1.0
    topics = tuple(f"{c}:{p}" for c in CHANNELS for p in PAIRS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, PAIRS, {"XBT/USD": 0.1, "ETH/USD": 0.01})
        self.channels: dict[str, int] = {}
        self.volume = dict.fromkeys(PAIRS, 0.0)
        self.trades = dict.fromkeys(PAIRS, 0)

    def session(self, number: int, path: str, query: str) -> Session:
        return KrakenV1Session(self, number, path, query)

    def channel_id(self, topic: str) -> int:
        return self.channels.setdefault(topic, 336 + len(self.channels) + 1)

    def update(self, topics: Sequence[str]) -> Update:
        topic = self.choose(topics)
        name, pair = topic.split(":", 1)
        market = self.market
        if name == "trade":
            rows = []
            for _ in range(self.rng.randint(1, 3)):
                price, qty, side, _trade_id = market.trade(pair)
                self.volume[pair] += qty
                self.trades[pair] += 1
                rows.append([_price(price), f"{qty:.8f}", f"{self.now():.6f}", side[0],
                             "l" if self.rng.random() < 0.7 else "m", ""])
            return Update(topic, rows)
        market.step(pair)
        bid, bid_qty, ask, ask_qty = market.spread(pair)
        last, first = market.prices[pair], PAIRS[pair]
        volume = f"{self.volume[pair]:.8f}"
        value = {"a": [_price(ask), int(ask_qty) + 1, f"{ask_qty:.3f}"],
                 "b": [_price(bid), int(bid_qty) + 1, f"{bid_qty:.3f}"],
                 "c": [_price(last), f"{self.rng.uniform(0.001, 1):.8f}"], "v": [volume, volume],
                 "p": [_price((first + last) / 2)] * 2, "t": [self.trades[pair]] * 2,
                 "l": [_price(min(first, last))] * 2, "h": [_price(max(first, last))] * 2,
                 "o": [_price(first)] * 2}
        return Update(topic, value)
