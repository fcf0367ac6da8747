"""The secrets module on its own (no sockets): what it learns from URLs and headers, what ``scrub`` and
``redact_url`` mask, and what they must leave alone."""

from __future__ import annotations

import base64
import logging
import string
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.datastructures import Headers

from rt_widgets.secrets import (
    MASK,
    MAX_HEADER_VALUES,
    RedactingLogger,
    Scrubber,
    Secrets,
    is_secret_name,
    redact_url,
)

# --------------------------------------------------------------------------- generated URLs

SECRET_NAMES = ("token", "api_key", "access_token", "X-Amz-Signature", "client_secret", "password",
                "auth", "sessionid", "apiKey", "KC-API-PASSPHRASE")
PUBLIC_NAMES = ("room", "channel", "v", "format", "lang", "symbols")
PUBLIC = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
# Anything a user may put in a password: spaces, '@', ':', '/', '#', '%', non-ASCII, control chars.
RAW_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


def secret(i: int) -> st.SearchStrategy[str]:
    # A marker no public part can contain (those are lowercase), then any text at all.
    return RAW_TEXT.map(lambda tail: f"Sec{i}RetX{tail}")


@dataclass
class Url:
    text: str
    secrets: list[str]  # the decoded values
    encoded: list[str]  # as they are written in the URL
    public: list[str]  # parts that must stay visible, as written


@st.composite
def urls(draw: st.DrawFn) -> Url:
    scheme = draw(st.sampled_from(["ws", "wss", "http", "https", "WSS"]))
    host = draw(st.sampled_from(["127.0.0.1", "example.com", "[::1]", "feed.example.org"]))
    port = draw(st.none() | st.integers(1, 65535))
    path = "/" + "/".join(draw(st.lists(PUBLIC, max_size=3)))
    secrets: list[str] = []
    encoded: list[str] = []
    authority = host + (f":{port}" if port is not None else "")
    userinfo_kind = draw(st.sampled_from(["none", "user", "user:password", "user:"]))
    if userinfo_kind != "none":
        user = draw(secret(0))
        userinfo = quote(user, safe="")
        secrets.append(user)
        encoded.append(userinfo)
        if userinfo_kind == "user:password":
            password = draw(secret(1))
            userinfo += ":" + quote(password, safe="")
            secrets.append(password)
            encoded.append(quote(password, safe=""))
        elif userinfo_kind == "user:":
            userinfo += ":"
        authority = f"{userinfo}@{authority}"
    pairs: list[str] = []
    public = [authority.rpartition("@")[2], path] if path != "/" else [authority.rpartition("@")[2]]
    for i in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            name, value = draw(st.sampled_from(SECRET_NAMES)), draw(secret(2 + i))
            written = quote_plus(value)
            secrets.append(value)
            encoded.append(written)
            pairs.append(f"{name}={written}")
        else:
            pair = f"{draw(st.sampled_from(PUBLIC_NAMES))}={draw(PUBLIC)}"
            public.append(pair)
            pairs.append(pair)
    text = f"{scheme}://{authority}{path}"
    empty_query = draw(st.booleans())
    if pairs or empty_query:
        text += "?" + "&".join(pairs)
    if draw(st.booleans()):
        fragment = draw(secret(9))
        written = quote(fragment, safe="=&")
        secrets.append(fragment)
        encoded.append(written)
        text += "#" + written
    return Url(text, secrets, encoded, public)


@settings(max_examples=400, deadline=None)
@given(urls())
def test_redact_url_masks_every_credential_and_keeps_the_rest_as_written(url: Url) -> None:
    redacted = redact_url(url.text)
    for value in (*url.secrets, *url.encoded):
        assert value not in redacted, (url.text, redacted)
    for part in url.public:
        assert part in redacted, (url.text, redacted, part)
    assert redacted.split("://")[0] == url.text.split("://")[0]
    assert redact_url(redacted) == redacted, "masking twice changes nothing"


