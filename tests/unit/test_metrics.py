"""Pairwise accuracy, the one function every ranker's figures come from."""

from __future__ import annotations

import math

import numpy as np

from relattr_studio.core.types import PairLabel
from relattr_studio.data.metrics import pairwise_accuracy

A, B, EQ = int(PairLabel.A_MORE), int(PairLabel.B_MORE), int(PairLabel.EQUAL)


def test_share_of_non_equal_pairs_ordered_by_the_margins_sign():
    margin = np.array([2.0, -1.0, 0.5, 3.0, -0.1])
    label = np.array([A, B, B, EQ, A])
    # right, right, wrong, (equal: left out), wrong
    assert pairwise_accuracy(margin, label) == 2 / 4


def test_a_zero_margin_is_wrong_and_no_ordered_pair_is_nan():
    assert pairwise_accuracy(np.zeros(3), np.array([A, B, A])) == 0.0
    assert math.isnan(pairwise_accuracy(np.array([1.0, -1.0]), np.array([EQ, EQ])))
    assert math.isnan(pairwise_accuracy(np.zeros(0), np.zeros(0, np.int8)))


def test_float32_margins_of_near_scores_keep_their_sign():
    a = np.float32([1.0, 1.0])
    b = np.nextafter(a, np.float32(2.0))  # one ulp above a: b shows more
    assert pairwise_accuracy(a - b, np.array([B, A])) == 0.5
