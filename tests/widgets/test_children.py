"""ChildViews: one get-or-create for every kind of child view, the explorer's tabs, closing."""

from __future__ import annotations

import threading

import pytest

from rt_widgets.widgets._children import ChildViews


class View:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Other:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def make_views() -> tuple[ChildViews, list[int]]:
    changes: list[int] = []
    return ChildViews(lambda: changes.append(1), "owner is closed"), changes


def test_one_view_per_class_and_key_until_it_is_closed() -> None:
    views, _ = make_views()
    a, made = views.get_or_create(View, "t", lambda: View("a"))
    assert made and a.name == "a"
    again, made = views.get_or_create(View, "t", lambda: View("never"))
    assert again is a and not made
    # Another class under the same key is another view.
    other, made = views.get_or_create(Other, "t", lambda: Other("o"))
    assert made and other is not a
    a.close()
    b, made = views.get_or_create(View, "t", lambda: View("b"))
    assert made and b.name == "b"
    assert views.of(View) == [b] and views.of(Other) == [other]


def test_check_may_refuse_an_existing_view() -> None:
    views, _ = make_views()
    views.get_or_create(View, "t", lambda: View("a"))

    def refuse(existing: View) -> None:
        raise ValueError(f"{existing.name} does not fit")

    with pytest.raises(ValueError, match="a does not fit"):
        views.get_or_create(View, "t", lambda: View("b"), check=refuse)


def test_tabs_keep_the_first_open_view_of_a_type_and_say_when_they_change() -> None:
    views, changes = make_views()
    table, _ = views.get_or_create(View, "t", lambda: View("table"), tab="t")
    views.get_or_create(Other, "t", lambda: Other("second"), tab="t")
    views.get_or_create(View, "u", lambda: View("untabbed"))
    assert views.tabs == {"t": table} and changes == [1]
    table.close()
    replacement, _ = views.get_or_create(View, "t", lambda: View("new"), tab="t")
    assert views.tabs == {"t": replacement} and changes == [1, 1]


def test_close_all_closes_everything_and_refuses_new_views() -> None:
    views, _ = make_views()
    keyed, _ = views.get_or_create(View, "t", lambda: View(), tab="t")
    extra = views.add(View())
    views.close_all()
    assert keyed.closed and extra.closed and views.tabs == {}
    with pytest.raises(RuntimeError, match="owner is closed"):
        views.get_or_create(View, "t", View)
    with pytest.raises(RuntimeError, match="owner is closed"):
        views.add(View())


def test_a_failing_close_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(View):
        def close(self) -> None:
            raise OSError("boom")

    views, _ = make_views()
    views.get_or_create(Broken, 1, Broken)
    fine, _ = views.get_or_create(View, 2, View)
    views.close_all()
    assert fine.closed and "closing" in caplog.text


def test_concurrent_callers_get_one_view() -> None:
    views, _ = make_views()
    made: list[View] = []
    start = threading.Barrier(8)
    results: list[View] = []

    def make() -> View:
        view = View()
        made.append(view)
        return view

    def worker() -> None:
        start.wait()
        results.append(views.get_or_create(View, "t", make)[0])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(r is made[0] for r in results)