@settings(max_examples=400, deadline=None)
@given(urls())
def test_secrets_of_a_url_mask_it_in_any_text(url: Url) -> None:
    secrets = Secrets(url.text)
    users = [s for s in url.secrets if s.startswith("Sec0")]
    passwords = [s for s in url.secrets if s.startswith("Sec1")]
    basic = [base64.b64encode(f"{u}:{p}".encode()).decode() for u in users for p in passwords]
    # The URL itself, each value alone (in a sentence, in quotes, at the ends), the Basic form.
    text = " | ".join([
        f"failed to open {url.text}: refused",
        *(f"value {v} here" for v in url.secrets),
        *(f"'{v}'" for v in url.encoded),
        *basic,
        f"> Authorization: Basic {basic[0]}" if basic else "",
    ])
    scrubbed = secrets.scrub(text)
    for value in (*url.secrets, *url.encoded, *basic):
        assert value not in scrubbed, (url.text, value, scrubbed)
    assert "refused" in scrubbed and "failed to open" in scrubbed


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_nothing_raises_on_any_text(text: str) -> None:
    assert isinstance(redact_url(text), str)
    secrets = Secrets(text, {"X-Token": text})
    secrets.add_url(text)
    secrets.add_headers([(text, text)])
    assert isinstance(secrets.scrub(text), str)
    assert isinstance(Secrets().scrub(text), str)
    assert isinstance(redact_url(f"ws://{text}@{text}/?{text}#{text}"), str)


# --------------------------------------------------------------------------- redact_url by example


