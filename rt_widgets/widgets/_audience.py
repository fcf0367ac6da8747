"""No audience, no traffic: who is looking at a family of widgets, and when nobody is.

A family is a RealtimeWidget and every view it made (a data view made on its own is a family of
one). Each rendered view leases its presence: it sends ``{"kind": "presence", "view": id,
"lease": s}`` when it renders and every few seconds after (``lease`` seconds ahead of the next
one), and ``lease: 0`` when it goes (cleanup, page hidden or closed). The family is *watched* while
one lease runs; a view that said goodbye counts for :data:`GRACE` more seconds, so a view
re-rendered at once (a moved cell, another explorer tab) never makes the family flap, and a page
that vanished without a word is let go :data:`LATE` seconds after its lease ends: a page too busy to
run its timers on time (fifty live views) beats late, and a lease that lapsed would make the whole
family go silent and then send every view a fresh snapshot when the late beat comes. A new family
counts as watched for :data:`FIRST_GRACE` seconds, the time a view takes to render after the cell
displayed it.

While nobody watches, the widgets send no comm message at all (a kernel that keeps publishing
never looks idle, so Voilà and JupyterHub would never cull it); their stores keep ingesting, and
traits keep their Python values. When a view comes back the widgets send what it missed: the traits
that changed and a fresh snapshot.

:class:`Audience` is pure (no threads, no loop): the widgets feed it presence messages with the
time, ask :meth:`Audience.check` at :meth:`Audience.next_check`, and act on the transitions it
returns.

>>> a = Audience(now=0.0)
>>> a.watched, a.next_check()
(True, 5.0)
>>> a.check(5.0)            # nobody came: silent
False
>>> a.presence("v1", 6.0, now=7.0), a.watched      # a view renders: watched again
(True, True)
>>> a.check(15.0), a.presence("v1", 6.0, now=15.0)  # its next beat is 2 s late: no flap
(None, None)
>>> a.presence("v1", 0.0, now=16.0), a.next_check()  # it goes; GRACE later the family is silent
(None, 19.0)
>>> a.check(19.0)
False
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import ipywidgets
import orjson
import traitlets

from .. import iothread
from ..sync import get_frame_clock
from ._contract import Live

__all__ = ["FIRST_GRACE", "GRACE", "LATE", "LEASE_MAX", "Audience", "AudienceMixin", "Family", "counts",
           "parse_presence", "presence_page"]

log = logging.getLogger("rt_widgets")

FIRST_GRACE = 5.0
"""Seconds a new family counts as watched before any view announced itself."""
GRACE = 3.0
"""Seconds a view that said goodbye still counts."""
LATE = 5.0
"""Seconds a lease that ran out without a goodbye still counts (a beat from a busy page is late)."""
LEASE_MAX = 3600.0
"""The longest lease a view may take (a longer one is cut to this)."""


_counts: dict[str, float] = {}
_counts_lock = threading.Lock()


def _count(event: str, n: float = 1.0) -> None:
    with _counts_lock:
        _counts[event] = _counts.get(event, 0.0) + n


def _count_max(event: str, value: float) -> None:
    with _counts_lock:
        _counts[event] = max(_counts.get(event, 0.0), value)


def counts() -> dict[str, float]:
    """What the process's families did so far (a debugging aid; the keys are few and fixed):
    ``lapse`` families gone silent because every lease ended, ``goodbye`` because the last view
    said so, ``unseen`` because none came in the first grace, ``return`` families a view brought
    back; ``snapshot:return`` snapshots sent then, ``snapshot:request`` views that asked for one
    (a sequence gap), ``snapshot:resume`` views resumed after a pause, ``snapshot:refresh:<class>``
    refreshes of a ``_snapshot`` trait otherwise, by the widget's class (``snapshot:bytes:<class>``
    their bytes); ``seen`` / ``unseen-view`` explorer views whose own view rendered / went;
    ``beat_gap_max_s`` the longest time between two beats of one view.

    >>> sorted(counts()) == sorted(set(counts()))
    True
    """
    with _counts_lock:
        return dict(_counts)


def parse_presence(content: object) -> tuple[str, float] | None:
    """``(view id, lease seconds)`` of a presence message, or ``None`` when it is not one."""
    if not isinstance(content, Mapping) or content.get("kind") != "presence":
        return None
    view, lease = content.get("view"), content.get("lease")
    if not isinstance(view, str) or not view or len(view) > 200:
        return None
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not math.isfinite(lease):
        return None
    return view, min(max(float(lease), 0.0), LEASE_MAX)


def presence_page(content: object) -> str | None:
    """The page a presence message says its view is on (``page``: one id per browser page, the
    same for every view on it), or ``None`` when it names none."""
    page = content.get("page") if isinstance(content, Mapping) else None
    return page if isinstance(page, str) and 0 < len(page) <= 200 else None


class Audience:
    """The leases of the views of one family (see the module docstring). Not thread-safe: the
    widgets use it on the I/O thread only; ``watched`` may be read from any thread."""

    def __init__(self, now: float, *, first_grace: float = FIRST_GRACE,
                 grace: float = GRACE, late: float = LATE) -> None:
        self._grace = grace
        self._late = late
        self._until: dict[str, float] = {}
        # Views that said goodbye and still count for the grace, and when each view last beat.
        self._gone: set[str] = set()
        self._beat: dict[str, float] = {}
        self._assumed_until = now + first_grace
        self.lapsed = 0
        """Views whose lease ended without a goodbye (by :meth:`check`, so far)."""
        self.left = 0
        """Views dropped after their goodbye (by :meth:`check`, so far)."""
        self.longest_gap = 0.0
        """The longest time between two beats of one view (seconds)."""
        self.watched = True
        """Whether the family sends anything; changes only in :meth:`presence` and :meth:`check`."""

    @property
    def views(self) -> int:
        """Views whose lease has not ended (or did less than LATE ago, or that left less than
        GRACE ago)."""
        return len(self._until)

    def presence(self, view: str, lease: float, now: float) -> bool | None:
        """A view's presence message. Returns ``True`` when it is the view that brings the family
        back (it was silent), ``False`` when the view is new to a watched family, ``None``
        otherwise (a renewal, or a goodbye)."""
        known = view in self._until
        if lease > 0:
            self._until[view] = now + lease + self._late
            self._gone.discard(view)
            last = self._beat.get(view)
            if last is not None:
                self.longest_gap = max(self.longest_gap, now - last)
            self._beat[view] = now
        elif known:
            self._until[view] = min(self._until[view], now + self._grace)
            self._gone.add(view)
            self._beat.pop(view, None)
        else:
            return None
        if lease <= 0:
            return None
        if not self.watched:
            self.watched = True
            return True
        return None if known else False

    def next_check(self) -> float | None:
        """When :meth:`check` may change something (``None``: never, while nothing changes)."""
        if not self.watched:
            return None
        ends = [*self._until.values(), self._assumed_until]
        return max(ends)

    def check(self, now: float) -> bool | None:
        """Drop the leases that ended. Returns ``False`` when the family just went silent."""
        ended = [v for v, t in self._until.items() if t <= now]
        for v in ended:
            del self._until[v]
            self._beat.pop(v, None)
            if v in self._gone:
                self._gone.discard(v)
                self.left += 1
            else:
                self.lapsed += 1
        if self.watched and not self._until and now >= self._assumed_until:
            self.watched = False
            return False
        return None


# -- the widgets' side: families on the I/O thread, and the mixin every widget has -----------------


class _Member(Protocol):
    def _audience_left(self) -> None: ...

    def _audience_returned(self) -> None: ...


class Family:
    """The widgets that share one :class:`Audience`, and the timer that notices it has gone.

    Made on any thread; everything after runs on the I/O thread."""

    def __init__(self) -> None:
        # The module's constants as they are now (tests shorten them).
        self.audience = Audience(iothread.get_loop().time(), first_grace=FIRST_GRACE, grace=GRACE,
                                 late=LATE)
        self._members: weakref.WeakSet[Any] = weakref.WeakSet()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def watched(self) -> bool:
        return self.audience.watched

    def add(self, widget: Any) -> None:
        self._members.add(widget)
        iothread.call_soon(self._reschedule)  # the check that notices nobody came

    def forget(self, widget: Any) -> None:
        self._members.discard(widget)

    def presence(self, view: str, lease: float) -> bool | None:
        """A presence message (I/O thread); see :meth:`Audience.presence` for the result."""
        result = self.audience.presence(view, lease, iothread.get_loop().time())
        _count_max("beat_gap_max_s", self.audience.longest_gap)
        if result is True:
            _count("return")
            log.debug("rt_widgets: view %s brought its family back", view)
            for member in list(self._members):
                try:
                    member._audience_returned()
                except Exception:
                    log.exception("rt_widgets: %r could not catch up with its view", member)
        self._reschedule()
        return result

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.audience.next_check()
        if at is not None and any(not m.closed for m in self._members):
            self._timer = iothread.get_loop().call_at(at, self._check)

    def _check(self) -> None:
        self._timer = None
        a = self.audience
        lapsed, left = a.lapsed, a.left
        if a.check(iothread.get_loop().time()) is False:
            why = "lapse" if a.lapsed > lapsed else "goodbye" if a.left > left else "unseen"
            _count(why)
            log.debug("rt_widgets: a family went silent (%s)", why)
            for member in list(self._members):
                member._audience_left()
        self._reschedule()


class AudienceMixin(traitlets.HasTraits):
    """What :class:`~rt_widgets.widgets._base.BaseWidget` adds to ``anywidget.AnyWidget``: sends
    nothing while its family has no audience, answers a view's first presence with ``live``, closes
    itself when its host closes its comm, and shows its saved data as ``text/html`` too.

    State lives in ``__dict__`` under ``_rtw_*`` names, so that it works before and during
    ``__init__`` (ipywidgets syncs traits from the first line of it)."""

    # -- the family --------------------------------------------------------------------------

    @property
    def _family(self) -> Family:
        family: Family | None = self.__dict__.get("_rtw_family")
        if family is None:
            family = Family()
            family.add(self)
            self.__dict__["_rtw_family"] = family
        return family

    def _join_family(self, family: Family) -> None:
        """Share ``family``'s audience from now on (a view its RealtimeWidget made)."""
        old: Family | None = self.__dict__.get("_rtw_family")
        if old is family:
            return
        if old is not None:
            old.forget(self)
        self.__dict__["_rtw_family"] = family
        family.add(self)
        self.__dict__["_rtw_silent"] = not family.watched

    @property
    def _silent(self) -> bool:
        """Whether this widget holds back every comm message (nobody is watching)."""
        return bool(self.__dict__.get("_rtw_silent", False))

    def _audience_left(self) -> None:
        """The family's last view went (I/O thread): send nothing from now on."""
        self.__dict__["_rtw_silent"] = True

    def _audience_returned(self) -> None:
        """A view came back (I/O thread): bring the state up to date, then send what changed
        meanwhile in one update (a data view's fresh snapshot among it)."""
        if not self._silent:
            return
        with contextlib.suppress(Exception):
            self._sync_now()
        self.__dict__["_rtw_silent"] = False
        held: set[str] = self.__dict__.pop("_rtw_held_back", set())
        if "_snapshot" in held:
            _count("snapshot:return")
        if held and getattr(self, "comm", None) is not None:
            self.send_state(key=sorted(held))  # type: ignore[attr-defined]

    # -- a view nobody shows: the explorer's tabs ------------------------------------------------

    def _quiet_until_seen(self) -> None:
        """Flush no delta while no view of this very widget is rendered, whoever else watches the
        family (I/O thread). For the views the explorer makes on its own: it shows one of them at
        a time, as a tab, and the others' deltas and snapshot refreshes would go to nobody, taking
        the byte budget from the views on screen. The frame clock holds the widget's flushes; its
        store coalesces what arrives, and the first delta after one of its views rendered (its
        presence) or code asked for it (:meth:`_claim`) carries all of it, in sequence."""
        d = self.__dict__
        if d.get("_rtw_own") is not None or d.get("_rtw_claimed"):
            return
        now = iothread.get_loop().time()
        own = Audience(now, first_grace=0.0, grace=GRACE, late=LATE)
        own.check(now)  # nobody yet
        d["_rtw_own"] = own
        self._own_hold(True)

    def _own_hold(self, held: bool) -> None:
        flusher = getattr(self, "_flusher", None)
        if flusher is not None:
            clock = get_frame_clock()
            (clock.hold if held else clock.release)(flusher)

    def _claim(self) -> None:
        """Code asked for this widget (any thread; ``w.table(...)``): it may display it anywhere,
        or read it without a view, so the quiet of :meth:`_quiet_until_seen` ends."""
        self.__dict__["_rtw_claimed"] = True
        iothread.call_soon(self._end_quiet)

    def _end_quiet(self) -> None:
        d = self.__dict__
        if d.pop("_rtw_own", None) is None:
            return
        timer: asyncio.TimerHandle | None = d.pop("_rtw_own_timer", None)
        if timer is not None:
            timer.cancel()
        self._own_hold(False)

    def _own_presence(self, view: str, lease: float) -> None:
        """A presence message from one of this widget's own views (I/O thread)."""
        own: Audience | None = self.__dict__.get("_rtw_own")
        if own is None:
            return
        if own.presence(view, lease, iothread.get_loop().time()) is True:
            _count("seen")
            self._own_hold(False)
        self._own_reschedule()

    def _own_reschedule(self) -> None:
        timer: asyncio.TimerHandle | None = self.__dict__.pop("_rtw_own_timer", None)
        if timer is not None:
            timer.cancel()
        own: Audience | None = self.__dict__.get("_rtw_own")
        at = own.next_check() if own is not None else None
        if at is not None and not getattr(self, "closed", False):
            self.__dict__["_rtw_own_timer"] = iothread.get_loop().call_at(at, self._own_check)

    def _own_check(self) -> None:
        self.__dict__.pop("_rtw_own_timer", None)
        own: Audience | None = self.__dict__.get("_rtw_own")
        if own is not None and own.check(iothread.get_loop().time()) is False:
            _count("unseen-view")
            self._own_hold(True)
        self._own_reschedule()

    def _sync_now(self) -> None:
        """Flush what the frame clock holds back (on the I/O thread)."""

    # -- what leaves for the views -------------------------------------------------------------

    def _should_send_property(self, key: str, value: Any) -> bool:
        if self._silent:
            self.__dict__.setdefault("_rtw_held_back", set()).add(key)
            return False
        if key == "_snapshot":
            name = type(self).__name__
            _count(f"snapshot:refresh:{name}")
            with contextlib.suppress(TypeError, orjson.JSONEncodeError):
                _count(f"snapshot:bytes:{name}", len(orjson.dumps(value, default=str)))
        sent: bool = super()._should_send_property(key, value)  # type: ignore[misc]
        return sent

    def send(self, *args: Any, **kwargs: Any) -> Any:
        """A custom message to the views (``send(content, buffers=None)``), unless nobody is
        watching. (RealtimeWidget's ``send`` is its connection's: it sends its views nothing.)"""
        if self._silent:
            return None
        return super().send(*args, **kwargs)  # type: ignore[misc]

    # -- what comes from the views -------------------------------------------------------------

    @traitlets.observe("comm")
    def _rtw_comm_changed(self, change: Mapping[str, Any]) -> None:
        comm = change["new"]
        if comm is None:
            return
        if not self.__dict__.get("_rtw_listening"):
            self.__dict__["_rtw_listening"] = True
            self.on_msg(self._rtw_on_msg)  # type: ignore[attr-defined]
            self._family  # noqa: B018 - made now: its grace runs from the widget's first comm
        _hook_close(self, comm)
        _close_with_host_session(self)

    def _rtw_on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # Shell or subshell thread: the family lives on the I/O thread.
        presence = parse_presence(content)
        if presence is not None:
            iothread.call_soon(self._rtw_presence, *presence, presence_page(content))
        elif isinstance(content, Mapping) and content.get("kind") in ("snapshot_request", "resume"):
            _count(f"snapshot:{'request' if content['kind'] == 'snapshot_request' else 'resume'}")

    def _rtw_presence(self, view: str, lease: float, page: str | None = None) -> None:
        if getattr(self, "comm", None) is None:
            return
        if self._family.presence(view, lease) is not None:
            ipywidgets.Widget.send(self, Live(kind="live", view=view))
        self._own_presence(view, lease)
        self._view_page(view, lease, page)

    def _view_page(self, view: str, lease: float, page: str | None) -> None:
        """Where one of this widget's own views is (I/O thread): a data view whose every view is
        on one page sends its deltas with that page's others (see ``_base``)."""

    def _host_closed(self) -> None:
        """The host closed this widget's comm (a marimo session ended, a page went): the widget
        closes too, and with it what it holds (a RealtimeWidget's connection)."""
        try:
            self.close()
        except Exception:
            log.exception("rt_widgets: closing %r after its host closed its comm failed", self)

    def close(self) -> None:
        # Closing from here is not the host's doing: the comm hook must not call back.
        # (The family forgets it by itself: it holds its members weakly, and a closed widget sends
        # nothing; nothing here may start the I/O thread, which is gone at interpreter exit.)
        self.__dict__["_rtw_closing"] = True
        super().close()  # type: ignore[misc]

    # -- a readable copy of the saved data ------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # anywidget returns (data, metadata); ipywidgets a dict; after close(), nothing.
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if not isinstance(data, dict):
            return bundle
        from ._static import describe

        try:
            plain, html = describe(self)
        except Exception:
            log.exception("rt_widgets: could not describe %r as text", self)
            return bundle
        data["text/plain"] = plain
        data["text/html"] = html
        return bundle


