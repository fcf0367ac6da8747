"""The process-wide I/O thread: one daemon thread running its own asyncio loop.

Why not the caller's loop: in a Jupyter kernel there always is a running loop, and it is the wrong one. A
plain notebook cell blocks the kernel's loop for its whole run, so a socket on it misses its keepalives and
the server drops it. Every socket, store update and frame flush of rt_widgets runs on this thread instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["call_soon", "get_loop", "in_io_thread", "run_sync", "submit"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None

THREAD_NAME = "rt_widgets-io"


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def get_loop() -> asyncio.AbstractEventLoop:
    """The I/O loop, starting its thread on first use."""
    global _loop, _thread
    loop = _loop
    if loop is not None and _thread is not None and _thread.is_alive():
        return loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=_run, args=(loop, ready), name=THREAD_NAME, daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def in_io_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


# Work handed to the I/O thread does not take the caller's context variables along. In a kernel the
# caller is a cell, and ipykernel keeps the cell's request in a context variable: a flush carrying it
# would attribute every later widget update to the cell that created the widget. In a fresh context
# ipykernel falls back to its most recent request, as output from a plain thread does.


def call_soon(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the I/O thread soon; safe from any thread."""
    loop = get_loop()
    if in_io_thread():
        loop.call_soon(fn, *args)
    else:
        loop.call_soon_threadsafe(fn, *args, context=contextvars.Context())


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the I/O loop from any thread; returns a concurrent future."""
    loop = get_loop()
    return contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, loop)


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the I/O loop and wait for its result (from any thread but the I/O thread)."""
    if in_io_thread():
        coro.close()
        raise RuntimeError(
            "run_sync() was called on the rt_widgets I/O thread, where it would wait for itself; "
            "await the coroutine instead"
        )
    future = submit(coro)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"operation did not finish within {timeout} s") from None


def _after_fork_in_child() -> None:
    # The parent's I/O thread does not exist in a forked child; start a fresh one on demand.
    global _loop, _thread
    _loop = None
    _thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
