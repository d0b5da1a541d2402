"""Pairwise accuracy, the papers' measure, in one place for every ranker.

The unit is a share (0..1); results files, tables and plots show 100 times it, as a percent.
Plain numpy: RankSVM's choice of C (modeling), the trainers' evaluation (training) and the
analyses all call this one function.
"""

from __future__ import annotations

import numpy as np

from relattr_studio.core.types import PairLabel


def pairwise_accuracy(margin: np.ndarray, label: np.ndarray) -> float:
    """Share (0..1) of the pairs with ``label`` != EQUAL whose ``margin`` has the label's sign.

    ``margin``: per pair, a value that is positive when the ranker puts image a above image b
    (r(a) - r(b), or the logit of P(a > b)). A zero margin counts as wrong: a ranker that cannot
    tell two images apart has not ordered them. NaN when there is no non-equal pair.
    """
    label = np.asarray(label)
    keep = label != PairLabel.EQUAL
    if not keep.any():
        return float("nan")
    return float(np.mean(np.sign(np.asarray(margin)[keep]) == np.sign(label[keep])))
