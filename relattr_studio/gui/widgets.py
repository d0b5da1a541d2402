"""Small reusable widgets: an image canvas and attribute-strength bars."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

ACCENT = QColor(52, 132, 228)
ACCENT_2 = QColor(236, 142, 44)


class ImageCanvas(QWidget):
    """Paints one pixmap scaled to fit, centred, on a dark matte.

    Scaling happens at paint time with bilinear filtering: a 64 px image shown at 320 px stays
    smooth, and a pixmap set beforehand (prefetched) costs only a blit when it changes.
    """

    def __init__(self, parent: QWidget | None = None, *, minimum: int = 160, caption: str = ""):
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._caption = caption
        self._highlight: QColor | None = None
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(340, 340)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, w: int) -> int:
        return w

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        self._pixmap = pixmap
        self.update()

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def set_caption(self, text: str) -> None:
        self._caption = text
        self.update()

    def set_highlight(self, colour: QColor | None) -> None:
        self._highlight = colour
        self.update()

    def image_rect(self) -> QRectF:
        pad = 10
        side = max(1, min(self.width(), self.height()) - 2 * pad)
        if self._pixmap is not None and not self._pixmap.isNull():
            pw, ph = self._pixmap.width(), self._pixmap.height()
            s = side / max(pw, ph)
            w, h = pw * s, ph * s
        else:
            w = h = side
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _caption_font(self) -> QFont:
        f = QFont(self.font())
        f.setBold(True)
        return f

    def caption_rect(self) -> QRectF:
        """The caption's badge in the image's top-left corner, wide enough for its text
        ("#12345" as well as "i"), never wider than the image."""
        r = self.image_rect()
        fm = QFontMetrics(self._caption_font())
        width = max(34, fm.horizontalAdvance(self._caption) + 12)
        return QRectF(r.left() + 6, r.top() + 6, min(width, max(24.0, r.width() - 12)), max(24, fm.height() + 6))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Window).darker(118))
        r = self.image_rect()
        if self._pixmap is not None and not self._pixmap.isNull():
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawPixmap(r, self._pixmap, QRectF(self._pixmap.rect()))
        else:
            p.setPen(QPen(QColor(128, 128, 128, 120), 1, Qt.PenStyle.DashLine))
            p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 8, 8)
        if self._highlight is not None:
            p.setPen(QPen(self._highlight, 4))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(-3, -3, 3, 3))
        if self._caption:
            p.setFont(self._caption_font())
            tr = self.caption_rect()
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(tr, 5, 5)
            p.setPen(QColor("white"))
            p.drawText(tr, Qt.AlignmentFlag.AlignCenter, self._caption)
        p.end()


class StrengthBars(QWidget):
    """Horizontal bars of attribute strengths (values expected roughly in [lo, hi])."""

    ROW = 22

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._names: list[str] = []
        self._values: list[float] = []
        self._second: list[float] | None = None
        self._lo, self._hi = 0.0, 1.0
        self._emphasis: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, names, values, *, second=None, lo: float = 0.0, hi: float = 1.0,
                   emphasis: int | None = None) -> None:
        """Show ``values`` (and optionally a second image's, for pairs) per attribute name."""
        self._names = list(names)
        self._values = [float(v) for v in values]
        self._second = None if second is None else [float(v) for v in second]
        self._lo, self._hi = float(lo), float(hi) if hi > lo else float(lo) + 1.0
        self._emphasis = emphasis
        self.setFixedHeight(max(1, len(self._names)) * self.ROW * (2 if second is not None else 1) + 4)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(260, self.height())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        label_w = min(int(self.width() * 0.42), max((fm.horizontalAdvance(n) for n in self._names), default=0) + 10)
        value_w = fm.horizontalAdvance("-0.00") + 8
        bar_x = label_w
        bar_w = max(10, self.width() - label_w - value_w - 4)
        text_col = self.palette().color(QPalette.ColorRole.WindowText)
        track = self.palette().color(QPalette.ColorRole.Mid)
        track.setAlpha(70)
        rows = [(self._values, ACCENT)] + ([(self._second, ACCENT_2)] if self._second is not None else [])
        y = 2
        for i, name in enumerate(self._names):
            f = QFont(self.font())
            f.setBold(i == self._emphasis)
            p.setFont(f)
            p.setPen(text_col)
            block_h = self.ROW * len(rows)
            p.drawText(QRectF(0, y, label_w - 6, block_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            for values, colour in rows:
                v = values[i]
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(track)
                bar = QRectF(bar_x, y + 5, bar_w, self.ROW - 10)
                p.drawRoundedRect(bar, 3, 3)
                if not math.isnan(v):
                    frac = min(1.0, max(0.0, (v - self._lo) / (self._hi - self._lo)))
                    p.setBrush(colour)
                    p.drawRoundedRect(QRectF(bar_x, y + 5, max(2.0, bar_w * frac), self.ROW - 10), 3, 3)
                p.setPen(text_col)
                p.drawText(QRectF(bar_x + bar_w + 4, y, value_w, self.ROW),
                           Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "–" if math.isnan(v) else f"{v:.2f}")
                y += self.ROW
        p.end()
