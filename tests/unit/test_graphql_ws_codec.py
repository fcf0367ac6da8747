"""The GraphQLWS codec without sockets: the frames it builds, what it makes of each server message,
its replies, its pings and its reading of close codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from rt_widgets import Message
from rt_widgets.dispatch import Dispatcher
from rt_widgets.errors import LinkError
from rt_widgets.link import Outgoing
from rt_widgets.protocols import GraphQLWS
from rt_widgets.protocols.graphql_ws import SUBPROTOCOL


class FakeHost:
    """What a protocol may ask of its link, recorded."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.ready_calls = 0
        self.failures: list[LinkError] = []
        self.pongs: list[str | None] = []
        self.errors: list[str] = []
        self.idle: list[float | None] = []

    def on_app_pong(self, key: str | None) -> None:
        self.pongs.append(key)

    def reply(self, frame: Outgoing) -> None:
        self.replies.append(orjson.loads(frame.data))

    def learn_urls(self, urls: Sequence[str]) -> None:
        raise AssertionError("GraphQLWS learns no URL")

    def on_decode_error(self, text: str) -> None:
        self.errors.append(text)

    def ready(self) -> None:
        self.ready_calls += 1

    def fail(self, error: LinkError) -> None:
        self.failures.append(error)

    def set_idle_timeout(self, seconds: float | None) -> None:
        self.idle.append(seconds)


def bound(protocol: GraphQLWS) -> tuple[GraphQLWS, FakeHost, list[Message]]:
    host = FakeHost()
    protocol.bind(host, Dispatcher())
    seen: list[Message] = []
    protocol.dispatcher.on("*", seen.append)
    protocol.link_opened()
    return protocol, host, seen


def frame(value: Any) -> bytes:
    return orjson.dumps(value)


def test_the_handshake_carries_the_connection_params_and_the_subscription_follows_the_ack() -> None:
    gql, host, _ = bound(GraphQLWS("subscription($k: Int) { counter(from: $k) }", {"k": 3},
                                   operation_name=None, connection_params={"token": "s3cret-token"}))
    assert gql.subprotocols == (SUBPROTOCOL,) and gql.needs_ack
    (init,) = gql.handshake()
    assert orjson.loads(init.data) == {"type": "connection_init", "payload": {"token": "s3cret-token"}}
    assert init.text
    assert gql.receive(frame({"type": "connection_ack"})) == 0
    assert host.ready_calls == 1
    assert host.replies == [{"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($k: Int) { counter(from: $k) }", "variables": {"k": 3}}}]
    gql.receive(frame({"type": "connection_ack"}))  # a second ack changes nothing
    assert host.ready_calls == 1 and len(host.replies) == 1
    gql.link_opened()  # a new link: the next ack subscribes again
    gql.receive(frame({"type": "connection_ack", "payload": {"server": "x"}}))
    assert host.ready_calls == 2 and len(host.replies) == 2
    assert gql.secret_values() == ["s3cret-token"]
    assert "s3cret" not in gql.describe()


def test_no_connection_params_means_no_payload_and_operation_name_is_sent() -> None:
    gql, host, _ = bound(GraphQLWS("subscription A { a } subscription B { b }", operation_name="B"))
    assert orjson.loads(gql.handshake()[0].data) == {"type": "connection_init"}
    gql.receive(frame({"type": "connection_ack"}))
    assert host.replies[0]["payload"] == {"query": "subscription A { a } subscription B { b }",
                                          "operationName": "B"}


def test_next_gives_one_message_per_root_field_typed_by_the_field() -> None:
    gql, _, seen = bound(GraphQLWS("subscription { trades { id price } }"))
    trade = {"id": "t1", "price": 1.5}
    assert gql.receive(frame({"id": "1", "type": "next", "payload": {"data": {"trades": trade}}})) == 1
    assert gql.receive(frame({"id": "7", "type": "next",
                              "payload": {"data": {"a": 1, "b": None}}}), text=False) == 2
    assert [(m.type, m.payload, m.id) for m in seen] == [("trades", trade, "1"), ("a", 1, "7"),
                                                         ("b", None, "7")]
    assert gql.decode_errors == 0


def test_errors_are_messages_counted_and_reported_never_decode_errors() -> None:
    gql, host, seen = bound(GraphQLWS("subscription { nope }"))
    errors = [{"message": 'Cannot query field "nope" on type "Subscription".'}]
    assert gql.receive(frame({"id": "1", "type": "error", "payload": errors})) == 1
    assert seen[-1] == Message("error", {"id": "1", "errors": errors}, None, None, "1")
    assert host.errors == ['GraphQL error from the subscription: Cannot query field "nope" on type '
                           '"Subscription".']
    # A next with data and errors (a partial result): both.
    partial = {"data": {"x": 1}, "errors": [{"message": "one"}, {"message": "two"}]}
    assert gql.receive(frame({"id": "4", "type": "next", "payload": partial})) == 2
    assert [m.type for m in seen[-2:]] == ["x", "error"]
    assert host.errors[-1] == "GraphQL error from operation 4: one (and 1 more)"
    assert gql.errors == 2 and gql.decode_errors == 0
    assert gql.receive(frame({"id": "1", "type": "complete"})) == 0


