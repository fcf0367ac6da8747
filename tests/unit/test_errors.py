"""Classifying failures (no sockets): every error has a readable text that holds no credential, and
the retry rules of design.md (Semantics: Errors) are kept."""

from __future__ import annotations

import socket
import ssl

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
)
from websockets.frames import Close
from websockets.http11 import Response

from rt_widgets.errors import LinkError, classify_open_error, close_error
from rt_widgets.secrets import Secrets


def status(code: int, reason: str = "", **headers: str) -> InvalidStatus:
    return InvalidStatus(Response(code, reason, Headers(headers), b""))


def invalid_message() -> InvalidMessage:
    exc = InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = EOFError("connection closed while reading HTTP status line")
    return exc


def cert_error() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError()
    exc.verify_message = ""
    return exc


# Every kind of exception an attempt can end with, the bare ones (empty text) above all.
OPEN_FAILURES: list[BaseException] = [
    status(401), status(403, "Forbidden"), status(404), status(400), status(500), status(502, " "),
    status(429, "Too Many Requests", **{"Retry-After": "3"}), status(503, **{"Retry-After": "x"}),
    cert_error(), ssl.SSLError(), ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
    ssl.SSLEOFError(), TimeoutError(), InvalidURI("ws://alice@h/ws", ""),
    ConnectionResetError(), ConnectionRefusedError(), ConnectionRefusedError(111, "Connection refused"),
    ConnectionAbortedError(), BrokenPipeError(), OSError(), socket.gaierror(), EOFError(),
    InvalidHandshake(), InvalidMessage(""), invalid_message(), InvalidHeader("Upgrade"),
    NegotiationError(), RuntimeError(), Exception(), ValueError(" "),
]


@pytest.mark.parametrize("secure", [True, False, None], ids=["wss", "ws", "unknown"])
@pytest.mark.parametrize("exc", OPEN_FAILURES, ids=lambda e: f"{type(e).__name__}({e})")
def test_every_open_failure_has_a_readable_text(exc: BaseException, secure: bool | None) -> None:
    error = classify_open_error(exc, 10.0, secure=secure)
    text = error.message
    assert str(error) == text
    # Not "connection failed: " nor "TLS handshake failed: ()": something after every colon.
    for part in text.split(": "):
        assert sum(c.isalpha() for c in part) >= 3, f"bare error text {text!r} for {exc!r}"
    assert not text.rstrip().endswith(":"), text


@pytest.mark.parametrize(("exc", "terminal"), [
    (status(401), True), (status(403), True), (status(404), True),
    (status(500), False), (status(503), False), (status(429), False), (status(400), False),
    (cert_error(), True), (InvalidURI("ws://h#x", "fragment identifier is meaningless"), True),
    (ConnectionResetError(), False), (ssl.SSLError(), False), (TimeoutError(), False),
    (ConnectionRefusedError(111, "Connection refused"), False), (invalid_message(), False),
    (RuntimeError(), False),
])
def test_the_retry_rules_are_unchanged(exc: BaseException, terminal: bool) -> None:
    assert classify_open_error(exc, 10.0, secure=True).terminal is terminal


def test_status_and_retry_after() -> None:
    error = classify_open_error(status(429, "Too Many Requests", **{"Retry-After": "7"}), 1.0)
    assert (error.status, error.retry_after) == (429, 7.0)
    assert error.message == "handshake rejected: HTTP 429 Too Many Requests"
    assert classify_open_error(status(503), 1.0).message == "handshake rejected: HTTP 503"


def test_a_tls_handshake_with_a_plain_server_says_so() -> None:
    # What asyncio raises when the peer hangs up on a ClientHello: no errno, no text.
    error = classify_open_error(ConnectionResetError(), 10.0, secure=True)
    assert error.message.startswith("TLS handshake failed: ")
    assert "ws:// rather than wss://" in error.message
    error = classify_open_error(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), 10.0)
    assert error.message.startswith("TLS handshake failed: ") and "ws://" in error.message
    # A plain client to a TLS server: the hint points the other way.
    assert "wss:// rather than ws://" in classify_open_error(invalid_message(), 10.0, secure=False).message
    # A real reset (it has an errno) is no TLS matter.
    reset = ConnectionResetError(104, "Connection reset by peer")
    error = classify_open_error(reset, 10.0, secure=True)
    assert error.message == "connection failed: Connection reset by peer"


def test_an_invalid_url_is_named_without_its_credentials() -> None:
    url = "ws://alice-user-secret@example.com/ws?token=tok-query-secret#frag-secret"
    error = classify_open_error(InvalidURI(url, "username provided without password"), 10.0)
    assert error.message == (
        "invalid WebSocket URL ws://***@example.com/ws?token=***#***: username provided without password"
    )
    assert error.terminal


def test_texts_are_scrubbed_with_the_connections_secrets() -> None:
    secrets = Secrets("ws://example.com/ws")
    secrets.add_headers({"Authorization": "Bearer header-token-123"})
    error = classify_open_error(RuntimeError("server said header-token-123 is bad"), 10.0, secrets=secrets)
    assert "header-token-123" not in error.message and "header-token-123" not in str(error)
    exc = ConnectionClosed(Close(4001, "bad token header-token-123"), None)
    closed, code, oversized = close_error(exc, 1 << 20, secrets=secrets)
    assert closed.message == "connection closed: code 4001 (bad token ***)"
    assert (code, oversized, closed.terminal) == (4001, False, True)


@pytest.mark.parametrize(("rcvd", "sent", "code", "terminal", "text"), [
    (None, None, 1006, False, "connection closed: code 1006 (no close frame: the link was lost)"),
    (Close(1000, ""), None, 1000, False, "connection closed: code 1000 (normal closure)"),
    (Close(1001, "bye"), None, 1001, False, "connection closed: code 1001 (bye)"),
    (Close(1008, " "), None, 1008, True, "connection closed: code 1008 (policy violation)"),
    (Close(1011, ""), None, 1011, False, "connection closed: code 1011 (internal error)"),
    (Close(4000, ""), None, 4000, True, "connection closed: code 4000"),
    (Close(4999, "nope"), None, 4999, True, "connection closed: code 4999 (nope)"),
    (None, Close(1008, ""), 1008, False, "connection closed: code 1008 (policy violation)"),
    (Close(3000, ""), None, 3000, False, "connection closed: code 3000"),
])
def test_close_errors(rcvd: Close | None, sent: Close | None, code: int, terminal: bool, text: str) -> None:
    error, reported, oversized = close_error(ConnectionClosed(rcvd, sent), 1 << 20)
    assert (error.message, reported, error.terminal, oversized) == (text, code, terminal, False)
    assert error.close_code == code


def test_an_oversized_frame_names_the_limit() -> None:
    error, code, oversized = close_error(ConnectionClosed(None, Close(1009, "")), 1024)
    assert (code, oversized) == (1009, True)
    assert "max_message_size=1024" in error.message


def test_link_error_carries_its_fields() -> None:
    error = LinkError("x", status=503, retry_after=2.0)
    assert (error.message, error.status, error.close_code, error.terminal, error.retry_after) == (
        "x", 503, None, False, 2.0
    )
