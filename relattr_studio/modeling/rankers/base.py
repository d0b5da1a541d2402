"""What every neural ranker is.

Two kinds, as in the papers:

- a *pointwise* ranker scores each image: ``forward(x) -> N x A`` (one rank score r_A(x) per
  attribute head); P(i > j) = sigmoid(r(x_i) - r(x_j)). RankNet and DeepSTN.
- a *pairwise* ranker looks at both images at once: ``forward(x_i, x_j) -> N x A`` logits of
  P(i > j). DACRL. Ordering a set of images with it needs pair comparisons (see
  ``pairwise_scores``).

Every ranker carries ``attributes`` (names, in head order) and ``preprocess``, and
``config()`` returns the keyword arguments that rebuild it from the registry, so a checkpoint
rebuilds its model from the file alone.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn

from relattr_studio.modeling.backbones.base import Preprocess


class NeuralRanker(nn.Module):
    kind: ClassVar[Literal["pointwise", "pairwise"]]
    registry_name: ClassVar[str]
    attributes: list[str]
    preprocess: Preprocess

    def config(self) -> dict:
        """Builder keyword arguments (plain JSON data) that rebuild this model."""
        raise NotImplementedError


class PointwiseRanker(NeuralRanker):
    kind = "pointwise"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N x A scores
        raise NotImplementedError


class PairwiseRanker(NeuralRanker):
    kind = "pairwise"

    def forward(self, xi: torch.Tensor, xj: torch.Tensor) -> torch.Tensor:  # N x A logits
        raise NotImplementedError
