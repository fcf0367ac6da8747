"""LiveSummary: a live table's rows grouped by a field, with aggregates, shown as a live table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from ..summary import AGGREGATES, MAX_GROUPS, GroupSummary, summary_frame
from ._base import DataView, check_fps, read_on_io, reject_unknown
from ._contract import TableTraits

if TYPE_CHECKING:
    import pandas

    from ..connection import Connection
    from ..stores import TableStore

__all__ = ["LiveSummary"]

T = TypeVar("T")


def _count(name: str, doc: str) -> Any:
    """A read-only count of the summary, read on the I/O thread once it is up to date."""
    get = attrgetter(name)

    def read(self: LiveSummary) -> int:
        count: int = self._read(get)
        return count

    return property(read, doc=doc)


class LiveSummary(TableTraits, DataView):
    """The rows of a live table grouped by ``by``, with live aggregates: one row per group value,
    keyed by it, with a ``count`` column and ``<column>_<aggregate>`` columns (``price_mean``).

    Made by :meth:`LiveTable.group_by`; display it in a cell (it is a live table view). It follows
    the rows its table holds, upserted, deleted and evicted, and is sent what changed at most
    ``fps`` times a second. The aggregates are those of :class:`rt_widgets.summary.GroupSummary`:
    exact over the rows held, group values told apart as JSON values, values that are no numbers
    skipped and counted (``skipped``), at most ``max_groups`` groups (``rows_dropped``,
    ``groups_dropped``).

    >>> trades = w.table("trade", key="id")                                   # doctest: +SKIP
    >>> by_symbol = trades.group_by("symbol", aggregates=("count", "mean", "last"))  # doctest: +SKIP
    >>> by_symbol.to_pandas()                                                 # doctest: +SKIP
    """

    def __init__(
        self,
        connection: Connection,
        table: TableStore,
        type: str,
        by: str | Sequence[str],
        *,
        aggregates: str | Iterable[str] = AGGREGATES,
        columns: Iterable[str] | None = None,
        max_groups: int = MAX_GROUPS,
        fps: float = 20,
        **kwargs: Any,
    ) -> None:
        reject_unknown("LiveSummary", kwargs)
        check_fps(fps)  # before following the table: a refused summary leaves no listener behind
        if isinstance(by, list):
            by = tuple(by)
        summary = GroupSummary(by, aggregates, columns, max_groups=max_groups)
        self._summary = summary
        self._unfollow: Callable[[], None] | None = read_on_io(lambda: summary.follow(table))
        # The first snapshot (made in DataView.__init__) is read on the I/O thread: see _state.
        super().__init__(summary.table, connection, fps, type)

        def start() -> None:
            summary.on_change = self._changed
            self._changed()

        read_on_io(start)

    def feed(self, payloads: Iterable[Any]) -> None:
        """A summary takes no messages of its own: feed its table (``table.feed(rows)``)."""
        raise TypeError("a LiveSummary follows its table's rows: feed the table instead")

    # -- I/O thread ---------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._is_closed and not self._held:
            self._summary.sync()
        super()._flush()

    def _state(self) -> dict[str, Any]:
        def state() -> dict[str, Any]:
            self._summary.sync()
            if self._summary.table.dirty:
                # What the sync brought is in this snapshot but not yet in a delta; a view that
                # holds this seq already ignores the snapshot, so a delta must follow.
                self._flusher.mark()
            return self._summary.table.snapshot()

        return read_on_io(state)

    def _read(self, fn: Callable[[GroupSummary], T]) -> T:
        def read() -> T:
            self._summary.sync()
            return fn(self._summary)

        return read_on_io(read)

    # -- reading --------------------------------------------------------------------------------

    @property
    def by(self) -> str | tuple[str, ...]:
        """The group field, or the tuple of group fields."""
        return self._summary.by

    @property
    def aggregates(self) -> tuple[str, ...]:
        return self._summary.aggregates

    @property
    def max_groups(self) -> int:
        return self._summary.max_groups

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per group (copies), in the order the groups appeared."""
        return self._read(lambda s: s.rows)

    @property
    def columns(self) -> list[str]:
        """The summary's columns: the group field(s), ``count``, ``<column>_<aggregate>``..."""
        return self._read(lambda s: s.output_columns)

    @property
    def numeric_columns(self) -> list[str]:
        """The table's columns that are aggregated."""
        return self._read(lambda s: s.columns)

    skipped = _count("skipped", "Values of aggregated columns that are no numbers, in the rows "
                                "summarised.")
    ungrouped = _count("ungrouped", "Rows with no usable group value (missing, null, an array or "
                                    "an object).")
    rows_dropped = _count("rows_dropped", "Rows whose group did not fit in ``max_groups``.")
    groups_dropped = _count("groups_dropped", "Group values that did not fit in ``max_groups``.")
    columns_dropped = _count("columns_dropped", "Numeric fields not aggregated: the summary found "
                                                "its 50 columns already.")

    def __len__(self) -> int:
        """The number of groups."""
        return self._read(len)

    def __bool__(self) -> bool:
        return True  # a widget is truthy even with no group yet

    def to_pandas(self) -> pandas.DataFrame:
        """The summary as a DataFrame indexed by the group field(s), sorted by group (when the
        values can be ordered); equal to pandas' groupby of the table's rows (see
        :meth:`LiveTable.group_by`)."""
        rows, columns = self._read(lambda s: (s.rows, s.output_columns))
        return summary_frame(rows, self.by, columns)

    def __repr__(self) -> str:
        groups, dropped = self._read(lambda s: (len(s), s.rows_dropped))
        more = f", rows_dropped={dropped}" if dropped else ""
        return (f"LiveSummary(type={self.message_type!r}, by={self.by!r}, groups={groups}, "
                f"aggregates={self.aggregates!r}{more})")

    def close(self) -> None:
        """Stop following the table and close the view (its rows stay readable)."""
        unfollow, self._unfollow = self.__dict__.get("_unfollow"), None
        if unfollow is not None:
            with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
                read_on_io(unfollow)
        super().close()
