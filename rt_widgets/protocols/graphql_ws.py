"""GraphQL subscriptions over the ``graphql-transport-ws`` subprotocol (graphql-ws, Apollo, Hasura,
Strawberry...), as a pure, sans-I/O protocol.

On every (re)connect: ``connection_init`` (carrying ``connection_params``) goes first; the link is
``connected`` once the server's ``connection_ack`` arrives; then the subscription is sent
(``subscribe`` with id ``"1"``), then the user's ``subscribe(...)`` replays, then queued sends.

- ``next``: each root field of its ``data`` is one message: type = the field (its alias when the
  document gives one), payload = its value, ``Message.id`` = the operation's id. A subscription has
  one root field, so its type is the subscription's root field.
- ``error``: the operation failed (a validation error, a resolver that threw before the stream).
  It is delivered as a message of type ``"error"`` (payload ``{"id": ..., "errors": [...]}``),
  counted in :attr:`GraphQLWS.errors` and shown as the connection's ``last_error``; the link stays
  up. Errors a ``next`` carries beside its data are treated the same way.
- ``complete``: the operation ended; nothing is delivered.
- ``ping`` from the server is answered with a ``pong`` echoing its payload. The application ping is
  ``{"type": "ping", "payload": {"timestamp": ...}}``; the server's ``pong`` (graphql-ws echoes the
  payload) proves liveness and gives the latency.
- Close codes: the server's 4400 (bad request), 4401 (subscribe before the ack), 4403 (connection_init
  refused: credentials), 4406, 4409 (duplicate id), 4429 (connection_init sent twice) and 4500 (a
  server error) stop retrying with a text that says what the code means; 4408 (connection_init
  timeout) is retried, as graphql-ws's own client does. ``should_reconnect`` overrides either way.
- Anything else (text that is not JSON, an unknown message type, a ``next`` without an id or a
  payload...) is a decode error: counted, reported, never fatal.

The legacy subscriptions-transport-ws protocol (subprotocol ``graphql-ws``: ``start``/``data``/``ka``)
is not spoken: a server that knows only that one refuses the subprotocol.

``send(document, variables)`` runs a GraphQL operation: ``conn.send("mutation($n: Int!) {
publish(n: $n) { n } }", {"n": 1})`` sends a ``subscribe`` message with a fresh id, and its result
comes back as messages like any other (type = its root field: ``"publish"``). A query or a mutation
runs once; for a further subscription that must survive reconnects use ``conn.subscribe(document,
variables)``, which replays it on every link. ``send(value)`` sends a dict, list, str or bytes
exactly as given.

>>> from rt_widgets.dispatch import Dispatcher
>>> gql = GraphQLWS("subscription { counter }", connection_params={"token": "t0ken"})
>>> gql.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> seen = []
>>> _ = gql.dispatcher.on("*", lambda m: seen.append((m.type, m.payload, m.id)))
>>> [f.data for f in gql.handshake()]
[b'{"type":"connection_init","payload":{"token":"t0ken"}}']
>>> gql.receive(b'{"id":"1","type":"next","payload":{"data":{"counter":7}}}'), seen
(1, [('counter', 7, '1')])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from ..errors import LinkError
from ..link import Outgoing
from ..protocol import Message, now_iso, undecodable
from .base import FrameProtocol, Payload

__all__ = ["SUBPROTOCOL", "GraphQLWS"]

SUBPROTOCOL: Final = "graphql-transport-ws"
#: The id of the adapter's own subscription; operations sent later take "2", "3"...
SUBSCRIPTION_ID: Final = "1"
ERROR_TYPE: Final = "error"

_PONG = orjson.dumps({"type": "pong"})

# The server's close codes (graphql-ws PROTOCOL.md) and what they tell a user.
_CLOSE_MEANINGS: dict[int, str] = {
    4400: "the server rejected a message as invalid (bad request)",
    4401: "the server received a subscribe before acknowledging connection_init (unauthorized)",
    4403: ("the server refused connection_init (forbidden): the connection_params, such as a "
           "token, were rejected; check the credentials"),
    4406: "the server does not accept the graphql-transport-ws subprotocol",
    4408: "the server got no connection_init in time (initialisation timeout)",
    4409: "the server already has an operation with this id (subscriber already exists)",
    4429: "the server received connection_init twice (too many initialisation requests)",
    4500: "the server failed internally (internal server error)",
}
# Transient: retried even though 4000-4999 are terminal by default.
_RETRIED = frozenset({4408})


def _dumps(value: Any, what: str) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from None


def _strings(value: Any) -> list[str]:
    """Every string inside ``value`` (dict values, list items), depth first."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _first_message(errors: Any) -> str:
    if isinstance(errors, list) and errors:
        first = errors[0]
        text = first.get("message") if isinstance(first, dict) else first
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{text}{more}"
    return repr(errors)


