"""PCA recovers the main axis; exact t-SNE separates two well-separated clusters; features."""

from __future__ import annotations

import numpy as np
import pytest

from relattr_studio.analysis.embedding import extract_features, pca_2d, subsample, tsne_2d
from relattr_studio.core.errors import Cancelled
from relattr_studio.core.jobs import JobContext
from tests.unit._analysis_models import ArrayDataset, PatchRanker, patch_images


def test_pca_recovers_the_main_axis():
    rng = np.random.default_rng(0)
    axis = np.array([3.0, -1.0, 2.0, 0.5, 0.0]) / np.linalg.norm([3.0, -1.0, 2.0, 0.5, 0.0])
    t = rng.normal(0, 5.0, size=400)
    x = t[:, None] * axis[None] + rng.normal(0, 0.2, size=(400, 5)) + 7.0
    y = pca_2d(x)
    assert y.shape == (400, 2)
    assert abs(np.corrcoef(y[:, 0], t)[0, 1]) > 0.99
    assert y[:, 0].std() > 10 * y[:, 1].std()


def _two_clusters(n=60, dim=10, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, size=(n, dim))
    b = rng.normal(0, 1, size=(n, dim)) + 12.0
    return np.vstack([a, b]), np.r_[np.zeros(n), np.ones(n)]


def test_tsne_separates_two_clusters_and_is_seeded():
    x, label = _two_clusters()
    y = tsne_2d(x, perplexity=15, n_iter=250, seed=0)
    assert y.shape == (len(x), 2) and np.isfinite(y).all()
    ca, cb = y[label == 0].mean(0), y[label == 1].mean(0)
    spread = max(np.linalg.norm(y[label == 0] - ca, axis=1).max(), np.linalg.norm(y[label == 1] - cb, axis=1).max())
    assert np.linalg.norm(ca - cb) > 1.5 * spread
    np.testing.assert_array_equal(y, tsne_2d(x, perplexity=15, n_iter=250, seed=0))


def test_tsne_cancels_and_limits_size():
    x, _ = _two_clusters(n=20)
    with pytest.raises(Cancelled):
        tsne_2d(x, ctx=JobContext(should_stop=lambda: True))
    with pytest.raises(ValueError):
        tsne_2d(np.zeros((2001, 2)))
    idx = subsample(5000, 2000, seed=0)
    assert len(idx) == 2000 and np.all(np.diff(idx) > 0)


def test_features_are_the_backbone_pooled_features():
    ds = ArrayDataset(patch_images([10, 100, 200]))
    f = extract_features(PatchRanker(), ds, batch_size=2)
    assert f.shape == (3, 6)
    assert np.argsort(f[:, 0]).tolist() == [0, 1, 2]
