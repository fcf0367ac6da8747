"""LiveMetrics: numeric payloads merged into KPI cards with a bounded history per series."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..dispatch import Timed
from ..stores import Alert, MetricsStore
from ._base import DataView, check_positive_int, check_type, read_on_io, reject_unknown
from ._contract import MetricsTraits

if TYPE_CHECKING:
    import pandas

    from ..connection import Connection

__all__ = ["LiveMetrics"]


class LiveMetrics(MetricsTraits, DataView):
    """The latest value and recent history of every numeric field of one message type (numeric
    strings such as ``"192.31"`` count as numbers), each point at its message's own time when the
    message has one (``Fields(timestamp=...)``, the envelope's), else at its arrival.

    Created by :meth:`RealtimeWidget.metrics`; display it in a cell for KPI cards with sparklines.

    >>> m = w.metrics("metrics_update", history=300)       # doctest: +SKIP
    >>> m.set_threshold("cpu", above=90)                     # a notification when crossed
    >>> m.latest["cpu"], m.history["cpu"][-1]                # doctest: +SKIP
    (41.5, (1764100000.2, 41.5))
    """

    def __init__(
        self,
        connection: Connection,
        type: str = "metrics_update",
        *,
        history: int = 300,
        series: Iterable[str] | None = None,
        thresholds: Mapping[str, Mapping[str, float]] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        fps: float = 20,
        **kwargs: Any,
    ) -> None:
        reject_unknown("LiveMetrics", kwargs)
        check_type("type", type)
        check_positive_int("history", history)
        if isinstance(series, str):
            raise ValueError("series must be a list of names, not a single string")
        self._metrics = MetricsStore(history, series=series, thresholds=thresholds,
                                     on_alert=on_alert)
        super().__init__(self._metrics, connection, fps, type)
        # Timed: each point at its message's own time (the envelope's or Fields' timestamp), so
        # the points of a server that sends many at once do not pile up at their arrival.
        self._subscribe(type, Timed(self._on_payload, self._on_payloads, self._batchable))

    def _on_payload(self, payload: Any, timestamp: float | str | None = None) -> None:
        self._metrics.queue(payload, timestamp)
        self._changed()

    def _on_payloads(self, payloads: list[Any], timestamps: list[Any] | None = None) -> None:
        if timestamps is None:
            self._metrics.queue_many(payloads)
        else:
            self._metrics.queue_stamped(payloads, timestamps)
        self._changed(len(payloads))

    def _apply(self, payloads: list[Any]) -> None:
        # As the dispatcher would: in order, one at a time while an alert callback must see each.
        if self._batchable():
            self._on_payloads(payloads)
        else:
            for payload in payloads:
                self._on_payload(payload)

    def _state(self) -> dict[str, Any]:
        return {**self._metrics.snapshot(), "history_size": self._metrics.history_size}

    def _batchable(self) -> bool:
        # A threshold with an alert callback calls it as values arrive: then the messages of a
        # frame are delivered in order, one at a time, so the callback sees the others' state as
        # of its own message.
        return self._metrics.on_alert is None or not self._metrics.thresholds

    @property
    def latest(self) -> dict[str, float]:
        """The last value of every series."""
        return read_on_io(lambda: dict(self._metrics.latest))

    @property
    def history(self) -> dict[str, list[tuple[float, float]]]:
        """``{name: [(t, value), ...]}``, oldest first, t in epoch seconds."""
        return read_on_io(lambda: {n: self._metrics.history(n) for n in self._metrics.names})

    @property
    def ignored(self) -> int:
        """Values ignored because they were not finite numbers."""
        return read_on_io(lambda: self._metrics.ignored)

    @property
    def series_dropped(self) -> int:
        """Series names not kept: the view has its 1,000 series."""
        return read_on_io(lambda: self._metrics.series_dropped)

    def set_threshold(self, name: str, *, above: float | None = None,
                      below: float | None = None) -> None:
        """Raise a notification when ``name`` goes above ``above`` or below ``below``
        (no bounds: remove the threshold)."""
        def apply() -> None:
            self._metrics.set_threshold(name, above=above, below=below)
            self._changed()

        # Validate here so that the caller gets the error, then apply on the I/O thread.
        MetricsStore(1).set_threshold(name, above=above, below=below)
        read_on_io(apply)

    def set_series(self, series: Iterable[str] | None) -> None:
        """Show only these series (``None``: all)."""
        if isinstance(series, str):
            raise ValueError("series must be a list of names, not a single string")
        names = None if series is None else list(series)

        def apply() -> None:
            self._metrics.set_series(names)
            self._changed()

        read_on_io(apply)

    def to_pandas(self) -> pandas.DataFrame:
        """The history as a long DataFrame: columns ``time`` (UTC), ``series``, ``value``."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "LiveMetrics.to_pandas() needs pandas, which is not installed: "
                "pip install 'rt_widgets[pandas]' (or pip install pandas)") from None
        history = self.history
        records = [(t, name, v) for name, points in history.items() for t, v in points]
        frame = pandas.DataFrame(records, columns=["time", "series", "value"])
        frame["time"] = pandas.to_datetime(frame["time"], unit="s", utc=True)
        return frame

    def __repr__(self) -> str:
        names = read_on_io(lambda: self._metrics.names)
        return f"LiveMetrics(type={self.message_type!r}, series={names!r})"