class GraphQLWS(FrameProtocol):
    """A GraphQL subscription over graphql-transport-ws; see the module docstring.

    ``query``: the subscription document (``"subscription { counter }"``); ``variables`` its
    variables; ``operation_name`` the operation to run when the document holds several;
    ``connection_params``: the ``connection_init`` payload (credentials: masked in every text).

    >>> from rt_widgets import Connection  # doctest: +SKIP
    >>> conn = Connection("ws://127.0.0.1:4000/graphql",  # doctest: +SKIP
    ...                   protocol=GraphQLWS("subscription { trades { id price } }",
    ...                                      connection_params={"token": "..."}))
    >>> conn.on("trades", print)  # doctest: +SKIP
    """

    subprotocols = (SUBPROTOCOL,)
    needs_ack = True

    def __init__(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        connection_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query must be a GraphQL document (a non-empty str), got {query!r}")
        if variables is not None and not isinstance(variables, Mapping):
            raise TypeError(f"variables must be a dict or None, got {variables!r}")
        if operation_name is not None and not isinstance(operation_name, str):
            raise TypeError(f"operation_name must be a str or None, got {operation_name!r}")
        if connection_params is not None and not isinstance(connection_params, Mapping):
            raise TypeError(f"connection_params must be a dict or None, got {type(connection_params)!r}")
        self.query = query
        self.variables = dict(variables) if variables is not None else None
        self.operation_name = operation_name
        self._params = dict(connection_params) if connection_params is not None else None
        init: dict[str, Any] = {"type": "connection_init"}
        if self._params is not None:
            init["payload"] = self._params
        self._init = Outgoing(_dumps(init, "connection_params"))
        self._subscribe = Outgoing(_dumps(self._operation(SUBSCRIPTION_ID, query, self.variables,
                                                          operation_name), "variables"))
        # send() may be called from any thread: next() on a count is atomic, so no two operations
        # ever share an id (the server would close the link with 4409).
        self._ids = itertools.count(int(SUBSCRIPTION_ID) + 1)
        #: ``error`` messages received (and errors carried by ``next`` messages), since creation.
        self.errors = 0
        self.acknowledged = False  # on the current link

    # ------------------------------------------------------------------ building frames

    @staticmethod
    def _operation(id: str, query: str, variables: Mapping[str, Any] | None,
                   operation_name: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = dict(variables)
        if operation_name is not None:
            payload["operationName"] = operation_name
        return {"id": id, "type": "subscribe", "payload": payload}

    def message(self, type: str, payload: Any) -> Any:
        """``send(document, variables)``: a ``subscribe`` message with a fresh id that runs the
        GraphQL ``document`` (a query, a mutation or a subscription) with ``variables`` (a dict or
        None)."""
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(
                "send(document, variables) takes the GraphQL variables as a dict (or None), "
                f"got {payload!r}")
        return self._operation(str(next(self._ids)), type, payload)

    def handshake(self) -> Sequence[Outgoing]:
        return (self._init,)

    def ping(self) -> tuple[Outgoing, str | None] | None:
        if self._explicit_ping:
            return super().ping()
        stamp = now_iso()
        return Outgoing(orjson.dumps({"type": "ping", "payload": {"timestamp": stamp}})), stamp

    def link_opened(self) -> None:
        self.acknowledged = False

    def secret_values(self) -> Sequence[str]:
        return _strings(self._params)

    def describe(self) -> str:
        params = "" if self._params is None else ", connection_params=<set>"
        return f"GraphQLWS({self.query!r}, variables={self.variables!r}{params})"

    def closed(self, error: LinkError) -> LinkError:
        """The server's close codes, explained; 4408 retried (see the module docstring)."""
        code = error.close_code
        meaning = _CLOSE_MEANINGS.get(code) if code is not None else None
        if meaning is None:
            return error
        error.message = f"{error.message}: {meaning}"
        error.args = (error.message,)
        if code in _RETRIED:
            error.terminal = False
        return error

    # ------------------------------------------------------------------ receiving

    def receive(self, data: Payload, text: bool = True) -> int:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._decode_error(f"graphql-transport-ws: {undecodable(exc)}")
            return 0
        kind = value.get("type") if type(value) is dict else None
        if kind == "next":
            payload = value.get("payload")
            id = value.get("id")
            if type(payload) is not dict or type(id) is not str:
                self._decode_error("graphql-transport-ws: a 'next' message needs a string 'id' and an "
                                   f"object 'payload', got {_brief(value)}")
                return 0
            result = payload.get("data")
            count = 0
            if type(result) is dict:
                dispatch = self.dispatcher.dispatch
                for field, field_value in result.items():
                    dispatch(Message(field, field_value, None, None, id))
                count = len(result)
            elif result is not None:
                self._decode_error(
                    f"graphql-transport-ws: 'next' data must be an object, got {_brief(result)}")
            if "errors" in payload:
                count += self._operation_error(id, payload["errors"])
            return count
        if kind == "ping":
            pong = value.get("payload")
            self._reply(Outgoing(_PONG if pong is None else orjson.dumps({"type": "pong", "payload": pong})))
            return 0
        if kind == "pong":
            if self.host is not None:
                self.host.on_app_pong(_pong_key(value))
            return 0
        if kind == "connection_ack":
            if not self.acknowledged:
                self.acknowledged = True
                # Before ready(): the subscription goes out ahead of the user's replays and sends.
                self._reply(self._subscribe)
                if self.host is not None:
                    self.host.ready()
            return 0
        if kind == "error":
            id = value.get("id")
            if type(id) is not str:
                self._decode_error(f"graphql-transport-ws: an 'error' message needs a string 'id', got "
                                   f"{_brief(value)}")
                return 0
            return self._operation_error(id, value.get("payload"))
        if kind == "complete":
            if type(value.get("id")) is not str:
                self._decode_error("graphql-transport-ws: a 'complete' message needs a string 'id'")
            return 0
        if kind is None:
            self._decode_error(f"graphql-transport-ws: not a message object: {_brief(value)}")
        else:
            self._decode_error(f"graphql-transport-ws: unknown message type {_brief(kind)}")
        return 0

    def _operation_error(self, id: str, errors: Any) -> int:
        self.errors += 1
        which = "the subscription" if id == SUBSCRIPTION_ID else f"operation {id}"
        self._report(f"GraphQL error from {which}: {_first_message(errors)}")
        self.dispatcher.dispatch(Message(ERROR_TYPE, {"id": id, "errors": errors}, None, None, id))
        return 1

    def _reply(self, frame: Outgoing) -> None:
        if self.host is not None:
            self.host.reply(frame)


def _pong_key(value: dict[str, Any]) -> str | None:
    payload = value.get("payload")
    key = payload.get("timestamp") if type(payload) is dict else None
    return key if type(key) is str else None


def _brief(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
