"""A spectrum strip: generated images side by side, and that strip written as a PNG file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError, RelAttrError


def strip_image(images: np.ndarray, gap: int = 0) -> np.ndarray:
    """n x S x S x 3 images side by side, left to right, at their own size: S x (n S + (n-1) gap) x 3."""
    images = np.asarray(images, np.uint8)
    if images.ndim != 4 or len(images) == 0:
        raise RelAttrError("a strip needs at least one image")
    n, h, w, c = images.shape
    out = np.full((h, n * w + (n - 1) * gap, c), 255, np.uint8)
    for i, img in enumerate(images):
        out[:, i * (w + gap):i * (w + gap) + w] = img
    return out


def save_strip_png(images: np.ndarray, path: str | Path) -> Path:
    """Write a spectrum strip (see :func:`strip_image`) as a PNG file at ``path``."""
    from PIL import Image

    path = Path(path)
    try:
        Image.fromarray(strip_image(images), "RGB").save(path, "PNG")
    except OSError as err:
        raise DataFileError(path, f"cannot write the strip: {err.strerror or err}",
                            "choose a folder you can write to") from err
    return path
