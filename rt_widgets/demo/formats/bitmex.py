"""BitMEX realtime API, orderBookL2 and trade tables (bitmex.com/app/wsAPI; the reference client's
deltaParser.js).

- Messages are ``{"table", "action", "data": [..]}``. A subscription first gets the table's
  ``partial`` (every row, with ``keys``, ``types`` and ``filter``), then ``insert``, ``update``
  and ``delete`` actions: an update row holds the keys and the changed fields only, a delete row
  the keys only. orderBookL2 rows are keyed by ``symbol``, ``id`` and ``side``.
- Subscribe in the URL (``/realtime?subscribe=orderBookL2:XBTUSD,trade:XBTUSD``) or with
  ``{"op": "subscribe", "args": ["orderBookL2:XBTUSD"]}``; each topic is acknowledged with
  ``{"success": true, "subscribe": .., "request": ..}``. On connect: a welcome ``info`` message.
- The client keeps the link alive: it sends the text ``ping`` (or a WebSocket ping) after 5 s of
  silence and the server answers the text ``pong``.

Configuration: ``messages=Fields(type="table", rows="data", action="action",
timestamp="timestamp", time_unit="iso"), heartbeat_message="ping"``; a table keyed by
``("symbol", "id", "side")`` applies ``partial``/``delete``. ``messages="auto"`` gives the table
name as the type.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from ._core import Format, Market, Out, Session, Update, iso, json_frame

__all__ = ["BitMEX"]

SYMBOLS = {"XBTUSD": (27_000.0, 0.5, 8_800_000_000), "ETHUSD": (1_650.0, 0.05, 29_700_000_000)}
TABLES = ("orderBookL2", "orderBookL2_25", "trade")
BOOK_KEYS = ["symbol", "id", "side"]
BOOK_TYPES = {"symbol": "symbol", "id": "long", "side": "symbol", "size": "long", "price": "float",
              "timestamp": "timestamp", "transactTime": "timestamp"}
TRADE_TYPES = {"timestamp": "timestamp", "symbol": "symbol", "side": "symbol", "size": "long",
               "price": "float", "tickDirection": "symbol", "trdMatchID": "guid",
               "grossValue": "long", "homeNotional": "float", "foreignNotional": "float",
               "trdType": "symbol"}
_MIN_LEVELS, _MAX_LEVELS = 4, 25
_RECENT_TRADES = 20


def _topic(table: str, symbol: str) -> str:
    return f"{'trade' if table == 'trade' else 'book'}:{symbol}"


class BitMEXSession(Session):
    format: BitMEX

    def __init__(self, fmt: Format, number: int, path: str, query: str) -> None:
        super().__init__(fmt, number, path, query)
        self.tables: set[tuple[str, str]] = set()  # (table, symbol)
        self.url_args = [a for a in self.query.get("subscribe", "").split(",") if a]

    def opened(self) -> list[Out]:
        fmt = self.format
        welcome = {"info": "Welcome to the BitMEX Realtime API.", "version": "2.0.0",
                   "timestamp": iso(fmt.now(), 3), "docs": "https://www.bitmex.com/app/wsAPI",
                   "heartbeatEnabled": False, "limit": {"remaining": 719}}
        outs = [json_frame(welcome, "welcome")]
        if self.url_args:
            outs += self._subscribe("subscribe", self.url_args, {"op": "subscribe", "args": self.url_args})
        return outs

    def receive(self, data: str | bytes) -> list[Out]:
        if data == "ping":
            return [Out(b"pong", True, "reply")]
        request = self.decode(data)
        op = request.get("op") if isinstance(request, dict) else None
        if op not in ("subscribe", "unsubscribe"):
            return [self._error(f"Unknown or missing op: {op!r}", request)]
        assert isinstance(request, dict)
        args = request.get("args")
        args = [args] if isinstance(args, str) else args
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return [self._error("args must be a string or a list of strings", request)]
        return self._subscribe(op, args, request)

    def _subscribe(self, op: str, args: list[str], request: Any) -> list[Out]:
        fmt = self.format
        outs: list[Out] = []
        for arg in args:
            table, _, symbol = arg.partition(":")
            if table not in TABLES:
                outs.append(self._error(f"Unknown table: {table}", request))
                continue
            if symbol and symbol not in SYMBOLS:
                outs.append(self._error(f"Unknown symbol: {symbol}", request))
                continue
            symbols = [symbol] if symbol else list(SYMBOLS)
            pairs = {(table, s) for s in symbols}
            if op == "subscribe":
                self.tables |= pairs
            else:
                self.tables -= pairs
            self.topics = {_topic(t, s) for t, s in self.tables}
            outs.append(json_frame({"success": True, op: arg, "request": request}, "reply"))
            if op == "subscribe":
                outs.append(json_frame(fmt.partial(table, symbols, {"symbol": symbol} if symbol else {})))
        return outs

    def frames(self, update: Update) -> list[Out]:
        names = sorted(t for t, s in self.tables if _topic(t, s) == update.topic)
        return [json_frame({"table": name, "action": update.value["action"], "data": update.value["data"]})
                for name in names]

    @staticmethod
    def _error(text: str, request: Any) -> Out:
        return json_frame({"status": 400, "error": text, "meta": {}, "request": request}, "reply")


class BitMEX(Format):
    name = "bitmex"
    title = "BitMEX: orderBookL2 partial/insert/update/delete, trades, text ping/pong"
    real_url = "wss://ws.bitmex.com/realtime"
    path = "/realtime"
    config = ('messages=Fields(type="table", rows="data", action="action", timestamp="timestamp", '
              'time_unit="iso"), heartbeat_message="ping"')
    subscription = ({"op": "subscribe", "args": ["orderBookL2:XBTUSD"]},)
    topics = tuple(f"{kind}:{s}" for kind in ("book", "trade") for s in SYMBOLS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = Market(self.rng, {s: p for s, (p, _tick, _base) in SYMBOLS.items()},
                             {s: tick for s, (_p, tick, _base) in SYMBOLS.items()})
        # (side, price) -> size, per symbol.
        self.books: dict[str, dict[tuple[str, float], int]] = {}
        self.recent: dict[str, deque[dict[str, Any]]] = {s: deque(maxlen=_RECENT_TRADES) for s in SYMBOLS}
        for symbol, (price, tick, _base) in SYMBOLS.items():
            book = self.books[symbol] = {}
            for level in range(1, 11):
                book[("Sell", round(price + level * tick, 8))] = self._size()
                book[("Buy", round(price - level * tick, 8))] = self._size()

    def session(self, number: int, path: str, query: str) -> Session:
        return BitMEXSession(self, number, path, query)

    def _size(self) -> int:
        return self.rng.randint(1, 400) * 100

    def row_id(self, symbol: str, price: float) -> int:
        _price, tick, base = SYMBOLS[symbol]
        return base - round(price / tick)

    def level(self, symbol: str, side: str, price: float, stamp: str, fields: str = "full") -> dict[str, Any]:
        row: dict[str, Any] = {"symbol": symbol, "id": self.row_id(symbol, price), "side": side}
        if fields == "keys":
            return row
        row["size"] = self.books[symbol][(side, price)]
        if fields == "full":
            row["price"] = price
        row["timestamp"] = row["transactTime"] = stamp
        return row

    def partial(self, table: str, symbols: list[str], filter: dict[str, str]) -> dict[str, Any]:
        stamp = iso(self.now(), 3)
        if table == "trade":
            data = [t for s in symbols for t in self.recent[s]]
            return {"table": table, "action": "partial", "keys": [], "types": TRADE_TYPES,
                    "foreignKeys": {"symbol": "instrument", "side": "side"},
                    "attributes": {"timestamp": "sorted", "symbol": "grouped"}, "filter": filter,
                    "data": data}
        data = []
        for symbol in symbols:
            levels = sorted(self.books[symbol], key=lambda sp: (sp[0] != "Sell", -sp[1]))
            data += [self.level(symbol, side, price, stamp) for side, price in levels]
        return {"table": table, "action": "partial", "keys": BOOK_KEYS, "types": BOOK_TYPES,
                "foreignKeys": {"symbol": "instrument", "side": "side"},
                "attributes": {"symbol": "parted", "id": "sorted"}, "filter": filter, "data": data}

    def update(self, topics: Sequence[str]) -> Update:
        topic = self.choose(topics)
        kind, symbol = topic.split(":", 1)
        stamp = iso(self.now(), 3)
        if kind == "trade":
            return Update(topic, {"action": "insert", "data": [self._trade(symbol, stamp)]})
        return Update(topic, self._book_change(symbol, stamp))

    def _trade(self, symbol: str, stamp: str) -> dict[str, Any]:
        price, _qty, side, trade_id = self.market.trade(symbol)
        size = self._size()
        trade = {"timestamp": stamp, "symbol": symbol, "side": "Buy" if side == "buy" else "Sell",
                 "size": size, "price": price,
                 "tickDirection": "PlusTick" if side == "buy" else "MinusTick",
                 "trdMatchID": f"{trade_id:08x}-0000-4000-8000-{self.rng.getrandbits(48):012x}",
                 "grossValue": round(size * 1e8 / price), "homeNotional": round(size / price, 8),
                 "foreignNotional": size, "trdType": "Regular"}
        self.recent[symbol].append(trade)
        return trade

    def _book_change(self, symbol: str, stamp: str) -> dict[str, Any]:
        rng, book = self.rng, self.books[symbol]
        side = "Sell" if rng.random() < 0.5 else "Buy"
        levels = sorted(price for s, price in book if s == side)
        roll = rng.random()
        action = "update" if roll < 0.6 else "insert" if roll < 0.8 else "delete"
        if len(levels) <= _MIN_LEVELS:
            action = "insert"
        elif len(levels) >= _MAX_LEVELS:
            action = "delete"
        if action == "update":
            prices = rng.sample(levels, min(len(levels), rng.randint(1, 3)))
            for price in prices:
                book[(side, price)] = self._size()
            rows = [self.level(symbol, side, p, stamp, "size") for p in prices]
        elif action == "insert":
            _mid, tick, _base = SYMBOLS[symbol]
            other = [price for s, price in book if s != side]
            if side == "Sell":
                floor = max(other) if other else min(levels) - tick
                candidates = [round(floor + k * tick, 8) for k in range(1, 40)]
            else:
                ceiling = min(other) if other else max(levels) + tick
                candidates = [round(ceiling - k * tick, 8) for k in range(1, 40)]
            free = [p for p in candidates if (side, p) not in book and p > 0][:_MAX_LEVELS]
            price = rng.choice(free)
            book[(side, price)] = self._size()
            rows = [self.level(symbol, side, price, stamp)]
        else:
            price = rng.choice(levels)
            rows = [self.level(symbol, side, price, stamp, "keys")]
            del book[(side, price)]
        return {"action": action, "data": rows}
