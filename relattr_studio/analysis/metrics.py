"""Pairwise accuracy, the papers' measure: the share of correctly ordered non-equal test pairs."""

from __future__ import annotations

import numpy as np

from relattr_studio.core.types import PairLabel, Split
from relattr_studio.data.pairs import PairTable


def pairwise_accuracy(score_a: np.ndarray, score_b: np.ndarray, label: np.ndarray) -> float:
    """Share (0..1) of pairs with label != EQUAL whose score difference has the label's sign.

    A tie in scores counts as wrong: a ranker that cannot tell two images apart has not
    ordered them. NaN when there is no non-equal pair.
    """
    label = np.asarray(label)
    keep = label != PairLabel.EQUAL
    if not keep.any():
        return float("nan")
    diff = np.asarray(score_a, np.float64)[keep] - np.asarray(score_b, np.float64)[keep]
    return float(np.mean(np.sign(diff) == np.sign(label[keep])))


def accuracy_per_attribute(
    scores: np.ndarray,
    pairs: PairTable,
    *,
    split: int = Split.TEST,
    group: int | None = None,
    attributes: list[int] | None = None,
) -> dict[int, float]:
    """Pairwise accuracy per attribute index from per-image scores ``scores`` (N x A)."""
    out = {}
    for ai in attributes if attributes is not None else range(scores.shape[1]):
        rows = pairs.where(attribute=ai, split=split, group=group, non_equal=True)
        if len(rows):
            out[ai] = pairwise_accuracy(scores[rows.a, ai], scores[rows.b, ai], rows.label)
    return out
