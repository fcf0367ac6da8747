"""Random hostile names through a real socket into the real views: the rows a table view holds are
the kernel's rows, whatever the names and values.

Names and values come from hypothesis, with the names that break code keying plain JavaScript
objects (``__proto__``, ``constructor``, ``toString``...), the empty string, very long and unicode
names and strings that look like other JSON values (``1``, ``1.5``, ``true``, ``null``). They are used
as message types, column names, key values and values. A real ``websockets`` server on 127.0.0.1
sends them to a ``RealtimeWidget`` with a ``LiveTable`` and a ``LiveMetrics``; every comm message
the widgets send is recorded (``CommSpy``) and fed to one long-lived Node process that renders the
real views in jsdom (``js/testing/view_host.ts``): the explorer (every tab opened), the table and the
metrics. Twice per example, after the deltas and after a snapshot the view asked for, the rows the
view holds (its ``TableData``, read in the view's order; the rows in its DOM, their keys and cell
texts, its row count, typing in its filter) must equal ``LiveTable.rows``, the metric cards
``LiveMetrics.latest``, and no view may throw.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comm
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from rt_widgets.widgets import LiveMetrics, LiveTable, RealtimeWidget
from tests._servers import ServerLoop, WsServer
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy, SpyComm

ROOT = Path(__file__).resolve().parents[2]
# The views under test: the repository's, or (to see this test fail) a changed copy of js/.
JS = Path(os.environ.get("RTW_VIEW_HOST_JS", ROOT / "js"))
EXAMPLES = int(os.environ.get("RTW_HOSTILE_EXAMPLES", "10"))
SENTINEL = "\x00the last row"
CHUNKS = 3
HOSTILE = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "isPrototypeOf",
           "__defineGetter__", "prototype", "", "1", "1.5", "-0", "true", "false", "null",
           "ünïcødé ✓", "名前", "🚀\u200d", "<b>x</b>", "a\x00b"]

names = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    # Very long: past what the views show whole (200 characters) and the overview names whole.
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(100, 1000)),
)
# The types a view is asked for ("*" is every type: no table or metrics of its own).
types = names.filter(lambda name: name not in ("", "*"))
# JSON numbers a browser reads back as the same value (integers past 2**53 are not).
numbers = st.one_of(st.integers(-(2**53) + 1, 2**53 - 1),
                    st.floats(allow_nan=False, allow_infinity=False))
keys = st.one_of(names, numbers, st.booleans(), st.none())
scalars = st.one_of(names, numbers, st.booleans(), st.none())
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(names, scalars, max_size=3))
upserts = st.tuples(st.just("upsert"), keys, st.dictionaries(names, values, max_size=4))
deletes = st.tuples(st.just("delete"), keys, st.just({}))
series = st.dictionaries(names, st.one_of(numbers, st.sampled_from(["1.5", "-2", "0"])),
                         min_size=1, max_size=4)
junk = st.tuples(types, values)


class ViewHost:
    """The Node process of js/testing/view_host.ts: one JSON command a line, one answer a line."""

    def __init__(self, bundle: Path) -> None:
        env = dict(os.environ, NODE_PATH=str(ROOT / "node_modules"), LC_ALL="en_US.UTF-8")
        self.proc = subprocess.Popen(
            ["node", str(bundle)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True, encoding="utf-8")
        self.answers: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.answers.put),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append),
                             daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        self.bytes_fed = 0
        self.sent = 0

    @staticmethod
    def _read(stream: Any, put: Callable[[str], None]) -> None:
        for line in stream:
            put(line)

    def request(self, command: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.sent += 1
        text = json.dumps({**command, "id": self.sent}, ensure_ascii=False) + "\n"
        self.bytes_fed += len(text)
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer: dict[str, Any] = json.loads(
                    self.answers.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"the view host did not answer {command['op']!r} within {timeout} s; its "
                    f"stderr: {''.join(self.stderr)[-2000:]}") from None
            if answer.get("id") == self.sent:  # an older one came after its caller gave up
                break
        assert answer.get("ok"), answer.get("error")
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def view_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewHost]:
    node, esbuild = shutil.which("node"), ROOT / "node_modules" / ".bin" / "esbuild"
    assert node is not None and esbuild.exists(), "node and the npm packages (npm ci) are needed"
    bundle = tmp_path_factory.mktemp("view_host") / "view_host.cjs"
    subprocess.run(
        [str(esbuild), str(JS / "testing" / "view_host.ts"), "--bundle", "--platform=node", "--format=cjs",
         "--target=node20", "--external:jsdom", "--loader:.css=empty", f"--outfile={bundle}",
         "--log-level=warning"], cwd=ROOT, check=True, timeout=120,
        env=dict(os.environ, NODE_PATH=str(ROOT / "node_modules")))
    host = ViewHost(bundle)
    host.request({"op": "reset"})
    yield host
    host.close()


@pytest.fixture(scope="module")
def spy() -> Iterator[CommSpy]:
    spy = CommSpy()

    def create_comm(*args: Any, **kwargs: Any) -> SpyComm:
        return SpyComm(spy, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(comm, "create_comm", create_comm)
        yield spy


@pytest.fixture(scope="module")
def feed_server(server_loop: ServerLoop) -> Iterator[WsServer]:
    server = WsServer(server_loop).start()
    yield server
    server.kill()


def as_read(value: Any) -> Any:
    """A JSON value as a browser reads it: every number a double (``1.0`` and ``1`` are one value,
    and ``2.9576567982651810e16`` comes back written ``29576567982651810``). ``-0.0`` is 0: the
    view holds -0, but JSON.stringify, which writes its answer, spells it ``0``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) or 0.0
    if isinstance(value, list):
        return [as_read(v) for v in value]
    if isinstance(value, dict):
        return {k: as_read(v) for k, v in value.items()}
    return value


