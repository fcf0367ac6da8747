"""Why an attempt failed or a link dropped: ``LinkError`` and the rules that classify failures."""

from __future__ import annotations

import email.utils
import socket
import ssl as ssl_module
import time

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
)

from .secrets import Secrets, redact_url

__all__ = ["LinkError", "classify_open_error", "close_error"]

_TERMINAL_STATUSES = frozenset({401, 403, 404})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


class LinkError(Exception):
    """Why an attempt failed or a link dropped; what ``should_reconnect(error)`` receives.

    ``status`` is the HTTP status of a rejected handshake, ``close_code`` the WebSocket close code, and
    ``terminal`` what the default rules decided (``True``: stop retrying).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        close_code: int | None = None,
        terminal: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.close_code = close_code
        self.terminal = terminal
        self.retry_after = retry_after


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# What an exception means when its own text is empty (asyncio raises a bare ConnectionResetError()
# when the peer hangs up during a TLS handshake).
_MEANINGS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "the server refused the connection: is anything listening on that port?"),
    (ConnectionResetError, "the server closed the connection abruptly"),
    (ConnectionAbortedError, "the connection was aborted"),
    (BrokenPipeError, "the server closed the connection while it was being written to"),
    (socket.gaierror, "the host name could not be resolved"),
    (ssl_module.SSLEOFError, "the server closed the connection during the TLS handshake"),
    (ssl_module.SSLCertVerificationError, "the server's certificate is not trusted"),
    (ssl_module.SSLError, "no reason given"),
    (EOFError, "the server closed the connection"),
    (TimeoutError, "timed out"),
)

# OpenSSL's words for "the peer does not speak TLS" (it answered a ClientHello with plain HTTP).
_NOT_TLS = ("wrong_version_number", "wrong version number", "record layer failure", "http request",
            "packet length too long", "unknown protocol")
_PLAIN_HINT = "(is it ws:// rather than wss://?)"


def _text_of(exc: BaseException) -> str:
    """A readable, never empty, description of ``exc``."""
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).strip()
    if any(c.isalnum() for c in text):  # str(ssl.SSLError()) is "()"
        return text
    name = type(exc).__name__
    for kind, meaning in _MEANINGS:
        if isinstance(exc, kind):
            return f"{meaning} ({name})"
    # A library's exception says in its docstring what it means; a builtin's docstring is generic.
    doc = (type(exc).__doc__ or "").strip().splitlines()
    if type(exc).__module__ != "builtins" and doc and doc[0].strip():
        return f"{name}: {doc[0].strip().rstrip('.').lower()}"
    return f"{name} (no details given)"


def _bare(exc: BaseException) -> bool:
    has_text = any(c.isalnum() for c in str(exc))
    return not has_text and not (isinstance(exc, OSError) and exc.errno)


def _scrubbed(error: LinkError, secrets: Secrets | None) -> LinkError:
    message = (secrets or _NO_SECRETS).scrub(error.message)
    error.message = message
    error.args = (message,)
    return error


_NO_SECRETS = Secrets()


def classify_open_error(
    exc: BaseException,
    open_timeout: float,
    *,
    secure: bool | None = None,
    secrets: Secrets | None = None,
) -> LinkError:
    """Why an attempt to open a link failed, and whether to retry (design.md, Semantics: Errors).

    ``secure`` says whether the URL was ``wss://`` (``None``: unknown); the message is scrubbed by
    ``secrets`` (any URL in it is redacted even without one) and is never empty.

    >>> classify_open_error(ConnectionResetError(), 10.0, secure=True).message
    'TLS handshake failed: the server closed the connection without answering TLS (is it ws:// rather than wss://?)'
    """
    return _scrubbed(_classify_open_error(exc, open_timeout, secure), secrets)


def _classify_open_error(exc: BaseException, open_timeout: float, secure: bool | None) -> LinkError:
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        retry_after = None
        if status in _RETRY_AFTER_STATUSES:
            retry_after = _parse_retry_after(exc.response.headers.get("Retry-After"))
        reason = (exc.response.reason_phrase or "").strip()
        text = f"handshake rejected: HTTP {status}" + (f" {reason}" if reason else "")
        body = bytes(exc.response.body or b"")[:500].decode("utf-8", "replace")
        if status == 400 and "protocol" in body.lower():
            # A subprotocol mismatch: retrying offers the same subprotocols again.
            return LinkError(
                f"{text}: the server does not accept the subprotocol offered ({body.strip()}); "
                "check subprotocols= or protocol=", status=status, terminal=True)
        return LinkError(
            text,
            status=status,
            terminal=status in _TERMINAL_STATUSES,
            retry_after=retry_after,
        )
    if isinstance(exc, NegotiationError) and "subprotocol" in str(exc).lower():
        return LinkError(
            f"handshake failed: {_text_of(exc)}: the server chose no subprotocol this connection "
            "offered; check subprotocols= or protocol=", terminal=True)
    if isinstance(exc, ssl_module.SSLCertVerificationError):
        # Not a passing fault: retrying cannot make an untrusted certificate trusted.
        return LinkError(
            f"TLS certificate verification failed: {exc.verify_message or _text_of(exc)}; pass ssl= an "
            "SSLContext that trusts the server's certificate",
            terminal=True,
        )
    if isinstance(exc, TimeoutError):
        return LinkError(f"opening handshake timed out after {open_timeout} s")
    if isinstance(exc, InvalidURI):
        # Its str() quotes the URL as given, credentials and all.
        return LinkError(
            f"invalid WebSocket URL {redact_url(exc.uri)}: {exc.msg or 'not a ws:// or wss:// URL'}",
            terminal=True,
        )
    if isinstance(exc, ssl_module.SSLError):
        text = _text_of(exc)
        not_tls = any(word in text.lower() for word in _NOT_TLS)
        hint = f" {_PLAIN_HINT}" if not_tls or (secure and isinstance(exc, ssl_module.SSLEOFError)) else ""
        return LinkError(f"TLS handshake failed: {text}{hint}")
    if secure and isinstance(exc, ConnectionResetError | EOFError) and _bare(exc):
        # asyncio's TLS layer raises a bare ConnectionResetError() when the peer hangs up during the
        # handshake: a plain WebSocket server does on reading a ClientHello.
        return LinkError(
            f"TLS handshake failed: the server closed the connection without answering TLS {_PLAIN_HINT}"
        )
    if isinstance(exc, OSError):
        return LinkError(f"connection failed: {_text_of(exc)}")
    if isinstance(exc, InvalidHandshake):
        text = _text_of(exc)
        if secure is False and isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
            # A TLS server hangs up on a plain HTTP request.
            text += " (the server closed the connection: is it wss:// rather than ws://?)"
        return LinkError(f"handshake failed: {text}")
    if _bare(exc):
        return LinkError(f"connection failed: {_text_of(exc)}")
    return LinkError(f"connection failed: {type(exc).__name__}: {_text_of(exc)}")


def close_error(
    exc: ConnectionClosed, max_size: int | None, *, secrets: Secrets | None = None
) -> tuple[LinkError, int, bool]:
    """(error, close code to report, whether it was an oversized frame). The close reason is the
    server's text: it is scrubbed by ``secrets`` like any message."""
    if exc.sent is not None and exc.sent.code == 1009:
        return (
            LinkError(
                f"frame larger than max_message_size={max_size} bytes: refused, closed with 1009",
                close_code=1009,
            ),
            1009,
            True,
        )
    frame = exc.rcvd or exc.sent
    code = frame.code if frame is not None else 1006
    reason = f" ({frame.reason})" if frame is not None and frame.reason.strip() else ""
    if not reason:
        meaning = _CLOSE_MEANINGS.get(code)
        reason = f" ({meaning})" if meaning else ""
    terminal = exc.rcvd is not None and (code == 1008 or 4000 <= code <= 4999)
    error = LinkError(f"connection closed: code {code}{reason}", close_code=code, terminal=terminal)
    return _scrubbed(error, secrets), code, False


# What a close code means when the server gave no reason.
_CLOSE_MEANINGS = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1006: "no close frame: the link was lost",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure",
}
