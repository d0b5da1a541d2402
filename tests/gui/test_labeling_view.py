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


def test_queue_serves_this_datasets_pairs_behind_other_datasets(qtbot, session):
    from relattr_studio.data.label_store import DatasetPair, DatasetRef

    other = DatasetRef("elsewhere", "/nowhere/other.h5", "0" * 64)
    for i in range(12):  # more than one page of the queue, all for another dataset
        session.label_store.enqueue(DatasetPair(other, i, i + 1), "warm", priority=1.0)
    session.label_store.enqueue(DatasetPair(DatasetRef.of(session.dataset), 3, 5), "warm")
    v = LabelingView(session)
    qtbot.addWidget(v)
    assert v.current.task.origin == "queue"
    assert {v.current.task.pair.a, v.current.task.pair.b} == {3, 5}
    v.shutdown()


def test_a_held_key_labels_one_pair_only(qtbot, view, session):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    for repeat in (False, True, True, True):
        event = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Left, Qt.KeyboardModifier.NoModifier, "", repeat)
        QApplication.sendEvent(view, event)
    assert len(session.label_store.judgements()) == 1


def test_single_attribute_and_random_modes(qtbot, view, session):
    session.set_attribute("bright")
    assert view.current.task.attribute == "bright"
    view.mode_box.setCurrentIndex(1)
    view.restart()
    assert view.current.task.origin == "random"
    assert view.current.task.attribute == "bright"


def test_keys_work_with_a_combo_box_focused_but_not_in_its_open_popup(qtbot, view, session):
    store = session.label_store
    view.mode_box.setFocus()
    qtbot.waitUntil(lambda: view.mode_box.hasFocus(), timeout=2000)
    qtbot.keyClick(view.mode_box, Qt.Key.Key_Left)
    qtbot.keyClick(view.mode_box, Qt.Key.Key_Down)  # "equal", not the next pair mode
    assert [r.judgement.value for r in store.judgements()] == ["left-more", "equal"]
    assert view.mode_box.currentIndex() == 0
    view.mode_box.showPopup()
    popup = view.mode_box.view()
    qtbot.waitUntil(lambda: popup.isVisible(), timeout=2000)
    qtbot.keyClick(popup, Qt.Key.Key_Down)  # moves in the list: the popup keeps its keys
    qtbot.keyClick(popup, Qt.Key.Key_Right)
    assert len(store.judgements()) == 2
    assert popup.currentIndex().row() == 1
    view.mode_box.hidePopup()
    qtbot.keyClick(view.attribute_box, Qt.Key.Key_D)
    assert len(store.judgements()) == 3


def test_keys_leave_text_fields_alone_and_stop_when_hidden(qtbot, view, session):
    from PySide6.QtWidgets import QLineEdit

    field = QLineEdit(view)  # e.g. a search box a later version may add
    field.show()
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_A)
    qtbot.keyClick(field, Qt.Key.Key_Left)
    assert field.text() == "a" and session.label_store.judgements() == []
    view.hide()
    qtbot.keyClick(field, Qt.Key.Key_D)
    assert session.label_store.judgements() == []


def test_progress_counts_train_pairs_not_random_judgements(qtbot, view, session):
    import numpy as np

    from relattr_studio.core.types import Split

    t = session.dataset.pairs()
    bright = session.dataset.attribute_names.index("bright")
    total = int(((t.split == int(Split.TRAIN)) & (t.attribute == bright)).sum())
    session.set_attribute("bright")
    for _ in range(3):
        qtbot.keyClick(view, Qt.Key.Key_Left)
    qtbot.keyClick(view, Qt.Key.Key_X)  # "can't tell" is judged too
    view.mode_box.setCurrentIndex(1)
    view.restart()  # random pairs: judgements, but not of train pairs
    for _ in range(5):
        qtbot.keyClick(view, Qt.Key.Key_Right)
    done, n = view.labeled.train_progress()["bright"]
    random_train = sum(1 for r in session.label_store.judgements()[4:]
                       if np.any((t.split == 0) & (t.attribute == bright)
                                 & (np.minimum(t.a, t.b) == min(r.pair.a, r.pair.b))
                                 & (np.maximum(t.a, t.b) == max(r.pair.a, r.pair.b))))
    assert (done, n) == (4 + random_train, total)
    qtbot.waitUntil(lambda: view.progress.bars["bright"].text().startswith(f"{done:,} / {total:,}"), timeout=2000)
    qtbot.waitUntil(lambda: view.progress.note.text().startswith("8 judgements with a label"), timeout=2000)
    last = session.label_store.judgements()[-1]
    last_is_train = bool(np.any((t.split == 0) & (t.attribute == bright)
                                & (np.minimum(t.a, t.b) == min(last.pair.a, last.pair.b))
                                & (np.maximum(t.a, t.b) == max(last.pair.a, last.pair.b))))
    qtbot.keyClick(view, Qt.Key.Key_Backspace)
    assert view.labeled.train_progress()["bright"][0] == done - int(last_is_train)


def test_generated_pairs_show_their_stored_pixels_and_keep_provenance(qtbot, session):
    import numpy as np

    from relattr_studio.data.label_store import GeneratedImage, GeneratedPair

    rng = np.random.default_rng(3)
    px_a, px_b = (rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(2))
    pair = GeneratedPair(GeneratedImage("gen-test", y=(0.2, 0.8), z=(1.0, -1.0, 0.5), pixels=px_a),
                         GeneratedImage("gen-test", y=(0.6, 0.8), z=(1.0, -1.0, 0.5), pixels=px_b))
    store = session.label_store
    store.enqueue(pair, "round", origin="generator")
    v = LabelingView(session, seed=2)
    qtbot.addWidget(v)
    v.show()
    task = v.current.task
    assert task.origin == "queue" and "generated pair (gen-test)" in v.detail.text()
    left, right = (px_a, px_b) if task.left_is_a else (px_b, px_a)
    for canvas, expected in ((v.left, left), (v.right, right)):
        img = canvas.pixmap().toImage().convertToFormat(canvas.pixmap().toImage().Format.Format_RGB888)
        shown = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
        assert np.array_equal(shown[:, :img.width() * 3].reshape(48, 40, 3), expected)
    qtbot.keyClick(v, Qt.Key.Key_Left)
    (rec,) = store.judgements()
    assert rec.pair == pair and rec.attribute == "round" and rec.left_is_a == task.left_is_a
    assert rec.label.name == ("A_MORE" if task.left_is_a else "B_MORE")
    back = store.with_pixels(rec.pair)
    assert np.array_equal(back.a.pixels, px_a) and np.array_equal(back.b.pixels, px_b)
    assert back.a.z == pair.a.z and store.pending_count() == 0
    v.shutdown()
