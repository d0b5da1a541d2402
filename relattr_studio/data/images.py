"""Pixel arrays between sizes: one resize for every place that puts images of one size among another's."""

from __future__ import annotations

import numpy as np


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``images`` (n x H x W x 3 uint8) resized to ``size`` (h, w): an area-averaging filter when
    shrinking, bilinear when enlarging; returned as they are when already that size."""
    images = np.asarray(images, np.uint8)
    h, w = size
    if images.shape[1:3] == (h, w):
        return images
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BOX if h < im.shape[0]
                                                            else Image.Resampling.BILINEAR)) for im in images])
