"""The widget fixtures of tests/widgets (a comm spy that records what each view would receive, and a
RealtimeWidget factory closed after the test), for the reliability tests that look at comm traffic."""

from tests.widgets.conftest import comm_spy, make_widget

__all__ = ["comm_spy", "make_widget"]
