"""`iothread.LoopThread` and the process-wide I/O thread built on it."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Iterator

import pytest

from rt_widgets import iothread
from rt_widgets.iothread import LoopThread

caller_var: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var", default="unset")


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    io = LoopThread("test-loop-thread")
    yield io
    assert io.stop(5.0)
    assert threads_named("test-loop-thread") == []


def test_starts_on_first_use_and_runs_work_on_its_own_thread(loop_thread: LoopThread) -> None:
    assert not loop_thread.running and threads_named("test-loop-thread") == []
    assert loop_thread.join(0) is True  # nothing ran yet

    ran = threading.Event()
    where: list[threading.Thread] = []

    def work(tag: str) -> None:
        where.append(threading.current_thread())
        assert tag == "x" and loop_thread.in_thread()
        ran.set()

    loop_thread.call_soon(work, "x")
    assert ran.wait(5)
    assert loop_thread.running and where == threads_named("test-loop-thread")
    assert where[0].daemon
    assert not loop_thread.in_thread()
    assert loop_thread.start() is loop_thread.start()


def test_call_soon_on_the_thread_itself_keeps_order(loop_thread: LoopThread) -> None:
    order: list[int] = []
    done = threading.Event()

    def first() -> None:
        loop_thread.call_soon(order.append, 2)
        loop_thread.call_soon(done.set)
        order.append(1)

    loop_thread.call_soon(first)
    assert done.wait(5)
    assert order == [1, 2]


def test_submit_and_run_sync_return_results_and_raise_errors(loop_thread: LoopThread) -> None:
    async def double(value: int) -> int:
        await asyncio.sleep(0)
        assert loop_thread.in_thread()
        return value * 2

    assert loop_thread.submit(double(4)).result(5) == 8
    assert loop_thread.run_sync(double(21), timeout=5) == 42

    async def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        loop_thread.run_sync(fail(), timeout=5)


def test_run_sync_timeout_cancels_the_coroutine(loop_thread: LoopThread) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match=r"did not finish within 0\.05 s"):
        loop_thread.run_sync(forever(), timeout=0.05)
    assert cancelled.wait(5)


def test_run_sync_on_its_own_thread_refuses_instead_of_deadlocking(loop_thread: LoopThread) -> None:
    async def nothing() -> None:
        pass

    async def nested() -> str:
        # A coroutine refused here must not be left un-awaited (that would warn, and fail the run).
        with pytest.raises(RuntimeError, match="on the test-loop-thread thread, where it would wait"):
            loop_thread.run_sync(nothing())
        return "refused"

    assert loop_thread.run_sync(nested(), timeout=5) == "refused"


def test_work_handed_over_runs_in_a_fresh_context(loop_thread: LoopThread) -> None:
    seen: list[str] = []
    done = threading.Event()

    async def read() -> str:
        return caller_var.get()

    def read_sync() -> None:
        seen.append(caller_var.get())
        done.set()

    token = caller_var.set("from the caller")
    try:
        loop_thread.call_soon(read_sync)
        assert done.wait(5)
        assert loop_thread.run_sync(read(), timeout=5) == "unset"
        assert loop_thread.submit(read()).result(5) == "unset"
    finally:
        caller_var.reset(token)
    assert seen == ["unset"]


def test_stop_cancels_pending_tasks_ends_the_thread_and_a_later_use_starts_anew(
    loop_thread: LoopThread,
) -> None:
    started, cleaned = threading.Event(), threading.Event()

    async def pending() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    first_loop = loop_thread.start()
    loop_thread.submit(pending())
    assert started.wait(5)
    assert loop_thread.stop(5.0) is True
    assert cleaned.is_set(), "a task still pending got to run its clean-up"
    assert first_loop.is_closed() and not loop_thread.running
    assert threads_named("test-loop-thread") == []
    assert loop_thread.stop(5.0) is True  # idempotent

    async def answer() -> int:
        return 7

    assert loop_thread.run_sync(answer(), timeout=5) == 7
    assert loop_thread.start() is not first_loop


def test_stop_from_its_own_thread_only_asks(loop_thread: LoopThread) -> None:
    results: list[bool] = []
    loop_thread.call_soon(lambda: results.append(loop_thread.stop()))
    assert loop_thread.join(5.0)
    assert results == [False]
    assert not loop_thread.running


def test_join_waits_for_the_thread_to_end(loop_thread: LoopThread) -> None:
    loop_thread.start()
    assert loop_thread.join(0.01) is False
    loop_thread.call_soon(loop_thread.stop)
    assert loop_thread.join(5.0) is True


def test_a_forked_child_starts_its_own_thread(loop_thread: LoopThread) -> None:
    parent_loop = loop_thread.start()
    iothread.get_loop()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 1
        try:

            async def where() -> str:
                return threading.current_thread().name

            fresh = not loop_thread.running and loop_thread.start() is not parent_loop
            runs = loop_thread.run_sync(where(), timeout=5) == "test-loop-thread"
            io_runs = iothread.run_sync(where(), timeout=5) == iothread.THREAD_NAME
            status = 0 if fresh and runs and io_runs else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert loop_thread.start() is parent_loop


def test_the_process_wide_io_thread() -> None:
    loop = iothread.get_loop()
    assert iothread.get_loop() is loop
    assert len(threads_named(iothread.THREAD_NAME)) == 1
    assert not iothread.in_io_thread()

    async def inside() -> tuple[bool, str]:
        return iothread.in_io_thread(), threading.current_thread().name

    assert iothread.run_sync(inside(), timeout=5) == (True, iothread.THREAD_NAME)
    assert iothread.submit(inside()).result(5) == (True, iothread.THREAD_NAME)
    ran = threading.Event()
    iothread.call_soon(ran.set)
    assert ran.wait(5)

    async def nested() -> str:
        async def nothing() -> None:
            pass

        with pytest.raises(RuntimeError, match="on the rt_widgets I/O thread, where it would wait"):
            iothread.run_sync(nothing())
        return "refused"

    assert iothread.run_sync(nested(), timeout=5) == "refused"
