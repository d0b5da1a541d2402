"""Input-gradient saliency concentrates where a ranker looks; P(i > j) is sigmoid(r_i - r_j)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relattr_studio.analysis.saliency import channel_attention, crop_box, pair_saliency, saliency_map
from tests.unit._analysis_models import PATCH_SHOWN, SHOWN, PatchPairRanker, PatchRanker, patch_images


def _share_inside(m: np.ndarray, margin: int = 3) -> float:
    """Share of the map's mass inside the patch grown by ``margin`` px (the smoothing's reach)."""
    rows, cols = PATCH_SHOWN
    inside = m[rows.start - margin:rows.stop + margin, cols.start - margin:cols.stop + margin]
    peak = np.unravel_index(m.argmax(), m.shape)
    assert rows.start <= peak[0] < rows.stop and cols.start <= peak[1] < cols.stop
    return float(inside.sum() / m.sum())


def test_pointwise_saliency_concentrates_in_the_patch():
    model = PatchRanker()
    imgs = patch_images([200, 60])
    sal = pair_saliency(model, imgs[0], imgs[1], 0, sigma=1.0)
    for m in (sal.map_i, sal.map_j, sal.score_map_i, sal.score_map_j):
        assert m.shape == (SHOWN, SHOWN) and m.dtype == np.float32  # displayed resolution
        assert m.min() >= 0 and m.max() == pytest.approx(1.0)
        assert _share_inside(m) > 0.9
    assert sal.score_i > sal.score_j
    assert sal.p_ij == pytest.approx(1 / (1 + math.exp(-(sal.score_i - sal.score_j))), rel=1e-5)
    assert sal.p_ij > 0.5
    assert model.training  # the training flag is restored


def test_pairwise_saliency_uses_the_compare_logit_for_both_inputs():
    model = PatchPairRanker()
    imgs = patch_images([60, 200])
    sal = pair_saliency(model, imgs[0], imgs[1], 0, sigma=1.5)
    assert sal.p_ij < 0.5 and sal.score_i is None
    assert _share_inside(sal.map_i) > 0.9 and _share_inside(sal.map_j) > 0.9


def test_saliency_map_smooths_and_normalises():
    g = np.zeros((3, 8, 8), np.float32)
    g[1, 4, 4] = -5.0
    m = saliency_map(g, (16, 16), sigma=2.0)
    assert m.shape == (16, 16) and m.max() == pytest.approx(1.0)
    assert (m > 0.05).sum() > 4  # spread by the Gaussian
    assert saliency_map(np.zeros((3, 4, 4)), (4, 4)).max() == 0.0


def test_crop_box_and_channel_attention_only_for_models_that_have_them():
    imgs = patch_images([100, 120])
    assert crop_box(PatchRanker(), imgs[0]) is None
    assert channel_attention(PatchRanker(), imgs[0], imgs[1]) is None
    att = channel_attention(PatchPairRanker(), imgs[0], imgs[1], k=2)
    assert list(att.top) == [0, 4] and list(att.bottom) == [1, 3]
    assert att.top_maps.shape == (2, 32, 32) and att.top_maps.max() <= 1.0