def canon(value: Any) -> str:
    return json.dumps(as_read(value), sort_keys=True, ensure_ascii=False)


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload}, ensure_ascii=False)


def comm_messages(spy: CommSpy, start: int) -> list[dict[str, Any]]:
    """The comm messages since ``start`` as the view host takes them (module code left out)."""
    out = []
    for p in spy.messages()[start:]:
        data = p.data
        if p.msg_type == "comm_open":
            state = {k: v for k, v in data.get("state", {}).items() if k not in ("_esm", "_css")}
            data = {**data, "state": state}
        out.append({"comm_id": p.comm_id, "msg_type": p.msg_type, "data": data})
    return out


def holds_sentinel(spy: CommSpy, widget: Any, found: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether a delta, a snapshot or a ``_snapshot`` trait sent to ``widget`` satisfies ``found``."""
    if any(found(content) for _, content in spy.custom(widget)):
        return True
    return any(found(state["_snapshot"]) for _, state in spy.updates(widget) if "_snapshot" in state)


class Figures:
    def __init__(self) -> None:
        self.examples = self.rows = self.frames = self.comm_messages = self.deltas = 0
        self.series = self.tabs = self.last_rows = 0
        self.missing: set[str] = set()


def check(answer: dict[str, Any], table: LiveTable, metrics: LiveMetrics, rows: list[Any],
          columns: list[str], latest: dict[str, float], phase: str) -> None:
    assert answer["errors"] == [], f"{phase}: a view threw: {answer['errors'][:5]}"
    [held] = [t for id, t in answer["tables"].items() if id == table.model_id]
    assert held["dom"] == [], f"{phase}: the table's DOM disagrees with its data: {held['dom'][:5]}"
    assert held["filtered"] == [], f"{phase}: filtering: {held['filtered'][:5]}"
    assert held["sorted"] == [], f"{phase}: sorting: {held['sorted'][:5]}"
    assert held["columns"] == columns, f"{phase}: columns"
    view_rows = [canon(r) for r in held["rows"]]
    kernel_rows = [canon(r) for r in rows]
    differ = [(v, k) for v, k in zip(view_rows, kernel_rows, strict=False) if v != k]
    assert view_rows == kernel_rows, (
        f"{phase}: the view holds {len(view_rows)} rows, the kernel {len(kernel_rows)}; first "
        f"difference (view, kernel): {differ[:1]}")
    [shown] = [m for id, m in answer["metrics"].items() if id == metrics.model_id]
    view_latest = {name: value for name, value in shown["latest"]}
    assert set(view_latest) == set(latest), f"{phase}: metric series"
    for name, value in latest.items():
        assert math.isclose(view_latest[name], value, rel_tol=0, abs_tol=0), (phase, name)
    cards = {name for name, text in shown["cards"] if text}
    assert cards == set(latest), f"{phase}: metric cards {len(cards)} for {len(latest)} series"


# Every hostile name as a type, a column some rows lack, a key and a value, and the keys that
# collide when told apart by text or by Python equality (1, 1.5, true and their strings): run first.
EVERY_NAME: dict[str, Any] = {
    "table_type": "constructor", "key": "hasOwnProperty", "delete_type": "toString",
    "metrics_type": "valueOf",
    "ops": [
        *[("upsert", k, {name: name}) for k, name in zip(
            [1, "1", True, "true", 1.5, "1.5", None, "null", "", "__proto__", "constructor",
             "toString", "valueOf", "hasOwnProperty", "a" * 3000],
            ["constructor", "toString", "valueOf", "__proto__", "isPrototypeOf", "prototype",
             "__defineGetter__", "", "1", "1.5", "true", "null", "ünïcødé ✓", "名前", "b" * 3000],
            strict=True)],
        ("upsert", 1, {"__proto__": {"polluted": True}, "toString": None}),
        ("upsert", "1", {"valueOf": {"__proto__": 1, "constructor": [1, "1"]}}),
        ("delete", True, {}), ("delete", "null", {}), ("upsert", True, {"constructor": False}),
    ],
    "batched": False,
    "samples": [{"__proto__": 1, "constructor": 2.5, "toString": "1.5", "": -2, "1": 0}],
    "others": [("__proto__", {"id": 1, "constructor": "x"}), ("hasOwnProperty", "text"),
               ("null", [1, "1"]), ("1.5", {"__proto__": "x"})],
    "needle": "constructor",
}


def feed_frames(table_type: str, key: str, delete_type: str, metrics_type: str,
                ops: list[tuple[str, Any, dict[str, Any]]], batched: bool,
                samples: list[dict[str, Any]], others: list[tuple[str, Any]]) -> list[list[str]]:
    """The frames of one example in CHUNKS parts, each ending with a row of its own (a sentinel):
    the part is in the view once a delta holds that row, so the later parts update rows the view
    holds. Batched: the rows between two deletions go as one frame (a list payload)."""
    chunks: list[list[str]] = []
    for part in range(CHUNKS):
        frames: list[str] = []
        pending: list[dict[str, Any]] = []
        for op, k, fields in ops[part::CHUNKS]:
            if op == "delete" and pending:
                frames.append(frame(table_type, pending))
                pending = []
            if op == "delete":
                frames.append(frame(delete_type, {key: k}))
            elif batched:
                pending.append({**fields, key: k})
            else:
                frames.append(frame(table_type, {**fields, key: k}))
        if pending:
            frames.append(frame(table_type, pending))
        frames.extend(frame(metrics_type, sample) for sample in samples[part::CHUNKS])
        frames.extend(frame(t, p) for t, p in others[part::CHUNKS]
                      if t not in (table_type, delete_type, metrics_type))
        frames.append(frame(table_type, {key: f"{SENTINEL} {part}"}))
        chunks.append(frames)
    return chunks


def through_views(view_host: ViewHost, spy: CommSpy, server: WsServer, figures: Figures,
                  table_type: str, key: str, delete_type: str, metrics_type: str,
                  chunks: list[list[str]], needle: str) -> None:
    """Send ``chunks`` to a new RealtimeWidget with a table and metrics, feed what its widgets
    send to the views, and check them against the kernel after the deltas and after a snapshot."""
    with spy.lock:
        spy.published.clear()
    w = RealtimeWidget(server.url)
    try:
        table = w.table(table_type, key=key, delete_type=delete_type)
        metrics = w.metrics(metrics_type)
        spy.from_front_end(w, {"kind": "presence", "view": "view-host", "lease": 60})
        wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
        for part, frames in enumerate(chunks):
            server.send(*frames)
            last = f"{SENTINEL} {part}"
            wait_until(lambda: holds_sentinel(spy, table, lambda c: any(
                isinstance(r, dict) and r.get(key) == last  # noqa: B023 (waited on here)
                for r in c.get("upsert", []) + c.get("rows", []))), 20,
                message=lambda: str(w.connection.stats()))
        wait_until(lambda: holds_sentinel(spy, metrics, lambda c: SENTINEL in c.get(
            "latest", {})), 20)
        rows, columns, latest = table.rows, table.columns, metrics.latest
        fed = comm_messages(spy, 0)
        view_host.request({"op": "feed", "messages": fed})
        answer = view_host.request({"op": "collect", "filter": needle})
        check(answer, table, metrics, rows, columns, latest, "after the deltas")

        # The views ask for a snapshot: the state it resets them to is the kernel's too.
        start = len(spy.messages())
        spy.from_front_end(table, {"kind": "snapshot_request"})
        spy.from_front_end(metrics, {"kind": "snapshot_request"})
        wait_until(lambda: {p.comm_id for p in spy.messages()[start:]
                            if p.msg_type == "comm_msg"
                            and p.data.get("content", {}).get("kind") == "snapshot"}
                   >= {table.model_id, metrics.model_id}, 20)
        more = comm_messages(spy, start)
        view_host.request({"op": "feed", "messages": more})
        answer = view_host.request({"op": "collect", "filter": needle})
        check(answer, table, metrics, rows, columns, latest, "after a snapshot")

        figures.examples += 1
        figures.rows += len(rows)
        figures.frames += sum(map(len, chunks))
        figures.comm_messages += len(fed) + len(more)
        figures.deltas += len(spy.custom(table, "delta"))
        figures.series += len(latest)
        figures.tabs += sum(len(e["tabs"]) for e in answer["explorers"].values())
        figures.missing.update(answer["missing"])
        figures.last_rows = len(rows)
    finally:
        w.close()
        view_host.request({"op": "reset"})


def test_random_hostile_names_reach_real_views_with_the_kernels_rows(
    view_host: ViewHost, spy: CommSpy, feed_server: WsServer,
    record_property: Callable[[str, object], None],
) -> None:
    figures = Figures()
    started = time.monotonic()

    # No shrinking: each example costs a second or so, and the failing one is printed whole.
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @example(**EVERY_NAME)
    @given(table_type=types, key=names.filter(bool), delete_type=types, metrics_type=types,
           ops=st.lists(st.one_of(upserts, upserts, deletes), min_size=1, max_size=30),
           batched=st.booleans(), samples=st.lists(series, max_size=5),
           others=st.lists(junk, max_size=6), needle=names)
    def one(table_type: str, key: str, delete_type: str, metrics_type: str,
            ops: list[tuple[str, Any, dict[str, Any]]], batched: bool,
            samples: list[dict[str, Any]], others: list[tuple[str, Any]], needle: str) -> None:
        assume(len({table_type, delete_type, metrics_type}) == 3)
        assume(all(not (isinstance(k, str) and k.startswith(SENTINEL)) for _, k, _ in ops))
        chunks = feed_frames(table_type, key, delete_type, metrics_type, ops, batched, samples,
                             others)
        chunks[-1].append(frame(metrics_type, {SENTINEL: 1}))

        through_views(view_host, spy, feed_server, figures, table_type, key, delete_type,
                      metrics_type, chunks, needle)

    with warnings.catch_warnings():
        # A failing example holds long names: hypothesis would warn that printing it is long
        # (an error in this suite) instead of printing it.
        warnings.filterwarnings("ignore", message="Generating overly large repr")
        one()
    took = time.monotonic() - started
    print(f"\n{figures.examples} examples in {took:.1f} s: {figures.frames} frames, "
          f"{figures.comm_messages} comm messages ({view_host.bytes_fed / 1e6:.2f} MB) into the "
          f"views, {figures.deltas} table deltas; {figures.rows} rows and {figures.series} series "
          f"equal in kernel and view after the deltas and after a snapshot; {figures.tabs} "
          f"explorer tabs opened; 0 view errors"
          + (f"; jsdom lacks {sorted(figures.missing)}" if figures.missing else ""))
    record_property("examples", figures.examples)
    record_property("rows_compared", figures.rows)
    assert figures.examples >= EXAMPLES // 2


def test_keys_equal_as_text_or_in_python_are_rows_of_their_own_in_kernel_and_view(
    view_host: ViewHost, spy: CommSpy, feed_server: WsServer,
) -> None:
    keys = [1, "1", True, "true", 1.5, "1.5", None, "null", 0, False, "", "0"]
    ops = [("upsert", k, {"n": i}) for i, k in enumerate(keys)]
    # 1.0 is the JSON number 1 (one row, as in any JSON reader), a partial update merges.
    ops += [("upsert", 1.0, {"merged": True}), ("upsert", "1.5", {"toString": "x"})]
    chunks = feed_frames("mission_update", "id", "mission_removed", "metrics_update", ops,
                         False, [{"cpu": 1}], [])
    chunks[-1].append(frame("metrics_update", {SENTINEL: 1}))
    figures = Figures()
    through_views(view_host, spy, feed_server, figures, "mission_update", "id",
                  "mission_removed", "metrics_update", chunks, "1")
    print(f"\nkeys 1, \"1\", true, \"true\", 1.5, \"1.5\", null, \"null\", 0, false, \"\", \"0\": "
          f"{figures.last_rows - CHUNKS} rows in the kernel and the same rows in the view "
          f"(were merged: 1 with true in the kernel, 1.5 with \"1.5\" in the view)")
    assert figures.last_rows == len(keys) + CHUNKS  # and a sentinel row per part
