"""The Train view's settings form: everything lists through the registries, nothing else.

Building it imports no torch (the registries' names are declared in ``modeling.catalog``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QListWidget, QListWidgetItem,
                               QSpinBox, QVBoxLayout, QWidget)

DEVICES = ("auto", "cpu", "cuda")
WEIGHTS = (("ImageNet if found on this machine", "auto"), ("random initialisation", None))


def ranker_names() -> list[str]:
    """Registered rankers, listed without importing torch (see ``modeling.catalog``)."""
    from relattr_studio.modeling.catalog import RANKERS

    return RANKERS.names()


def backbone_names() -> list[str]:
    from relattr_studio.modeling.catalog import BACKBONES

    return BACKBONES.names()


def batching_names() -> list[str]:
    from relattr_studio.training.config import BATCHINGS

    return list(BATCHINGS)


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
        self.epochs = QDoubleSpinBox(decimals=1, minimum=0.1, maximum=500, value=2.0, singleStep=1.0)
        self.batch_size = QSpinBox(minimum=2, maximum=1024, value=32)
        self.lr = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=1.0, value=1e-3, singleStep=1e-4)
        self.batching = QComboBox()
        self.batching.addItems(batching_names())
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.backbone.currentTextChanged.connect(self._suggest)
        self._suggest(self.backbone.currentText())

        model_box = QGroupBox("Model")
        f = QFormLayout(model_box)
        f.addRow("Ranker", self.ranker)
        f.addRow("Backbone", self.backbone)
        f.addRow("Weights", self.weights)
        hp_box = QGroupBox("Training")
        h = QFormLayout(hp_box)
        h.addRow("Epochs", self.epochs)
        h.addRow("Batch size (images)", self.batch_size)
        h.addRow("Learning rate", self.lr)
        h.addRow("Batching", self.batching)
        h.addRow("Seed", self.seed)
        h.addRow("Device", self.device)
        attr_box = QGroupBox("Attributes")
        QVBoxLayout(attr_box).addWidget(self.attributes)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(attr_box)
        layout.addWidget(model_box)
        layout.addWidget(hp_box)
        layout.addStretch(1)

    def _suggest(self, backbone: str) -> None:
        """A small CNN trains from scratch (Adam 1e-3); ImageNet nets use the paper's 1e-4."""
        scratch = backbone == "small-cnn"
        self.lr.setValue(1e-3 if scratch else 1e-4)
        self.weights.setCurrentIndex(1 if scratch else 0)
        self.weights.setEnabled(not scratch)

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

    def config_kwargs(self) -> dict:
        """TrainConfig fields chosen here (dataset and output folder come from the view)."""
        scratch = self.backbone.currentText() == "small-cnn"
        return dict(attributes=tuple(self.checked_attributes()), ranker=self.ranker.currentText(),
                    backbone=self.backbone.currentText(), weights=self.weights.currentData(),
                    epochs=float(self.epochs.value()), batch_size=int(self.batch_size.value()),
                    lr=float(self.lr.value()), batching=self.batching.currentText(), seed=int(self.seed.value()),
                    device=self.device.currentText(),
                    **({"optimizer": "adam", "backbone_lr_scale": 1.0} if scratch else {}))
