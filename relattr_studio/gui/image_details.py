"""Side panels: one image large with its strengths, or a pair of images side by side."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split, enum_names
from relattr_studio.gui.imaging import pixmap_from_array
from relattr_studio.gui.widgets import ImageCanvas, StrengthBars


def strength_range(dataset) -> tuple[float, float]:
    s = dataset.strengths
    if s is None or not np.isfinite(s).any():
        return 0.0, 1.0
    lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
    return (min(lo, 0.0), max(hi, 1.0)) if lo >= -0.01 and hi <= 1.01 else (lo, hi)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; font-size: 13px;")
    label.setWordWrap(True)
    return label


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #5f6670;")
    return label


class ImageDetailsPanel(QWidget):
    """The selected image large, its name, identity, categorical values and strengths."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset = None
        self.image_index: int | None = None
        self.canvas = ImageCanvas(minimum=220)
        self.title = _heading("No image selected")
        self.facts = _muted("Click a thumbnail to see it large with its attribute strengths.")
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.bars = StrengthBars()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.canvas)
        layout.addWidget(self.title)
        layout.addWidget(self.facts)
        layout.addSpacing(6)
        layout.addWidget(_heading("Attribute strengths"))
        layout.addWidget(self.bars)
        layout.addStretch(1)

    def set_dataset(self, dataset) -> None:
        self.dataset = dataset
        self.show_image(None)

    def show_image(self, index: int | None, emphasis: int | None = None) -> None:
        self.image_index = index
        ds = self.dataset
        if ds is None or index is None:
            self.canvas.set_pixmap(None)
            self.title.setText("No image selected")
            self.facts.setText("Click a thumbnail to see it large with its attribute strengths.")
            self.bars.set_values([], [])
            return
        self.canvas.set_pixmap(pixmap_from_array(ds.image(index)))
        self.title.setText(ds.image_names[index])
        facts = [f"image #{index:,} of {len(ds):,} &middot; {ds.image_shape[1]}×{ds.image_shape[0]} px"]
        ids = ds.meta.identities
        if ids is not None and 0 <= ids[index] < len(ds.meta.identity_names):
            facts.append(f"identity: <b>{html.escape(ds.meta.identity_names[ids[index]])}</b>")
        for name, cat in ds.meta.categorical.items():
            v = cat.values[index]
            if v >= 0:
                facts.append(f"{html.escape(name)}: <b>{html.escape(cat.class_names[v])}</b>")
        self.facts.setText("<br>".join(facts))
        if ds.strengths is not None:
            lo, hi = strength_range(ds)
            self.bars.set_values(ds.attribute_names, ds.strengths[index], lo=lo, hi=hi, emphasis=emphasis)
        else:
            self.bars.set_values([], [])


class PairPanel(QWidget):
    """Images a and b of a pair side by side, the pair's annotation and both strength rows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.left = ImageCanvas(minimum=180, caption="a")
        self.right = ImageCanvas(minimum=180, caption="b")
        self.title = _heading("No pair selected")
        self.facts = _muted("Select a row of the table.")
        self.bars = StrengthBars()
        grid = QGridLayout()
        grid.addWidget(self.left, 0, 0)
        grid.addWidget(self.right, 0, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(grid)
        layout.addWidget(self.title)
        layout.addWidget(self.facts)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        layout.addWidget(line)
        layout.addWidget(_muted("Strengths: <span style='color:#3484e4'>■ a</span> &nbsp; "
                                "<span style='color:#ec8e2c'>■ b</span>"))
        layout.addWidget(self.bars)
        layout.addStretch(1)

    def clear(self) -> None:
        """Show no pair (another dataset was opened, or the filters hid the row)."""
        self.left.set_pixmap(None)
        self.right.set_pixmap(None)
        self.title.setText("No pair selected")
        self.facts.setText("Select a row of the table.")
        self.bars.set_values([], [])

    def show_pair(self, dataset, a: int, b: int, attribute: int | None = None, row: dict | None = None) -> None:
        self.left.set_pixmap(pixmap_from_array(dataset.image(a)))
        self.right.set_pixmap(pixmap_from_array(dataset.image(b)))
        attr_name = dataset.attribute_names[attribute] if attribute is not None else "?"
        self.title.setText(f"{dataset.image_names[a]}  vs  {dataset.image_names[b]}")
        facts = [f"attribute: <b>{html.escape(attr_name)}</b>"]
        if row is not None:
            label = PairLabel(int(row["label"]))
            verdict = {PairLabel.A_MORE: "a shows it more", PairLabel.B_MORE: "b shows it more",
                       PairLabel.EQUAL: "equal"}[label]
            facts.append(f"label: <b>{verdict}</b>")
            for key, enum in (("split", Split), ("group", PairGroup), ("source", PairSource)):
                facts.append(f"{key}: {enum_names(enum).get(int(row[key]), row[key])}")
            for key in ("confidence", "agreement"):
                v = float(row[key])
                if not np.isnan(v):
                    facts.append(f"{key}: {v:.2f}")
        self.facts.setText(" &middot; ".join(facts))
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        s = dataset.strengths
        if s is not None:
            lo, hi = strength_range(dataset)
            self.bars.set_values(dataset.attribute_names, s[a], second=s[b], lo=lo, hi=hi, emphasis=attribute)
        else:
            self.bars.set_values([], [])
