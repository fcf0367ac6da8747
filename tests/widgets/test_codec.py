"""The delta codec: what ``rt_widgets.sync.encode_delta`` packs, ``decode_delta`` and the view's
``js/sync.ts`` (built with the project's esbuild, run by node) unpack into the same delta, value
for value; and what it saves on the wire."""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench._feed import message
from rt_widgets.sync import PACKED, decode_delta, encode_delta

ROOT = Path(__file__).resolve().parents[2]
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"

T0 = 1_764_640_000.0


def wire(content: dict[str, Any], buffers: list[bytes]) -> int:
    return len(orjson.dumps(content)) + sum(map(len, buffers))


def table_delta() -> dict[str, Any]:
    rows = [message(i)["payload"] for i in range(1200) if i % 4 != 3]
    odd = [{"id": "m-0001", "progress": 1.5, "rev": 7},
           {"id": "x", "neg0": -0.0, "none": None, "flag": True, "list": [1, 2.5], "big": 2**60,
            "mixed": 3, "__proto__": "field", "text": "é\u2028"},
           {"id": "y", "mixed": 3.5, "neg": -12.25, "tiny": 1e-9, "huge": 1e300}]
    return {"kind": "delta", "seq": 3, "upsert": rows + odd, "delete": ["m-0009"],
            "add_columns": ["x"]}


def metrics_delta() -> dict[str, Any]:
    ts = [round(T0 + i * 0.000731, 6) for i in range(250)]
    append = {"cpu": [[t, (i * 37 % 1000) / 10] for i, t in enumerate(ts)],
              "q": [[t, i % 97] for i, t in enumerate(ts)],
              "late": [[T0 - 5.0, 1.0], [T0 + 0.5, 2.0]],
              "wild": [[t, random.Random(i).uniform(-1e6, 1e6)] for i, t in enumerate(ts[:20])]}
    return {"kind": "delta", "seq": 2, "append": append,
            "latest": {"cpu": append["cpu"][-1][1], "q": 1.0, "late": 2.0,
                       "wild": append["wild"][-1][1]},
            "thresholds": {"cpu": {"above": 90.0}}}


def chart_delta() -> dict[str, Any]:
    ts = [round(T0 + i * 0.0011, 6) for i in range(300)]
    return {"kind": "delta", "seq": 9, "series": ["a", "b"], "dropped_points": 4,
            "append": [{"s": 0, "t": ts, "v": [(i * 53 % 1000) / 10 for i in range(300)]},
                       {"s": 1, "v": [float(i) for i in range(300)]},
                       {"s": 3, "v": [(i * 79_193 % 100_000) / 100 for i in range(300)]},
                       {"s": 2, "t": [T0 + 0.1], "v": [0.1 + 0.2]}]}


CASES = {"table": table_delta, "metrics": metrics_delta, "chart": chart_delta}


@pytest.mark.parametrize("view", sorted(CASES))
def test_packed_deltas_unpack_to_the_same_delta_and_weigh_less(view: str) -> None:
    delta = CASES[view]()
    content, buffers = encode_delta(view, delta)
    assert content["kind"] == PACKED
    got = decode_delta(json.loads(json.dumps(content)), buffers)
    assert got == delta
    # Types survive too: a table's ints stay ints, its floats floats.
    if view == "table":
        for a, b in zip(got["upsert"], delta["upsert"], strict=True):
            assert [type(v) for v in a.values()] == [type(v) for v in b.values()]
    assert wire(content, buffers) < 0.5 * len(orjson.dumps(delta)), (view, wire(content, buffers))
    if view == "chart":  # 0..1000.00 in hundredths: three bytes a value
        assert content["points"][2]["v"]["y"] == "u24"


def test_other_messages_and_deltas_without_rows_or_points_go_as_they_are() -> None:
    for view, delta in [("notifications", {"kind": "delta", "seq": 1, "add": []}),
                        ("table", {"kind": "delta", "seq": 2, "delete": [1]}),
                        ("metrics", {"kind": "delta", "seq": 3, "series": None})]:
        assert encode_delta(view, delta) == (delta, [])
        assert decode_delta(delta, []) == delta


def test_values_json_cannot_carry_stay_as_they_are() -> None:
    # A view fed from Python (``feed``) may hold NaN or an infinity anywhere in a column.
    values = [1.5] * 10 + [float("nan"), float("inf")]
    content, _ = encode_delta("table", {"kind": "delta", "seq": 1,
                                        "upsert": [{"id": i, "x": v} for i, v in enumerate(values)]})
    assert content["rows"][0]["c"][1] == {"j": values}


