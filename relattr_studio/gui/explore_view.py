"""Explore view: slide attribute strengths and watch a generator's image follow.

One slider per attribute (over the generator's prior, mean +- 3 sigma), the latent seed z with
Reroll and New identity, the live image, a spectrum strip along one attribute (n steps over
+-span sigma, click an image to go there), semantic-jitter pairs on that attribute sent to
the label store's labeling queue (with their pixels, latents and generator id), and the strip
exported as a PNG. Images are made on a worker (see ``explore_pairs.LiveGenerator``): the
window never waits for the model, and only the newest request reaches the screen.

Run alone with a procedural stand-in generator: ``python -m relattr_studio.gui.explore_view``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QVBoxLayout, QWidget

from relattr_studio.analysis.generated_pairs import (ExplorePairs, LockedGenerator, generator_id, load_generator_job,
                                                     make_explore_pairs, queue_pairs)
from relattr_studio.analysis.spectrum_strip import save_strip_png
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.session import Session
from relattr_studio.gui import dialogs
from relattr_studio.gui.explore_pairs import IMAGE, STRIP, LiveGenerator
from relattr_studio.gui.explore_widgets import AttributesPanel, GeneratorBar, PairsPanel, SpectrumPanel
from relattr_studio.gui.widgets import ImageCanvas
from relattr_studio.gui.workers import JobRunner

STRIP_DEBOUNCE_MS = 120  # a strip follows the sliders once they rest this long
SLIDER_SPAN = 3.0  # sliders cover the prior mean +- this many sigma
SHIPPED = ("toy-faces", "toy-shoes")
KINDS = (("both", "intra- and inter-identity"), ("intra", "intra-identity"), ("inter", "inter-identity"))


def shipped_generator(name: str) -> Path | None:
    from relattr_studio.modeling.shipped import shipped_model

    return shipped_model("generator", name)


class ExploreView(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None, *, autoload: bool = True):
        super().__init__(parent)
        self.session = session
        self.autoload = autoload  # load a shipped generator when first shown, if none is loaded
        self.generator: LockedGenerator | None = None
        self.model_id = ""
        self.prior = None
        self.z = np.zeros(0)
        self.image: np.ndarray | None = None  # the image on screen
        self._strip_meta: dict[int, tuple[str, np.ndarray]] = {}
        self._rng = np.random.default_rng()
        self.live = LiveGenerator(self)
        self.live.ready.connect(self._on_generated)
        self.runner = JobRunner(self)
        self.runner.finished.connect(self._on_job_finished)
        self.runner.failed.connect(self._on_job_failed)
        self.runner.ended.connect(self._update_enabled)
        self._explicit_load = False
        self._job = ""  # "load" or "pairs": what the runner runs (or ran last)
        self._strip_timer = QTimer(self)
        self._strip_timer.setSingleShot(True)
        self._strip_timer.setInterval(STRIP_DEBOUNCE_MS)
        self._strip_timer.timeout.connect(self.request_strip)
        self._build()
        session.events.generator.connect(self._on_generator)
        session.events.label_store.connect(self._on_store)
        session.events.dataset.connect(self._on_dataset)
        self._on_generator(session.generator)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.bar = GeneratorBar({name: shipped_generator(name) is not None for name in SHIPPED})
        self.bar.shipped.connect(self.load_shipped)
        self.bar.open_file.connect(self.choose_generator_file)
        self.bar.train.connect(self.open_train_dialog)
        self.train_dialog = None
        self.generator_button, self.info, self.timing = self.bar.button, self.bar.info, self.bar.timing

        attrs = AttributesPanel()
        self.sliders, self.seed = attrs.sliders, attrs.seed
        self.reroll_button, self.identity_button, self.mean_button = (attrs.reroll_button, attrs.identity_button,
                                                                      attrs.mean_button)
        self.sliders.moved.connect(lambda _i, _v: self.request_image())
        self.seed.valueChanged.connect(self._on_seed)
        self.reroll_button.clicked.connect(self.reroll)
        self.identity_button.clicked.connect(self.new_identity)
        self.mean_button.clicked.connect(self.reset_to_mean)
        self.canvas = ImageCanvas(minimum=300)
        self.canvas.setMaximumWidth(420)
        middle = QHBoxLayout()
        middle.addWidget(attrs, 3)
        middle.addWidget(self.canvas, 2)

        self.spectrum = spectrum = SpectrumPanel()
        self.attribute_box, self.steps, self.span = spectrum.attribute_box, spectrum.steps, spectrum.span
        self.export_button, self.strip = spectrum.export_button, spectrum.strip
        self.attribute_box.currentIndexChanged.connect(lambda _i: self.request_strip())
        self.attribute_box.currentTextChanged.connect(
            lambda name: self.pairs.attribute.setText(f"pairs on “{name}”" if name else ""))
        for box in (self.steps, self.span):
            box.valueChanged.connect(lambda _v: self.request_strip())
        self.export_button.clicked.connect(lambda: self.export_strip())
        spectrum.go.connect(self.go_to_value)

        self.pairs = PairsPanel(KINDS)
        self.pair_count, self.pair_kind = self.pairs.count, self.pairs.kind
        self.pairs_button, self.pairs_note = self.pairs.button, self.pairs.note
        self.pairs_button.clicked.connect(lambda: self.make_pairs())

        layout = QVBoxLayout(self)
        layout.addWidget(self.bar)
        layout.addLayout(middle, 3)
        layout.addWidget(spectrum, 2)
        layout.addWidget(self.pairs)

    # -- generator --------------------------------------------------------------------------

    def load_shipped(self, name: str = "toy-faces") -> bool:
        path = shipped_generator(name)
        if path is None:
            self._say(f"No shipped {name} generator is installed; open a generator model file instead.", error=True)
            return False
        return self.load_generator(path)

    def choose_generator_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a generator model", str(Path.home()),
                                              "Generator models (*.pt);;All files (*)")
        if path:
            self._explicit_load = True
            self.load_generator(Path(path))

    def open_train_dialog(self):
        """Show the Train-a-generator dialog on the session's dataset (one per view; a run goes on
        while it is hidden)."""
        if self.train_dialog is None:
            from relattr_studio.gui.generator_train import GeneratorTrainDialog

            self.train_dialog = GeneratorTrainDialog(self.session.dataset_path, self)
            self.train_dialog.ready.connect(self._load_trained)
        else:
            self.train_dialog.set_dataset(self.session.dataset_path)
        self.train_dialog.show()
        self.train_dialog.raise_()
        return self.train_dialog

    def _load_trained(self, path: str) -> None:
        self._explicit_load = True
        self.load_generator(path)

    def load_generator(self, path: str | Path) -> bool:
        """Load a generator model file on a worker; it becomes the session's generator."""
        if self.runner.running:
            self._say("Wait for the running job to finish first.", error=True)
            return False
        self._say(f"Loading {Path(path).name}…")
        self._job = "load"
        self.runner.start(load_generator_job, path=str(path))
        self._update_enabled()
        return True

    def set_generator(self, generator) -> None:
        """Explore ``generator`` (an already loaded model) and make it the session's."""
        generator_id(generator)
        self.session.set_generator(generator)

    def _on_generator(self, generator) -> None:
        self._strip_timer.stop()
        if generator is None:
            self.generator = self.prior = None
            self.model_id = ""
            self.live.set_generator(None)
            self.sliders.set_attributes([], [], [])
            self.attribute_box.clear()
            self.canvas.set_pixmap(None)
            self.spectrum.clear()
            self.image = None
            self._say("No generator loaded: choose one from the Generator menu.")
            self._update_enabled()
            return
        from relattr_studio.analysis.semantic_jitter import IdentityPrior

        self.generator = generator if isinstance(generator, LockedGenerator) else LockedGenerator(generator)
        self.prior = IdentityPrior.of_generator(generator)
        names = list(self.prior.attributes)
        self.live.set_generator(self.generator)
        self.sliders.set_attributes(names, self.prior.mean, self.prior.sigma, span=SLIDER_SPAN)
        previous = self.attribute_box.currentText()
        self.attribute_box.blockSignals(True)
        self.attribute_box.clear()
        self.attribute_box.addItems(names)
        wanted = next((n for n in (self.session.attribute, previous) if n in names), names[0] if names else "")
        self.attribute_box.setCurrentText(wanted)
        self.attribute_box.blockSignals(False)
        self.pairs.attribute.setText(f"pairs on “{wanted}”")
        self.z = self._z_of(self.seed.value())
        self.model_id = generator_id(generator)  # a digest of the weights for a trained model: once
        self._say(f"<b>{self.model_id}</b>  ·  {len(names)} attributes  ·  z of {self.prior.z_dim}  ·  "
                  f"{int(getattr(generator, 'image_size', 64))} px")
        self._update_enabled()
        self.request_image()
        self.request_strip()

    def _z_of(self, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal(self.prior.z_dim) if self.prior else np.zeros(0)

    # -- identity ---------------------------------------------------------------------------

    def _on_seed(self, seed: int) -> None:
        if self.prior is not None:
            self.z = self._z_of(seed)
            self.request_image()

    def reroll(self) -> None:
        """A new z: the same attribute strengths in another look."""
        self.seed.setValue(int(self._rng.integers(0, 2**31 - 1)))

    def new_identity(self) -> None:
        """Attribute strengths and z drawn from the prior."""
        if self.prior is None:
            return
        self.sliders.set_values(self.prior.sample_y(self._rng, 1)[0])
        self.seed.blockSignals(True)
        self.seed.setValue(int(self._rng.integers(0, 2**31 - 1)))
        self.seed.blockSignals(False)
        self.z = self._z_of(self.seed.value())
        self.request_image()

    def reset_to_mean(self) -> None:
        if self.prior is not None:
            self.sliders.set_values(self.prior.mean)
            self.request_image()

    def latents(self) -> tuple[np.ndarray, np.ndarray]:
        """(y, z) of the image the sliders and seed ask for."""
        return self.sliders.values(), self.z.copy()

    # -- images -----------------------------------------------------------------------------

    def request_image(self) -> int | None:
        """Ask for the image of the current sliders and seed; the strip follows once they rest."""
        if self.generator is None:
            return None
        y, z = self.latents()
        tag = self.live.request(IMAGE, y[None], z[None])
        self._strip_timer.start()
        return tag

    def request_strip(self) -> int | None:
        """Ask for the spectrum strip of the current identity along the chosen attribute now."""
        self._strip_timer.stop()
        name = self.attribute_box.currentText()
        if self.generator is None or not name:
            return None
        y, z = self.latents()
        ys = self.prior.spectrum(y, name, steps=self.steps.value(), span=self.span.value())
        tag = self.live.request(STRIP, ys, np.repeat(z[None], len(ys), axis=0))
        self._strip_meta = {t: m for t, m in self._strip_meta.items() if t > tag - 4}
        self._strip_meta[tag] = (name, ys)
        return tag

    def _on_generated(self, out) -> None:
        if out.error:
            self._say(f"The generator failed: {out.error}", error=True)
            return
        if out.kind == IMAGE:
            self.image = out.images[0]
            self.canvas.set_pixmap(out.pixmaps()[0])
            self.timing.setText(f"image made in {out.seconds * 1000:.1f} ms")
            return
        name, ys = self._strip_meta.get(out.tag, (None, None))
        if name is not None:
            k = self.prior.index(name)
            self.spectrum.show_strip(out.pixmaps(), out.images, ys[:, k], self.prior.sigma[k], self.sliders.value(k))

    def go_to_value(self, value: float) -> None:
        """Move the chosen attribute's slider to ``value`` (a strip image was clicked)."""
        if self.prior is not None and self.attribute_box.currentText():
            k = self.prior.index(self.attribute_box.currentText())
            self.sliders.sliders[k].setValue(self.sliders.position(k, value))

    @property
    def strip_images(self) -> np.ndarray | None:
        return self.spectrum.images

    def export_strip(self, path: str | Path | None = None) -> Path | None:
        """Save the strip on screen as a PNG (its images side by side at their own size)."""
        if self.strip_images is None:
            self._say("There is no strip to export yet.", error=True)
            return None
        if path is None:
            name = f"{self.model_id.replace('/', '-')}-{self.attribute_box.currentText()}-strip.png"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export strip as PNG", str(Path.home() / name),
                                                    "PNG images (*.png)")
            if not chosen:
                return None
            path = chosen
        try:
            out = save_strip_png(self.strip_images, path)
        except RelAttrError as err:
            dialogs.show_error(self, "Export strip", str(err))
            return None
        self.session.show_status(f"Strip saved to {out}")
        return out

    # -- pairs ------------------------------------------------------------------------------

    def make_pairs(self, n: int | None = None, kind: str | None = None) -> bool:
        """Make semantic-jitter pairs on the chosen attribute and queue them for labeling."""
        if self.generator is None:
            self._note("Load a generator first.", error=True)
            return False
        if self.session.label_store is None:
            self._note("No label store is open, so pairs cannot be queued: open one with "
                       "File ▸ Open label store… first.", error=True)
            return False
        if self.runner.running:
            self._note("Wait for the running job to finish first.", error=True)
            return False
        n = int(n or self.pair_count.value())
        kind = kind or self.pair_kind.currentData()
        name = self.attribute_box.currentText()
        self._note(f"Making {n} “{name}” pairs…")
        self._job = "pairs"
        self.runner.start(make_explore_pairs, generator=self.generator, attribute=name, n_pairs=n, kind=kind,
                          seed=int(self._rng.integers(0, 2**31 - 1)))
        self._update_enabled()
        return True

    def _queue(self, made: ExplorePairs) -> None:
        store = self.session.label_store
        if store is None:
            self._note("The label store was closed before the pairs were made; nothing was queued.", error=True)
            return
        try:
            ids = queue_pairs(store, made)
        except RelAttrError as err:
            self._note(f"Not queued: {err}", error=True)
            return
        intra = made.kinds.count("intra")
        self._note(f"✓ Queued {len(ids)} “{made.attribute}” pairs ({intra} intra, {len(ids) - intra} inter): "
                   "label them in the Label pairs tab.")
        self.session.notify_queue_changed(len(ids))
        self.session.show_status(f"{len(ids)} generated pairs queued for labeling in {Path(store.path).name}")

    # -- jobs and state ---------------------------------------------------------------------

    def _on_job_finished(self, result) -> None:
        if self._job == "pairs" and isinstance(result, ExplorePairs):
            self._queue(result)
        else:
            self._explicit_load = False
            self.session.set_generator(result)

    def _on_job_failed(self, message: str) -> None:
        if self._job == "pairs":
            self._note(f"No pairs made: {message}", error=True)
            return
        self._say(message, error=True)
        if self._explicit_load:
            self._explicit_load = False
            dialogs.show_error(self, "Generator", message)

    def _on_store(self, _store) -> None:
        self._update_enabled()

    def _on_dataset(self, _dataset) -> None:
        """The Train-a-generator dialog trains on the window's dataset: it follows another one
        (unless a run is going). Sliders and strips are the generator's, not the dataset's."""
        if self.train_dialog is not None:
            self.train_dialog.set_dataset(self.session.dataset_path)

    def _update_enabled(self) -> None:
        has = self.generator is not None
        busy = self.runner.running
        for w in (self.reroll_button, self.identity_button, self.mean_button, self.seed, self.attribute_box,
                  self.steps, self.span, self.export_button):
            w.setEnabled(has)
        self.generator_button.setEnabled(not busy)
        self.pairs_button.setEnabled(has and not busy and self.session.label_store is not None)
        if self.session.label_store is None:
            self._note("No label store is open: pairs can be queued once one is (File ▸ Open label store…).",
                       error=True)
        elif self.pairs_note.text().startswith("No label store"):
            self._note("")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.bar.say(text, error=error)

    def _note(self, text: str, *, error: bool = False) -> None:
        self.pairs.say(text, error=error)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.autoload:
            self.autoload = False
            if self.session.generator is None and not self.runner.running:
                ds = self.session.dataset
                first = next((n for n in SHIPPED if ds is not None and ds.name.startswith(n)), SHIPPED[0])
                for name in (first, *SHIPPED):
                    if shipped_generator(name) is not None:
                        self.load_shipped(name)
                        break

    def running_work(self) -> list[str]:
        """What closing the window would stop: a generator being trained (it can be resumed)."""
        if self.train_dialog is not None and self.train_dialog.runner.running:
            return ["a generator training run (it can be resumed from its folder)"]
        return []

    def shutdown(self) -> None:
        self._strip_timer.stop()
        self.live.close()
        if self.train_dialog is not None:
            self.train_dialog.shutdown()
        if self.runner.running:
            self.runner.cancel()
            self.runner.wait(10.0)
        self.session.events.disconnect_all(self)


def preview(dataset: str = "toy-faces") -> int:
    """Show the view alone with the procedural stand-in generator and a temporary label store."""
    import sys
    import tempfile

    from PySide6.QtWidgets import QApplication

    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.modeling.procedural_generator import ProceduralGenerator

    sys.setswitchinterval(0.0005)
    app = QApplication.instance() or QApplication(sys.argv)
    session = Session()
    session.set_label_store(LabelStore(Path(tempfile.mkdtemp()) / "labels.sqlite", annotator="preview"))
    session.set_generator(ProceduralGenerator(dataset))
    view = ExploreView(session, autoload=False)
    view.resize(1300, 820)
    view.show()
    code = app.exec()
    view.shutdown()
    session.close()
    return code


if __name__ == "__main__":
    import sys

    raise SystemExit(preview(*sys.argv[1:2]))
