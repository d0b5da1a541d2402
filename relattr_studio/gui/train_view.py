"""The Train view: choose a ranker and its settings, train it on a worker, watch it learn.

The training job is the engine's ``train_ranker(config, *, ctx, resume_from)``; this view only
listens to its events (a metric sink, like the CLI's printer): Progress, Metrics, DeviceInfo,
TrainingData, CheckpointSaved, Finished, Failed, dispatched by type. Tests pass a fake job that
emits the same events.

"Train on" chooses the dataset's pairs, the open label store's judgements (real and generated
pairs, ``relattr train --labels --labels-only``), or both (``--labels``).

RankSVM rankers run ``run_ranksvm`` instead (``entry.run_ranksvm_training``), in the same
background process: Progress per attribute and seed, and each ResultRow as it is measured,
which fill the same results table (mean over seeds). They have no steps, so no curves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from relattr_studio.core.jobs import Progress
from relattr_studio.core.session import Session
from relattr_studio.gui.plots import LiveCurves
from relattr_studio.gui.train_form import TrainForm
from relattr_studio.gui.workers import JobRunner
from relattr_studio.modeling.catalog import RANKSVM_FAMILY, is_ranksvm_state_name
from relattr_studio.training.entry import resume_ranksvm_training, run_ranksvm_training, run_training
from relattr_studio.training.events import (
    CheckpointSaved, DeviceInfo, Failed, Finished, Metrics, RunCancelled, TrainingData,
)
from relattr_studio.training.results import ResultRow

LOG_METRICS_EVERY_S = 1.0

DATASET_PAIRS, MY_LABELS, BOTH = "dataset", "labels", "both"


def make_config(**fields):
    from relattr_studio.training.config import TrainConfig

    return TrainConfig(**fields)


def _count(n: int, noun: str) -> str:
    """``1 pair``, ``2,000 pairs``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def split_accuracy_key(key: str) -> tuple[str, str]:
    """"bald" -> ("bald", "test"); "bald/fine" or "bald [fine]" -> ("bald", "fine")."""
    for sep in ("/", " ["):
        if sep in key:
            attr, split = key.split(sep, 1)
            return attr, split.rstrip("]") or "test"
    return key, "test"


def mean_over_seeds(rows) -> dict[str, float]:
    """ResultRows (attribute, seed, accuracy, test_split "test" / "test/fine" ...) as
    ``_add_results`` keys ("bald", "bald/fine") -> mean accuracy over the seeds present."""
    cells: dict[str, list[float]] = {}
    for row in rows:
        split = row.test_split.split("/", 1)[1] if "/" in row.test_split else ""
        cells.setdefault(f"{row.attribute}/{split}" if split else row.attribute, []).append(float(row.accuracy))
    return {key: sum(v) / len(v) for key, v in cells.items()}


