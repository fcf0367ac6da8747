"""Why an attempt failed or a link dropped: ``LinkError`` and the rules that classify failures."""

from __future__ import annotations

import email.utils
import ssl as ssl_module
import time

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

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


def classify_open_error(exc: BaseException, open_timeout: float) -> LinkError:
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        retry_after = None
        if status in _RETRY_AFTER_STATUSES:
            retry_after = _parse_retry_after(exc.response.headers.get("Retry-After"))
        return LinkError(
            f"handshake rejected: HTTP {status}",
            status=status,
            terminal=status in _TERMINAL_STATUSES,
            retry_after=retry_after,
        )
    if isinstance(exc, ssl_module.SSLCertVerificationError):
        # Not a passing fault: retrying cannot make an untrusted certificate trusted.
        return LinkError(
            f"TLS certificate verification failed: {exc.verify_message or exc}; pass ssl= an "
            "SSLContext that trusts the server's certificate",
            terminal=True,
        )
    if isinstance(exc, TimeoutError):
        return LinkError(f"opening handshake timed out after {open_timeout} s")
    if isinstance(exc, InvalidURI):
        return LinkError(f"invalid WebSocket URL: {exc}", terminal=True)
    if isinstance(exc, OSError):
        return LinkError(f"connection failed: {exc.strerror or exc}")
    if isinstance(exc, InvalidHandshake):
        return LinkError(f"handshake failed: {exc}")
    return LinkError(f"connection failed: {type(exc).__name__}: {exc}")


def close_error(exc: ConnectionClosed, max_size: int | None) -> tuple[LinkError, int, bool]:
    """(error, close code to report, whether it was an oversized frame)."""
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
    reason = f" ({frame.reason})" if frame is not None and frame.reason else ""
    terminal = exc.rcvd is not None and (code == 1008 or 4000 <= code <= 4999)
    error = LinkError(f"connection closed: code {code}{reason}", close_code=code, terminal=terminal)
    return error, code, False