def _hook_close(widget: AudienceMixin, comm: Any) -> None:
    """Call ``widget._host_closed()`` once when ``comm`` closes while it is the widget's comm:
    closed by the front end (``comm_close``, through ``on_close``) or by the host in the kernel
    (marimo closes a session's comms with ``comm.close()``, which no callback announces)."""
    original = comm.close
    ref = weakref.ref(widget)
    fired = False

    def close(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        result = original(*args, **kwargs)
        # deleting=True: the comm is being collected (interpreter exit), nobody closed it.
        if not fired and not kwargs.get("deleting"):
            fired = True
            owner = ref()
            if (owner is not None and getattr(owner, "comm", None) is comm
                    and not owner.__dict__.get("_rtw_closing")):
                owner._host_closed()
        return result

    # A comm that takes no attribute: only the front end's closes are seen.
    with contextlib.suppress(Exception):
        comm.close = close
    if hasattr(comm, "on_close"):
        comm.on_close(lambda _msg: close())


# -- hosts that end a session without closing its comms --------------------------------------------

_session = threading.local()


class _SessionEnd:
    """Held in a thread-local of a host session's thread: collected when the thread ends, and then
    closes the widgets made on it."""

    def __init__(self) -> None:
        self.widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        weakref.finalize(self, _close_all, self.widgets)


def _close_all(widgets: weakref.WeakSet[Any]) -> None:
    for widget in list(widgets):
        if not widget.__dict__.get("_rtw_closing"):
            widget._host_closed()


def _close_with_host_session(widget: Any) -> None:
    """``marimo run`` runs each visitor's session on a thread of its own and, when the session ends
    (its page closed, past ``--session-ttl``), lets the thread finish without closing the session's
    comms. A widget made on such a thread closes when the thread ends. Jupyter kernels make widgets
    on their main thread, which ends only with the process."""
    marimo = sys.modules.get("marimo")
    if marimo is None or threading.current_thread() is threading.main_thread():
        return
    try:
        from marimo._runtime.context import safe_get_context
    except ImportError:
        return
    context = safe_get_context()
    if context is None:
        return
    widget.__dict__["_rtw_host_context"] = context
    holder = getattr(_session, "holder", None)
    if holder is None:
        holder = _session.holder = _SessionEnd()
    holder.widgets.add(widget)


@contextlib.contextmanager
def host_session(widget: Any) -> Iterator[None]:
    """Run the block in the host session ``widget`` was made in (I/O thread): a view made there by
    the explorer gets a comm of that session (marimo binds a comm to the session whose runtime
    context is current on the thread that makes it). Elsewhere it changes nothing."""
    context = widget.__dict__.get("_rtw_host_context")
    if context is None:
        yield
        return
    from marimo._runtime.context.types import (
        initialize_context,
        runtime_context_installed,
        teardown_context,
    )

    if runtime_context_installed():
        yield
        return
    initialize_context(context)
    try:
        yield
    finally:
        teardown_context()