@pytest.mark.parametrize(("url", "expected"), [
    ("wss://bob:pw@example.com/ws?token=abc&room=1", "wss://***@example.com/ws?token=***&room=1"),
    ("ws://alice@example.com/ws", "ws://***@example.com/ws"),  # a user name alone is a credential
    ("ws://tok-123@example.com:8080", "ws://***@example.com:8080"),
    ("ws://:pw@example.com/", "ws://***@example.com/"),
    ("ws://example.com/ws#access_token=xyz", "ws://example.com/ws#***"),
    ("ws://example.com/ws#", "ws://example.com/ws#"),
    ("ws://a@b@example.com/ws", "ws://***@example.com/ws"),  # the last '@' ends the userinfo
    ("ws://example.com/ws?email=a@b.com&key=k", "ws://example.com/ws?email=a@b.com&key=***"),
    ("ws://example.com/ws?a=1%202&b=x+y&c", "ws://example.com/ws?a=1%202&b=x+y&c"),  # as written
    ("ws://example.com/ws?", "ws://example.com/ws?"),
    ("ws://example.com/ws?token=", "ws://example.com/ws?token="),  # nothing to hide
    ("ws://example.com/ws?access%5Ftoken=zz", "ws://example.com/ws?access%5Ftoken=***"),
    ("ws://[::1]:9/ws?sig=1", "ws://[::1]:9/ws?sig=***"),
    ("ws://[::1/ws?token=x", "ws://[::1/ws?token=***"),  # urllib would raise on this one
    ("user:pw@example.com/ws", "***@example.com/ws"),  # no scheme
    ("", ""),
])
def test_redact_url_examples(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_names_that_look_secret() -> None:
    for name in (*SECRET_NAMES, "Authorization", "Cookie", "X-MBX-APIKEY", "CB-ACCESS-SIGN", "code"):
        assert is_secret_name(name), name
    for name in (*PUBLIC_NAMES, "Host", "Origin", "User-Agent", "Upgrade", "Sec-WebSocket-Accept"):
        assert not is_secret_name(name), name


# --------------------------------------------------------------------------- headers


def test_header_values_are_learned_in_every_shape() -> None:
    secrets = Secrets()
    secrets.add_headers({"Authorization": "Bearer eyJ.abc-123", "User-Agent": "notebook/1.0"})
    secrets.add_headers([("X-Api-Key", "k-7777777"), ("Origin", "https://app.example.com")])
    several = Headers({"Cookie": "theme=dark; session=s-5555555"})
    several["X-Token"] = "first-token-1"
    several["X-Token"] = "second-token-2"  # one name, two values
    secrets.add_headers(several)
    assert secrets.scrub("first-token-1 second-token-2") == "*** ***"
    secrets.add_headers({"X-Raw": b"raw-bytes-token", "X-None": None, "X-Number": 123456789})
    secrets.add_headers(None)
    text = ("Bearer eyJ.abc-123 / eyJ.abc-123 / k-7777777 / s-5555555 / raw-bytes-token / 123456789 "
            "from notebook/1.0 at https://app.example.com")
    assert secrets.scrub(text) == "*** / *** / *** / *** / *** / *** from notebook/1.0 at " \
                                  "https://app.example.com"
    assert secrets.scrub("send a Bearer token") == "send a Bearer token", "the scheme is no secret"


def test_a_callable_is_not_called_and_its_results_are_added_per_attempt() -> None:
    calls: list[int] = []

    def headers() -> dict[str, str]:
        calls.append(1)
        return {"Authorization": f"Bearer refreshed-{len(calls)}-token"}

    secrets = Secrets("ws://example.com/ws", headers)
    assert calls == [] and len(secrets) == 0
    secrets.add_headers(headers())  # what the driver does on each attempt
    secrets.add_headers(headers())
    text = "refreshed-1-token then refreshed-2-token"
    assert secrets.scrub(text) == "*** then ***", "an earlier attempt's token stays masked"


def test_header_values_are_bounded_and_the_latest_are_kept() -> None:
    secrets = Secrets("ws://alice:pw-userinfo@example.com/ws")
    for n in range(10 * MAX_HEADER_VALUES):
        secrets.add_headers({"Authorization": f"Bearer token-number-{n:06d}"})
    assert len(secrets) <= MAX_HEADER_VALUES + 8
    last = f"token-number-{10 * MAX_HEADER_VALUES - 1:06d}"
    assert secrets.scrub(last) == MASK
    assert secrets.scrub("pw-userinfo") == MASK, "what the URL holds is never forgotten"


def test_header_lines_and_query_pairs_are_masked_by_position() -> None:
    scrub = Secrets().scrub  # knows nothing: only the place says what is secret
    assert scrub("> Authorization: Basic YWxpY2U6cHc=") == "> Authorization: ***"
    assert scrub("< Set-Cookie: sid=1; HttpOnly") == "< Set-Cookie: ***"
    assert scrub("X-Api-Key: abc") == "X-Api-Key: ***"
    assert scrub("failed: Authorization: Bearer abc, retrying") == "failed: Authorization: ***"
    assert scrub("> GET /ws?room=1&token=abc HTTP/1.1") == "> GET /ws?room=1&token=*** HTTP/1.1"
    assert scrub("> Host: 127.0.0.1:8765") == "> Host: 127.0.0.1:8765"
    assert scrub("> Upgrade: websocket") == "> Upgrade: websocket"


# --------------------------------------------------------------------------- what must stay readable

ORDINARY = [
    "connection closed: code 1006 (no close frame: the link was lost)",
    "handshake rejected: HTTP 401 Unauthorized",
    "heartbeat timeout: no frame within 5.0 s after a ping; the link is dead",
    "the administrator said: send a Bearer token to the bob channel",
    "frame larger than max_message_size=1048576 bytes: refused, closed with 1009",
    "key press: a; code path: encode/decode",
    "TLS handshake failed: the server closed the connection without answering TLS",
    "KeyError: 'harmless'",
    "Traceback (most recent call last):\nValueError: session expired",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_texts_are_left_alone(text: str) -> None:
    secrets = Secrets("ws://bob:admin@example.com/ws?token=abc&room=1",
                      {"Authorization": "Bearer eyJ.long-token-value"})
    assert secrets.scrub(text) == text


def test_short_values_are_masked_only_as_whole_words() -> None:
    secrets = Secrets("ws://bob:admin@example.com/ws?token=t0k3n")
    assert secrets.scrub("bob, the administrator, is admin; token t0k3n.") == \
        "bob, the administrator, is ***; token ***."
    # ...but in their own places they are masked whatever their length.
    assert secrets.scrub("ws://bob:admin@example.com/ws?token=t") == "ws://***@example.com/ws?token=***"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(" ".join(ORDINARY).split()), min_size=1, max_size=30), urls())
def test_text_made_of_ordinary_words_is_never_masked(words: list[str], url: Url) -> None:
    text = " ".join(words)
    assert Secrets(url.text).scrub(text) == text


