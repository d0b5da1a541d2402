"""The thumbnail grid's model: a filtered, sorted view of a dataset's images.

Rows are an ``order`` array of image indices, so filtering or sorting 50,000 images is one
numpy call and a model reset. Thumbnails come lazily: a row whose thumbnail is not cached
paints a placeholder and queues the image for :class:`ThumbnailLoader`; since a ``QListView``
with uniform item sizes only asks for the rows it paints, only visible rows are ever read.
The loader hands over finished pixels; the cache holds QImages wrapping them, painted as
they are (no QPixmap conversion on the GUI thread).
"""

from __future__ import annotations

import html
from contextlib import nullcontext

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QListView, QStyledItemDelegate, QStyleOptionViewItem

from relattr_studio.gui.imaging import LruCache, qimage_view
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
        self._cache = LruCache(4000)  # image index -> (QImage, the array it wraps)
        self._rows = 0
        self._loader: ThumbnailLoader | None = None
        self._missing: list[int] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._request_missing)
        self._placeholder = self._make_placeholder()

    # -- content ----------------------------------------------------------------------------

    def set_dataset(self, dataset) -> None:
        """Show every image of ``dataset`` in index order, uncaptioned; nothing of the previous
        dataset stays (thumbnails, images waiting to be read)."""
        self.beginResetModel()
        self._stop_loader()
        self._cache.clear()
        self._flush.stop()
        self._missing = []  # indices into the old dataset's images
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

    def painting(self):
        """A context for painting a frame: the loader thread keeps off the GIL meanwhile."""
        return self._loader.gui_busy() if self._loader is not None else nullcontext()

    def loading_idle(self) -> bool:
        """True when no thumbnail is being read or waiting to be delivered (tests)."""
        return self._loader is None or (self._loader.idle() and not self._missing)

    # -- Qt model ---------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._rows  # the view asks hundreds of times a frame

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        row = index.row()
        if not 0 <= row < len(self.order):
            return None
        image = int(self.order[row])
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(image)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.caption(image) if self.caption_attribute is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(image)
        if role == IMAGE_INDEX_ROLE:
            return image
        return None

    def thumbnail(self, image: int) -> QImage:
        """The cached thumbnail, or a placeholder while it is read (queued for the loader)."""
        entry = self._cache.get(image)
        if entry is None:
            self._missing.append(image)
            if not self._flush.isActive():
                self._flush.start()
            return self._placeholder
        return entry[0]

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
        if self._loader is None:
            return
        with self._loader.gui_busy():
            self._deliver(*item)

    def _deliver(self, size, indices, buffers) -> None:
        if self.dataset is None or size != self.thumb_size:
            return  # read for another zoom: the visible cells ask again
        rows = []
        row_of = self._row_of
        for image, buf in zip(indices.tolist(), buffers):
            self._cache.put(image, (qimage_view(buf), buf))  # the QImage borrows buf's memory
            r = int(row_of[image])
            if r >= 0:
                rows.append(r)
        if rows:
            role = [Qt.ItemDataRole.DecorationRole]
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), role)

    def _update_rows(self) -> None:
        n = 0 if self.dataset is None else len(self.dataset)
        self._row_of = np.full(n, -1, dtype=np.int64)
        self._row_of[self.order] = np.arange(len(self.order))
        self._rows = len(self.order)

    def _stop_loader(self) -> None:
        if self._loader is not None:
            self._loader.mailbox.received.disconnect(self._on_loaded)
            self._loader.stop()
            self._loader = None

    def _make_placeholder(self) -> QImage:
        pix = QImage(self.thumb_size, self.thumb_size, QImage.Format.Format_ARGB32_Premultiplied)
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
    QIcon; at 50,000 images and fast scrolling that cost more than the frame budget. Thumbnails
    are QImages in the backing store's own format, so drawing one is a plain blit.
    """

    def __init__(self, model: ThumbnailModel, view: QListView):
        super().__init__(view)
        self.model = model
        self._view = view
        self._selected = QColor(52, 132, 228, 70)
        self._border = QColor(52, 132, 228)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        m = self.model
        row = index.row()
        if not 0 <= row < m._rows:
            return
        image = int(m.order[row])
        r = option.rect
        x, y, w = r.x(), r.y(), r.width()
        sel = self._view.selectionModel()  # cheaper than testing option.state's enum flags
        if sel is not None and sel.isSelected(index):
            painter.setPen(self._border)
            painter.setBrush(self._selected)
            painter.drawRoundedRect(r.adjusted(1, 1, -2, -2), 6, 6)
        img = m.thumbnail(image)
        size = m.thumb_size
        painter.drawImage(x + (w - img.width()) // 2, y + 6 + (size - img.height()) // 2, img)
        if m.caption_attribute is not None:
            painter.setPen(option.palette.color(option.palette.ColorRole.Text))
            painter.drawText(x, y + size + 8, w, r.height() - size - 8,
                             int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), m.caption(image))

    def sizeHint(self, option, index) -> QSize:
        extra = 20 if self.model.caption_attribute is not None else 0
        return QSize(self.model.thumb_size + 12, self.model.thumb_size + 12 + extra)


class ThumbnailGrid(QListView):
    """A list view in icon mode that keeps the thumbnail loader off the GIL while it paints."""

    def __init__(self, model: ThumbnailModel, parent=None):
        super().__init__(parent)
        self._thumbs = model

    def paintEvent(self, event) -> None:
        with self._thumbs.painting():
            super().paintEvent(event)
