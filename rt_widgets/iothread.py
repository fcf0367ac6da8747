"""Event loops on their own threads: the process-wide I/O thread, and `LoopThread` to make more.

Why not the caller's loop: in a Jupyter kernel there always is a running loop, and it is the wrong one. A
plain notebook cell blocks the kernel's loop for its whole run, so a socket on it misses its keepalives and
the server drops it. Every socket, store update and frame flush of rt_widgets runs on the process-wide I/O
thread instead (`get_loop`, `call_soon`, `submit`, `run_sync`). The bundled demo feed runs on a
`LoopThread` of its own, so that a client whose loop is busy never stalls the feed it talks to.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["THREAD_NAME", "LoopThread", "call_soon", "get_loop", "in_io_thread", "run_sync", "submit"]

T = TypeVar("T")

THREAD_NAME = "rt_widgets-io"

# Every LoopThread, so that a forked child can forget the threads it did not inherit.
_instances: weakref.WeakSet[LoopThread] = weakref.WeakSet()


class LoopThread:
    """A daemon thread running its own asyncio loop, started on first use; safe from any thread.

    Example::

        io = LoopThread("my-io")
        io.call_soon(print, "on the loop")        # starts the thread
        assert io.run_sync(asyncio.sleep(0, "done"), timeout=5) == "done"
        io.stop()                                  # ends the loop and joins the thread

    ``stop()`` is final for the thread it ends, not for the object: the next use starts a new thread
    with a new loop. After ``os.fork()`` the child has no copy of the thread; there too the next use
    starts a new one.
    """

    def __init__(self, name: str, *, description: str | None = None) -> None:
        self.name = name
        self._description = description or f"the {name} thread"
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ended: threading.Event | None = None
        _instances.add(self)

    def __repr__(self) -> str:
        return f"<LoopThread {self.name} {'running' if self.running else 'stopped'}>"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> asyncio.AbstractEventLoop:
        """The loop, starting its thread if none runs; returns once the loop is running."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            return loop
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready, ended = threading.Event(), threading.Event()
                thread = threading.Thread(
                    target=_run, args=(loop, ready, ended), name=self.name, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread, self._ended = loop, thread, ended
            return self._loop

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def in_thread(self) -> bool:
        """True when called on this loop's thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def stop(self, timeout: float | None = 10.0) -> bool:
        """End the loop (tasks still pending are cancelled) and wait up to ``timeout`` s for the thread.

        Returns True once the thread has ended (at once when none ran). Called on the thread itself,
        it only asks the loop to stop and returns False. The next use starts a new thread.
        """
        with self._lock:
            loop, self._loop = self._loop, None
            ended = self._ended
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended and closed itself
                loop.call_soon_threadsafe(loop.stop)
        if self.in_thread():
            return False
        # An Event, not Thread.join: a Ctrl-C that interrupts join() can leave the thread
        # looking finished while it still runs (CPython < 3.13).
        return ended is None or ended.wait(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s for the thread to end; True once it has (or when none ran)."""
        ended = self._ended
        return ended is None or ended.wait(timeout)

    # -- handing work over -----------------------------------------------------------------------

    # Work handed over from another thread does not take the caller's context variables along. In a
    # kernel the caller is a cell, and ipykernel keeps the cell's request in a context variable: a
    # flush carrying it would attribute every later widget update to the cell that created the
    # widget. In a fresh context ipykernel falls back to its most recent request, as output from a
    # plain thread does.

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon; safe from any thread."""
        loop = self.start()
        if self.in_thread():
            loop.call_soon(fn, *args)
        else:
            loop.call_soon_threadsafe(fn, *args, context=contextvars.Context())

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop from any thread; returns a concurrent future."""
        loop = self.start()
        return contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, loop)

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result (from any thread but this one).

        After ``timeout`` seconds the coroutine is cancelled and ``TimeoutError`` raised.
        """
        if self.in_thread():
            coro.close()
            raise RuntimeError(
                f"run_sync() was called on {self._description}, where it would wait for itself; "
                "await the coroutine instead"
            )
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"operation did not finish within {timeout} s") from None

    def _forget(self) -> None:
        # In a forked child: the parent's thread does not exist here, and the lock may have been
        # held by one of the parent's other threads at the moment of the fork.
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._ended = None


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event, ended: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
        # As asyncio.run() ends: what is still pending is cancelled and gets to clean up.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        ended.set()


def _after_fork_in_child() -> None:
    for instance in list(_instances):
        instance._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- the process-wide I/O thread -----------------------------------------------------------------

_io = LoopThread(THREAD_NAME, description="the rt_widgets I/O thread")


def get_loop() -> asyncio.AbstractEventLoop:
    """The I/O loop, starting its thread on first use."""
    return _io.start()


def in_io_thread() -> bool:
    return _io.in_thread()


def call_soon(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the I/O thread soon; safe from any thread."""
    _io.call_soon(fn, *args)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the I/O loop from any thread; returns a concurrent future."""
    return _io.submit(coro)


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the I/O loop and wait for its result (from any thread but the I/O thread)."""
    return _io.run_sync(coro, timeout)
