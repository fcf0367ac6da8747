"""Process exit: the atexit hook closes every live widget and its connection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import atexit

    def report():
        # Registered before rt_widgets is imported, so it runs after rt_widgets' own hook.
        print("AFTER", w.closed, w.connection.state.value, flush=True)

    atexit.register(report)

    from rt_widgets import RealtimeWidget

    w = RealtimeWidget({url!r}, explore=False)
    w.table("row")
    w.connection.wait_for_state("connected", timeout=20)
    print("READY", flush=True)
""")


def test_atexit_closes_live_widgets_and_their_connections(ws_server: Any) -> None:
    server = ws_server()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(url=server.url)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["READY", "AFTER True closed"], result.stdout
    # The server saw the client leave.
    wait_until(lambda: server.closed_connections == 1 and server.open_connections == 0, 10)