def test_the_server_ping_is_answered_with_its_payload_and_our_ping_carries_a_key() -> None:
    gql, host, _ = bound(GraphQLWS("subscription { a }"))
    gql.receive(frame({"type": "ping"}))
    gql.receive(frame({"type": "ping", "payload": {"k": 1}}))
    assert host.replies == [{"type": "pong"}, {"type": "pong", "payload": {"k": 1}}]
    ping = gql.ping()
    assert ping is not None
    out, key = ping
    assert orjson.loads(out.data) == {"type": "ping", "payload": {"timestamp": key}}
    gql.receive(frame({"type": "pong", "payload": {"timestamp": key}}))
    gql.receive(frame({"type": "pong"}))
    assert host.pongs == [key, None]


def test_a_user_heartbeat_message_replaces_the_ping() -> None:
    gql, _, _ = bound(GraphQLWS("subscription { a }"))
    gql.set_heartbeat("keepalive")
    ping = gql.ping()
    assert ping is not None and ping[0].data == "keepalive"
    gql.set_heartbeat(None)
    assert gql.ping() is None


def test_send_runs_an_operation_with_a_fresh_id_and_send_value_is_sent_as_given() -> None:
    gql = GraphQLWS("subscription { a }")
    message, out = gql.encode("mutation($n: Int!) { publish(n: $n) { n } }", {"n": 2})
    assert orjson.loads(out.data) == message == {
        "id": "2", "type": "subscribe",
        "payload": {"query": "mutation($n: Int!) { publish(n: $n) { n } }", "variables": {"n": 2}}}
    assert orjson.loads(gql.encode("{ hello }", None)[1].data)["id"] == "3"
    assert orjson.loads(gql.subscription("subscription { b }", None).data)["id"] == "4"
    raw = {"id": "x", "type": "subscribe", "payload": {"query": "{ hello }"}}
    assert gql.encode(raw)[1].data == orjson.dumps(raw)
    with pytest.raises(TypeError, match="variables as a dict"):
        gql.encode("{ hello }", [1, 2])
    with pytest.raises(ValueError, match="non-empty string"):
        gql.encode("", {})


@pytest.mark.parametrize("data", [
    b"not json", b"[1, 2]", b'"text"', b'{"no": "type"}', b'{"type": "bogus"}',
    b'{"type": "next", "payload": {"data": {"a": 1}}}', b'{"id": "1", "type": "next"}',
    b'{"id": "1", "type": "next", "payload": {"data": [1]}}', b'{"type": "error", "payload": []}',
    b'{"type": "complete"}', b'{"type": 7}', b"\xff\xfe",
])
def test_malformed_frames_are_decode_errors_never_exceptions(data: bytes) -> None:
    gql, host, seen = bound(GraphQLWS("subscription { a }"))
    assert gql.receive(data) == 0
    assert gql.decode_errors == 1 and len(host.errors) == 1 and host.errors[0].startswith(
        "graphql-transport-ws: ")
    assert not seen and not host.failures


@pytest.mark.parametrize(("code", "words", "terminal"), [
    (4400, "bad request", True), (4401, "unauthorized", True), (4403, "credentials", True),
    (4409, "subscriber already exists", True), (4429, "too many initialisation", True),
    (4500, "internal server error", True), (4408, "initialisation timeout", False),
])
def test_close_codes_are_explained(code: int, words: str, terminal: bool) -> None:
    gql = GraphQLWS("subscription { a }")
    error = gql.closed(LinkError(f"connection closed: code {code} (Reason)", close_code=code,
                                 terminal=True))
    assert error.message.startswith(f"connection closed: code {code} (Reason): ")
    assert words in error.message and str(error) == error.message
    assert error.terminal is terminal


def test_other_closes_are_left_as_they_are() -> None:
    error = LinkError("connection closed: code 1006", close_code=1006)
    assert GraphQLWS("subscription { a }").closed(error) is error
    assert error.message == "connection closed: code 1006" and not error.terminal


def test_bad_arguments_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match="GraphQL document"):
        GraphQLWS("  ")
    with pytest.raises(TypeError, match="variables must be a dict"):
        GraphQLWS("subscription { a }", variables=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="connection_params must be a dict"):
        GraphQLWS("subscription { a }", connection_params="token")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON-serialisable"):
        GraphQLWS("subscription { a }", connection_params={"token": object()})


def test_sends_from_several_threads_never_share_an_operation_id() -> None:
    import threading

    gql = GraphQLWS("subscription { a }")
    ids: list[str] = []
    lock = threading.Lock()

    def send_many() -> None:
        mine = [gql.encode("{ hello }", None)[0]["id"] for _ in range(2000)]
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=send_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == len(ids) == 8000 and "1" not in ids