# --------------------------------------------------------------------------- objects, threads, loggers


def test_scrub_obj_walks_nested_values_and_leaves_others_alone() -> None:
    secrets = Secrets("ws://alice:pw-secret-1@example.com/ws")
    value: dict[Any, Any] = {
        "error": "could not open ws://alice:pw-secret-1@example.com/ws",
        "nested": [{"why": ("pw-secret-1", 3)}, None, 2.5, True],
        "pw-secret-1": "a key that is a secret",
        7: b"pw-secret-1",  # bytes are no text: left as they are
    }
    before = repr(value)
    out = secrets.scrub_obj(value)
    assert out == {
        "error": "could not open ws://***@example.com/ws",
        "nested": [{"why": ("***", 3)}, None, 2.5, True],
        "***": "a key that is a secret",
        7: b"pw-secret-1",
    }
    assert repr(value) == before, "the input is not changed"


def test_repr_never_shows_a_value() -> None:
    secrets = Secrets("ws://alice:pw-secret-2@example.com/ws")
    assert "pw-secret-2" not in repr(secrets) and "alice" not in repr(secrets)


def test_readers_on_other_threads_see_whole_updates() -> None:
    secrets = Secrets("ws://alice:pw-never-forgotten@example.com/ws")
    stop = threading.Event()
    failures: list[BaseException] = []
    written = [0]

    def write() -> None:
        while not stop.is_set():
            secrets.add_headers({"Authorization": f"Bearer rotating-{written[0]:08d}"})
            written[0] += 1

    def read() -> None:
        try:
            while not stop.is_set():
                # Whatever update is under way, a reader sees a whole snapshot: never one without
                # the URL's secrets, never a failure.
                assert secrets.scrub("x pw-never-forgotten y") == "x *** y"
                assert len(secrets.values) == len(set(secrets.values))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline and not failures:
        stop.wait(0.01)
    stop.set()
    for thread in threads:
        thread.join(5)
    assert not failures, failures[0]
    assert written[0] > MAX_HEADER_VALUES, "the writer did run"
    assert secrets.scrub(f"rotating-{written[0] - 1:08d}") == MASK


def test_scrubber_wraps_a_shared_secrets_or_builds_its_own() -> None:
    shared = Secrets("ws://example.com/ws")
    scrub = Scrubber(shared)
    shared.add_headers({"Authorization": "Bearer later-token-1"})  # learned after the Scrubber
    assert scrub("later-token-1") == MASK
    own = Scrubber("ws://bob:pa55word@example.com/ws", "ws://***@example.com/ws", {"X-Key": "k-123456"})
    assert own("pa55word k-123456") == "*** ***"
    assert own.scrub_obj(["pa55word"]) == ["***"]


def test_the_logger_masks_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    secrets = Secrets("ws://alice:pw-secret-3@example.com/ws?token=tok-secret-3")
    log = RedactingLogger(logging.getLogger("tests.redacting"), secrets)
    caplog.set_level(logging.DEBUG, logger="tests.redacting")
    log.debug("> GET /ws?token=%s HTTP/1.1", "tok-secret-3")
    log.info("%s: %d attempts", "ws://alice:pw-secret-3@example.com/ws", 3)
    log.debug("bad format %s %s", "only one")  # a logging mistake is not a crash
    try:
        raise ValueError("auth failed with pw-secret-3")
    except ValueError:
        log.exception("callback failed")
    try:
        raise KeyError("harmless")
    except KeyError:
        log.exception("callback failed")
    texts = [r.getMessage() for r in caplog.records]
    formatted = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "pw-secret-3" not in formatted and "tok-secret-3" not in formatted
    assert texts[0] == "> GET /ws?token=*** HTTP/1.1"
    assert texts[1] == "ws://***@example.com/ws: 3 attempts"
    assert "auth failed with ***" in texts[3] and caplog.records[3].exc_info is None
    # A traceback with nothing to hide keeps its exception for the handlers.
    assert caplog.records[4].exc_info is not None and caplog.records[4].exc_info[0] is KeyError
    secrets.add("later-secret")
    log.warning("later-secret")
    assert caplog.records[-1].getMessage() == MASK
