"""The widget layer's helpers: credential scrubbing and argument checks (the explorer's kind
inference and rate counting: tests/unit/test_explorer.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rt_widgets import Connection
from rt_widgets.secrets import Scrubber
from rt_widgets.widgets._base import check_fps, reject_unknown
from tests._servers import WsServer


def test_scrubber_masks_url_userinfo_query_tokens_and_header_values() -> None:
    url = "wss://bob:pa55word@example.com/ws?token=abc123xyz&room=7"
    scrub = Scrubber(url, "wss://***@example.com/ws?token=***&room=7",
                     {"Authorization": "Bearer eyJhbGciOi.secret", "X-Key": "k-777777"})
    text = scrub(f"failed to open {url}: Authorization: Bearer eyJhbGciOi.secret, key k-777777, "
                 "token abc123xyz, user bob pa55word")
    for secret in ("pa55word", "abc123xyz", "eyJhbGciOi.secret", "k-777777"):
        assert secret not in text
    assert "wss://***@example.com/ws?token=***&room=7" in text
    assert scrub("send a Bearer token") == "send a Bearer token"  # the scheme is no secret
    assert scrub.scrub_obj({"a": [url]}) == {"a": ["wss://***@example.com/ws?token=***&room=7"]}


def test_scrubber_of_a_connection_knows_its_callable_headers_as_resolved(
    ws_server: Callable[..., WsServer], make_conn: Callable[..., Connection]
) -> None:
    """What a widget does: ``Scrubber(conn.secrets)``. A callable's header values are known only
    once an attempt resolved them; the shared ``Secrets`` learns them then."""
    server = ws_server()
    token = "cb-token-4f9a1c77"
    conn = make_conn(server.url.replace("ws://", "ws://carol:pw-0c0ffee@") + "?token=q-5ec7e7",
                     headers=lambda: {"Authorization": f"Bearer {token}"})
    scrub = Scrubber(conn.secrets)
    assert scrub(token) == token, "not resolved yet: nothing to know"
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    text = scrub(f"server said: {token} for carol pw-0c0ffee q-5ec7e7 at {conn.url}")
    assert text == f"server said: *** for *** *** *** at {conn.display_url}"


def test_argument_checks_say_what_to_do() -> None:
    with pytest.raises(TypeError, match=r"W\(\) got unexpected keyword argument\(s\) 'x'; "
                                        r"accepted: a, b"):
        reject_unknown("W", {"x": 1, "a": 2}, {"a", "b"})
    reject_unknown("W", {"a": 1}, {"a"})
    for bad in (0, -1, True, "10", 5000):
        with pytest.raises(ValueError, match="fps must be a number > 0"):
            check_fps(bad)
    assert check_fps(30) == 30.0
