"""The Inspect view: a trained ranker's total ordering, score histogram, pair saliency,
crop boxes and channel attention, and an embedding of its features.

Loading, scoring, saliency and t-SNE run as jobs (``analysis/inspect_jobs.py``) on worker threads;
the GUI thread only sorts scores and draws.

The ranker is the session's (``session.ranker``, a checkpoint reference), not the view's: a
ranker opened here becomes the workspace's, and one set elsewhere (a training run of the Train
view that just finished) is loaded when this view is shown with nothing loaded, or offered
with one click over the model shown. Another dataset clears every score, map and pair shown
and scores the session's ranker again on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QListView, QProgressBar, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from relattr_studio.analysis import inspect_jobs
from relattr_studio.core.protocols import RankerRef
from relattr_studio.core.session import Session
from relattr_studio.core.types import Split
from relattr_studio.gui.inspect_pair import PairPanel
from relattr_studio.gui.plots import EmbeddingScatter, ScoreHistogram
from relattr_studio.gui.thumbnail_model import ThumbnailDelegate, ThumbnailGrid, ThumbnailModel
from relattr_studio.gui.workers import JobRunner

MAX_TEST_PAIRS = 300


class ScoreThumbnailModel(ThumbnailModel):
    """Thumbnails captioned with the model's score instead of the dataset's strength."""

    scores: np.ndarray | None = None

    def caption(self, image: int) -> str:
        if self.scores is None or self.caption_attribute is None:
            return ""
        return f"{self.scores[image, self.caption_attribute]:.2f}"


def ranker_ref(info, *, origin: str = "opened") -> RankerRef:
    """The workspace reference of a loaded checkpoint (its ``CheckpointInfo``)."""
    return RankerRef.describe(info.path, ranker=info.ranker, backbone=info.backbone, attributes=info.attributes,
                              test_accuracy=(info.results or {}).get("test"), origin=origin)


def fits(ref: RankerRef, dataset) -> bool:
    """Whether the ranker scores some attribute of ``dataset`` (or its attributes are unknown)."""
    return not ref.attributes or bool(set(ref.attributes) & set(dataset.attribute_names))


class InspectView(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = JobRunner(self)  # load + score, t-SNE
        self.pair_runner = JobRunner(self)  # saliency of one pair at a time
        self.analysis: inspect_jobs.Analysis | None = None
        self.order = np.zeros(0, np.int64)
        self.picked: list[int] = []
        self._pending_pair: tuple[int, int] | None = None
        self._loading: tuple[str, str] | None = None  # (checkpoint, dataset path) of the load running
        self._auto_loaded: tuple[str, str] | None = None  # the last (checkpoint, dataset) loaded unasked
        self._embedding: tuple | None = None  # (image indices, N x 2, title) on the scatter
        self._pair_request: tuple | None = None  # (analysis, a, b, attribute) of the pair job

        self.load_button = QPushButton("Load checkpoint…")
        self.load_button.clicked.connect(self.choose_checkpoint)
        self.model_label = QLabel("No model loaded")
        self.attribute = QComboBox()
        self.attribute.currentIndexChanged.connect(self._on_attribute)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("idle")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.runner.cancel)
        # shown only while a job runs: a full bar reading "done" looked like a button; their
        # room is kept so the attribute box does not jump
        for w in (self.progress, self.cancel_button):
            policy = w.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            w.setSizePolicy(policy)
            w.hide()
        top = QHBoxLayout()
        for w in (self.load_button, self.model_label):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(QLabel("Attribute"))
        top.addWidget(self.attribute)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)

        # the session's ranker when it is not the one shown (a run just finished): one click loads it
        self.offer = QWidget()
        self.offer_label = QLabel()
        self.offer_label.setWordWrap(True)
        self.offer_button = QPushButton("Load it")
        self.offer_button.clicked.connect(self.load_session_ranker)
        offer_row = QHBoxLayout(self.offer)
        offer_row.setContentsMargins(8, 4, 8, 4)
        offer_row.addWidget(self.offer_label, 1)
        offer_row.addWidget(self.offer_button)
        self.offer.setObjectName("rankerOffer")  # styled alone: its label and button keep their look
        self.offer.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.offer.setStyleSheet("#rankerOffer { background: #eaf2fc; border-radius: 4px; }")
        self.offer.hide()

        self.thumbs = ScoreThumbnailModel(self, thumb_size=72)
        self.strip = ThumbnailGrid(self.thumbs)
        self.strip.setModel(self.thumbs)
        self.strip.setItemDelegate(ThumbnailDelegate(self.thumbs, self.strip))
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setUniformItemSizes(True)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.strip.setFixedHeight(132)
        self.strip.setSelectionMode(QListView.SelectionMode.MultiSelection)
        self.strip.clicked.connect(lambda index: self.pick(self.thumbs.image_at(index.row())))
        strip_label = QLabel("Images sorted by score (strongest first) — click two to compare")

        self.histogram = ScoreHistogram()
        # Borda scores live in [0, 1]: an automatic "(x0.001)" prefix read them as 300..900
        self.histogram.getAxis("bottom").enableAutoSIPrefix(False)
        self.scatter = EmbeddingScatter(on_pick=self.pick)
        self.pca_button = QPushButton("PCA")
        self.tsne_button = QPushButton("t-SNE")
        self.pca_button.clicked.connect(self.show_pca)
        self.tsne_button.clicked.connect(self.compute_tsne)
        self.embedding_label = QLabel("Embedding of the backbone features:")
        emb_buttons = QHBoxLayout()
        emb_buttons.addWidget(self.embedding_label)
        emb_buttons.addWidget(self.pca_button)
        emb_buttons.addWidget(self.tsne_button)
        emb_buttons.addStretch(1)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.histogram, 2)
        lv.addLayout(emb_buttons)
        lv.addWidget(self.scatter, 3)
        self.pca_button.setEnabled(False)
        self.tsne_button.setEnabled(False)

        self.test_pairs = QComboBox()
        self.test_pairs.setPlaceholderText("… or choose a test pair")
        self.test_pairs.activated.connect(self._on_test_pair)
        self.pair_panel = PairPanel()
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.test_pairs)
        rv.addWidget(self.pair_panel, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([620, 620])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.offer)
        layout.addWidget(strip_label)
        layout.addWidget(self.strip)
        layout.addWidget(split, 1)

        self._on_done = None
        self._shown_model = "No model loaded"  # the model label's text for the model shown
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_job_finished)
        self.runner.failed.connect(lambda m: self._job_ended(f"failed: {m}", error=m))
        self.runner.cancelled.connect(lambda: self._job_ended("cancelled"))
        self.runner.ended.connect(self._sync_ranker)  # a job dropped for a new dataset leaves room to load
        self.pair_runner.finished.connect(self._on_pair)
        self.pair_runner.failed.connect(lambda m: self.pair_panel.verdict.setText(f"Saliency failed: {m}"))
        self.pair_runner.ended.connect(self._next_pair)
        session.events.dataset.connect(self._on_dataset)
        session.events.ranker.connect(self._on_ranker)
        self._on_dataset(session.dataset)

    # -- session ---------------------------------------------------------------------------

    def _on_dataset(self, ds) -> None:
        """Another dataset: nothing of the previous one stays on screen (scores, strip,
        histogram, map, pair, test pairs); the session's ranker is scored on it again."""
        if self.runner.running:  # loading or mapping the old dataset's images: drop the result
            self._on_done = None
            self._loading = None
            self.runner.cancel()
        self._pending_pair = None
        self._pair_request = None
        self.thumbs.set_dataset(ds)
        self._clear_model()
        self._show_no_model()
        self.load_button.setEnabled(ds is not None and not self.runner.running)
        self._sync_ranker()

    def _on_ranker(self, _ref: RankerRef | None) -> None:
        self._sync_ranker()

    def _clear_model(self) -> None:
        """Forget the model shown and everything drawn from it."""
        self.analysis = None
        self.picked = []
        self._embedding = None
        self.order = np.zeros(0, np.int64)
        self.thumbs.scores = None
        self.thumbs.caption_attribute = None
        self.thumbs.set_order(self.order)
        self.strip.selectionModel().clearSelection()
        self.attribute.blockSignals(True)
        self.attribute.clear()
        self.attribute.blockSignals(False)
        self.histogram.set_histogram(np.zeros(0), np.zeros(1))
        self.histogram.mark([])
        self.histogram.setTitle("Score histogram")
        self.histogram.setLabel("bottom", "score")
        self.scatter.set_points(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0), "Embedding")
        self.pca_button.setEnabled(False)
        self.tsne_button.setEnabled(False)
        self.test_pairs.clear()
        self.pair_panel.clear()

    def _show_no_model(self) -> None:
        self._shown_model = "No model loaded"
        self.model_label.setText(self._shown_model)
        self.model_label.setToolTip("")

    def _sync_ranker(self) -> None:
        """Show the session's ranker: load it when nothing is shown and the view is on screen
        (a hidden tab starts no scoring), else offer it over the model shown."""
        ref, ds = self.session.ranker, self.session.dataset
        shown = None if self.analysis is None else self.analysis.info.path
        if ref is None or ref.same_file(shown) or (self._loading is not None and ref.same_file(self._loading[0])):
            self.offer.hide()
            return
        idle = not self.runner.running
        if ds is not None and idle and self.analysis is None and self.isVisible() and fits(ref, ds) \
                and self._auto_loaded != (ref.path, str(ds.path)):  # once: a file that fails is offered
            self._auto_loaded = (ref.path, str(ds.path))
            self.offer.hide()
            self.load_checkpoint(ref.path)
            return
        what = "Ranker just trained" if ref.origin == "trained" else "Ranker in the workspace"
        facts = [ref.name] + ([f"{ref.accuracy:.1f} % mean test accuracy"] if ref.accuracy is not None else [])
        text = f"{what}: <b>{ref.title()}</b> · {' · '.join(facts)}"
        if ds is not None and not fits(ref, ds):
            text += (f"<br>It ranks {', '.join(ref.attributes[:4])}{'…' if len(ref.attributes) > 4 else ''}, "
                     f"none of which {ds.name} has: its scores would not match this dataset's pairs.")
        self.offer_label.setText(text)
        self.offer_label.setToolTip(ref.path)
        self.offer_button.setEnabled(ds is not None and idle)
        self.offer.show()

    def load_session_ranker(self) -> bool:
        """Load the session's ranker (the offer's button)."""
        ref = self.session.ranker
        return ref is not None and self.load_checkpoint(ref.path)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._sync_ranker()

    # -- loading and scoring ---------------------------------------------------------------

    def choose_checkpoint(self) -> None:
        from relattr_studio.core.paths import data_dir

        path, _ = QFileDialog.getOpenFileName(self, "Load a trained ranker", str(data_dir() / "runs"),
                                              "Checkpoints (*.ckpt *.pt);;All files (*)")
        if path:
            self.load_checkpoint(path)

    def load_checkpoint(self, path: str | Path, *, device: str = "auto") -> bool:
        ds = self.session.dataset
        if ds is None or self.runner.running:
            return False
        self._loading = (str(path), str(ds.path))
        self.offer.hide()
        self.model_label.setText(f"Loading {Path(path).name}…")
        self.model_label.setToolTip(str(path))
        self._start(inspect_jobs.analyse_checkpoint, self._on_analysis, checkpoint=str(path),
                    dataset_path=str(ds.path), device=device)
        return True

    def _start(self, job, on_done, **kwargs) -> None:
        self._on_done = on_done
        self.cancel_button.setEnabled(True)
        self.load_button.setEnabled(False)
        self.tsne_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting…")
        self.progress.show()
        self.cancel_button.show()
        self.runner.start(job, **kwargs)

    def _on_job_finished(self, result) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(result)
        self._job_ended("done")

    def _on_progress(self, p) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * (p.fraction or 0)))
            self.progress.setFormat(f"{p.stage}: {p.done:,} / {p.total:,}")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(p.stage)

    def _job_ended(self, text: str, error: str | None = None) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000 if text == "done" else 0)
        self.progress.setFormat(text)
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.setEnabled(False)
        self.load_button.setEnabled(self.session.dataset is not None)
        has_features = self.analysis is not None and self.analysis.features is not None
        self.tsne_button.setEnabled(has_features)
        self.pca_button.setEnabled(has_features)
        loading, self._loading = self._loading, None
        if loading is None or text == "done":
            return  # done, or a job dropped for another dataset (its view is already cleared)
        # a load that failed or was cancelled: the model shown before stays, and says it is shown
        path = loading[0]
        what = "Could not load" if error else "Cancelled loading"
        still = f" · still showing {self._shown_model}" if self.analysis is not None else ""
        self.model_label.setText(f"<span style='color:#c0392b'>{what} {Path(path).name}</span>{still}")
        self.model_label.setToolTip(f"{path}: {error}" if error else path)
        if error:
            self.session.show_status(f"Could not load {Path(path).name}: {error}")

    def _on_analysis(self, a: inspect_jobs.Analysis) -> None:
        if self._loading is None or self._loading[1] != str(self.session.dataset_path):
            return  # scores of a dataset no longer open
        self._clear_model()
        self.analysis = a
        info = a.info
        ref = self.session.ranker
        if ref is None or not ref.same_file(info.path):  # opened here: the workspace's ranker now
            self.session.set_ranker(ranker_ref(info))
        text = f"<b>{info.ranker}</b> on {info.backbone or '–'} · {a.device} · {Path(info.path).name}"
        tip = f"{info.path}\nbackbone weights: {info.weights_source}" + (f"\n{a.score_note}" if a.score_note else "")
        self.model_label.setText(text)
        self.model_label.setToolTip(tip)
        self._shown_model = text
        self.thumbs.scores = a.scores
        self.attribute.blockSignals(True)
        self.attribute.clear()
        self.attribute.addItems(list(info.attributes))
        self.attribute.blockSignals(False)
        self._pending_pair = None  # asked of the previous model
        self._on_attribute(0)
        has_features = a.features is not None
        self.scatter.setVisible(has_features)
        self.embedding_label.setText("Embedding of the backbone features:" if has_features else
                                     f"No embedding: {info.ranker} gives no per-image backbone features to map.")
        self.pca_button.setVisible(has_features)
        self.tsne_button.setVisible(has_features)
        self.show_pca()

    # -- attribute: ordering, histogram, colours, test pairs -------------------------------------

    @property
    def attribute_index(self) -> int:
        return max(0, self.attribute.currentIndex())

    def _on_attribute(self, _i: int) -> None:
        a = self.analysis
        if a is None:
            return
        from relattr_studio.analysis.orderings import score_histogram, total_ordering

        ai = self.attribute_index
        self.order = total_ordering(a.scores, ai)
        self.thumbs.caption_attribute = ai
        self.thumbs.set_order(self.order)
        self.histogram.set_histogram(*score_histogram(a.scores, ai))
        self.histogram.setTitle(f"Score histogram: {self.attribute.currentText()}")
        self.histogram.setLabel("bottom", a.score_note or "score")
        self.histogram.mark([float(a.scores[i, ai]) for i in self.picked])
        self._recolour()
        self._fill_test_pairs()
        if len(self.picked) == 2:  # the pair shown was judged on the previous attribute
            self._pending_pair = (self.picked[0], self.picked[1])
            self.pair_panel.verdict.setText("computing saliency…")
            self._next_pair()

    def _fill_test_pairs(self) -> None:
        self.test_pairs.clear()
        ds = self.session.dataset
        name = self.attribute.currentText()
        if ds is None or name not in ds.attribute_names:
            return
        rows = ds.pairs().where(attribute=ds.attribute_index(name), split=Split.TEST, non_equal=True)
        groups = {0: "", 1: "coarse", 2: "fine"}
        for k in range(min(MAX_TEST_PAIRS, len(rows))):
            a, b, lab, g = int(rows.a[k]), int(rows.b[k]), int(rows.label[k]), int(rows.group[k])
            more = "first" if lab > 0 else "second"
            self.test_pairs.addItem(f"#{a} vs #{b}  ({more} more{', ' + groups.get(g, '') if groups.get(g) else ''})",
                                    (a, b))

    def _on_test_pair(self, row: int) -> None:
        data = self.test_pairs.itemData(row)
        if data is not None:
            self.picked = []
            self.pick(data[0])
            self.pick(data[1])

    # -- embedding -------------------------------------------------------------------------

    def show_pca(self) -> None:
        a = self.analysis
        if a is not None and a.pca is not None:
            self._embedding = (np.arange(len(a.pca)), a.pca, "PCA of backbone features")
            self._recolour()

    def compute_tsne(self) -> bool:
        a = self.analysis
        if a is None or a.features is None or self.runner.running:
            return False
        self._start(inspect_jobs.tsne_job, self._on_tsne, features=a.features)
        return True

    def _on_tsne(self, result) -> None:
        idx, xy = result
        self._embedding = (idx, xy, f"t-SNE of backbone features ({len(idx):,} points)")
        self._recolour()

    def _recolour(self) -> None:
        a = self.analysis
        emb = self._embedding
        if a is None or emb is None:
            return
        idx, xy, title = emb
        self.scatter.set_points(xy, idx, a.scores[idx, self.attribute_index],
                                f"{title}, coloured by {self.attribute.currentText()} score")
        self.scatter.highlight(self.picked)

    # -- picking a pair ----------------------------------------------------------------------

    def pick(self, image: int) -> None:
        """Two picks make a pair (i first); a third starts a new pair."""
        ds = self.session.dataset
        if ds is None or self.analysis is None:
            return
        image = int(image)
        if len(self.picked) >= 2:
            self.picked = []
        self.picked.append(image)
        self.session.select_image(image)
        self.strip.selectionModel().clearSelection()
        for i in self.picked:
            row = self.thumbs.row_of(i)
            if row >= 0:
                self.strip.selectionModel().select(self.thumbs.index(row), self.strip.selectionModel().SelectionFlag.Select)
        self.scatter.highlight(self.picked)
        a = self.picked[0]
        b = self.picked[1] if len(self.picked) > 1 else None
        self.pair_panel.show_pending(a, ds.image(a), b, None if b is None else ds.image(b))
        scores = self.analysis.scores[:, self.attribute_index]
        self.histogram.mark([float(scores[i]) for i in self.picked])
        if b is not None:
            self._pending_pair = (a, b)
            self._next_pair()

    def _next_pair(self) -> None:
        """Start the newest requested pair once the pair worker is free (newest wins)."""
        if self._pending_pair is None or self.pair_runner.running or self.analysis is None:
            return
        a, b = self._pending_pair
        self._pending_pair = None
        ds = self.session.dataset
        self._pair_images = (ds.image(a), ds.image(b))
        self._pair_request = (self.analysis, a, b, self.attribute_index)
        self.pair_runner.start(inspect_jobs.analyse_pair, model=self.analysis.model, a=a, b=b,
                               image_a=self._pair_images[0], image_b=self._pair_images[1],
                               attribute=self.attribute_index, device=self.analysis.device)

    def _on_pair(self, r: inspect_jobs.PairAnalysis) -> None:
        if self._pending_pair is not None:
            return  # a newer pair is waiting: skip drawing this one
        asked = self._pair_request
        if asked is None or asked[0] is not self.analysis or list(asked[1:3]) != self.picked \
                or asked[3] != self.attribute_index:
            return  # asked of another model, pair or attribute than the one now shown
        self.pair_panel.show_result(r, *self._pair_images, self.attribute.currentText())

    # -- lifetime --------------------------------------------------------------------------

    def shutdown(self) -> None:
        self.session.events.disconnect_all(self)
        for runner in (self.runner, self.pair_runner):
            if runner.running:
                runner.cancel()
                runner.wait(10.0)
        self.thumbs.close()
