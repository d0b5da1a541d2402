"""The Inspect view's pair panel: both images with their saliency overlaid, P(i > j), scores,
DeepSTN's crop box and DACRL's most and least attended channels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from relattr_studio.gui.imaging import pixmap_from_array
from relattr_studio.gui.plots import AttentionBars
from relattr_studio.gui.widgets import ACCENT, ACCENT_2, ImageCanvas

HINT = "Pick two images on the strip or the scatter, or a test pair."

_HEAT = pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.float32)
DISPLAY = 256  # overlays are drawn at this size so that boxes and edges stay crisp


def heat_overlay(rgb: np.ndarray, saliency: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """Alpha-blend a [0, 1] map as a heat map over an image; weak saliency leaves the image."""
    m = np.clip(np.asarray(saliency, np.float32), 0, 1)
    heat = _HEAT[(m * 255).astype(np.int64)]
    a = (alpha * np.sqrt(m))[..., None]
    return np.clip(rgb.astype(np.float32) * (1 - a) + heat * a, 0, 255).astype(np.uint8)


def overlay_pixmap(rgb: np.ndarray, saliency: np.ndarray | None, box: np.ndarray | None) -> QPixmap:
    """The image (with its saliency) scaled to DISPLAY px, with a crop box drawn if given."""
    shown = rgb if saliency is None else heat_overlay(rgb, saliency)
    pm = pixmap_from_array(shown).scaled(DISPLAY, DISPLAY, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
    if box is not None:
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(60, 230, 120), 3))
        x0, y0, x1, y1 = (float(v) for v in box)
        p.drawRect(QRectF(x0 * pm.width(), y0 * pm.height(), (x1 - x0) * pm.width(), (y1 - y0) * pm.height()))
        p.end()
    return pm


def _map_pixmap(m: np.ndarray, size: int = 56) -> QPixmap:
    rgb = _HEAT[(np.clip(m, 0, 1) * 255).astype(np.int64)].astype(np.uint8)
    return pixmap_from_array(rgb).scaled(size, size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)


class PairPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas_a = ImageCanvas(minimum=170, caption="i")
        self.canvas_b = ImageCanvas(minimum=170, caption="j")
        self.label_a = QLabel(HINT)
        self.label_b = QLabel("")
        self.verdict = QLabel("")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setStyleSheet("font-size: 15px; font-weight: 600;")
        for lab in (self.label_a, self.label_b):
            lab.setWordWrap(True)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid = QGridLayout()
        grid.addWidget(self.canvas_a, 0, 0)
        grid.addWidget(self.canvas_b, 0, 1)
        grid.addWidget(self.label_a, 1, 0)
        grid.addWidget(self.label_b, 1, 1)
        self.attention = AttentionBars()
        self.attention_maps = QWidget()
        self.top_row = QHBoxLayout()
        self.bottom_row = QHBoxLayout()
        maps = QVBoxLayout(self.attention_maps)
        maps.setContentsMargins(0, 0, 0, 0)
        maps.addLayout(self.top_row)
        maps.addLayout(self.bottom_row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addLayout(grid, 1)
        layout.addWidget(self.attention)
        layout.addWidget(self.attention_maps)
        self.attention.hide()
        self.attention_maps.hide()
        self.shown: tuple[int, int] | None = None

    def clear(self) -> None:
        """No pair: a new model's judgement is not the previous model's."""
        self.shown = None
        for canvas, caption in ((self.canvas_a, "i"), (self.canvas_b, "j")):
            canvas.set_pixmap(None)
            canvas.set_caption(caption)
            canvas.set_highlight(None)
        self.label_a.setText(HINT)
        self.label_b.setText("")
        self.verdict.setText("")
        self._show_attention(None)

    def show_pending(self, a: int, image_a: np.ndarray, b: int | None, image_b: np.ndarray | None) -> None:
        self.shown = None
        self.canvas_a.set_pixmap(overlay_pixmap(image_a, None, None))
        self.canvas_a.set_caption(f"#{a}")
        self.canvas_a.set_highlight(ACCENT)  # the colours of their markers on the histogram
        self.canvas_b.set_pixmap(None if image_b is None else overlay_pixmap(image_b, None, None))
        self.canvas_b.set_caption("" if b is None else f"#{b}")
        self.canvas_b.set_highlight(None if b is None else ACCENT_2)
        self.label_a.setText(f"i = #{a}")
        self.label_b.setText("" if b is None else f"j = #{b}")
        self.verdict.setText("pick a second image…" if b is None else "computing saliency…")

    def show_result(self, r, image_a: np.ndarray, image_b: np.ndarray, attribute_name: str) -> None:
        s = r.saliency
        self.shown = (r.a, r.b)
        self.canvas_a.set_pixmap(overlay_pixmap(image_a, s.map_i, r.box_a))
        self.canvas_b.set_pixmap(overlay_pixmap(image_b, s.map_j, r.box_b))
        self.canvas_a.set_caption(f"#{r.a}")
        self.canvas_b.set_caption(f"#{r.b}")
        more = "i" if s.p_ij >= 0.5 else "j"
        self.verdict.setText(f"P(i more {attribute_name} than j) = {s.p_ij:.3f}  →  {more} shows it more")
        if s.score_i is not None:
            self.label_a.setText(f"i = #{r.a}: score r_i = {s.score_i:.3f}")
            self.label_b.setText(f"j = #{r.b}: score r_j = {s.score_j:.3f}")
        else:  # a pairwise ranker has no score per image: both maps explain the one logit
            self.label_a.setText(f"i = #{r.a}: saliency of the pair's compare logit")
            self.label_b.setText(f"j = #{r.b}: saliency of the pair's compare logit")
        self._show_attention(r.attention)

    def _show_attention(self, att) -> None:
        for row in (self.top_row, self.bottom_row):
            while row.count():
                w = row.takeAt(0).widget()
                if w is not None:
                    w.deleteLater()
        if att is None:
            self.attention.hide()
            self.attention_maps.hide()
            return
        k = len(att.top)
        self.attention.set_weights(att.weights, k)
        half = len(att.weights) // 2
        for row, title, idx, maps in ((self.top_row, "most attended", att.top, att.top_maps),
                                      (self.bottom_row, "least attended", att.bottom, att.bottom_maps)):
            row.addWidget(QLabel(title))
            for c, m in zip(idx, maps):
                lab = QLabel()
                lab.setPixmap(_map_pixmap(m))
                lab.setToolTip(f"channel {int(c)} of {'i' if c < half else 'j'}, weight {att.weights[c]:.3f}")
                row.addWidget(lab)
            row.addStretch(1)
        self.attention.show()
        self.attention_maps.show()
