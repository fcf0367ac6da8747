"""The widget layer's pure helpers: kind inference, rate counting, credential scrubbing."""

from __future__ import annotations

from typing import Any

import pytest

from rt_widgets.secrets import Scrubber
from rt_widgets.widgets._base import check_fps, reject_unknown
from rt_widgets.widgets.realtime import _TypeStats, infer_kind


@pytest.mark.parametrize(("type", "payload", "kind"), [
    ("notification", "text", "notifications"),
    ("metrics_update", {"cpu": 1, "mem": 2.5}, "metrics"),
    ("metrics_update", {"cpu": 1, "ok": True}, "raw"),  # booleans are not metrics
    ("mission_update", {"id": 1, "progress": 0.5}, "table"),  # a key wins over numbers
    ("mission_update", [{"id": 1}, {"id": 2}], "table"),
    ("mission_update", [{"id": 1}, {"name": 2}], "raw"),
    ("log", "line", "raw"),
    ("log", {}, "raw"),
    ("log", [], "raw"),
    ("empty", None, None),  # undecided until a payload says more
])
def test_infer_kind(type: str, payload: Any, kind: str | None) -> None:
    assert infer_kind(type, payload) == kind


def test_type_stats_rate_window_and_per_second_history() -> None:
    stats = _TypeStats(100.0)
    for i in range(50):  # 50 messages over 0.5 s
        stats.hit(100.0 + i * 0.01)
    assert stats.count == 50
    assert stats.rate(100.5) == 50
    assert stats.rate(101.45) == 0  # (100.45, 101.45] holds none of them
    assert list(stats.seconds) == [50]
    assert stats.rate(104.0) == 0 and list(stats.seconds) == [50, 0, 0, 0]
    stats.advance(1000.0)
    assert len(stats.seconds) == 60 and stats.active(1000.0) is False
    stats.hit(1000.2)
    assert stats.active(1000.2) and stats.rate(1000.3) == 1


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


def test_argument_checks_say_what_to_do() -> None:
    with pytest.raises(TypeError, match=r"W\(\) got unexpected keyword argument\(s\) 'x'; "
                                        r"accepted: a, b"):
        reject_unknown("W", {"x": 1, "a": 2}, {"a", "b"})
    reject_unknown("W", {"a": 1}, {"a"})
    for bad in (0, -1, True, "10", 5000):
        with pytest.raises(ValueError, match="fps must be a number > 0"):
            check_fps(bad)
    assert check_fps(30) == 30.0
