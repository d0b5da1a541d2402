"""The Explore view's widgets: attribute sliders, a spectrum strip, and the panels of controls
the view is laid out from (they hold widgets only; the view wires them)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QMenu,
                               QPushButton, QScrollArea, QSizePolicy, QSlider, QSpinBox, QToolButton, QVBoxLayout,
                               QWidget)

SLIDER_STEPS = 1000
_ERROR, _NOTE = "color: #b3261e;", "color: #5f6670;"


class AttributeSliders(QWidget):
    """One slider per attribute over [lo, hi], with its value; ``moved(index, value)`` when the
    person (or a test) moves one, not when :meth:`set_values` does."""

    moved = Signal(int, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(1, 1)
        self.names: list[str] = []
        self.sliders: list[QSlider] = []
        self.value_labels: list[QLabel] = []
        self._lo = np.zeros(0)
        self._hi = np.zeros(0)
        self._mean = np.zeros(0)
        self._sigma = np.zeros(0)

    def set_attributes(self, names, mean, sigma, *, span: float = 3.0) -> None:
        """Sliders for ``names``, each over mean +- span sigma."""
        while self._grid.count():
            self._grid.takeAt(0).widget().deleteLater()
        self.names = list(names)
        self._mean = np.asarray(mean, np.float64)
        self._sigma = np.maximum(np.asarray(sigma, np.float64), 1e-6)
        self._lo, self._hi = self._mean - span * self._sigma, self._mean + span * self._sigma
        self.sliders, self.value_labels = [], []
        for i, name in enumerate(self.names):
            label = QLabel(name.replace("_", " "))
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setSingleStep(5)
            slider.setPageStep(50)
            slider.setToolTip(f"{name}: {self._lo[i]:.2f} to {self._hi[i]:.2f} (prior mean ± {span:g} σ)")
            value = QLabel()
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("-0.00  (+0.0σ)") + 4)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            slider.valueChanged.connect(lambda pos, i=i: self._on_slider(i, pos))
            self._grid.addWidget(label, i, 0)
            self._grid.addWidget(slider, i, 1)
            self._grid.addWidget(value, i, 2)
            self.sliders.append(slider)
            self.value_labels.append(value)
        self.set_values(self._mean)

    def value(self, i: int) -> float:
        return self._to_value(i, self.sliders[i].value())

    def values(self) -> np.ndarray:
        return np.array([self.value(i) for i in range(len(self.sliders))], np.float64)

    def position(self, i: int, value: float) -> int:
        frac = (float(value) - self._lo[i]) / (self._hi[i] - self._lo[i])
        return int(round(min(1.0, max(0.0, frac)) * SLIDER_STEPS))

    def set_values(self, y) -> None:
        """Move every slider to ``y`` (clipped to its range) without emitting ``moved``."""
        for i, v in enumerate(np.asarray(y, np.float64)):
            self.sliders[i].blockSignals(True)
            self.sliders[i].setValue(self.position(i, v))
            self.sliders[i].blockSignals(False)
            self._show_value(i)

    def _to_value(self, i: int, pos: int) -> float:
        return float(self._lo[i] + (self._hi[i] - self._lo[i]) * pos / SLIDER_STEPS)

    def _show_value(self, i: int) -> None:
        v = self.value(i)
        sigmas = round((v - self._mean[i]) / self._sigma[i], 1) or 0.0  # never "-0.0"
        self.value_labels[i].setText(f"{v:.2f}  ({sigmas:+.1f}σ)")

    def _on_slider(self, i: int, _pos: int) -> None:
        self._show_value(i)
        self.moved.emit(i, self.value(i))


class SpectrumStrip(QWidget):
    """A row of images along one attribute, each captioned; ``picked(index)`` on a click."""

    picked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmaps: list[QPixmap] = []
        self._captions: list[str] = []
        self._current: int | None = None
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(900, 150)

    def set_images(self, pixmaps: list[QPixmap], captions: list[str], current: int | None = None) -> None:
        self._pixmaps, self._captions, self._current = list(pixmaps), list(captions), current
        self.update()

    def count(self) -> int:
        return len(self._pixmaps)

    def pixmaps(self) -> list[QPixmap]:
        return list(self._pixmaps)

    def _cells(self) -> list[QRectF]:
        n = len(self._pixmaps)
        if not n:
            return []
        caption_h = self.fontMetrics().height() + 6
        gap = 6.0
        side = max(8.0, min((self.width() - gap * (n - 1)) / n, self.height() - caption_h))
        x0 = (self.width() - n * side - (n - 1) * gap) / 2
        return [QRectF(x0 + i * (side + gap), 0, side, side) for i in range(n)]

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for i, (r, pm) in enumerate(zip(self._cells(), self._pixmaps)):
            p.drawPixmap(r, pm, QRectF(pm.rect()))
            if i == self._current:
                p.setPen(QColor(52, 132, 228))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(r.adjusted(-2, -2, 2, 2))
            p.setPen(text)
            p.drawText(QRectF(r.left() - 4, r.bottom() + 2, r.width() + 8, self.fontMetrics().height() + 4),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                       self._captions[i] if i < len(self._captions) else "")
        p.end()

    def mousePressEvent(self, event) -> None:
        for i, r in enumerate(self._cells()):
            if r.contains(event.position()):
                self.picked.emit(i)
                return
        super().mousePressEvent(event)


class AttributesPanel(QGroupBox):
    """The sliders (scrolling when there are many) and the identity row: seed, Reroll z, New
    identity, Prior mean."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Attributes", parent)
        self.sliders = AttributeSliders()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.sliders)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The latent z (everything that is not an attribute) is drawn from this seed")
        self.reroll_button = QPushButton("Reroll z")
        self.reroll_button.setToolTip("A new z: same attributes, another look")
        self.identity_button = QPushButton("New identity")
        self.identity_button.setToolTip("Attributes and z drawn from the prior")
        self.mean_button = QPushButton("Prior mean")
        self.mean_button.setToolTip("Every attribute at the prior's mean")
        row = QHBoxLayout()
        row.addWidget(QLabel("Seed (z)"))
        row.addWidget(self.seed)
        row.addStretch(1)
        for b in (self.reroll_button, self.identity_button, self.mean_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(row)


class GeneratorBar(QWidget):
    """The Generator menu (shipped models, a file), what is loaded, and how fast it draws."""

    shipped = Signal(str)
    open_file = Signal()
    train = Signal()

    def __init__(self, shipped: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.button = QToolButton()
        self.button.setText("Generator")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.button)
        for name, available in shipped.items():
            action = menu.addAction(f"{name} (shipped)", lambda n=name: self.shipped.emit(n))
            action.setEnabled(available)
        menu.addSeparator()
        menu.addAction("Open a generator model file…", self.open_file.emit)
        menu.addAction("Train a generator…", self.train.emit)
        self.button.setMenu(menu)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.timing = QLabel()
        self.timing.setStyleSheet(_NOTE)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.info, 1)
        row.addWidget(self.timing)

    def say(self, text: str, *, error: bool = False) -> None:
        self.info.setStyleSheet(_ERROR if error else "")
        self.info.setText(text)


