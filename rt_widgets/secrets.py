"""Credentials: finding them in URLs and headers, and masking them in every text that leaves a
connection (``display_url``, ``last_error``, log lines, widget traits and messages).

One ``Secrets`` per connection knows that connection's secret strings: it is fed by the URL (user
name, password, their percent-encoded and decoded forms, the HTTP Basic form websockets sends,
secret-looking query values, the fragment) and by header values, a callable's result included, as
they are resolved on each attempt. ``scrub(text)`` masks each of them, and also masks by position what
it has never been told: the userinfo, secret-looking query values and fragment of any URL in the text,
and header lines such as ``Authorization: ...``.

>>> secrets = Secrets("wss://bob:hunter22@example.com/ws?token=abc123&room=1")
>>> secrets.add_headers({"Authorization": "Bearer eyJ0eXAi.payload"})
>>> secrets.scrub("refused wss://bob:hunter22@example.com/ws?token=abc123&room=1 with eyJ0eXAi.payload")
'refused wss://***@example.com/ws?token=***&room=1 with ***'
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import unquote, unquote_plus, urlsplit

__all__ = ["RedactingLogger", "Scrubber", "Secrets", "redact_url", "secrets_of"]

T = TypeVar("T")

MASK = "***"

# The one word list. A name (query parameter, header, fragment parameter) is secret-looking when it
# contains one of these words anywhere: "access_token", "X-Amz-Signature", "apiKey", "client_secret",
# "KC-API-PASSPHRASE". Over-matching a name only hides a value that was harmless to show.
_SECRET_WORDS = ("token", "key", "secret", "pass", "pwd", "auth", "sig", "credential", "session",
                 "jwt", "bearer", "code", "cookie", "private")

# Header values that identify software or negotiate the protocol, never a credential.
_PUBLIC_HEADERS = frozenset({
    "host", "origin", "user-agent", "accept", "accept-encoding", "accept-language", "content-type",
    "cache-control", "pragma", "connection", "upgrade", "sec-websocket-protocol",
    "sec-websocket-version", "sec-websocket-extensions",
})

# The scheme word of an Authorization value is no secret: "send a Bearer token" stays readable.
_AUTH_SCHEMES = frozenset({"basic", "bearer", "token", "digest", "negotiate", "hmac", "apikey", "jwt"})

# Values shorter than this are masked only where their place shows they are secret (a URL's
# userinfo or query, a header line): masking every "bob" or "abc" in a text would garble it.
MIN_FREE_TEXT = 4
# Values shorter than this are masked only as whole words, so a user name "admin" does not turn
# "administrator" into "***istrator"; longer ones (tokens) are masked wherever they appear.
MIN_SUBSTRING = 8
# Header values change on every attempt when a callable refreshes a token: keep the latest ones.
MAX_HEADER_VALUES = 64

# A URL in a text ends before a space, a quote or trailing punctuation ("... at ws://h/ws: refused").
_URL_IN_TEXT = re.compile(r"(?i)(?<![\w+.-])(?:wss?|https?)://[^\s\"'<>`]*[^\s\"'<>`.,:;!?)\]]")
# "?name=value" and "&name=value" in a text that is not a whole URL ("GET /ws?token=... HTTP/1.1").
_QUERY_PAIR_IN_TEXT = re.compile(r"([?&;])([^\s=&;#?\"'<>]+)=([^\s&;#\"'<>]+)")
# A header line, as websockets logs one ("> Authorization: Basic ...") or as it is quoted in a text.
_HEADER_LINE = re.compile(r"(?m)^([ \t]*[<>]?[ \t]*)([A-Za-z][A-Za-z0-9_-]*)([ \t]*:[ \t]*)(\S[^\r\n]*)$")
# Credential headers quoted anywhere in a line: the rest of the line is the value.
_CREDENTIAL_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|set-cookie|cookie|x-api-key|api-key|x-auth-token)"
    r"([ \t]*:[ \t]*)(\S[^\r\n]*)"
)


def is_secret_name(name: str) -> bool:
    """Whether a query parameter or header called ``name`` holds a credential.

    >>> is_secret_name("access_token"), is_secret_name("X-Amz-Signature"), is_secret_name("room")
    (True, True, False)
    """
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _mask_pairs(text: str) -> str:
    """``name=value`` pairs with secret-looking names get ``***`` for a value; the rest is kept
    exactly as written (no re-encoding)."""
    pieces = text.split("&")
    for i, piece in enumerate(pieces):
        name, eq, value = piece.partition("=")
        if eq and value and is_secret_name(unquote_plus(name)):
            pieces[i] = f"{name}={MASK}"
    return "&".join(pieces)


def _split_url(url: str) -> tuple[str, str, str, str | None, str | None]:
    """(scheme with its ``://``, authority, path, query, fragment), split as urllib splits (the
    authority ends at the first ``/``, ``?`` or ``#``); a missing query or fragment is ``None``
    (an empty one is ``""``); nothing is decoded."""
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    else:
        head += sep
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    authority, tail = rest[:end], rest[end:]
    tail, hash_, fragment = tail.partition("#")
    path, mark, query = tail.partition("?")
    return head, authority, path, query if mark else None, fragment if hash_ else None


def redact_url(url: str) -> str:
    """The URL with credentials masked: the userinfo (a user name alone too), secret-looking query
    values and the fragment become ``***``. Everything else is kept as written. Never raises.

    >>> redact_url("wss://bob:pw@example.com/ws?token=abc&room=1")
    'wss://***@example.com/ws?token=***&room=1'
    >>> redact_url("ws://TOKEN123@example.com/feed#access_token=xyz")
    'ws://***@example.com/feed#***'
    """
    try:
        head, authority, path, query, fragment = _split_url(str(url))
        if "@" in authority:
            authority = f"{MASK}@{authority.rpartition('@')[2]}"
        out = head + authority + path
        if query is not None:
            out += "?" + _mask_pairs(query)
        if fragment is not None:
            out += f"#{MASK}" if fragment else "#"
        return out
    except Exception:  # it runs while reporting other failures: it must not add one
        return "<url not shown>"


def _decoded_forms(value: str) -> set[str]:
    forms = {value}
    try:
        forms.add(unquote(value, errors="strict"))
        forms.add(unquote_plus(value, errors="strict"))
    except UnicodeDecodeError:
        pass
    return forms


def _url_secrets(url: str) -> set[str]:
    found: set[str] = set()
    _, authority, _, query, fragment = _split_url(url)
    if "@" in authority:
        userinfo = authority.rpartition("@")[0]
        found.add(userinfo)
        user, colon, password = userinfo.partition(":")
        users, passwords = _decoded_forms(user), _decoded_forms(password)
        found |= users
        if colon:
            found |= passwords
        # websockets sends the userinfo as "Authorization: Basic base64(user:password)", decoded.
        for u in users:
            for p in passwords:
                for pair in (f"{u}:{p}", userinfo):
                    found.add(base64.b64encode(pair.encode("utf-8", "surrogatepass")).decode())
    # Also what urllib reads (websockets uses it): it agrees with the split above on any URL that
    # websockets accepts, and on others it is what an error text may quote.
    try:
        parts = urlsplit(url)
        for value in (parts.username, parts.password):
            if value:
                found |= _decoded_forms(value)
    except ValueError:
        pass
    for text in (query or "", fragment or ""):
        for piece in re.split(r"[&;]", text):
            name, eq, value = piece.partition("=")
            if eq and value and is_secret_name(unquote_plus(name)):
                found |= _decoded_forms(value)
    if fragment:
        # A fragment is never sent; one in a WebSocket URL is most often a pasted token.
        found |= _decoded_forms(fragment)
    return {s for s in found if s}


def _header_items(headers: Any) -> Iterable[tuple[Any, Any]]:
    if headers is None:
        return ()
    if hasattr(headers, "raw_items"):  # websockets' Headers: a name may hold several values
        return cast(Iterable[tuple[Any, Any]], headers.raw_items())
    if isinstance(headers, Mapping):
        return headers.items()
    try:
        return [(name, value) for name, value in headers]
    except (TypeError, ValueError):
        return ()


def _header_secrets(headers: Any) -> list[str]:
    found: list[str] = []
    for name, raw in _header_items(headers):
        if str(name).strip().lower() in _PUBLIC_HEADERS or raw is None:
            continue
        value = raw.decode("latin-1") if isinstance(raw, bytes | bytearray) else str(raw)
        value = value.strip()
        if not value:
            continue
        found.append(value)
        # "Bearer abc", "Basic abc", "a=1; session=abc": the token alone may be quoted too.
        for part in re.split(r"[\s,;]+", value):
            key, eq, rest = part.partition("=")
            candidate = rest.strip("\"'") if eq and key and rest else part
            if candidate and candidate.lower() not in _AUTH_SCHEMES:
                found.append(candidate)
    return found


_Matcher = tuple[str, re.Pattern[str] | None]


def _matchers(values: Iterable[str]) -> tuple[_Matcher, ...]:
    """How to find each value: plain search for long ones, whole words only for short ones."""
    return tuple(
        (v, None if len(v) >= MIN_SUBSTRING
         else re.compile(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])"))
        for v in values
        if len(v) >= MIN_FREE_TEXT
    )


def _mask_known(text: str, matchers: tuple[_Matcher, ...]) -> str:
    """``text`` with every occurrence of every value masked. The spans are merged before masking,
    so two secrets that overlap in the text are both hidden whole."""
    spans: list[tuple[int, int]] = []
    for value, pattern in matchers:
        if pattern is None:
            at = text.find(value)
            while at != -1:
                spans.append((at, at + len(value)))
                at = text.find(value, at + 1)
        else:
            spans.extend(m.span() for m in pattern.finditer(text))
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    kept = 0  # text before this index is already in out
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += (text[kept:start], MASK)
        kept, (start, end) = end, (s, e)
    out += (text[kept:start], MASK, text[end:])
    return "".join(out)


def _mask_header_line(match: re.Match[str]) -> str:
    name = match.group(2)
    # Only what reads as a header: a line websockets logs ("> X-Token: ...") or a name in header
    # style ("X-Api-Key"); "KeyError: 'x'" in a traceback is no header.
    looks_like_header = "<" in match.group(1) or ">" in match.group(1) or "-" in name
    if not (looks_like_header and is_secret_name(name)):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{match.group(3)}{MASK}"


def _mask_query_pair(match: re.Match[str]) -> str:
    if not is_secret_name(unquote_plus(match.group(2))):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}={MASK}"


class Secrets:
    """The secret strings of one connection, and the masking of them in any text.

    Fed on construction by the URL (or several, for failover) and the headers, and on each attempt
    by ``add_headers`` with the headers as resolved for it (a callable's fresh token). Written by the
    I/O thread, read from any thread: every update swaps in a new immutable snapshot, so a reader
    never sees half of one.

    >>> s = Secrets("ws://alice@example.com/ws?api_key=k-123456")
    >>> s.scrub("alice could not connect: api_key k-123456 rejected")
    '*** could not connect: api_key *** rejected'
    >>> s.scrub_obj({"errors": ["ws://alice@example.com/ws?api_key=k-123456"], "n": 1})
    {'errors': ['ws://***@example.com/ws?api_key=***'], 'n': 1}
    """

    def __init__(self, url: str | Iterable[str] | None = None, headers: Any = None) -> None:
        self._lock = threading.Lock()
        self._from_urls: dict[str, None] = {}
        self._from_headers: dict[str, None] = {}  # insertion order: the most recent last
        self._snapshot: tuple[tuple[str, ...], tuple[_Matcher, ...]] = ((), ())
        for one in [url] if isinstance(url, str) else (url or ()):
            self.add_url(one)
        if headers is not None and not callable(headers):
            self.add_headers(headers)

    def add_url(self, url: str) -> None:
        """Learn the credentials in ``url``: its userinfo, secret-looking query values, fragment."""
        try:
            found = _url_secrets(str(url))
        except Exception:  # a URL too broken to read holds nothing more than redact_url masks
            return
        with self._lock:
            self._from_urls.update(dict.fromkeys(sorted(found)))
            self._rebuild()

    def add_headers(self, headers: Any) -> None:
        """Learn the header values of an attempt: a mapping, ``(name, value)`` pairs or websockets
        ``Headers`` (a callable's result, not the callable). Values of ``Host``, ``Origin``,
        ``User-Agent`` and the like are not secrets; every other value is."""
        found = _header_secrets(headers)
        if not found:
            return
        with self._lock:
            for value in found:
                self._from_headers.pop(value, None)
                self._from_headers[value] = None
            while len(self._from_headers) > MAX_HEADER_VALUES:
                del self._from_headers[next(iter(self._from_headers))]
            self._rebuild()

    def add(self, *values: str) -> None:
        """Learn secret strings that came from elsewhere (an adapter's auth payload)."""
        found = [str(v) for v in values if v]
        with self._lock:
            self._from_urls.update(dict.fromkeys(found))
            self._rebuild()

    def _rebuild(self) -> None:
        values = {*self._from_urls, *self._from_headers}
        ordered = tuple(sorted(values, key=lambda v: (-len(v), v)))
        self._snapshot = (ordered, _matchers(ordered))

    @property
    def values(self) -> tuple[str, ...]:
        """Every known secret string, longest first."""
        return self._snapshot[0]

    def __len__(self) -> int:
        return len(self._snapshot[0])

    def __repr__(self) -> str:  # never the values themselves
        return f"<Secrets: {len(self)} known>"

    def scrub(self, text: str) -> str:
        """``text`` with every known secret, URL credential and credential header value masked.

        >>> Secrets().scrub("Authorization: Bearer abc and wss://u:p@h/ws?token=t&x=1")
        'Authorization: ***'
        >>> Secrets().scrub("dial wss://u:p@h/ws?token=t&x=1 failed")
        'dial wss://***@h/ws?token=***&x=1 failed'
        """
        if not isinstance(text, str):
            text = str(text)
        # Known values first: masking by position could cut one in two and leave a part.
        text = _mask_known(text, self._snapshot[1])
        if "://" in text:
            text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
        if "=" in text:
            text = _QUERY_PAIR_IN_TEXT.sub(_mask_query_pair, text)
        if ":" in text:
            text = _HEADER_LINE.sub(_mask_header_line, text)
            text = _CREDENTIAL_HEADER.sub(rf"\1\2{MASK}", text)
        return text

    __call__ = scrub

    def scrub_obj(self, value: T) -> T:
        """``value`` with every string in it scrubbed, through nested dicts, lists and tuples (keys
        included); other values are returned as they are."""
        return cast(T, self._scrub_any(value))

    def _scrub_any(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {
                (self.scrub(k) if isinstance(k, str) else k): self._scrub_any(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._scrub_any(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._scrub_any(v) for v in value)
        return value

    def leaks(self, text: str) -> list[str]:
        """The known secrets (of masking length) that appear in ``text``: for checks and tests."""
        return [v for v in self.values if len(v) >= MIN_FREE_TEXT and v in text]


def secrets_of(url: str, headers: Mapping[str, str] | None) -> tuple[str, ...]:
    """The secret strings of ``url`` and ``headers``, longest first (prefer ``Secrets``)."""
    return Secrets(url, headers).values


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger whose every line, a traceback included, is scrubbed by ``secrets`` before it is
    logged. Given to websockets, which logs handshake requests and headers at DEBUG."""

    def __init__(self, logger: logging.Logger, secrets: Secrets | None = None) -> None:
        super().__init__(logger, {})
        self._secrets = secrets if secrets is not None else Secrets()

    @property
    def secrets(self) -> Secrets:
        return self._secrets

    @secrets.setter
    def secrets(self, value: Secrets | Iterable[str]) -> None:
        # A plain sequence of strings (what ``secrets_of`` returns) is also accepted.
        if isinstance(value, Secrets):
            self._secrets = value
        else:
            fresh = Secrets()
            fresh.add(*value)
            self._secrets = fresh

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *args))
        text = self.secrets.scrub(text)
        exc_info = kwargs.get("exc_info")
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            if exc_info[0] is not None:
                rendered = "".join(traceback.format_exception(*exc_info)).rstrip()
                scrubbed = self.secrets.scrub(rendered)
                if scrubbed != rendered:
                    # The traceback quotes a secret: log its masked text instead of the exception.
                    kwargs["exc_info"] = None
                    text = f"{text}\n{scrubbed}"
        self.logger.log(level, "%s", text, **kwargs)


class Scrubber:
    """Masks a connection's secrets in text that may reach a trait, a message or a notification.

    ``Scrubber(conn.secrets)`` shares the connection's ``Secrets`` (so it knows a callable's header
    values as they are resolved); ``Scrubber(url, display_url, headers)`` builds its own.
    """

    def __init__(self, source: Secrets | str, display_url: str = "", headers: Any = None) -> None:
        self.secrets = source if isinstance(source, Secrets) else Secrets(source, headers)

    def __call__(self, text: str) -> str:
        return self.secrets.scrub(text)

    def scrub_obj(self, value: T) -> T:
        return self.secrets.scrub_obj(value)
