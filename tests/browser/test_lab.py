"""The demo launcher (``python -m rt_widgets.demo.lab``) and the notebooks' ``demo_url()``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from rt_widgets.demo import DemoServer
from rt_widgets.demo import lab as demo_lab

from ._helpers import free_port, port_open
from .conftest import REPO

pytestmark = pytest.mark.browser


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )


def _first_message(url: str) -> dict[str, object]:
    # max_queue=None: the feed sends every mission at once; unread frames must not hold up the close.
    with connect(url, open_timeout=10, close_timeout=2, max_queue=None) as ws:
        message = json.loads(ws.recv(timeout=10))
    assert isinstance(message, dict)
    return message


def test_running_feed_starts_a_subprocess_feed_and_stops_it() -> None:
    port = free_port()
    with demo_lab.running_feed(port, env=_env(), cwd=REPO) as url:
        assert url == f"ws://127.0.0.1:{port}/ws"
        assert _first_message(url)["type"] == "mission_update"
    assert not port_open(port), "the feed started by the launcher must stop with it"


def test_running_feed_reuses_a_feed_already_listening() -> None:
    with DemoServer(port=0, rate=5) as feed:
        with demo_lab.running_feed(feed.port) as url:
            assert url == feed.url
            assert _first_message(url)["type"] == "mission_update"
        assert feed.running, "a feed the launcher did not start is left running"


def test_running_feed_refuses_a_port_held_by_something_else() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        with (
            pytest.raises(RuntimeError, match="not a demo feed"),
            demo_lab.running_feed(port),
        ):
            pass


def test_lab_command_uses_token_auth_and_the_repository_root() -> None:
    command = demo_lab.lab_command(REPO, "notebooks/quickstart.ipynb", open_browser=False)
    assert command[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert "notebooks/quickstart.ipynb" in command
    assert f"--ServerApp.root_dir={REPO}" in command
    assert "--no-browser" in command
    assert not [arg for arg in command if "token" in arg.lower()], "keep Jupyter's own token"
    with_browser = demo_lab.lab_command(REPO, "notebooks/quickstart.ipynb", open_browser=True)
    assert "--no-browser" not in with_browser


@pytest.fixture
def no_default_feed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """demo_url() with nothing configured: no env var, nothing on the default port."""
    monkeypatch.delenv(demo_lab.ENV_URL, raising=False)
    monkeypatch.setattr(demo_lab, "DEFAULT_PORT", free_port())
    monkeypatch.setattr(demo_lab, "_local_feeds", [])
    yield
    for feed in demo_lab._local_feeds:
        feed.stop()


def test_demo_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(demo_lab.ENV_URL, "ws://127.0.0.1:1/ws")
    assert demo_lab.demo_url() == "ws://127.0.0.1:1/ws"


def test_demo_url_reuses_a_feed_on_the_default_port(
    no_default_feed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DemoServer(port=0, rate=5) as feed:
        monkeypatch.setattr(demo_lab, "DEFAULT_PORT", feed.port)
        assert demo_lab.demo_url() == feed.url
        assert demo_lab._local_feeds == []


def test_demo_url_starts_one_feed_in_process_when_none_answers(no_default_feed: None) -> None:
    url = demo_lab.demo_url(rate=5)
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/ws")
    assert demo_lab.demo_url() == url, "later calls reuse the feed"
    assert len(demo_lab._local_feeds) == 1
    assert _first_message(url)["type"] == "mission_update"


def test_repo_root_is_found_from_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert demo_lab._repo_root() == REPO


def _ignore_sigint() -> None:
    # As a shell starts a background job: SIGINT ignored, inherited by what the job starts.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("how", ["terminate", "ctrl-c"])
def test_the_launcher_stops_jupyterlab_and_the_feed_when_terminated(tmp_path: Path, how: str) -> None:
    """`kill` of the launcher, or Ctrl-C (SIGINT to its whole process group, so the feed and
    JupyterLab get it too, here even with SIGINT ignored as in a background job): everything
    stops, without a traceback."""
    import subprocess

    from ._helpers import wait_until

    port = free_port()
    env = dict(_env(), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    log = (tmp_path / "launcher.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "rt_widgets.demo.lab", "--port", str(port), "--no-browser"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_ignore_sigint if how == "ctrl-c" else None,
    )
    children: list[str] = []
    try:
        wait_until(lambda: port_open(port), 60, "the launcher's feed never listened")
        children = wait_until(
            lambda: [line for line in _children(launcher.pid) if "jupyter-lab" in line], 60,
            "JupyterLab never started")
        if how == "terminate":
            launcher.terminate()
            assert launcher.wait(30) == 128 + 15
        else:
            os.killpg(launcher.pid, signal.SIGINT)
            assert launcher.wait(30) == 130
        assert not port_open(port), "the feed outlived the launcher"
        assert _children(launcher.pid) == [] and not any(
            _alive(int(line.split()[0])) for line in children), "JupyterLab outlived the launcher"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        log.close()
        for line in [*children, *_children(launcher.pid)]:  # nothing left behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
    output = (tmp_path / "launcher.log").read_text()
    assert "Traceback" not in output, output[-3000:]
    assert "stopped" in output  # the feed's own clean stop


def _children(pid: int) -> list[str]:
    """``"<pid> <command line>"`` of each process whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{entry.name} {cmdline}")
        except (OSError, IndexError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