class SpectrumPanel(QGroupBox):
    """Which attribute, how many steps over which span, Export, and the strip; ``go(value)`` when
    a strip image is clicked (the chosen attribute's value there)."""

    go = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Spectrum", parent)
        self.images: np.ndarray | None = None  # the strip on screen, n x S x S x 3
        self._values = np.zeros(0)
        self.attribute_box = QComboBox()
        self.steps = QSpinBox()
        self.steps.setRange(2, 25)
        self.steps.setValue(9)
        self.span = QDoubleSpinBox()
        self.span.setRange(0.25, 4.0)
        self.span.setSingleStep(0.25)
        self.span.setValue(2.0)
        self.span.setPrefix("± ")
        self.span.setSuffix(" σ")
        self.export_button = QPushButton("Export strip as PNG…")
        row = QHBoxLayout()
        for w in (QLabel("Along"), self.attribute_box, QLabel("Steps"), self.steps, QLabel("Span"), self.span):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.export_button)
        self.strip = SpectrumStrip()
        self.strip.picked.connect(lambda i: self.go.emit(float(self._values[i])) if i < len(self._values) else None)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.strip, 1)

    def show_strip(self, pixmaps, images: np.ndarray, values: np.ndarray, sigma: float, current: float) -> None:
        """The strip's images, captioned with the attribute's ``values`` and their offset in sigma."""
        values = np.asarray(values, np.float64)
        offsets = np.round((values - values.mean()) / max(float(sigma), 1e-12), 1) + 0.0  # never "-0.0"
        captions = [f"{v:.2f}" if len(values) > 11 else f"{v:.2f} ({o:+.1f}σ)" for v, o in zip(values, offsets)]
        self.images, self._values = images, values
        self.strip.set_images(pixmaps, captions, int(np.argmin(np.abs(values - current))))

    def clear(self) -> None:
        self.images, self._values = None, np.zeros(0)
        self.strip.set_images([], [])


class PairsPanel(QGroupBox):
    """How many pairs of which kind, the Send button, and a note saying what happened."""

    def __init__(self, kinds, parent: QWidget | None = None):
        super().__init__("Semantic-jitter pairs for labeling (identities from the prior, ± 2 σ apart)", parent)
        self.count = QSpinBox()
        self.count.setRange(1, 500)
        self.count.setValue(20)
        self.kind = QComboBox()
        for key, text in kinds:
            self.kind.addItem(text, key)
        self.attribute = QLabel()
        self.button = QPushButton("Send to labeling queue")
        self.note = QLabel()
        self.note.setWordWrap(True)
        row = QHBoxLayout(self)
        for w in (QLabel("Make"), self.count, self.kind, self.attribute, self.button):
            row.addWidget(w)
        row.addWidget(self.note, 1)

    def say(self, text: str, *, error: bool = False) -> None:
        self.note.setStyleSheet(_ERROR if error else _NOTE)
        self.note.setText(text)