def test_a_float_that_no_small_integer_holds_exactly_stays_json() -> None:
    values = [0.1 + 0.2, 1 / 3, -0.0, 2.5]
    content, _ = encode_delta("chart", {"kind": "delta", "seq": 1,
                                        "append": [{"s": 0, "t": [1.0] * 4, "v": values}]})
    assert content["points"][0]["v"] == {"j": values}
    assert content["points"][0]["t"]["y"] in ("i8", "u8")  # the times: all equal, a byte each


@pytest.mark.parametrize(("ids", "numbered"), [
    (["a-01", "a-10", "a-100", "a-07"], True),
    (["7", "12", "3", "40"], True),
    (["a-\u0663", "a-1", "a-2", "a-3"], False),  # an Arabic-Indic digit
    (["a-+5", "a-1", "a-2", "a-3"], False),
    (["a-1", "b-2", "a-3", "a-4"], False),
    (["a-1_0", "a-1", "a-2", "a-3"], False),
])
def test_numbered_ids_travel_as_numbers_only_when_they_read_back_the_same(
        ids: list[str], numbered: bool) -> None:
    delta = {"kind": "delta", "seq": 1, "upsert": [{"id": i} for i in ids]}
    content, buffers = encode_delta("table", delta)
    assert ("p" in content["rows"][0]["c"][0]) is numbered
    assert decode_delta(content, buffers) == delta
    assert view_unpack([(content, buffers)]) == [delta]


def view_unpack(messages: list[tuple[dict[str, Any], list[bytes]]]) -> list[Any]:
    """js/sync.ts unpackDelta of each (message, buffers), the buffer handed over as a DataView; a
    message given as JSON text instead is what the view's JSON.parse makes of it."""
    node = shutil.which("node")
    assert node is not None and ESBUILD.exists(), "needs node and the project's node_modules"
    payload = json.dumps([[m, [base64.b64encode(b).decode() for b in bufs]]
                          for m, bufs in messages])
    footer = (
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = input.map(([m, bufs]) => typeof m === 'string' ? JSON.parse(m) :"
        " rtwSync.unpackDelta(m, bufs.map((b) => {"
        "  const bytes = Buffer.from(b, 'base64');"
        "  const copy = new Uint8Array(bytes.length + 3); copy.set(bytes, 3);"  # not aligned
        "  return new DataView(copy.buffer, 3, bytes.length); })));"
        "process.stdout.write(JSON.stringify(out));")
    bundle = subprocess.run(
        [str(ESBUILD), str(ROOT / "js" / "sync.ts"), "--bundle", "--format=iife",
         "--global-name=rtwSync", "--platform=node", "--log-level=error",
         f"--footer:js={footer}"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    script = ROOT / "node_modules" / ".rtw-codec-test.js"
    script.write_text(bundle)
    try:
        out = subprocess.run([node, str(script)], input=payload, capture_output=True, text=True,
                             timeout=60, check=True).stdout
    finally:
        script.unlink()
    result: list[Any] = json.loads(out)
    return result


def test_the_view_unpacks_what_the_kernel_packs() -> None:
    deltas = {view: make() for view, make in CASES.items()}
    packed = [encode_delta(view, delta) for view, delta in deltas.items()]
    # Against what the view made of the unpacked delta as JSON (-0 and 2**60 read as JS reads them).
    got = view_unpack([(json.loads(json.dumps(c)), b) for c, b in packed]
                      + [(json.dumps(d), []) for d in deltas.values()])
    for view, unpacked, want in zip(deltas, got, got[len(deltas):], strict=False):
        assert unpacked == want, view
    # A message whose buffer is missing or too short, or whose columns disagree, is refused.
    content, buffers = packed[0]
    short = [buffers[0][: len(buffers[0]) // 2]]
    bad_rows = dict(content, rows=[{"f": ["id", "x"], "c": [{"j": [1, 2]}, {"j": [1]}]}])
    bad_index = dict(content, rows=[{"f": ["s"], "c": [{"y": "u8", "at": 0, "n": 1, "o": 7,
                                                         "k": ["only"]}]}])
    del bad_index["order"]
    assert view_unpack([(content, []), (content, short), (bad_rows, buffers),
                        (bad_index, buffers)]) == [None, None, None, None]
