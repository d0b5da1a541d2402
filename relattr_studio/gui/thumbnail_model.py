"""The thumbnail grid's model: a filtered, sorted view of a dataset's images.

Rows are an ``order`` array of image indices, so filtering or sorting 50,000 images is one
numpy call and a model reset. Pixmaps come lazily: ``data()`` for a row whose thumbnail is
not cached returns a placeholder and queues the image for :class:`ThumbnailLoader`; since a
``QListView`` with uniform item sizes only asks for the rows it paints, only visible rows
are ever read.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from relattr_studio.gui.imaging import PixmapCache, qimage_from_array
from relattr_studio.gui.thumbnails import ThumbnailLoader

IMAGE_INDEX_ROLE = Qt.ItemDataRole.UserRole + 1


def filter_order(dataset, *, attribute: int | None = None, lo: float | None = None,
                 hi: float | None = None, identity: int | None = None,
                 categorical: dict[str, int] | None = None, sort_attribute: int | None = None,
                 descending: bool = True) -> np.ndarray:
    """Image indices passing every filter, sorted by ``sort_attribute`` (else by index)."""
    n = len(dataset)
    mask = np.ones(n, dtype=bool)
    strengths = dataset.strengths
    if attribute is not None and strengths is not None:
        s = strengths[:, attribute]
        mask &= ~np.isnan(s)
        if lo is not None:
            mask &= s >= lo
        if hi is not None:
            mask &= s <= hi
    ids = dataset.meta.identities
    if identity is not None and ids is not None:
        mask &= ids == identity
    for name, value in (categorical or {}).items():
        cat = dataset.meta.categorical.get(name)
        if cat is not None:
            mask &= cat.values == value
    order = np.flatnonzero(mask)
    if sort_attribute is not None and strengths is not None:
        key = strengths[order, sort_attribute]
        key = np.where(np.isnan(key), -np.inf if descending else np.inf, key)
        idx = np.argsort(-key if descending else key, kind="stable")
        order = order[idx]
    return order


class ThumbnailModel(QAbstractListModel):
    def __init__(self, parent=None, *, thumb_size: int = 72):
        super().__init__(parent)
        self.dataset = None
        self.thumb_size = thumb_size
        self.order = np.zeros(0, dtype=np.int64)
        self.caption_attribute: int | None = None
        self._row_of = np.zeros(0, dtype=np.int64)
        self._cache = PixmapCache(4000)
        self._loader: ThumbnailLoader | None = None
        self._missing: list[int] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._request_missing)
        self._placeholder = self._make_placeholder()

    # -- content ----------------------------------------------------------------------------

    def set_dataset(self, dataset) -> None:
        self.beginResetModel()
        self._stop_loader()
        self._cache.clear()
        self.dataset = dataset
        self.caption_attribute = None
        n = 0 if dataset is None else len(dataset)
        self.order = np.arange(n, dtype=np.int64)
        self._update_rows()
        if dataset is not None:
            self._loader = ThumbnailLoader(dataset, size=self.thumb_size)
            self._loader.mailbox.received.connect(self._on_loaded)
            self._loader.start()
        self.endResetModel()

    def set_order(self, order: np.ndarray) -> None:
        self.beginResetModel()
        self.order = np.asarray(order, dtype=np.int64)
        self._update_rows()
        if self._loader is not None:
            self._loader.forget()
        self.endResetModel()

    def set_thumb_size(self, size: int) -> None:
        if size == self.thumb_size:
            return
        self.thumb_size = size
        self._cache.clear()
        self._placeholder = self._make_placeholder()
        if self._loader is not None:
            self._loader.forget()
            self._loader.size = size
        self.layoutChanged.emit()

    def image_at(self, row: int) -> int:
        return int(self.order[row])

    def row_of(self, image: int) -> int:
        return int(self._row_of[image]) if 0 <= image < len(self._row_of) else -1

    def close(self) -> None:
        self._stop_loader()

    def loading_idle(self) -> bool:
        """True when no thumbnail is being read or waiting to be delivered (tests)."""
        return self._loader is None or (self._loader.idle() and not self._missing)

    # -- Qt model ---------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.order)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        row = index.row()
        if not 0 <= row < len(self.order):
            return None
        image = int(self.order[row])
        if role == Qt.ItemDataRole.DecorationRole:
            return self.pixmap(image)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.caption(image) if self.caption_attribute is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(image)
        if role == IMAGE_INDEX_ROLE:
            return image
        return None

    def pixmap(self, image: int) -> QPixmap:
        """The cached thumbnail, or a placeholder while it is read (queued for the loader)."""
        pix = self._cache.get(image)
        if pix is None:
            self._missing.append(image)
            if not self._flush.isActive():
                self._flush.start()
            return self._placeholder
        return pix

    def caption(self, image: int) -> str:
        if self.caption_attribute is None or self.dataset.strengths is None:
            return ""
        v = self.dataset.strengths[image, self.caption_attribute]
        return "–" if np.isnan(v) else f"{v:.2f}"

    # -- loading ----------------------------------------------------------------------------

    def _request_missing(self) -> None:
        if self._loader is not None and self._missing:
            self._loader.request(self._missing)
        self._missing = []

    def _on_loaded(self, item) -> None:
        indices, images = item
        if self.dataset is None:
            return
        size = self.thumb_size
        rows = []
        for image, arr in zip(indices, images):
            qimg = qimage_from_array(arr)
            if qimg.width() != size or qimg.height() != size:
                qimg = qimg.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
            self._cache.put(int(image), QPixmap.fromImage(qimg))
            r = self.row_of(int(image))
            if r >= 0:
                rows.append(r)
        if rows:
            role = [Qt.ItemDataRole.DecorationRole]
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), role)

    def _update_rows(self) -> None:
        n = 0 if self.dataset is None else len(self.dataset)
        self._row_of = np.full(n, -1, dtype=np.int64)
        self._row_of[self.order] = np.arange(len(self.order))

    def _stop_loader(self) -> None:
        if self._loader is not None:
            self._loader.mailbox.received.disconnect(self._on_loaded)
            self._loader.stop()
            self._loader = None

    def _make_placeholder(self) -> QPixmap:
        pix = QPixmap(self.thumb_size, self.thumb_size)
        pix.fill(QColor(0, 0, 0, 0))
        p = QPainter(pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(128, 128, 128, 60))
        p.drawRoundedRect(2, 2, self.thumb_size - 4, self.thumb_size - 4, 6, 6)
        p.end()
        return pix

    def _tooltip(self, image: int) -> str:
        ds = self.dataset
        lines = [f"<b>{html.escape(ds.image_names[image])}</b> &nbsp;#{image}"]
        ids = ds.meta.identities
        if ids is not None and ids[image] >= 0 and ids[image] < len(ds.meta.identity_names):
            lines.append(f"identity: {html.escape(ds.meta.identity_names[ids[image]])}")
        for name, cat in ds.meta.categorical.items():
            v = cat.values[image]
            if v >= 0:
                lines.append(f"{html.escape(name)}: {html.escape(cat.class_names[v])}")
        if ds.strengths is not None:
            for a, name in enumerate(ds.attribute_names):
                v = ds.strengths[image, a]
                lines.append(f"{html.escape(name)}: {'–' if np.isnan(v) else f'{v:.3f}'}")
        return "<br>".join(lines)


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a cell straight from the model's cache: one Python call per visible cell.

    The stock delegate asks ``data()`` for a dozen roles per cell and wraps each pixmap in a
    QIcon; at 50,000 images and fast scrolling that cost more than the frame budget.
    """

    def __init__(self, model: ThumbnailModel, parent=None):
        super().__init__(parent)
        self.model = model
        self._selected = QColor(52, 132, 228, 70)
        self._border = QColor(52, 132, 228)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        m = self.model
        row = index.row()
        if not 0 <= row < len(m.order):
            return
        image = int(m.order[row])
        r = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(self._border)
            painter.setBrush(self._selected)
            painter.drawRoundedRect(r.adjusted(1, 1, -2, -2), 6, 6)
        pix = m.pixmap(image)
        size = m.thumb_size
        x = r.x() + (r.width() - size) // 2
        painter.drawPixmap(x + (size - pix.width()) // 2, r.y() + 6 + (size - pix.height()) // 2, pix)
        if m.caption_attribute is not None:
            painter.setPen(option.palette.color(option.palette.ColorRole.Text))
            painter.drawText(r.x(), r.y() + size + 8, r.width(), r.height() - size - 8,
                             int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), m.caption(image))

    def sizeHint(self, option, index) -> QSize:
        extra = 20 if self.model.caption_attribute is not None else 0
        return QSize(self.model.thumb_size + 12, self.model.thumb_size + 12 + extra)
