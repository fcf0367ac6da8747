"""Installing from a git checkout on a machine without npm: the build stops with a message that
names npm and how to install it, not a bare "Could not find cmd (npm)"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_packaging import project_copy


def test_a_build_without_npm_says_what_to_install(tmp_path: Path) -> None:
    src = project_copy(tmp_path / "src")
    # A git checkout: the front end is not built yet.
    (src / "rt_widgets" / "static" / "widget.js").unlink()
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(tmp_path / "out"), str(src)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": str(empty)},
    )
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "needs npm to build the widget front end" in text, text[-3000:]
    assert "Install Node.js 20 or newer, which includes npm" in text
    assert "Could not find cmd" not in text
