"""Labeling view: two images, one question, one key per judgement.

Keys (whenever the view is shown, see ``labeling_keys``): Left / A = left more, Right / D = right more, E / Down = equal, X / Delete = discard,
1 / 2 / 3 = confidence low / medium / high (sticks until changed), Ctrl+Z / Backspace = undo.

Every judgement is committed to the label store before the next pair is shown; the next
pairs are prefetched (decoded into pixmaps) while the person looks at the current one, so
the new pair is on screen within a frame of the key. Pairs come from a labeling source of the
data layer (``data/labeling_sources.py``): the store's queue first, then the dataset's train
pairs (or random pairs), or one batch to its end. Pairs queued anywhere in the window
(``session.queue_changed``) are the next ones shown, and the queue count says how many wait.
Run alone with fake data: ``python -m relattr_studio.gui.labeling_view``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QButtonGroup, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.session import Session
from relattr_studio.gui.imaging import pixmap_from_array
from relattr_studio.gui.labeling_keys import LabelingKeys
from relattr_studio.gui.labeling_progress import LabelingProgress
from relattr_studio.data.label_records import DatasetPair
from relattr_studio.data.labeling_sources import (
    DATASET_PAIRS, QUEUE, RANDOM_PAIRS, BatchSource, JudgedPairs, LabelingSource, PairTask, QueueFirst, QueueSource,
    labeling_source, record_task,
)
from relattr_studio.gui.widgets import ImageCanvas

CONFIDENCE = {1: 1 / 3, 2: 2 / 3, 3: 1.0}
PREFETCH = 2


@dataclass
class Prepared:
    task: PairTask
    left: QPixmap
    right: QPixmap


class LabelingView(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None, *, seed: int = 0):
        super().__init__(parent)
        self.session = session
        self.seed = seed
        self.source: LabelingSource | None = None
        self.labeled: JudgedPairs | None = None  # this dataset's judged pairs, for the progress bars
        self.current: Prepared | None = None
        self.upcoming: deque[Prepared] = deque()
        self.history: list[Prepared] = []
        self.confidence_level: int | None = None
        self.judged_this_session = 0
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.setInterval(0)
        self._prefetch_timer.timeout.connect(self._prefetch)
        self._build()
        self.keys = LabelingKeys(self, self._on_key)  # active while shown, whatever has the focus
        session.events.dataset.connect(self._on_dataset)
        session.events.label_store.connect(self._on_store)
        session.events.attribute.connect(self._on_session_attribute)
        session.events.queue_changed.connect(self._on_queue_changed)
        session.events.labels_changed.connect(self._on_labels_changed)
        self._on_dataset(session.dataset)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.attribute_box = QComboBox()
        self.mode_box = QComboBox()
        self.mode_box.setMinimumContentsLength(34)
        self._fill_modes()
        for box in (self.attribute_box, self.mode_box):
            box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.attribute_box.activated.connect(self._on_attribute_chosen)
        self.mode_box.activated.connect(lambda _i: (self.restart(), self.setFocus()))
        top = QHBoxLayout()
        top.addWidget(QLabel("Attribute"))
        top.addWidget(self.attribute_box)
        top.addSpacing(12)
        top.addWidget(QLabel("Pairs"))
        top.addWidget(self.mode_box)
        top.addSpacing(12)
        self.queue_count = QLabel()
        self.queue_count.setToolTip("Pairs waiting in the label store's queue (sent from Explore, an active-learning "
                                    "round, ...); they are shown before anything else.")
        top.addWidget(self.queue_count)
        top.addStretch(1)
        self.saved = QLabel()
        self.saved.setMinimumWidth(230)
        self.saved.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.saved)

        self.question = QLabel("")
        self.question.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.question.setStyleSheet("font-size: 20px; font-weight: 600; padding: 6px;")
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setStyleSheet("color: #5f6670;")
        self.left = ImageCanvas(minimum=240, caption="←")
        self.right = ImageCanvas(minimum=240, caption="→")
        for canvas in (self.left, self.right):
            canvas.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        images = QHBoxLayout()
        images.addWidget(self.left)
        images.addWidget(self.right)

        buttons = QHBoxLayout()
        self.buttons = {}
        for key, text in (("left", "◀  Left more   [← / A]"), ("equal", "Equal   [E / ↓]"),
                          ("discard", "Can't tell   [X / Del]"), ("right", "Right more   [→ / D]  ▶"),
                          ("undo", "Undo   [Ctrl+Z / ⌫]")):
            b = QPushButton(text)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setMinimumHeight(34)
            b.clicked.connect(lambda _c=False, k=key: self._on_button(k))
            self.buttons[key] = b
            buttons.addWidget(b, 2 if key in ("left", "right") else 1)

        conf = QHBoxLayout()
        conf.addStretch(1)
        conf.addWidget(QLabel("Confidence"))
        self.confidence_group = QButtonGroup(self)
        self.confidence_group.setExclusive(False)
        for level, text in ((1, "Low [1]"), (2, "Medium [2]"), (3, "High [3]")):
            b = QPushButton(text)
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _c=False, lv=level: self.set_confidence(lv))
            self.confidence_group.addButton(b, level)
            conf.addWidget(b)
        conf.addStretch(1)

        self.progress = LabelingProgress()
        side_widget = self.progress
        side_widget.setFixedWidth(300)

        centre = QVBoxLayout()
        centre.addLayout(top)
        centre.addWidget(self.question)
        centre.addLayout(images, 1)
        centre.addWidget(self.detail)
        centre.addLayout(buttons)
        centre.addLayout(conf)
        outer = QHBoxLayout(self)
        outer.addLayout(centre, 1)
        outer.addWidget(side_widget)

    # -- session ----------------------------------------------------------------------------

    def _on_dataset(self, dataset) -> None:
        self.attribute_box.blockSignals(True)
        self.attribute_box.clear()
        self.attribute_box.addItem("All attributes (mixed)", None)
        for name in [] if dataset is None else dataset.attribute_names:
            self.attribute_box.addItem(name, name)
        idx = self.attribute_box.findData(self.session.attribute)
        self.attribute_box.setCurrentIndex(max(0, idx))
        self.attribute_box.blockSignals(False)
        self.progress.set_attributes([] if dataset is None else dataset.attribute_names)
        self.restart()

    def _on_store(self, _store) -> None:
        self._fill_modes()
        self.restart()

    def _on_attribute_chosen(self, _index: int) -> None:
        self.session.set_attribute(self.attribute_box.currentData())
        self.setFocus()

    def _on_session_attribute(self, name) -> None:
        self.attribute_box.setCurrentIndex(max(0, self.attribute_box.findData(name)))
        self.restart()

    def _fill_modes(self) -> None:
        """Where pairs come from: the queue then the dataset (default), and each open batch."""
        box, store = self.mode_box, self.session.label_store
        current = box.currentData()
        box.blockSignals(True)
        box.clear()
        box.addItem("Queue, then dataset train pairs not yet labeled", DATASET_PAIRS)
        box.addItem("Queue, then random pairs of images", RANDOM_PAIRS)
        box.addItem("Queue only", QUEUE)
        if store is not None:
            try:
                for info in store.batches():
                    box.addItem(f"Batch · {info.describe()}", ("batch", info.id))
            except RelAttrError as err:
                self.session.show_status(str(err))
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)

    def _on_queue_changed(self, _added) -> None:
        """Pairs were queued: they come next (after the pair on screen), with no other action."""
        self._fill_modes()
        if isinstance(self.source, QueueFirst):
            # Prefetched pairs of the dataset go back to it, so the queue's pairs come first.
            keep = [p for p in self.upcoming if p.task.origin == QUEUE]
            for p in reversed([p for p in self.upcoming if p.task.origin != QUEUE]):
                self.source.give_back(p.task)
            self.upcoming = deque(keep)
        if self.current is None:
            self._advance()
        else:
            self._prefetch_timer.start()
        self._refresh_progress()

    def _on_labels_changed(self, _none) -> None:
        self._refresh_queue_count()

    def restart(self) -> None:
        """Start over from the labeling source (dataset, store, attribute or mode changed)."""
        ds, store = self.session.dataset, self.session.label_store
        self.upcoming.clear()
        self.history.clear()
        self.current = None
        self.source = None
        self.labeled = None
        mode = self.mode_box.currentData()
        batch = None
        if isinstance(mode, tuple):
            mode, batch = mode
        if ds is not None or (store is not None and mode in (QUEUE, "batch")):
            try:
                self.labeled = JudgedPairs(ds, store) if ds is not None else None
                self.source = labeling_source(ds, store, mode=mode, batch=batch, seed=self.seed,
                                              attribute=self.attribute_box.currentData(), labeled=self.labeled)
            except (RelAttrError, KeyError) as err:
                self.session.show_status(str(err))
        self._advance()
        self._refresh_progress()

    # -- judging ----------------------------------------------------------------------------

    def _on_key(self, action: str) -> None:
        if action == "undo":
            self.undo()
        elif action.startswith("confidence-"):
            self.set_confidence(int(action[-1]))
        else:
            self.judge(action)

    def _on_button(self, key: str) -> None:
        if key == "undo":
            self.undo()
        else:
            self.judge({"left": "left-more", "right": "right-more"}.get(key, key))

    def set_confidence(self, level: int | None) -> None:
        self.confidence_level = None if level == self.confidence_level else level
        for lv in (1, 2, 3):
            self.confidence_group.button(lv).setChecked(lv == self.confidence_level)

    def judge(self, judgement: str) -> bool:
        """Commit a judgement of the pair on screen, then show the next one."""
        from relattr_studio.data.label_store import Judgement

        store, cur = self.session.label_store, self.current
        if cur is None:
            return False
        if store is None:
            self._flash("Open a label store to save judgements (File ▸ Open label store)", error=True)
            return False
        conf = CONFIDENCE.get(self.confidence_level) if self.confidence_level else None
        try:
            record_task(store, cur.task, Judgement(judgement), confidence=conf)
        except RelAttrError as err:
            self._flash(f"Not saved: {err}", error=True)
            return False
        self.source.mark_labeled(cur.task)
        if self.labeled is not None:
            self.labeled.mark(cur.task)
        self.history.append(cur)
        self.judged_this_session += 1
        self._advance()
        self._flash(f"✓ Saved  ·  {self.judged_this_session} this session")
        QTimer.singleShot(0, self._after_commit)
        return True

    def undo(self) -> bool:
        """Retract the last judgement (a new undo row in the store) and show its pair again."""
        store = self.session.label_store
        if store is None or not self.history:
            self._flash("Nothing to undo", error=True)
            return False
        try:
            store.undo()
        except RelAttrError as err:
            self._flash(f"Undo failed: {err}", error=True)
            return False
        previous = self.history.pop()
        self.source.forget_labeled(previous.task)
        if self.labeled is not None:
            self.labeled.forget(previous.task)
        if self.current is not None:
            self.upcoming.appendleft(self.current)
        self.judged_this_session = max(0, self.judged_this_session - 1)
        self._show(previous)
        self._flash("↶ Undone: judge this pair again")
        QTimer.singleShot(0, self._after_commit)
        return True

    def _after_commit(self) -> None:
        self.session.notify_labels_changed()
        self._refresh_progress()

    # -- showing and prefetching ------------------------------------------------------------

    def _prepare(self, task: PairTask | None) -> Prepared | None:
        if task is None:
            return None
        left, right = task.images(self.session.dataset)
        return Prepared(task, pixmap_from_array(left), pixmap_from_array(right))

    def _advance(self) -> None:
        nxt = self.upcoming.popleft() if self.upcoming else None
        if nxt is None and self.source is not None:
            nxt = self._prepare(self.source.next())
        self._show(nxt)

    def _show(self, prepared: Prepared | None) -> None:
        self.current = prepared
        if prepared is None:
            self.left.set_pixmap(None)
            self.right.set_pixmap(None)
            if self.session.dataset is None and self.source is None:
                self.question.setText("Open a dataset to start labeling")
            elif isinstance(self.source, BatchSource):
                self.question.setText("This batch is labeled to the end")
                self.detail.setText("Choose another batch, or the queue and the dataset's pairs.")
            else:
                self.question.setText("No pairs left to label here")
                self.detail.setText("Choose another attribute, or random pairs of images.")
            for key in ("left", "right", "equal", "discard"):
                self.buttons[key].setEnabled(False)
            return
        for key in ("left", "right", "equal", "discard"):
            self.buttons[key].setEnabled(True)
        t = prepared.task
        self.left.set_pixmap(prepared.left)
        self.right.set_pixmap(prepared.right)
        self.question.setText(f"Which image shows more “{t.attribute}”?")
        origin = {QUEUE: "from the labeling queue", DATASET_PAIRS: "dataset train pair",
                  RANDOM_PAIRS: "random pair"}.get(t.origin, t.origin)
        if t.pending is not None and t.pending.origin:
            origin += f" ({t.pending.origin})"
        p = t.pair
        if isinstance(p, DatasetPair):
            names = self.session.dataset.image_names
            left, right = (p.a, p.b) if t.left_is_a else (p.b, p.a)
            self.detail.setText(f"{names[left]}   ·   {names[right]}   ·   {origin}")
        else:
            self.detail.setText(f"generated pair ({p.a.model_id})   ·   {origin}")
        self._prefetch_timer.start()

    def _prefetch(self) -> None:
        """Decode the next pairs while the person looks at this one (one pair per tick)."""
        if self.source is None or len(self.upcoming) >= PREFETCH:
            return
        prepared = self._prepare(self.source.next())
        if prepared is not None:
            self.upcoming.append(prepared)
            if len(self.upcoming) < PREFETCH:
                self._prefetch_timer.start()

    # -- progress and feedback --------------------------------------------------------------

    def _refresh_progress(self) -> None:
        self._refresh_queue_count()
        ds, store = self.session.dataset, self.session.label_store
        if ds is None or self.labeled is None:
            return
        total = None if store is None else sum(store.progress(dataset=self.labeled.ref).values())
        self.progress.show_counts(self.labeled.train_progress(), total)

    def _refresh_queue_count(self) -> None:
        """The queue count beside the mode, and a batch's progress when a batch is labeled."""
        store = self.session.label_store
        if store is None:
            self.queue_count.setText("")
            return
        try:
            if isinstance(self.source, BatchSource):
                info = self.source.info()
                self.queue_count.setText(info.describe())
                self.mode_box.setItemText(self.mode_box.currentIndex(), f"Batch · {info.describe()}")
                return
            queue = self.source.queue if isinstance(self.source, QueueFirst) else self.source
            if isinstance(queue, QueueSource):
                n = queue.count()
            else:
                n = store.pending_count()
        except RelAttrError as err:
            self.queue_count.setText(f"queue: {err}")
            return
        self.queue_count.setText(f"Queue: {n:,} to label" if n else "Queue: empty")
        self.queue_count.setStyleSheet("font-weight: 600; color: #1c5fb8;" if n else "color: #5f6670;")

    def _flash(self, text: str, *, error: bool = False) -> None:
        colour = "#b3261e" if error else "#1e7d32"
        self.saved.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self.saved.setText(text)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.keys.install()
        self.setFocus()

    def hideEvent(self, event) -> None:
        self.keys.remove()
        super().hideEvent(event)

    def shutdown(self) -> None:
        self.keys.remove()
        self._prefetch_timer.stop()
        self.source = None
        self.upcoming.clear()
        self.session.events.disconnect_all(self)


def preview(n: int = 2000) -> int:
    """Show the view alone on a fake dataset with a temporary label store."""
    import sys
    import tempfile
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.gui.preview_data import make_fake_dataset

    app = QApplication.instance() or QApplication(sys.argv)
    tmp = Path(tempfile.mkdtemp())
    session = Session()
    session.set_dataset(DatasetFile(make_fake_dataset(tmp / "fake.h5", n=n)))
    session.set_label_store(LabelStore(tmp / "labels.sqlite", annotator="preview"))
    view = LabelingView(session)
    view.resize(1200, 720)
    view.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(preview())