class TrainView(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None, *,
                 job: Callable | None = None, config_factory: Callable | None = None,
                 ranksvm_job: Callable | None = None):
        super().__init__(parent)
        self.session = session
        self.job = job or run_training
        self.ranksvm_job = ranksvm_job or run_ranksvm_training
        self.ranksvm_resume_job = resume_ranksvm_training
        self.config_factory = config_factory or make_config
        # the real training runs in its own process so the window never waits on it; a job
        # given by the caller (tests, previews) runs on a thread
        self.runner = JobRunner(self, in_process=job is None)
        self.last_checkpoint: str | None = None
        self.results: dict[str, dict[str, float]] = {}
        self._result_rows: list = []  # RankSVM's ResultRows of the current run
        self._ranksvm_out: Path | None = None
        self._last_metric_log = 0.0
        self._started_at = 0.0
        self._training_progress: Progress | None = None  # the run's last "training …" report
        self._run_is_ranksvm = False
        self._seeds = 1  # seeds whose mean the results table shows
        self.training_data: TrainingData | None = None  # what the current run trains on
        self._dataset_ref = None  # (dataset, its DatasetRef): the label counts' key, made once per dataset
        self._labels_stale = False  # judgements were made while this view was hidden

        self.form = TrainForm()
        self.dataset_label = QLabel("No dataset open")
        self.dataset_label.setWordWrap(True)
        self.train_on = QComboBox()
        self.train_on.addItem("Dataset pairs", DATASET_PAIRS)
        self.train_on.addItem("My labels", MY_LABELS)
        self.train_on.addItem("Dataset pairs and my labels", BOTH)
        self.train_on.setToolTip("My labels: the open label store's judgements of this dataset's pairs and of "
                                 "generated pairs (undone ones and \"can't tell\" left out); generated images join "
                                 "the training images.")
        self.labels_note = QLabel()
        self.labels_note.setWordWrap(True)
        self.labels_note.setStyleSheet("color: #5f6670;")
        self.train_on.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume from checkpoint…")
        self.resume_button.clicked.connect(self.choose_resume)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.dataset_label)
        source = QFormLayout()
        source.addRow("Train on", self.train_on)
        source.addRow(self.labels_note)
        lv.addLayout(source)
        lv.addWidget(self.form, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        lv.addLayout(buttons)
        lv.addWidget(self.resume_button)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(340)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.form_scroll = scroll

        self.device_label = QLabel("Device: –")
        self.weights_label = QLabel("Backbone weights: –")
        self.weights_label.setWordWrap(True)
        self.speed_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.curves = LiveCurves()
        self.no_curves_note = QLabel("RankSVM is solved per attribute, not trained in steps: it has no loss or "
                                     "accuracy curves. The results table fills in as each attribute is tested.")
        self.no_curves_note.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["attribute", "test accuracy (%)"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)  # row numbers would number the mean row too
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(3000)
        bottom = QTabWidget()
        bottom.addTab(self.table, "Results")
        bottom.addTab(self.log, "Log")
        self.bottom_tabs = bottom
        right = QWidget()
        rv = QVBoxLayout(right)
        info = QHBoxLayout()
        info.addWidget(self.device_label)
        info.addWidget(self.speed_label)
        info.addStretch(1)
        rv.addLayout(info)
        rv.addWidget(self.weights_label)
        rv.addWidget(self.progress)
        rv.addWidget(self.no_curves_note)
        split = QSplitter()
        split.setOrientation(split.orientation().Vertical)
        split.addWidget(self.curves)
        split.addWidget(bottom)
        split.setSizes([420, 240])
        rv.addWidget(split, 1)
        outer = QSplitter()
        outer.addWidget(scroll)
        outer.addWidget(right)
        outer.setStretchFactor(1, 1)
        outer.setSizes([320, 1000])
        QVBoxLayout(self).addWidget(outer)

        self.runner.progress.connect(self._on_progress)
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.ended.connect(self._on_ended)
        session.events.dataset.connect(self._on_dataset)
        session.events.label_store.connect(lambda _s: self._refresh_labels())
        # a judgement is made with every labeling key: count again when this view is next seen
        session.events.labels_changed.connect(lambda _n: self._refresh_labels(when_shown=True))
        self._on_dataset(session.dataset)
        self.form.ranker.currentTextChanged.connect(lambda _: self._update_buttons())
        self.form.ranker.currentTextChanged.connect(lambda _: self._fit_form_column())
        self._update_buttons()
        self._fit_form_column()

    def _fit_form_column(self) -> None:
        """Keep the form's column at least as wide as the form (and a vertical scrollbar): with
        horizontal scrolling off, a narrower column clipped the fields' right edges. It only
        grows, so the column does not jump when another ranker shows other fields."""
        s = self.form_scroll
        need = s.widget().minimumSizeHint().width() + 2 * s.frameWidth() + s.verticalScrollBar().sizeHint().width()
        s.setMinimumWidth(max(s.minimumWidth(), need))

    # -- session ---------------------------------------------------------------------------

    def _on_dataset(self, ds) -> None:
        if ds is None:
            self.dataset_label.setText("No dataset open: open one from the File menu.")
            self.form.set_attribute_names([])
        else:
            self.dataset_label.setText(f"<b>{ds.name}</b><br>{len(ds):,} images · {len(ds.pairs()):,} pairs")
            self.form.set_attribute_names(list(ds.attribute_names))
        self._refresh_labels()

    def label_counts(self) -> tuple[int, int] | None:
        """(judgements of this dataset's pairs, of generated pairs) with a label in the open store."""
        from relattr_studio.data.label_records import DatasetRef

        store, ds = self.session.label_store, self.session.dataset
        if store is None or ds is None:
            return None
        if self._dataset_ref is None or self._dataset_ref[0] is not ds:
            self._dataset_ref = (ds, DatasetRef.of(ds))  # its fingerprint hashes every image name
        try:
            real = sum(store.progress(dataset=self._dataset_ref[1]).values())
            generated = sum(store.progress(generated=True).values())
        except Exception as err:  # a damaged store is the user's to know about, not a reason to fail here
            self.labels_note.setText(f"Label store: {err}")
            return None
        return real, generated

    def _refresh_labels(self, *, when_shown: bool = False) -> None:
        if when_shown and not self.isVisible():
            self._labels_stale = True
            return
        self._labels_stale = False
        counts = self.label_counts()
        if counts is None:
            self.labels_note.setText("Open a label store to train on your labels." if self.session.label_store is None
                                     else self.labels_note.text())
        else:
            self.labels_note.setText(f"My labels: {_count(counts[0], 'judgement')} of this dataset's pairs, "
                                     f"{counts[1]:,} of generated pairs ({Path(self.session.label_store.path).name})")
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = not self.runner.running
        wants_labels = self.train_on.currentData() != DATASET_PAIRS
        self.start_button.setEnabled(self.session.dataset is not None and idle
                                     and not (wants_labels and self.session.label_store is None))
        self.resume_button.setEnabled(idle)
        self.cancel_button.setEnabled(not idle)
        # curves for a neural ranker; RankSVM has none, so no empty plots for it: the running
        # job decides, else the ranker chosen
        ranksvm = self._run_is_ranksvm if self.runner.running else self.form.family() == RANKSVM_FAMILY
        self.curves.setVisible(not ranksvm)
        self.no_curves_note.setVisible(ranksvm)

    # -- actions ---------------------------------------------------------------------------

    def build_config(self):
        from relattr_studio.core.paths import data_dir

        ds = self.session.dataset
        out = data_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")
        return self.config_factory(dataset=str(ds.path), out_dir=str(out), **self.form.config_kwargs(),
                                   **self._labels_settings())

    def _labels_settings(self) -> dict:
        """What "Train on" asks for: nothing (dataset pairs), or the open store, with or without the dataset's pairs."""
        store, on = self.session.label_store, self.train_on.currentData()
        if on == DATASET_PAIRS or store is None:
            return {}
        return {"labels": str(store.path), "labels_only": on == MY_LABELS}

    def start(self, resume_from: str | Path | None = None) -> bool:
        """Start training with the form's settings (or resume from a checkpoint file)."""
        if self.runner.running or self.session.dataset is None:
            return False
        if not self.form.checked_attributes():
            self._log("Choose at least one attribute.")
            return False
        if resume_from is not None and is_ranksvm_state_name(resume_from):  # read by the job, not here
            return self._resume_ranksvm(Path(resume_from))
        if self.form.family() == RANKSVM_FAMILY:
            if resume_from is not None:
                self._log("A RankSVM run resumes from its state file (ranksvm.state.ckpt or ranksvm-ll.state.ckpt "
                          "in its run folder), not from a model file.")
                return False
            return self._start_ranksvm()
        config = None
        if resume_from is None:
            try:
                config = self.build_config()
            except Exception as err:  # a bad combination of settings is the user's to fix: say it
                self._log(f"Cannot start: {err}")
                self.session.show_status(f"Cannot start training: {err}")
                return False
        self._clear_run(ranksvm=False)
        self.device_label.setText("Device: starting…")
        self.weights_label.setText("Backbone weights: –")
        if config is None:
            # The checkpoint's own run goes on: its settings, its folder, its curve (replayed by the job).
            self._log(f"resuming {resume_from}: its run goes on in {Path(resume_from).parent} with its own "
                      "settings (the form's are not used)")
        else:
            self._log(f"starting: {config.ranker} on {config.backbone}, attributes {', '.join(config.attributes)}"
                      f" → {config.out_dir}")
        self.runner.start(self.job, config=config, resume_from=None if resume_from is None else str(resume_from))
        self._update_buttons()
        return True

    def _start_ranksvm(self) -> bool:
        from relattr_studio.core.paths import data_dir

        try:
            settings = self.form.ranksvm_kwargs()
        except ValueError as err:
            self._log(f"Cannot start: {err}")
            self.session.show_status(f"Cannot start training: {err}")
            return False
        out = data_dir() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{settings['ranker']}"
        settings.update(self._labels_settings())
        self._clear_run(ranksvm=True, seeds=len(settings["seeds"]))
        self.device_label.setText("Device: CPU (NumPy)")
        self.weights_label.setText(f"Features: {self.form.features.text()}")
        seeds = settings["seeds"]
        self._log(f"starting: {settings['ranker']} on GIST + Lab features, attributes "
                  f"{', '.join(settings['attributes'])}, seed{'s' if len(seeds) > 1 else ''} "
                  f"{', '.join(map(str, seeds))}")
        self._log("RankSVM is solved per attribute, not trained in steps: no curves; the progress bar counts "
                  "attributes × seeds and the results table fills as each attribute is tested.")
        self.runner.start(self.ranksvm_job, dataset=str(self.session.dataset.path), out_dir=str(out), **settings)
        self._ranksvm_out = out
        self._update_buttons()
        return True

    def _resume_ranksvm(self, state: Path) -> bool:
        """Continue a RankSVM run from its state file: its settings, its folder, the attributes and
        seeds it has left (the form's settings are not used)."""
        self._clear_run(ranksvm=True)
        self.device_label.setText("Device: CPU (NumPy)")
        self._log(f"resuming the RankSVM run of {state.parent} from {state.name} with its own settings")
        self.runner.start(self.ranksvm_resume_job, state=str(state))
        self._ranksvm_out = state.parent
        self._update_buttons()
        return True

    def _clear_run(self, *, ranksvm: bool, seeds: int = 1) -> None:
        self.curves.clear()
        self.results.clear()
        self._result_rows = []
        self._ranksvm_out = None
        self.speed_label.setText("")  # the previous run's pairs/s is not this run's
        self._training_progress = None
        self.training_data = None
        self._run_is_ranksvm = ranksvm
        self._seeds = seeds
        self.table.setRowCount(0)
        self.table.setColumnCount(2)
        self.table.setHorizontalHeaderLabels(["attribute", "test accuracy (%)"])
        self.bottom_tabs.setCurrentWidget(self.log)  # the log is what moves until results come
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting…")
        self._started_at = time.monotonic()

    def cancel(self) -> None:
        if self.runner.running:
            self._log("cancelling…")
            self.cancel_button.setEnabled(False)
            self.runner.cancel()

    def choose_resume(self) -> None:
        start = self.last_checkpoint or ""
        path, _ = QFileDialog.getOpenFileName(self, "Resume from checkpoint", start,
                                              "Checkpoints and RankSVM run states (*.ckpt *.pt);;All files (*)")
        if path:
            self.start(resume_from=path)

    # -- job events (GUI thread) ---------------------------------------------------------------

    def _on_progress(self, p: Progress) -> None:
        training = (p.stage or "").startswith("training")
        if p.total and training:
            self.curves.set_steps(p.total)  # the run's length: the curves' step axis
            self._training_progress = p
        t = self._training_progress
        if p.total and not training and t is not None:
            # scoring for a validation (or the test) between training steps: the bar stays on
            # the run's steps, so a full "scoring: 134 / 134" never reads as the run being done
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * (t.fraction or 0)))
            self.progress.setFormat(f"{t.stage}: {t.done:,} / {t.total:,} · {p.stage or 'working'} "
                                    f"{p.done:,} / {p.total:,}")
        elif p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * (p.fraction or 0)))
            self.progress.setFormat(f"{p.stage or 'training'}: {p.done:,} / {p.total:,}"
                                    + (f" · {p.message}" if p.message else ""))
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat((p.stage or "working") + (f" · {p.message}" if p.message else ""))

    def _on_event(self, event) -> None:
        if isinstance(event, Metrics):
            self.curves.consume(event)
            now = time.monotonic()
            v = event.values
            if "val_acc" in v or now - self._last_metric_log >= LOG_METRICS_EVERY_S:
                self._last_metric_log = now
                shown = ", ".join(f"{k} {x:.4g}" for k, x in v.items())
                self._log(f"step {event.step} (epoch {event.epoch:.2f}): {shown}")
            if "pairs_per_s" in v:
                self.speed_label.setText(f"· {v['pairs_per_s']:,.0f} pairs/s")
        elif isinstance(event, DeviceInfo):
            amp = "" if event.amp in ("off", "", None) else f", {event.amp}"
            self.device_label.setText(f"Device: <b>{event.device}</b>{amp}")
            self.weights_label.setText(f"Backbone weights: {event.weights_source}")
            self._log(f"device {event.device}{amp}; backbone weights: {event.weights_source}")
        elif isinstance(event, TrainingData):
            self.training_data = event
            self._log(f"training on {_count(event.real_pairs, 'pair')} of dataset images and "
                      f"{_count(event.generated_pairs, 'pair')} of generated images"
                      + (f" (labels: {event.labels})" if event.labels else ""))
        elif isinstance(event, CheckpointSaved):
            self.last_checkpoint = event.path
            self._log(f"checkpoint saved at step {event.step}: {event.path}")
        elif isinstance(event, Finished):
            self._add_results(event.accuracy)
            if event.checkpoint:
                self.last_checkpoint = event.checkpoint
            self._log(f"finished {event.model}: {event.steps} steps in {event.seconds:.1f} s")
        elif isinstance(event, ResultRow):  # RankSVM: one attribute, seed and test split measured
            self._result_rows.append(event)
            self._add_results(mean_over_seeds(r for r in self._result_rows if r.attribute == event.attribute))
            self._log(f"{event.attribute} (seed {event.seed}): {event.test_split} accuracy {event.accuracy:.2f} %")
        elif isinstance(event, RunCancelled):
            if event.checkpoint:
                self.last_checkpoint = event.checkpoint
            self._log(f"cancelled {event.model} at step {event.step}"
                      + (f"; checkpoint kept: {event.checkpoint} (Resume from checkpoint… continues it)"
                         if event.checkpoint else "; nothing was written"))
        elif isinstance(event, Failed):
            if event.checkpoint:
                self.last_checkpoint = event.checkpoint
            self._log(f"failed {event.model}: {event.reason}"
                      + (f" (last good checkpoint {event.checkpoint})" if event.checkpoint else ""))
        else:
            self._log(f"{type(event).__name__}: {event}")

    def _add_results(self, accuracy: dict) -> None:
        for key, value in accuracy.items():
            attr, split = split_accuracy_key(str(key))
            self.results.setdefault(attr, {})[split] = float(value)
        splits: list[str] = []
        for row in self.results.values():
            splits += [s for s in row if s not in splits]
        splits.sort(key=lambda s: (s != "test", s))
        over = f", mean of {self._seeds} seeds" if self._seeds > 1 else ""
        self.table.setColumnCount(1 + len(splits))
        self.table.setHorizontalHeaderLabels(["attribute", *[f"{s} accuracy (%{over})" for s in splits]])
        self.table.setRowCount(len(self.results) + 1)
        for r, (attr, row) in enumerate(self.results.items()):
            self.table.setItem(r, 0, QTableWidgetItem(attr))
            for c, s in enumerate(splits, 1):
                self.table.setItem(r, c, QTableWidgetItem("–" if s not in row else f"{row[s]:.2f}"))
        last = len(self.results)
        bold = QFont(self.table.font())
        bold.setBold(True)
        cells = [QTableWidgetItem("mean over attributes")]
        for s in splits:
            vals = [row[s] for row in self.results.values() if s in row]
            cells.append(QTableWidgetItem(f"{sum(vals) / len(vals):.2f}" if vals else "–"))
        for c, item in enumerate(cells):
            item.setFont(bold)
            self.table.setItem(last, c, item)
        self.bottom_tabs.setCurrentWidget(self.table)

    def _on_finished(self, result) -> None:
        items = result if isinstance(result, (list, tuple)) else [result]
        if items and all(isinstance(item, ResultRow) for item in items):  # RankSVM's return value
            self._add_results(mean_over_seeds(items))
            items = []
            if self._ranksvm_out is not None:
                self._log(f"models, results.csv and summary.json (the C chosen per attribute) in {self._ranksvm_out}")
        for item in items:
            accuracy = getattr(item, "accuracy", None)
            if not isinstance(accuracy, dict):
                continue
            if accuracy and all(isinstance(v, dict) for v in accuracy.values()):
                # TrainResult: split ("test", "test/coarse", "test/fine") -> attribute -> %
                flat = {}
                for split, per in accuracy.items():
                    short = split.split("/", 1)[1] if split.startswith("test/") else split
                    flat.update({f"{a}/{short}": v for a, v in per.items()})
                self._add_results(flat)
            elif not self.results:
                self._add_results(accuracy)
            if getattr(item, "checkpoint", None):
                self.last_checkpoint = item.checkpoint
        if items and self.last_checkpoint:  # a neural ranker's run (RankSVM's items were emptied above)
            # the ranker just trained becomes the workspace's; the Inspect view offers it
            from relattr_studio.core.protocols import RankerRef
            from relattr_studio.training.job import TrainResult  # already loaded to unpickle the result

            run = next((item for item in items if isinstance(item, TrainResult)), None)
            self.session.set_ranker(RankerRef.describe(
                self.last_checkpoint, ranker=run.config.ranker if run else "",
                backbone=run.config.backbone if run else "", origin="trained",
                test_accuracy={a: row["test"] for a, row in self.results.items() if "test" in row}))
        from relattr_studio.training.diagnosis import chance_note

        run = next((item for item in items if hasattr(item, "config")), None)  # a TrainResult (RankSVM: none)
        note = chance_note({a: row["test"] for a, row in self.results.items() if "test" in row},
                           run.config.to_dict() if run else None, steps=getattr(run, "steps", None))
        if note:  # a run that ended near chance says so, with what to change, where it shows
            self._log(note)
            self.bottom_tabs.setCurrentWidget(self.log)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.progress.setFormat(f"finished in {time.monotonic() - self._started_at:.1f} s")
        self.session.show_status("Training finished" + (" near chance: see the log" if note else ""))

    def _on_failed(self, message: str) -> None:
        self._log(f"failed: {message}")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("failed")
        self.session.show_status(f"Training failed: {message}")

    def _on_cancelled(self) -> None:
        self._log("stopped (cancelled)")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("cancelled")

    def _on_ended(self) -> None:
        self.curves.limiter.flush()
        self._update_buttons()

    def _log(self, line: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {line}")

    # -- lifetime --------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._labels_stale:
            self._refresh_labels()

    def running_work(self) -> list[str]:
        """What closing the window would stop: the training run, if one is going."""
        return ["a RankSVM run" if self._run_is_ranksvm else "a training run (its last checkpoint can be resumed)"] \
            if self.runner.running else []

    def shutdown(self) -> None:
        self.session.events.disconnect_all(self)
        if self.runner.running:
            self.runner.cancel()
            self.runner.wait(10.0)
