"""numpy images <-> Qt images, thumbnails made off the GUI thread, and a small LRU cache."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

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


def _resize_bilinear(batch: np.ndarray, h: int, w: int) -> np.ndarray:
    """n x H x W x 3 -> n x h x w x 3 float32, bilinear with pixel centres aligned."""
    H, W = batch.shape[1:3]
    ys = np.clip((np.arange(h) + 0.5) * H / h - 0.5, 0, H - 1)
    xs = np.clip((np.arange(w) + 0.5) * W / w - 0.5, 0, W - 1)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    fy, fx = (ys - y0)[None, :, None, None], (xs - x0)[None, None, :, None]
    b = batch.astype(np.float32)
    top = b[:, y0][:, :, x0] * (1 - fx) + b[:, y0][:, :, x1] * fx
    bottom = b[:, y1][:, :, x0] * (1 - fx) + b[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


def thumbnail_buffers(batch: np.ndarray, size: int) -> list[np.ndarray]:
    """Thumbnails that fit ``size`` x ``size`` (aspect kept), ready for :func:`qimage_view`.

    Plain numpy, for a worker thread: each thumbnail is its own h x w uint32 array in Qt's
    32-bit RGB layout (0xffRRGGBB), which the raster paint engine blits without converting,
    so the GUI thread only wraps it.
    """
    small = downscale(batch, size)
    H, W = small.shape[1:3]
    s = size / max(H, W)
    h, w = max(1, round(H * s)), max(1, round(W * s))
    rgb = small if (h, w) == (H, W) else np.clip(_resize_bilinear(small, h, w).round(), 0, 255).astype(np.uint8)
    n = len(rgb)
    bgra = np.empty((n, h, w, 4), np.uint8)  # 0xffRRGGBB as little-endian bytes
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 255
    packed = bgra.view("<u4").reshape(n, h, w)
    return [img.astype("=u4") for img in packed]  # native order, one owner per thumbnail


def qimage_view(buffer: np.ndarray) -> QImage:
    """A QImage over an h x w uint32 array from :func:`thumbnail_buffers`, without a copy.

    The QImage does not own the memory: keep ``buffer`` alive as long as the image.
    """
    h, w = buffer.shape
    return QImage(buffer.data, w, h, 4 * w, QImage.Format.Format_RGB32)


class LruCache:
    """Least-recently-used values (pixmaps, images) keyed by image index."""

    def __init__(self, capacity: int = 4000):
        self.capacity = capacity
        self._items: OrderedDict[int, Any] = OrderedDict()

    def get(self, key: int) -> Any:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: int, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, key: int) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

