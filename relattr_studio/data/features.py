"""Hand-made image descriptors the project computes itself: GIST and a Lab colour histogram.

The RankSVM of the relative-attribute papers (Parikh & Grauman 2011; Yu & Grauman 2014)
runs on a 512-d GIST (Oliva & Torralba) plus a 30-bin Lab colour histogram per image. Both
are computed here with numpy/scipy, vectorised over batches of images, so a dataset gets the
features without the authors' MATLAB code.

GIST follows ``LMgist.m`` (Oliva & Torralba's reference implementation): grey level (mean of
R, G, B), resize-and-centre-crop to ``GIST_SIZE`` px, rescale to 0..255, prefilter (log,
whitening, local contrast normalisation, ``fc = 4``), symmetric boundary extension of 32 px,
a frequency-domain Gabor bank of 4 scales x 8 orientations (``createGabor`` parameters), and
the magnitude of each filter response averaged on a 4 x 4 grid: 32 x 16 = 512 numbers.

The colour part is a *fixed-bin* Lab histogram: 10 bins each for L (0..100), a and b
(-80..80; values beyond go into the end bins), concatenated and each normalised to sum 1/3,
30 numbers. Fixed bins, not a k-means codebook, so the descriptor is a pure function of one
image: the same on every dataset, independent of any split or seed, and safe to cache in the
dataset file (a codebook learned on the training images would tie the cache to a protocol).

``compute_features`` caches its result in the dataset file as ``/arrays/gist_lab`` (via
:func:`~relattr_studio.data.dataset_file.set_arrays`); a second call reads it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import fft as sfft

from relattr_studio.core.jobs import NULL_CONTEXT, JobContext

GIST_SIZE = 128
GIST_ORIENTATIONS = (8, 8, 8, 8)
GIST_BLOCKS = 4
GIST_PREFILTER_FC = 4.0
GIST_BOUNDARY = 32
LAB_BINS = 10
LAB_SIZE = 64  # colour statistics do not need full resolution
FEATURE_KINDS = ("gist+lab", "gist", "lab")
CACHE_NAMES = {"gist+lab": "gist_lab", "gist": "gist_lab", "lab": "gist_lab"}
GIST_DIM = sum(GIST_ORIENTATIONS) * GIST_BLOCKS**2
LAB_DIM = 3 * LAB_BINS
_BATCH = 16


# --------------------------------------------------------------------------- GIST


@lru_cache(maxsize=8)
def gabor_bank(n: int, orientations: tuple[int, ...] = GIST_ORIENTATIONS) -> np.ndarray:
    """Transfer functions (filters x n x n, float32, unshifted FFT layout) as ``createGabor``."""
    params = []
    for i, n_or in enumerate(orientations):
        for j in range(n_or):
            params.append((0.35, 0.3 / 1.85**i, 16 * n_or**2 / 32**2, np.pi / n_or * j))
    f = np.arange(-n // 2, n // 2, dtype=np.float64)
    fx, fy = np.meshgrid(f, f)
    fr = np.fft.fftshift(np.hypot(fx, fy))
    t = np.fft.fftshift(np.angle(fx + 1j * fy))
    bank = np.empty((len(params), n, n), np.float32)
    for k, (p0, p1, p2, p3) in enumerate(params):
        tr = t + p3
        tr = tr + 2 * np.pi * (tr < -np.pi) - 2 * np.pi * (tr > np.pi)
        bank[k] = np.exp(-10 * p0 * (fr / n / p1 - 1) ** 2 - 2 * p2 * np.pi * tr**2)
    return bank


@lru_cache(maxsize=8)
def _prefilter_gauss(n: int, fc: float) -> np.ndarray:
    s1 = fc / np.sqrt(np.log(2))
    f = np.arange(-n // 2, n // 2, dtype=np.float64)
    fx, fy = np.meshgrid(f, f)
    return np.fft.fftshift(np.exp(-(fx**2 + fy**2) / s1**2)).astype(np.float32)


def gist_prefilter(img: np.ndarray, fc: float = GIST_PREFILTER_FC) -> np.ndarray:
    """``prefilt.m`` on a batch (B x S x S, values 0..255): whitening + local contrast normalisation."""
    w = 5
    x = np.log(img.astype(np.float32) + 1)
    x = np.pad(x, ((0, 0), (w, w), (w, w)), mode="symmetric")
    sn = x.shape[1]
    n = sn + sn % 2
    if n != sn:
        x = np.pad(x, ((0, 0), (0, n - sn), (0, n - sn)), mode="symmetric")
    gf = _prefilter_gauss(n, fc)
    out = x - sfft.ifft2(sfft.fft2(x, axes=(1, 2)) * gf, axes=(1, 2)).real
    localstd = np.sqrt(np.abs(sfft.ifft2(sfft.fft2(out**2, axes=(1, 2)) * gf, axes=(1, 2))))
    out = out / (0.2 + localstd)
    return out[:, w : sn - w, w : sn - w].astype(np.float32)


def _block_means(x: np.ndarray, blocks: int) -> np.ndarray:
    """``downN.m``: mean over a blocks x blocks grid of the last two axes."""
    s = x.shape[-1]
    edges = np.floor(np.linspace(0, s, blocks + 1)).astype(int)
    rows = np.add.reduceat(x, edges[:-1], axis=-2) / np.diff(edges)[:, None]
    return np.add.reduceat(rows, edges[:-1], axis=-1) / np.diff(edges)


def _resize_crop(image: np.ndarray, size: int, grey: bool) -> np.ndarray:
    """``imresizecrop``: scale the shorter side to ``size`` (bilinear), centre-crop a square."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    pil = Image.fromarray(image)
    if (nh, nw) != (h, w):
        pil = pil.resize((nw, nh), Image.BILINEAR)
    arr = np.asarray(pil, np.float32)
    top, left = (nh - size) // 2, (nw - size) // 2
    arr = arr[top : top + size, left : left + size]
    return arr.mean(axis=2) if grey else arr


