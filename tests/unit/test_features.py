"""GIST + Lab features: shape, determinism, sanity of invariances, caching in the dataset file."""

from __future__ import annotations

import numpy as np
import pytest

from relattr_studio.core.jobs import JobContext
from relattr_studio.data.dataset_file import DatasetFile, DatasetMeta, set_arrays, write_dataset
from relattr_studio.data.features import GIST_DIM, LAB_DIM, compute_features, gist, image_features, lab_histogram


def _photo(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    base = np.stack([np.sin(6 * xx + seed), np.cos(9 * yy * xx), np.sin(4 * yy) * xx], -1)
    img = 128 + 80 * base + rng.normal(0, 10, base.shape)
    img[size // 4 : size // 2, size // 3 : 2 * size // 3] = (200, 40, 40)  # an off-centre block
    return np.clip(img, 0, 255).astype(np.uint8)


def test_shapes_and_determinism():
    ims = np.stack([_photo(0), _photo(1)])
    f = image_features(ims)
    assert f.shape == (2, GIST_DIM + LAB_DIM) == (2, 542) and f.dtype == np.float32
    assert np.isfinite(f).all()
    np.testing.assert_array_equal(f, image_features(ims))
    np.testing.assert_allclose(lab_histogram(ims).sum(1), 1.0, rtol=1e-5)


def test_gist_sees_orientation_and_layout_not_brightness():
    im = _photo(3)
    g = gist(im)[0]
    brighter = gist(np.clip(im.astype(int) + 20, 0, 255).astype(np.uint8))[0]
    rotated = gist(np.ascontiguousarray(np.rot90(im)))[0]
    flipped = gist(np.ascontiguousarray(im[::-1]))[0]

    def rel(a, b):
        return np.linalg.norm(a - b) / np.linalg.norm(a)

    assert rel(g, brighter) < 0.05
    assert rel(g, rotated) > 4 * rel(g, brighter)
    assert rel(g, flipped) > 4 * rel(g, brighter)


def test_compute_features_caches_and_reports(tmp_path):
    ims = np.stack([_photo(s, 64) for s in range(5)])
    meta = DatasetMeta(name="t", attribute_names=["x"], image_names=[f"{i}" for i in range(5)])
    path = write_dataset(tmp_path / "d.h5", ims, meta)
    events = []
    ds = DatasetFile(path)
    f = compute_features(ds, ctx=JobContext(on_event=events.append, min_interval=0))
    assert events and events[-1].done == 5
    ds.close()
    again = DatasetFile(path)
    assert "gist_lab" in again.meta.arrays
    np.testing.assert_array_equal(compute_features(again), f)
    np.testing.assert_array_equal(compute_features(again, "lab"), f[:, GIST_DIM:])
    with pytest.raises(Exception):
        set_arrays(path, {"bad": np.zeros(3)})
