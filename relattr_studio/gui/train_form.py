"""The Train view's settings form: everything lists through the registries, nothing else.

Choosing a backbone suggests its settings: the small CNN (the default) a first run that learns
on the default toy faces in about two minutes of one CPU thread (``SMALL_CNN_RUN``), an ImageNet
net the paper's optimiser at its own input size (``IMAGENET_RUN``).

Building it imports no torch (the registries' names are declared in ``modeling.catalog``).
A RankSVM ranker shows only what ``run_ranksvm`` takes (seeds, C, and K and the test-pair
sample for local learning); the neural rankers' backbone and optimisation settings are hidden
while it is chosen. A pairwise ranker (DACRL) gets caps on a step's image pairs and on the test
image pairs suggested; the user may clear them ("all").
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QSpinBox, QVBoxLayout, QWidget)

DEVICES = ("auto", "cpu", "cuda")
WEIGHTS = (("ImageNet if found on this machine", "auto"), ("random initialisation", None))
# Caps suggested for a pairwise ranker (DACRL), whose head runs once per image pair. Measured on
# PubFig, EfficientNet-Lite0, 32 images a step, 2 CPU threads: RankNet 2.3 s a step; DACRL 3.3 s
# with 16 pairs, 6.4 s with 64 (32 images hold 496). PubFig's test split has 246,509 image pairs.
PAIRWISE_MAX_PAIRS = 32
PAIRWISE_MAX_TEST_PAIRS = 20_000
# What choosing a backbone suggests besides its optimiser preset (see ``TrainForm._suggest``).
# The small CNN: a first run on the default dataset (5,000 toy faces, one model with a head per
# attribute) that learns in under 3 minutes with torch's 2 threads on this 2-core CPU: 82.9 +- 0.7 %
# mean test accuracy (coarse 96.5, fine 69.4; seeds 0-2, 145-163 s each with setup and test).
# The strided stem sees 48 px for about the cost of 24 px, and is what lifted big_eyes (70.5 -> 86.2
# on seed 0); 24 px without it gave 81.4 +- 1.4 % (16 epochs, 114-120 s on one thread). The weight
# average adds about 1 point, the test-time flip about 0.5. Adam at 3e-3 (or 2e-3 on a cosine)
# left heads at chance; 32 px, 64 px strided, AdamW 0.05, dropout 0.3 and 24 epochs were no better
# (README, "Rankers": the heads follow correlated attributes, and these settings do not change that).
SMALL_CNN_RUN = {"image_size": 48, "stem_stride": 2, "width": 8, "epochs": 20.0, "batch_size": 64,
                 "schedule": "none", "augment": True, "ema": 0.99, "test_flip": True}
# ImageNet backbones: their own input size, and what the form always had (2 epochs of 32 images)
IMAGENET_RUN = {"image_size": 224, "epochs": 2.0, "batch_size": 32, "schedule": "none",
                "augment": False, "ema": 0.0, "test_flip": False}


def ranker_names() -> list[str]:
    """Every trainable ranker (neural, then RankSVM), listed without importing torch (see
    ``modeling.catalog``)."""
    from relattr_studio.modeling.catalog import trainable_rankers

    return trainable_rankers()


def backbone_names() -> list[str]:
    from relattr_studio.modeling.catalog import BACKBONES

    return BACKBONES.names()


def batching_names() -> list[str]:
    from relattr_studio.training.config import BATCHINGS

    return list(BATCHINGS)


def optimizer_names() -> list[str]:
    from relattr_studio.training.config import OPTIMIZERS

    return list(OPTIMIZERS)


def schedule_names() -> list[str]:
    from relattr_studio.training.config import SCHEDULES

    return list(SCHEDULES)


class TrainForm(QWidget):
    """Attributes (checklist), ranker, backbone, weights and hyper-parameters."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.attributes = QListWidget()
        self.attributes.setMaximumHeight(170)
        self.ranker = QComboBox()
        self.ranker.addItems(ranker_names())
        self.backbone = QComboBox()
        self.backbone.addItems(backbone_names())
        for combo, default in ((self.ranker, "ranknet"), (self.backbone, "small-cnn")):
            if combo.findText(default) >= 0:
                combo.setCurrentText(default)
        self.weights = QComboBox()
        for text, value in WEIGHTS:
            self.weights.addItem(text, value)
        self.image_size = QSpinBox(minimum=16, maximum=1024, value=224, singleStep=8)
        self.image_size.setToolTip("Images are resized to this side before the backbone (relattr train --image-size).")
        self.width = QSpinBox(minimum=2, maximum=256, value=32, singleStep=4)
        self.width.setToolTip("Channels of the small CNN's first stage, doubled at each of its four stages "
                              "(relattr train --width).")
        self.stem_stride = QCheckBox("strided first convolution")
        self.stem_stride.setToolTip("The small CNN's first convolution takes every second pixel: it sees an image "
                                    "of the size above for about the cost of one of half its side, and keeps "
                                    "details a smaller image loses (relattr train --stem-stride 2).")
        self.epochs = QDoubleSpinBox(decimals=1, minimum=0.1, maximum=500, value=2.0, singleStep=1.0)
        self.batch_size = QSpinBox(minimum=2, maximum=1024, value=32)
        self.lr = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=1.0, value=1e-3, singleStep=1e-4)
        self.optimizer = QComboBox()
        self.optimizer.addItems(optimizer_names())
        self.backbone_lr_scale = QDoubleSpinBox(decimals=3, minimum=0.001, maximum=10.0, value=1.0, singleStep=0.05)
        self.backbone_lr_scale.setToolTip("The backbone learns at this times the head's learning rate "
                                          "(relattr train --backbone-lr-scale).")
        self.batching = QComboBox()
        self.batching.addItems(batching_names())
        self.max_pairs = QSpinBox(minimum=0, maximum=1_000_000, value=0, singleStep=8)
        self.max_pairs.setSpecialValueText("all")
        self.max_pairs.setToolTip("At most this many image pairs a step, drawn at random; every image is still "
                                  "scored once. A pairwise ranker (DACRL) runs its head once per pair: 32 images "
                                  "with category labels make 496 pairs.")
        self.max_test_pairs = QSpinBox(minimum=0, maximum=100_000_000, value=0, singleStep=1000)
        self.max_test_pairs.setSpecialValueText("all")
        self.max_test_pairs.setToolTip("Test on a seeded sample of this many image pairs (each with all its labels). "
                                       "PubFig's test split has 246,509 image pairs.")
        self.schedule = QComboBox()
        self.schedule.addItems(schedule_names())
        self.schedule.setToolTip("Learning-rate schedule over the run, as relattr train --schedule.")
        self.val_fraction = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.5, value=0.1, singleStep=0.05)
        self.val_fraction.setToolTip("Share of the training data held out for validation when the dataset has no "
                                     "validation split; 0 trains on all of it (no early stopping then).")
        self.augment = QCheckBox("random flips and shifts")
        self.augment_zoom = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, value=0.0, singleStep=0.05)
        self.augment_zoom.setSpecialValueText("off")
        self.augment_zoom.setToolTip("Random crops of side 1 - Z to 1 instead of the shifts (flips folded in).")
        self.augment_color = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, value=0.0, singleStep=0.05)
        self.augment_color.setSpecialValueText("off")
        self.augment_color.setToolTip("Contrast and brightness jitter of this size.")
        self.augment.toggled.connect(self._augment_toggled)
        self._augment_toggled(False)
        self.test_flip = QCheckBox("average each test margin with the mirror images'")
        self.ema = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=0.999, value=0.0, singleStep=0.01)
        self.ema.setSpecialValueText("off")
        self.ema.setToolTip("Validate, test and save a moving average of the weights, as relattr train --ema. "
                            "The decay a step rises to this value: (1 + n) / (10 + n) at step n until then, so "
                            "the average follows the weights closely early on.")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        # RankSVM (run_ranksvm's settings)
        self.seeds = QSpinBox(minimum=1, maximum=20, value=1)
        self.seeds.setToolTip("Runs with seeds Seed, Seed + 1, …; the table shows their mean. The seed picks the "
                              "validation split C is chosen on (when the dataset has none) and the test-pair sample.")
        self.svm_c = QLineEdit()
        self.svm_c.setPlaceholderText("chosen on a validation split")
        self.svm_c.setToolTip("The RankSVM C. Empty: chosen per attribute on a validation split carved from the "
                              "training images, never on test.")
        self.k = QSpinBox(minimum=2, maximum=100_000, value=100)
        self.k.setToolTip("Local learning fits one RankSVM per test pair on its K nearest training pairs.")
        self.test_sample = QSpinBox(minimum=10, maximum=10_000_000, value=1000, singleStep=100)
        self.test_sample.setToolTip("Local learning ranks a seeded sample of this many non-equal test pairs per "
                                    "attribute (it fits one model per pair).")
        self.features = QLabel("GIST + Lab colour, computed once and cached in the dataset file")
        self.features.setWordWrap(True)
        self.backbone.currentTextChanged.connect(self._suggest)
        self._suggest(self.backbone.currentText())

        model_box = QGroupBox("Model")
        f = QFormLayout(model_box)
        f.addRow("Ranker", self.ranker)
        f.addRow("Backbone", self.backbone)
        f.addRow("Weights", self.weights)
        f.addRow("Image size (px)", self.image_size)
        f.addRow("CNN width", self.width)
        f.addRow("CNN stem", self.stem_stride)
        f.addRow("Features", self.features)
        hp_box = QGroupBox("Training")
        h = QFormLayout(hp_box)
        h.addRow("Epochs", self.epochs)
        h.addRow("Batch size (images)", self.batch_size)
        h.addRow("Optimiser", self.optimizer)
        h.addRow("Learning rate", self.lr)
        h.addRow("Backbone lr ×", self.backbone_lr_scale)
        h.addRow("Batching", self.batching)
        h.addRow("Pairs a step (max)", self.max_pairs)
        h.addRow("Test image pairs", self.max_test_pairs)
        h.addRow("LR schedule", self.schedule)
        h.addRow("Validation share", self.val_fraction)
        h.addRow("Augment", self.augment)
        h.addRow("Zoom crops", self.augment_zoom)
        h.addRow("Colour jitter", self.augment_color)
        h.addRow("Test-time flip", self.test_flip)
        h.addRow("Weight average", self.ema)
        h.addRow("Seed", self.seed)
        h.addRow("Seeds", self.seeds)
        h.addRow("C", self.svm_c)
        h.addRow("K nearest pairs", self.k)
        h.addRow("Test pairs (sample)", self.test_sample)
        h.addRow("Device", self.device)
        self._rows = {w: layout for layout in (f, h) for w in
                      (self.backbone, self.weights, self.image_size, self.width, self.stem_stride, self.features, self.epochs,
                       self.batch_size, self.optimizer, self.lr, self.backbone_lr_scale,
                       self.batching, self.max_pairs, self.max_test_pairs, self.schedule, self.val_fraction,
                       self.augment, self.augment_zoom, self.augment_color, self.test_flip, self.ema, self.seeds, self.svm_c,
                       self.k, self.test_sample, self.device)
                      if layout.indexOf(w) >= 0}
        self._pairwise = False
        self.ranker.currentTextChanged.connect(self._show_settings_of)
        self.backbone.currentTextChanged.connect(lambda _: self._show_settings_of(self.ranker.currentText()))
        self._show_settings_of(self.ranker.currentText())
        attr_box = QGroupBox("Attributes")
        QVBoxLayout(attr_box).addWidget(self.attributes)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(attr_box)
        layout.addWidget(model_box)
        layout.addWidget(hp_box)
        layout.addStretch(1)

    def family(self) -> str:
        """The chosen ranker's family (``catalog.NEURAL`` or ``catalog.RANKSVM_FAMILY``): which
        settings apply and which job trains it."""
        from relattr_studio.modeling.catalog import ranker_family

        return ranker_family(self.ranker.currentText())

    def _show_settings_of(self, ranker: str) -> None:
        """Show the rows that apply to ``ranker`` (by its registry traits); hidden ones keep their values."""
        from relattr_studio.modeling.catalog import RANKERS, RANKSVM_FAMILY

        traits = RANKERS.traits(ranker)
        svm, local, pairwise = traits["family"] == RANKSVM_FAMILY, traits["local"], traits["pairwise"]
        neural = (self.backbone, self.weights, self.image_size, self.epochs, self.batch_size, self.optimizer, self.lr,
                  self.backbone_lr_scale, self.batching,
                  self.max_pairs, self.max_test_pairs, self.schedule, self.val_fraction, self.augment,
                  self.augment_zoom, self.augment_color, self.test_flip, self.ema, self.device)
        small_cnn = not svm and self.backbone.currentText() == "small-cnn"
        shown = {**{w: not svm for w in neural}, self.width: small_cnn, self.stem_stride: small_cnn,
                 self.features: svm, self.seeds: svm, self.svm_c: svm,
                 self.k: local, self.test_sample: local}
        for widget, visible in shown.items():
            self._rows[widget].setRowVisible(widget, visible)
        if not svm and pairwise != self._pairwise:  # suggest caps that make a pairwise head affordable
            self._pairwise = pairwise
            self.max_pairs.setValue(PAIRWISE_MAX_PAIRS if pairwise else 0)
            self.max_test_pairs.setValue(PAIRWISE_MAX_TEST_PAIRS if pairwise else 0)

    def _augment_toggled(self, on: bool) -> None:
        self.augment_zoom.setEnabled(on)
        self.augment_color.setEnabled(on)

    def _suggest(self, backbone: str) -> None:
        """A small CNN trains from scratch (the ``scratch`` preset: Adam 1e-3 everywhere) with
        ``SMALL_CNN_RUN``'s size, width and length; ImageNet nets start from the paper's setting
        (the ``paper`` preset: RMSProp 1e-4, backbone x0.1) with ``IMAGENET_RUN``'s."""
        from relattr_studio.training.config import PRESETS

        scratch = backbone == "small-cnn"
        preset = PRESETS["scratch" if scratch else "paper"]
        self.optimizer.setCurrentText(preset["optimizer"])
        self.lr.setValue(preset["lr"])
        self.backbone_lr_scale.setValue(preset["backbone_lr_scale"])
        self.weights.setCurrentIndex(1 if scratch else 0)
        self.weights.setEnabled(not scratch)
        run = SMALL_CNN_RUN if scratch else IMAGENET_RUN
        self.image_size.setValue(run["image_size"])
        if scratch:
            self.width.setValue(run["width"])
            self.stem_stride.setChecked(run["stem_stride"] == 2)
        self.epochs.setValue(run["epochs"])
        self.batch_size.setValue(run["batch_size"])
        self.schedule.setCurrentText(run["schedule"])
        self.augment.setChecked(run["augment"])
        self.ema.setValue(run["ema"])
        self.test_flip.setChecked(run["test_flip"])

    def set_attribute_names(self, names: list[str]) -> None:
        self.attributes.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.attributes.addItem(item)

    def checked_attributes(self) -> list[str]:
        return [self.attributes.item(i).text() for i in range(self.attributes.count())
                if self.attributes.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, names: list[str]) -> None:
        for i in range(self.attributes.count()):
            item = self.attributes.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def ranksvm_kwargs(self) -> dict:
        """``run_ranksvm_training`` settings chosen here (dataset and output folder come from the
        view). Raises ValueError for a C that is not a positive number."""
        from relattr_studio.modeling.catalog import RANKERS

        text = self.svm_c.text().strip()
        c = None
        if text:
            try:
                c = float(text)
            except ValueError:
                pass
            if c is None or not (0 < c < float("inf")):
                raise ValueError(f"C must be a positive number (or empty to choose it on validation), not {text!r}")
        ranker = self.ranker.currentText()
        first = int(self.seed.value())
        return dict(ranker=ranker, attributes=tuple(self.checked_attributes()),
                    seeds=tuple(range(first, first + int(self.seeds.value()))), c=c, k=int(self.k.value()),
                    test_sample=int(self.test_sample.value()) if RANKERS.traits(ranker)["local"] else None)

    def backbone_options(self) -> dict:
        """The backbone's build options chosen here: its input size, and the small CNN's width and stem."""
        options = {"image_size": int(self.image_size.value())}
        if self.backbone.currentText() == "small-cnn":
            options["width"] = int(self.width.value())
            if self.stem_stride.isChecked():
                options["stem_stride"] = 2
        return options

    def config_kwargs(self) -> dict:
        """TrainConfig fields chosen here (dataset and output folder come from the view)."""
        return dict(attributes=tuple(self.checked_attributes()), ranker=self.ranker.currentText(),
                    backbone=self.backbone.currentText(), backbone_options=self.backbone_options(),
                    weights=self.weights.currentData(),
                    epochs=float(self.epochs.value()), batch_size=int(self.batch_size.value()),
                    optimizer=self.optimizer.currentText(), lr=float(self.lr.value()),
                    backbone_lr_scale=float(self.backbone_lr_scale.value()), batching=self.batching.currentText(), seed=int(self.seed.value()),
                    max_pairs=self.max_pairs.value() or None, max_test_pairs=self.max_test_pairs.value() or None,
                    schedule=self.schedule.currentText(), val_fraction=float(self.val_fraction.value()),
                    augment=self.augment.isChecked(),
                    augment_zoom=float(self.augment_zoom.value()) if self.augment.isChecked() else 0.0,
                    augment_color=float(self.augment_color.value()) if self.augment.isChecked() else 0.0,
                    test_flip=self.test_flip.isChecked(), ema=float(self.ema.value()),
                    device=self.device.currentText())
