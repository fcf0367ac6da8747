"""LiveChart: a live time-series chart of one message type (metrics-shaped payloads, or rows split
into a series per value of a field)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from ..chart_store import ChartStore
from ..dispatch import Timed
from ._base import DataView, check_positive_int, check_type, read_on_io, reject_unknown
from ._contract import ChartTraits

if TYPE_CHECKING:
    import pandas

    from ..connection import Connection

__all__ = ["LiveChart"]

# A chart's state is up to max_series x max_points points: the trait that carries it whole is
# refreshed rarely (a view that misses a delta asks for a snapshot; saving brings it up to date).
CHART_SNAPSHOT_INTERVAL = 30.0


def check_window(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 \
            or value == float("inf"):
        raise ValueError(f"window must be a number of seconds > 0, or None for everything kept, "
                         f"got {value!r}")
    return float(value)


class LiveChart(ChartTraits, DataView):
    """A live chart: a time axis (each message's own timestamp when it has one), a y axis, a
    legend with live values, hover values, drag to zoom, shift-drag to pan, double-click to reset,
    window presets, series toggles, linear or log scale, pause and resume.

    Created by :meth:`RealtimeWidget.chart`. From metrics-shaped payloads every numeric field is a
    series (or those named by ``y``); from rows, ``y`` names the numeric field and ``by`` the field
    whose value names the series. ``window`` is the time span shown while following live data
    (seconds; ``None``: everything kept). At most ``max_series`` series of ``max_points`` points
    each are kept; the view says when more were dropped.

    >>> w.chart("metrics_update")                                   # doctest: +SKIP
    >>> prices = w.chart("trade", y="price", by="symbol", window=60)  # doctest: +SKIP
    >>> prices.series, prices.points("AAPL")[-1]                    # doctest: +SKIP
    (['AAPL', 'MSFT'], (1767225600.25, 187.2))
    """

    _snapshot_interval = CHART_SNAPSHOT_INTERVAL

    def __init__(
        self,
        connection: Connection,
        type: str = "metrics_update",
        *,
        y: str | Sequence[str] | None = None,
        by: str | None = None,
        window: float | None = 300.0,
        max_series: int = 32,
        max_points: int = 10_000,
        fps: float = 20,
        **kwargs: Any,
    ) -> None:
        reject_unknown("LiveChart", kwargs)
        check_type("type", type)
        check_positive_int("max_series", max_series)
        check_positive_int("max_points", max_points)
        self._chart = ChartStore(y, by, max_series=max_series, max_points=max_points)
        super().__init__(self._chart, connection, fps, type, window=check_window(window))
        self._subscribe(type, Timed(self._on_message, self._on_messages))

    @traitlets.validate("window")
    def _valid_window(self, proposal: Any) -> float | None:
        return check_window(proposal["value"])

    def _on_message(self, payload: Any, timestamp: Any) -> None:
        # Applied when the store is read (a flush) or INBOX_LIMIT wait: see ChartStore.queue.
        self._chart.queue(payload, timestamp)
        self._changed()

    def _on_messages(self, payloads: list[Any], timestamps: list[Any]) -> None:
        self._chart.queue_many(payloads, timestamps)
        self._changed(len(payloads))

    def _apply(self, payloads: list[Any]) -> None:
        self._chart.apply_many(payloads, [None] * len(payloads))
        self._changed(len(payloads))

    @property
    def y(self) -> tuple[str, ...] | None:
        """The fields plotted (``None``: every numeric field)."""
        return self._chart.y

    @property
    def by(self) -> str | None:
        """The field whose value names each series (``None``: metrics-shaped payloads)."""
        return self._chart.by

    @property
    def series(self) -> list[str]:
        """The series, in the order they first appeared."""
        return read_on_io(lambda: self._chart.names)

    def points(self, name: str) -> list[tuple[float, float]]:
        """The ``(t, value)`` points kept of one series, t in epoch seconds."""
        return read_on_io(lambda: self._chart.points(name))

    @property
    def data(self) -> dict[str, list[tuple[float, float]]]:
        """``{series: [(t, value), ...]}`` for every series."""
        return read_on_io(lambda: {n: self._chart.points(n) for n in self._chart.names})

    @property
    def dropped(self) -> dict[str, int]:
        """What the bounds dropped: ``series`` (past ``max_series``), ``points`` (of those series),
        and ``ignored`` values (not numbers, or rows without the fields)."""
        return read_on_io(lambda: {"series": self._chart.dropped_series,
                                   "points": self._chart.dropped_points,
                                   "ignored": self._chart.ignored})

    def to_pandas(self) -> pandas.DataFrame:
        """The points as a long DataFrame: columns ``time`` (UTC), ``series``, ``value``."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "LiveChart.to_pandas() needs pandas, which is not installed: "
                "pip install 'rt_widgets[pandas]' (or pip install pandas)") from None
        records = [(t, name, v) for name, points in self.data.items() for t, v in points]
        frame = pandas.DataFrame(records, columns=["time", "series", "value"])
        frame["time"] = pandas.to_datetime(frame["time"], unit="s", utc=True)
        return frame

    def __repr__(self) -> str:
        names = read_on_io(lambda: self._chart.names)
        split = f", y={self.y!r}, by={self.by!r}" if self.by else (
            f", y={self.y!r}" if self.y else "")
        return f"LiveChart(type={self.message_type!r}{split}, series={names!r})"