def gist(images: np.ndarray, *, size: int = GIST_SIZE) -> np.ndarray:
    """GIST of uint8 images (B x H x W x 3) as B x 512 float32 (scale-major, then orientation, then block)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    grey = np.stack([_resize_crop(im, size, grey=True) for im in images])
    lo = grey.min(axis=(1, 2), keepdims=True)
    grey = grey - lo
    hi = grey.max(axis=(1, 2), keepdims=True)
    grey = 255 * grey / np.where(hi > 0, hi, 1)
    x = gist_prefilter(grey)
    be = GIST_BOUNDARY
    x = np.pad(x, ((0, 0), (be, be), (be, be)), mode="symmetric")
    n = x.shape[1]
    spec = sfft.fft2(x.astype(np.complex64), axes=(1, 2))
    bank = gabor_bank(n)
    out = np.empty((len(images), len(bank), GIST_BLOCKS, GIST_BLOCKS), np.float32)
    # Four filters at a time keeps the complex scratch (B x 4 x n x n) small in cache.
    for k in range(0, len(bank), 4):
        resp = np.abs(sfft.ifft2(spec[:, None] * bank[None, k : k + 4], axes=(2, 3), workers=-1))
        out[:, k : k + 4] = _block_means(resp[:, :, be : n - be, be : n - be], GIST_BLOCKS)
    return out.reshape(len(images), -1)


# --------------------------------------------------------------------------- colour


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) -> CIE Lab (D65), float32, vectorised."""
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.412453, 0.357580, 0.180423],
                  [0.212671, 0.715160, 0.072169],
                  [0.019334, 0.119193, 0.950227]], np.float32)
    xyz = c @ m.T / np.array([0.950456, 1.0, 1.088754], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    L = np.where(xyz[..., 1] > 0.008856, 116.0 * f[..., 1] - 16.0, 903.3 * xyz[..., 1])
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def lab_histogram(images: np.ndarray, *, bins: int = LAB_BINS) -> np.ndarray:
    """Fixed-bin Lab histogram of uint8 images (B x H x W x 3): B x 3*bins float32, each channel sums to 1/3."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    small = np.stack([np.asarray(Image.fromarray(im).resize((LAB_SIZE, LAB_SIZE), Image.BILINEAR))
                      if im.shape[:2] != (LAB_SIZE, LAB_SIZE) else im for im in images])
    lab = srgb_to_lab(small).reshape(len(images), -1, 3)
    lo = np.array([0.0, -80.0, -80.0], np.float32)
    hi = np.array([100.0, 80.0, 80.0], np.float32)
    idx = np.clip(((lab - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    idx = idx + np.arange(3) * bins + np.arange(len(images))[:, None, None] * 3 * bins
    counts = np.bincount(idx.ravel(), minlength=len(images) * 3 * bins).reshape(len(images), 3 * bins)
    return (counts / (3.0 * lab.shape[1])).astype(np.float32)


# --------------------------------------------------------------------------- datasets


def image_features(images: np.ndarray, kind: str = "gist+lab") -> np.ndarray:
    """Descriptors of a batch of uint8 images: ``gist+lab`` (542), ``gist`` (512) or ``lab`` (30)."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; known: {', '.join(FEATURE_KINDS)}")
    parts = []
    if kind in ("gist+lab", "gist"):
        parts.append(gist(images))
    if kind in ("gist+lab", "lab"):
        parts.append(lab_histogram(images))
    return np.concatenate(parts, axis=1)


def _slice_kind(full: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gist":
        return full[:, :GIST_DIM]
    if kind == "lab":
        return full[:, GIST_DIM:]
    return full


def compute_features(dataset, kind: str = "gist+lab", *, ctx: JobContext = NULL_CONTEXT,
                     cache: bool = True) -> np.ndarray:
    """Per-image descriptors of a dataset (N x 542 float32 for ``gist+lab``).

    Reads ``/arrays/gist_lab`` when the dataset file has it (computed by this function
    before); otherwise computes all images in batches, reporting ``ctx.report(done, total,
    "features")`` and honouring ``ctx.check()`` between batches, and, with ``cache``, writes
    the array into the dataset file (atomically) so the next call reads it. ``gist`` and
    ``lab`` are the two slices of the same cached array.
    """
    from relattr_studio.data.dataset_file import set_arrays

    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; known: {', '.join(FEATURE_KINDS)}")
    name = CACHE_NAMES[kind]
    n = len(dataset)
    cached = dataset.meta.arrays.get(name)
    if cached is not None and cached.shape == (n, GIST_DIM + LAB_DIM) and np.isfinite(cached).all():
        ctx.report(n, n, "features", "read from the dataset file")
        return _slice_kind(np.asarray(cached, np.float32), kind)
    out = np.empty((n, GIST_DIM + LAB_DIM), np.float32)
    ctx.report(0, n, "features")
    for start in range(0, n, _BATCH):
        ctx.check()
        idx = np.arange(start, min(n, start + _BATCH))
        out[idx] = image_features(dataset.images(idx), "gist+lab")
        ctx.report(int(idx[-1]) + 1, n, "features")
    if cache:
        set_arrays(dataset.path, {name: out})
        dataset.meta.arrays[name] = out
    return _slice_kind(out, kind)
