"""Rankers by name. Neural rankers (RankNet, DeepSTN, DACRL) are torch modules built as
``RANKERS.build(name, attributes=[...], backbone=..., **config)``; RankSVM lives in
``relattr_studio.modeling.ranksvm`` (a linear model on hand-made features, no torch training)."""

from relattr_studio.modeling.rankers.base import NeuralRanker, PairwiseRanker, PointwiseRanker
from relattr_studio.modeling.rankers.registry import RANKERS
# importing the modules registers them
from relattr_studio.modeling.rankers import dacrl as _dacrl  # noqa: F401,E402
from relattr_studio.modeling.rankers import deepstn as _deepstn  # noqa: F401,E402
from relattr_studio.modeling.rankers import ranknet as _ranknet  # noqa: F401,E402

__all__ = ["RANKERS", "NeuralRanker", "PairwiseRanker", "PointwiseRanker"]
