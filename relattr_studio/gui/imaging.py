"""numpy images <-> Qt images, and a small LRU cache of pixmaps."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def qimage_from_array(rgb: np.ndarray) -> QImage:
    """A QImage owning a copy of an H x W x 3 uint8 array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def pixmap_from_array(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(qimage_from_array(rgb))


def downscale(batch: np.ndarray, target: int) -> np.ndarray:
    """Box-filter an n x H x W x 3 batch down by an integer factor to about ``target`` px.

    Plain numpy so that a worker thread can do it (QPixmap is GUI-thread only).
    """
    h, w = batch.shape[1:3]
    k = max(1, min(h, w) // target)
    if k == 1:
        return batch
    h2, w2 = (h // k) * k, (w // k) * k
    x = batch[:, :h2, :w2].reshape(len(batch), h2 // k, k, w2 // k, k, 3).astype(np.float32)
    return x.mean(axis=(2, 4)).round().astype(np.uint8)


class PixmapCache:
    """Least-recently-used pixmaps keyed by image index."""

    def __init__(self, capacity: int = 4000):
        self.capacity = capacity
        self._items: OrderedDict[int, QPixmap] = OrderedDict()

    def get(self, key: int) -> QPixmap | None:
        pix = self._items.get(key)
        if pix is not None:
            self._items.move_to_end(key)
        return pix

    def put(self, key: int, pix: QPixmap) -> None:
        self._items[key] = pix
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, key: int) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
