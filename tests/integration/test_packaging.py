"""The distributions, built from the project's files as `pip wheel` and an sdist build make them: one
pure-Python wheel for every platform and interpreter, carrying the built front end, and an sdist
that carries no cache or build leftover."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def project_copy(dest: Path) -> Path:
    """The project's files (tracked, or new and not ignored: what a commit would hold) plus the
    built front end, with none of the working tree's caches."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True,
                           timeout=60).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copytree(ROOT / "rt_widgets" / "static", dest / "rt_widgets" / "static")
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out),
         str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("rt_widgets-*.whl")
    return wheel


CHECK = """
import sys
import rt_widgets
from rt_widgets import Connection
from rt_widgets.stores import TableStore
assert rt_widgets.__file__.startswith({target!r}), rt_widgets.__file__
t = TableStore(key="id")
t.queue_many([{{"id": 1, "x": 1}}, {{"id": 1, "x": 2}}, {{"id": 2, "x": 3}}])
assert t.rows == [{{"id": 1, "x": 2}}, {{"id": 2, "x": 3}}], t.rows
assert "ipywidgets" not in sys.modules
from rt_widgets import RealtimeWidget
print(RealtimeWidget.__module__)
"""


def test_the_wheel_is_pure_python_and_carries_the_front_end(tmp_path: Path) -> None:
    wheel = build_wheel(project_copy(tmp_path / "src"), tmp_path / "out")
    assert wheel.name == "rt_widgets-0.1.0-py3-none-any.whl", wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = email.message_from_bytes(archive.read("rt_widgets-0.1.0.dist-info/WHEEL"))
        metadata = email.message_from_bytes(archive.read("rt_widgets-0.1.0.dist-info/METADATA"))
        archive.extractall(tmp_path / "site")
    assert meta["Root-Is-Purelib"] == "true" and meta.get_all("Tag") == ["py3-none-any"], str(meta)
    assert "rt_widgets/static/widget.js" in names  # built by the jupyter-builder hook
    assert {"rt_widgets/__init__.py", "rt_widgets/_batch.py", "rt_widgets/py.typed"} <= set(names)
    native = [n for n in names if n.endswith((".so", ".pyd", ".dll", ".dylib", ".c", ".h", ".pyi"))]
    assert not native, native
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")], names
    # No Jupyter kernel is required to use the package (the test extra brings one for its tests).
    required = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert not [r for r in required if r.startswith("ipykernel")], required

    target = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(target=str(target))], capture_output=True, text=True,
        timeout=120, cwd=target, env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "rt_widgets.widgets.realtime"


# What a working tree accumulates: test, type-checker and linter caches, bytecode, notebook
# checkpoints, test artifacts, installed node modules, a native module left by an old build.
LEFTOVERS = (
    ".hypothesis/examples/0a1b/2c3d",
    ".hypothesis/constants/ab12",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/rt_widgets/stores.data.json",
    ".ruff_cache/0.17.0/123",
    "rt_widgets/__pycache__/stores.cpython-311.pyc",
    "tests/unit/__pycache__/test_batch.cpython-311-pytest-8.4.0.pyc",
    "notebooks/.ipynb_checkpoints/quickstart-checkpoint.ipynb",
    "test-artifacts/quickstart.html",
    "node_modules/esbuild/package.json",
    "rt_widgets/_speedups.cpython-311-x86_64-linux-gnu.so",
    ".venv/pyvenv.cfg",
)


def test_the_sdist_carries_no_caches_or_build_leftovers(tmp_path: Path) -> None:
    src = project_copy(tmp_path / "src")
    for name in LEFTOVERS:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("leftover\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(out)],
        cwd=src, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("rt_widgets-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.partition("/")[2] for name in archive.getnames()]
    assert {"pyproject.toml", "README.md", "package.json", "rt_widgets/__init__.py",
            "rt_widgets/static/widget.js"} <= set(names), sorted(names)
    caches = (".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__",
              ".ipynb_checkpoints", "test-artifacts", "node_modules", ".venv")
    found = [n for n in names if set(Path(n).parts) & set(caches) or n.endswith((".pyc", ".so"))]
    assert not found, found
