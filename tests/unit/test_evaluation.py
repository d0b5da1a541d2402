"""Test-time evaluation: a pair's margin averaged over the images and their mirror images."""

from __future__ import annotations

import numpy as np
import torch

from relattr_studio.core.types import Split
from relattr_studio.data.pairs import PairTable
from relattr_studio.training.evaluation import ImageBank, evaluate_pairs, pair_margins
from tests.unit._analysis_models import ArrayDataset, PatchPairRanker, PatchRanker, patch_images


def _patch_value(images: np.ndarray, mirrored: bool) -> np.ndarray:
    """The rankers' score by hand: patch brightness of the (mirrored) preprocessed image."""
    x = PatchRanker().preprocess(images)
    if mirrored:
        x = x.flip(-1)
    return x[:, :, 8:16, 20:28].mean(dim=(1, 2, 3)).numpy()


def test_test_flip_averages_the_margin_over_the_mirror_images():
    levels = np.linspace(0, 255, 6)
    images = patch_images(levels, seed=3)
    bank, cpu = ImageBank(ArrayDataset(images)), torch.device("cpu")
    a, b = np.array([0, 1, 2, 5]), np.array([3, 4, 5, 0])
    table = PairTable.build(a, b, 0, np.sign(levels[a] - levels[b]), split=Split.TEST)
    plain, mirror = _patch_value(images, False), _patch_value(images, True)
    want_plain = 3 * (plain[a] - plain[b])
    want_flip = 3 * ((plain[a] + mirror[a]) / 2 - (plain[b] + mirror[b]) / 2)
    assert not np.allclose(want_plain, want_flip)  # the patch is off-centre: mirroring changes the scores
    for model in (PatchRanker(), PatchPairRanker()):
        heads = np.zeros(len(table), np.int64)
        got = pair_margins(model, bank, table, cpu, heads=heads)
        flipped = pair_margins(model, bank, table, cpu, heads=heads, test_flip=True)
        assert np.allclose(got, want_plain, atol=1e-5) and np.allclose(flipped, want_flip, atol=1e-5), model
    acc = evaluate_pairs(PatchRanker(), bank, table, cpu, attribute_ids=[0], test_flip=True)
    assert acc["test"][0] == 100.0 * np.mean(np.sign(want_flip) == np.sign(table.label))
