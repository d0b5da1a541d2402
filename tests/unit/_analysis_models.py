"""Tiny rankers with known answers for the analysis tests (no training, no Qt)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from relattr_studio.modeling.backbones.base import Preprocess
from relattr_studio.modeling.rankers.base import PairwiseRanker, PointwiseRanker

SIZE = 32  # model input
SHOWN = 48  # displayed images: the preprocess resizes 48 -> 32
PATCH = (slice(8, 16), slice(20, 28))  # rows, cols in model input coordinates
PATCH_SHOWN = (slice(12, 24), slice(30, 42))  # the same patch in displayed pixels


class PatchBackbone(nn.Module):
    """Pooled 'features': mean of each channel inside the patch, and outside it."""

    def forward(self, x):
        inside = x[:, :, PATCH[0], PATCH[1]].mean(dim=(2, 3))
        return torch.cat([inside, x.mean(dim=(2, 3))], dim=1)


class PatchRanker(PointwiseRanker):
    """Attribute 0: brightness of the patch (a linear scorer); attribute 1: minus that."""

    registry_name = "test-patch"

    def __init__(self):
        super().__init__()
        self.attributes = ["bright-patch", "dark-patch"]
        self.preprocess = Preprocess(size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        self.backbone = PatchBackbone()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x):
        r = x[:, :, PATCH[0], PATCH[1]].mean(dim=(1, 2, 3)) * self.scale
        return torch.stack([r, -r], dim=1)

    def config(self):
        return {}


class PatchPairRanker(PairwiseRanker):
    """A pairwise ranker: logit = patch brightness of x_i minus that of x_j; with attention."""

    registry_name = "test-patch-pair"

    def __init__(self):
        super().__init__()
        self.attributes = ["bright-patch"]
        self.preprocess = Preprocess(size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def embed(self, x):
        return x  # 3 "channels" of maps

    def compare(self, fi, fj):
        return (fi[:, :, PATCH[0], PATCH[1]].mean(dim=(1, 2, 3)) - fj[:, :, PATCH[0], PATCH[1]].mean(dim=(1, 2, 3)))[:, None] * 3

    def forward(self, xi, xj):
        return self.compare(self.embed(xi), self.embed(xj))

    def channel_attention(self, fi, fj):
        n = fi.shape[0]
        return torch.tensor([0.9, 0.1, 0.5, 0.2, 0.8, 0.3]).expand(n, 6)

    def config(self):
        return {}


class ArrayDataset:
    """What the analysis functions need of a dataset: ``len`` and ``images(indices)``."""

    def __init__(self, images: np.ndarray):
        self._images = images

    def __len__(self):
        return len(self._images)

    def images(self, indices):
        return self._images[np.asarray(indices)]


def patch_images(levels, seed: int = 0) -> np.ndarray:
    """Noisy grey images whose patch has brightness ``levels[k]`` (0..255)."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, size=(len(levels), SHOWN, SHOWN, 3)).astype(np.uint8)
    for k, level in enumerate(levels):
        out[k, 10:26, 28:44] = int(level)
    return out
