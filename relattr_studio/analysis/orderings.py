"""Total orderings: sort images by their rank scores, histogram the scores.

Plain numpy, no Qt. The scores come from
:func:`relattr_studio.training.dataset_scores.score_dataset` (every image of a dataset scored by
a pointwise or pairwise ranker).
"""

from __future__ import annotations

import numpy as np


def total_ordering(scores: np.ndarray, attribute: int, *, descending: bool = True) -> np.ndarray:
    """Image indices sorted by their score on ``attribute`` (strongest first by default; stable)."""
    s = np.asarray(scores, np.float64)[:, attribute]
    order = np.argsort(-s if descending else s, kind="stable")
    return order


def score_histogram(scores: np.ndarray, attribute: int, *, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of the scores on ``attribute`` (NaNs left out)."""
    s = np.asarray(scores, np.float64)[:, attribute]
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return np.zeros(bins, np.int64), np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.histogram(s, bins=bins, range=(lo, hi))
