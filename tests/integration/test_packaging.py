"""The wheel, built from the project's files as `pip wheel` builds it: with the C speedups where the
compiler works, and a pure-Python wheel that still works where it does not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def project_copy(dest: Path) -> Path:
    """The tracked files (as a clean clone has them) plus the built front end."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                           timeout=60).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copytree(ROOT / "rt_widgets" / "static", dest / "rt_widgets" / "static")
    return dest


def build_wheel(src: Path, out: Path, env: dict[str, str] | None = None
                ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("rt_widgets-*.whl")
    return wheel, result


def run_installed(wheel: Path, target: Path, code: str) -> str:
    """Run ``code`` with the wheel's package first on the path (its dependencies from this env)."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=target,
        env={**os.environ, "PYTHONPATH": str(target), "RT_WIDGETS_PURE_PYTHON": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


CHECK = """
import rt_widgets, rt_widgets._batch as b
from rt_widgets.stores import TableStore
assert rt_widgets.__file__.startswith({target!r}), rt_widgets.__file__
t = TableStore(key="id")
t.queue_many([{{"id": 1, "x": 1}}, {{"id": 1, "x": 2}}, {{"id": 2, "x": 3}}])
assert t.rows == [{{"id": 1, "x": 2}}, {{"id": 2, "x": 3}}], t.rows
print(b.IMPLEMENTATION)
"""


def test_wheel_carries_the_compiled_speedups(tmp_path: Path) -> None:
    src = project_copy(tmp_path / "src")
    wheel, _ = build_wheel(src, tmp_path / "out")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert [n for n in names if n.startswith("rt_widgets/_speedups.") and n.endswith(".so")], names
    assert "rt_widgets/static/widget.js" in names
    assert not wheel.name.endswith("-py3-none-any.whl"), wheel.name  # tagged for this platform
    target = tmp_path / "site"
    assert run_installed(wheel, target, CHECK.format(target=str(target))) == "c"


@pytest.mark.parametrize("how", ["compiler fails", "switched off"])
def test_without_the_extension_the_wheel_is_pure_python_and_works(tmp_path: Path, how: str) -> None:
    src = project_copy(tmp_path / "src")
    env = {}
    if how == "compiler fails":
        # A module built earlier from another source is there too: it must not be shipped.
        built = next((ROOT / "rt_widgets").glob("_speedups.*.so"))
        shutil.copy2(built, src / "rt_widgets" / built.name)
        (src / "rt_widgets" / "_speedups.c").write_text("this is not C\n")
    else:
        env["RT_WIDGETS_NO_EXTENSION"] = "1"
    wheel, result = build_wheel(src, tmp_path / "out", env)
    if how == "compiler fails":
        assert "C speedups not built" in result.stdout + result.stderr
        assert "this is not C" in result.stdout + result.stderr  # the compiler's own message
        assert not list((src / "rt_widgets").glob("_speedups.*.so"))
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if n.endswith((".so", ".pyd"))]
    target = tmp_path / "site"
    assert run_installed(wheel, target, CHECK.format(target=str(target))) == "python"
