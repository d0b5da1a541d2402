"""Labeling by keyboard: judgements land in the store at once; undo shows the pair again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from relattr_studio.gui.labeling_view import PREFETCH, LabelingView


@pytest.fixture
def view(qtbot, session):
    v = LabelingView(session, seed=1)
    qtbot.addWidget(v)
    v.show()
    v.setFocus()
    yield v
    v.shutdown()


def test_a_round_by_keyboard_writes_the_store(qtbot, view, session):
    store = session.label_store
    shown = []
    for key in (Qt.Key.Key_Left, Qt.Key.Key_D, Qt.Key.Key_E, Qt.Key.Key_X, Qt.Key.Key_A, Qt.Key.Key_Right):
        shown.append(view.current.task)
        qtbot.keyClick(view, key)
    records = store.judgements()
    assert [r.judgement.value for r in records] == ["left-more", "right-more", "equal", "discard",
                                                    "left-more", "right-more"]
    for task, rec in zip(shown, records):
        assert rec.left_is_a == task.left_is_a
        assert (rec.pair.a, rec.pair.b, rec.attribute) == (task.pair.a, task.pair.b, task.attribute)
    assert "Saved" in view.saved.text()
    assert len({(t.pair.a, t.pair.b) for t in shown}) == len(shown)


def test_presentation_order_is_randomised(qtbot, view, session):
    for _ in range(30):
        qtbot.keyClick(view, Qt.Key.Key_Left)
    sides = {r.left_is_a for r in session.label_store.judgements()}
    assert sides == {True, False}


def test_confidence_keys(qtbot, view, session):
    qtbot.keyClick(view, Qt.Key.Key_3)
    qtbot.keyClick(view, Qt.Key.Key_Left)
    qtbot.keyClick(view, Qt.Key.Key_1)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    confs = [r.confidence for r in session.label_store.judgements()]
    assert confs == pytest.approx([1.0, 1 / 3])


def test_undo_adds_a_row_and_shows_the_previous_pair(qtbot, view, session):
    store = session.label_store
    first = view.current.task
    qtbot.keyClick(view, Qt.Key.Key_Left)
    second = view.current.task
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert view.current.task == second
    assert [r.judgement.value for r in store.judgements()] == ["left-more"]
    everything = store.judgements(effective=False)
    assert len(everything) == 2 and everything[1].undone
    qtbot.keyClick(view, Qt.Key.Key_Backspace)
    assert view.current.task == first
    assert store.judgements() == []
    qtbot.keyClick(view, Qt.Key.Key_E)  # judging again after undo records a fresh row
    assert [r.judgement.value for r in store.judgements()] == ["equal"]
    assert view.current.task == second


def test_next_pairs_are_prefetched(qtbot, view):
    qtbot.waitUntil(lambda: len(view.upcoming) == PREFETCH, timeout=2000)
    nxt = view.upcoming[0]
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert view.current is nxt
    assert view.left.pixmap() is nxt.left


def test_pending_queue_comes_first(qtbot, session):
    from relattr_studio.data.label_store import DatasetPair, DatasetRef

    ref = DatasetRef.of(session.dataset)
    session.label_store.enqueue(DatasetPair(ref, 7, 9), "warm", origin="test")
    v = LabelingView(session)
    qtbot.addWidget(v)
    assert v.current.task.origin == "queue"
    assert {v.current.task.pair.a, v.current.task.pair.b} == {7, 9}
    v.judge("equal")
    assert session.label_store.pending_count() == 0
    v.shutdown()


def test_single_attribute_and_random_modes(qtbot, view, session):
    session.set_attribute("bright")
    assert view.current.task.attribute == "bright"
    view.mode_box.setCurrentIndex(1)
    view.restart()
    assert view.current.task.origin == "random"
    assert view.current.task.attribute == "bright"
