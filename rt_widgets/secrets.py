"""Credentials: finding them in URLs and headers, and masking them in every text that leaves a
connection (``display_url``, ``last_error``, log lines, widget traits and messages)."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["RedactingLogger", "Scrubber", "redact_url", "secrets_of"]


_SECRET_WORDS = ("token", "key", "secret", "password", "passwd", "auth", "signature", "sig",
                 "credential", "session", "jwt", "bearer", "code")


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_url(url: str) -> str:
    """The URL with credentials masked: userinfo and secret-looking query values become ``***``.

    >>> redact_url("wss://bob:pw@example.com/ws?token=abc&room=1")
    'wss://***@example.com/ws?token=***&room=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if _is_secret(k) else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websockets library logs handshake requests and headers at DEBUG; this adapter masks this
    connection's credentials (header values, URL userinfo and secret query values) in those lines."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self.secrets: tuple[str, ...] = ()

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _SECRET_HEADER_LINE.sub(r"\1: ***", text)
        self.logger.log(level, "%s", text, **kwargs)


_SECRET_HEADER_LINE = re.compile(
    r"(?im)((?:proxy-)?authorization|cookie|set-cookie|x-api-key|x-auth-token)\s*:.*$"
)


def secrets_of(url: str, headers: Mapping[str, str] | None) -> tuple[str, ...]:
    found: list[str] = []
    parts = urlsplit(url)
    if parts.password:
        found.append(parts.password)
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found.append(userinfo)
        # websockets turns userinfo into a Basic Authorization header.
        found.append(base64.b64encode(unquote(userinfo).encode()).decode())
    redacted_query = urlsplit(redact_url(url)).query
    if parts.query != redacted_query:
        for pair in parts.query.split("&"):
            name, _, value = pair.partition("=")
            if value and f"{name}=***" in redacted_query:
                found.append(value)
    for name, value in (headers or {}).items():
        if value and name.lower() not in ("origin", "user-agent", "host"):
            found.append(str(value))
            # Basic/Bearer values also appear without their scheme word.
            found.extend(part for part in str(value).split() if len(part) >= 6)
    return tuple(sorted(set(found), key=len, reverse=True))



class Scrubber:
    """Masks known secrets (header values, URL userinfo, token-like query values) in text that may
    reach a trait, a message or a notification: error texts can quote the URL or a header."""

    def __init__(self, url: str, display_url: str, headers: Any = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        if url and url != display_url:
            self._pairs.append((url, display_url))
        secrets: set[str] = set()
        try:
            parts = urlsplit(url)
            if parts.username:
                secrets.add(parts.username)
                secrets.add(unquote(parts.username))
            if parts.password:
                secrets.add(parts.password)
                secrets.add(unquote(parts.password))
            for name, value in parse_qsl(parts.query, keep_blank_values=True):
                if _is_secret(name) and value:
                    secrets.add(value)
        except ValueError:
            pass
        if isinstance(headers, Mapping):
            for value in headers.values():
                if isinstance(value, str):
                    secrets.add(value)
                    # "Bearer abc123": the token alone may be quoted too
                    secrets.update(part for part in value.split()[1:] if len(part) >= 6)
        self._secrets = sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for raw, safe in self._pairs:
            text = text.replace(raw, safe)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def scrub_obj(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.scrub_obj(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_obj(v) for v in value]
        return value
