"""The wire envelope: encoding, decoding every kind of bad frame, URL redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rt_widgets.protocol import Message, decode, encode, make_message
from rt_widgets.secrets import redact_url


def test_encode_round_trips_through_json() -> None:
    message = {"type": "subscribe", "payload": {"channel": "metrics", "n": [1, 2.5, None]}, "seq": 3}
    frame = encode(message)
    text = frame.decode() if isinstance(frame, bytes) else frame
    assert json.loads(text) == message


def test_make_message_stamps_an_iso8601_utc_timestamp() -> None:
    before = datetime.now(UTC)
    message = make_message("subscribe", {"channel": "x"})
    after = datetime.now(UTC)
    assert message["type"] == "subscribe"
    assert message["payload"] == {"channel": "x"}
    stamp = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert before.replace(microsecond=0) <= stamp <= after


def test_decode_one_message() -> None:
    good, errors = decode(
        '{"type": "tick", "payload": {"v": 1}, "timestamp": "2026-01-01T00:00:00Z", "seq": 7}'
    )
    assert errors == []
    assert good == [Message("tick", {"v": 1}, "2026-01-01T00:00:00Z", 7)]


def test_decode_fills_optional_fields_with_none() -> None:
    good, errors = decode('{"type": "tick"}')
    assert errors == []
    assert (good[0].type, good[0].payload, good[0].timestamp, good[0].seq) == ("tick", None, None, None)


def test_message_is_frozen() -> None:
    message = Message("a", 1, None, None)
    with pytest.raises(AttributeError):
        message.type = "b"  # type: ignore[misc]


def test_decode_a_batch_in_order() -> None:
    good, errors = decode(
        '[{"type": "a", "payload": 1}, {"type": "b", "payload": 2}, {"type": "a", "payload": 3}]'
    )
    assert errors == []
    assert [(m.type, m.payload) for m in good] == [("a", 1), ("b", 2), ("a", 3)]


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        '{"type": "a", ',
        "",
        "NaN",
        '{"type": "a", "payload": NaN}',
        '{"type": "a", "payload": Infinity}',
    ],
    ids=["garbage", "truncated", "empty", "nan", "nan-payload", "infinity-payload"],
)
def test_decode_invalid_json_is_one_error(frame: str) -> None:
    good, errors = decode(frame)
    assert good == []
    assert len(errors) == 1 and isinstance(errors[0], str) and errors[0]


@pytest.mark.parametrize("frame", ["42", '"text"', "null", "true", "3.5"])
def test_decode_json_that_is_not_an_object_or_array_is_one_error(frame: str) -> None:
    good, errors = decode(frame)
    assert good == [] and len(errors) == 1


@pytest.mark.parametrize(
    "frame",
    ['{"payload": 1}', '{"type": 5}', '{"type": null}', '{"type": ["a"]}', '{"type": {"a": 1}}'],
)
def test_decode_object_without_a_string_type_is_one_error(frame: str) -> None:
    good, errors = decode(frame)
    assert good == [] and len(errors) == 1
    assert "type" in errors[0]


def test_decode_batch_keeps_good_elements_and_reports_each_bad_one() -> None:
    frame = '[{"type": "a", "payload": 1}, 5, {"payload": 2}, {"type": "b"}, [1], {"type": 3}, "x"]'
    good, errors = decode(frame)
    assert [(m.type, m.payload) for m in good] == [("a", 1), ("b", None)]
    assert len(errors) == 5


def test_decode_binary_utf8_json_is_accepted() -> None:
    good, errors = decode('{"type": "ünï", "payload": "☃"}'.encode())
    assert errors == []
    assert [(m.type, m.payload) for m in good] == [("ünï", "☃")]


def test_decode_binary_that_is_not_utf8_is_one_error() -> None:
    good, errors = decode(b"\xff\xfe\x00{")
    assert good == [] and len(errors) == 1


def test_decode_never_raises_on_deep_nesting() -> None:
    deep = '{"type": "a", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}"
    good, errors = decode(deep)
    assert len(good) + len(errors) == 1


def test_decode_ignores_a_seq_that_is_not_an_integer() -> None:
    good, errors = decode('[{"type": "a", "seq": "7"}, {"type": "a", "seq": true}, {"type": "a", "seq": 2}]')
    assert errors == []
    assert [m.seq for m in good] == [None, None, 2]


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("wss://bob:hunter2@example.com/ws", "hunter2"),
        ("ws://host/ws?token=abc123&room=1", "abc123"),
        ("ws://host/ws?api_key=k-987&room=1", "k-987"),
        ("ws://host/ws?room=1&password=pw-555", "pw-555"),
        ("ws://host/ws?access_token=t-42", "t-42"),
        ("ws://host/ws?X-Amz-Signature=sig-77", "sig-77"),
        ("ws://host/ws?client_secret=cs-11", "cs-11"),
        ("ws://host/ws?auth=zz-99", "zz-99"),
        ("ws://alice-token@host/ws?room=1", "alice-token"),  # a user name alone
        ("ws://host/ws?room=1#tok-fragment", "tok-fragment"),
        ("ws://bob:pw%40x@host/ws?room=1", "pw%40x"),
    ],
)
def test_redact_url_hides_credentials_and_keeps_the_rest(url: str, secret: str) -> None:
    redacted = redact_url(url)
    assert secret not in redacted
    assert "***" in redacted
    assert redacted.split("://")[0] == url.split("://")[0]
    if "room=1" in url:
        assert "room=1" in redacted
    assert "/ws" in redacted


def test_redact_url_leaves_a_clean_url_alone() -> None:
    assert redact_url("ws://127.0.0.1:8765/ws?room=1") == "ws://127.0.0.1:8765/ws?room=1"
    # As written: no re-encoding of what it does not mask.
    assert redact_url("ws://h/ws?q=a%20b&x=y+z&flag") == "ws://h/ws?q=a%20b&x=y+z&flag"
