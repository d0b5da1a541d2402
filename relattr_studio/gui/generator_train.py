"""Train a generator from the window: the CLI's ``relattr generator train`` as a dialog.

The job is the engine's :func:`~relattr_studio.training.generator_job.train_generator`, run in
a spawned process (as the Train view runs rankers) so the window stays responsive for the
hour a generator takes on a CPU. The dialog shows the stage, a progress bar with the time left
and the last loss terms; Cancel stops after the current step and leaves a resumable file;
Resume continues from it. When the file is written, ``ready(path)`` lets the Explore view load
it. The dialog is not modal: the window stays usable while it trains, and closing the dialog
only hides it (the run goes on; Cancel stops it). It never replaces an existing file unless
asked to continue it.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import Progress
from relattr_studio.core.paths import data_dir
from relattr_studio.gui.workers import JobRunner, ProgressPanel

_ERROR, _NOTE = "color: #b3261e;", "color: #5f6670;"


def default_output(dataset: str | Path | None) -> Path:
    """Where a generator of ``dataset`` goes unless the user says otherwise: the first free
    ``<dataset>-generator[-N].pt`` in the user data folder."""
    stem = f"{Path(dataset).stem}-generator" if dataset else "generator"
    folder = data_dir() / "generators"
    path, n = folder / f"{stem}.pt", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.pt"
    return path


def _path_row(edit: QLineEdit, browse) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    layout.addWidget(button)
    return row


class GeneratorTrainDialog(QDialog):
    """Settings, Start / Resume, progress with Cancel, and what the run measured."""

    ready = Signal(str)  # the generator file, once written

    def __init__(self, dataset: str | Path | None = None, parent: QWidget | None = None, *, job=None):
        super().__init__(parent)
        self.setWindowTitle("Train a generator")
        self.setMinimumWidth(560)
        self.runner = JobRunner(self, in_process=job is None)
        self._job = job  # tests may run a stand-in on a thread
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.event.connect(self._on_event)
        self.runner.ended.connect(self._update_enabled)
        self._clock: tuple[float, int] | None = None  # (time, step) of the first training step seen
        self._saved = False  # this run has written the output file
        self.result_path: str | None = None
        self._build(dataset)
        self.runner.progress.connect(self._on_progress)  # after the panel's own handler: its format wins
        self._update_enabled()

    def _build(self, dataset) -> None:
        self.dataset = QLineEdit(str(dataset or ""))
        self.dataset.textChanged.connect(self._suggest_output)
        self.strengths_from = QLineEdit()
        self.strengths_from.setPlaceholderText("the dataset's own strengths")
        self.out = QLineEdit(str(default_output(dataset)))
        self._out_edited = False
        self.out.textEdited.connect(lambda _t: setattr(self, "_out_edited", True))
        self.steps = QSpinBox(minimum=1, maximum=1_000_000, value=6000, singleStep=500)
        self.batch_size = QSpinBox(minimum=2, maximum=4096, value=64)
        self.z_dim = QSpinBox(minimum=0, maximum=512, value=32)
        self.decoder_width = QSpinBox(minimum=1, maximum=256, value=32)
        self.consistency = QDoubleSpinBox(minimum=0.0, maximum=1000.0, value=10.0, decimals=2)
        self.consistency.setToolTip("lambda of the attribute-consistency term (0: a plain CVAE)")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.resume = QCheckBox("Continue from the output file's training state")

        form = QFormLayout()
        form.addRow("Dataset", _path_row(self.dataset, self._browse_dataset))
        form.addRow("Strengths from ranker", _path_row(self.strengths_from, self._browse_ranker))
        form.addRow("Output file", _path_row(self.out, self._browse_out))
        form.addRow("Steps", self.steps)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Latent factors (z)", self.z_dim)
        form.addRow("Decoder width", self.decoder_width)
        form.addRow("Attribute consistency", self.consistency)
        form.addRow("Seed", self.seed)
        form.addRow("", self.resume)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.open_button = QPushButton("Open in Explore")
        self.open_button.clicked.connect(lambda: self.result_path and self.ready.emit(self.result_path))
        self.panel = ProgressPanel(self.runner, self)
        self.panel.hide()
        self.metrics = QLabel()
        self.metrics.setStyleSheet(_NOTE)
        self.metrics.setWordWrap(True)
        self.note = QLabel("A generator of 64 x 64 images; about an hour on two CPU cores for 6,000 steps. "
                           "Cancel keeps a file that Resume continues.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(_NOTE)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.panel)
        layout.addWidget(self.metrics)
        layout.addWidget(self.note)
        layout.addLayout(buttons)

    # -- form --------------------------------------------------------------------------------

    def _suggest_output(self, dataset: str) -> None:
        if not self._out_edited:
            self.out.setText(str(default_output(dataset or None)))

    def set_dataset(self, dataset: str | Path | None) -> None:
        """Train on ``dataset`` (the window's current one), unless a run is going."""
        if not self.runner.running and dataset and self.dataset.text() != str(dataset):
            self.dataset.setText(str(dataset))

    def _browse_dataset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Dataset to train on", self.dataset.text() or str(Path.home()),
                                              "Dataset files (*.h5);;All files (*)")
        if path:
            self.dataset.setText(path)

    def _browse_ranker(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Ranker whose scores stand in for strengths", str(Path.home()),
                                              "Checkpoints (*.ckpt *.pt);;All files (*)")
        if path:
            self.strengths_from.setText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Generator file to write", self.out.text(),
                                              "Generator models (*.pt)")
        if path:
            self._out_edited = True
            self.out.setText(path)

    def config(self):
        """The :class:`GeneratorTrainConfig` the form describes; a RelAttrError says what is wrong."""
        from relattr_studio.training.generator_config import GeneratorTrainConfig

        dataset, out = self.dataset.text().strip(), self.out.text().strip()
        if not dataset or not Path(dataset).is_file():
            raise RelAttrError(f"no dataset file at {dataset!r}" if dataset else "choose a dataset file")
        ranker = self.strengths_from.text().strip() or None
        if ranker and not Path(ranker).is_file():
            raise RelAttrError(f"no ranker checkpoint at {ranker!r}")
        if not out:
            raise RelAttrError("choose an output file")
        if self.resume.isChecked() and not Path(out).is_file():
            raise RelAttrError(f"nothing to resume: {out} does not exist yet")
        if not self.resume.isChecked() and Path(out).exists():
            raise RelAttrError(f"{out} exists: tick Continue to resume it, or choose another output file")
        return GeneratorTrainConfig(dataset=dataset, out=out, strengths_from=ranker, steps=self.steps.value(),
                                    batch_size=self.batch_size.value(), z_dim=self.z_dim.value(),
                                    width=self.decoder_width.value(), consistency_weight=self.consistency.value(),
                                    seed=self.seed.value())

    # -- the job -----------------------------------------------------------------------------

    def start(self) -> bool:
        if self.runner.running:
            return False
        try:
            config = self.config()
        except RelAttrError as err:
            self._say(str(err), error=True)
            return False
        try:
            Path(config.out).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self._say(f"Cannot make the folder for {config.out}: {err.strerror or err}", error=True)
            return False
        from relattr_studio.training.entry import run_generator_training

        self.result_path = None
        self.metrics.clear()
        self.panel.show()
        self.panel.label.setText("Starting…")
        self.panel.cancel_button.setEnabled(True)
        self._say("Training in the background; the window stays usable, and closing this dialog does not "
                  "stop it.")
        self._clock = None
        self._saved = False
        self.runner.start(self._job or run_generator_training, config=config, resume=self.resume.isChecked(),
                          card={"made_in": "the RelAttr Studio window"})
        self._update_enabled()
        return True

    def cancel(self) -> None:
        if self.runner.running:
            self.panel._cancel()

    def _on_progress(self, p: Progress) -> None:
        if not (p.total and p.stage == "training"):
            return
        now = time.monotonic()
        if self._clock is None:
            self._clock = (now, p.done)
        t0, s0 = self._clock
        left = ""
        if p.done > s0 and now > t0:
            seconds = (p.total - p.done) * (now - t0) / (p.done - s0)
            left = f", ~{seconds / 60:.0f} min left" if seconds >= 60 else f", ~{seconds:.0f} s left"
        self.panel.bar.setFormat(f"step {p.done:,} / {p.total:,}  (%p%{left})")

    def _on_event(self, event) -> None:
        from relattr_studio.training.events import CheckpointSaved, Metrics

        if isinstance(event, CheckpointSaved):
            self._saved = True
        # the last, held-out figures come with the finished message
        if isinstance(event, Metrics) and "recon_mse" in event.values and not event.model.endswith("/holdout"):
            v = event.values
            parts = [f"step {event.step:,}", f"loss {v.get('loss', float('nan')):.1f}",
                     f"reconstruction MSE {v['recon_mse']:.4f}", f"KL {v.get('kl', float('nan')):.1f}"]
            if v.get("consistency"):
                parts.append(f"consistency {v['consistency']:.3f}")
            if v.get("images_per_s"):
                parts.append(f"{v['images_per_s']:.0f} images/s")
            self.metrics.setText(" · ".join(parts))

    def _on_finished(self, result) -> None:
        self.result_path = str(result.path)
        m = result.metrics
        psnr = f"; held-out PSNR {m['psnr']:.1f} dB" if m.get("psnr") is not None else ""
        self._say(f"Written: {result.path} (generator {result.generator_id}, {result.steps:,} steps in "
                  f"{result.seconds / 60:.1f} min on {result.device}{psnr}).")
        self.panel.hide()

    def _on_failed(self, message: str) -> None:
        self.panel.hide()
        self._say(f"Training stopped: {message}", error=True)

    def _on_cancelled(self) -> None:
        self.panel.hide()
        if self._saved:
            self.resume.setChecked(True)
            self._say("Cancelled. The file keeps the state of the last step; Start with Continue ticked resumes.")
        else:
            self._say("Cancelled before anything was written.")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.note.setStyleSheet(_ERROR if error else _NOTE)
        self.note.setText(text)

    def _update_enabled(self) -> None:
        running = self.runner.running
        self.start_button.setEnabled(not running)
        self.open_button.setEnabled(not running and self.result_path is not None)
        for w in (self.dataset, self.strengths_from, self.out, self.steps, self.batch_size, self.z_dim,
                  self.decoder_width, self.consistency, self.seed, self.resume):
            w.setEnabled(not running)

    def shutdown(self) -> None:
        """Stop a running job and wait for it (window close)."""
        if self.runner.running:
            self.runner.cancel()
            self.runner.wait(30.0)
