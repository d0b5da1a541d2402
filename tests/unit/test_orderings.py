"""Scoring a dataset in batches, total orderings, histograms; cancel between batches."""

from __future__ import annotations

import numpy as np
import pytest

from relattr_studio.analysis.orderings import score_histogram, total_ordering
from relattr_studio.core.errors import Cancelled
from relattr_studio.core.jobs import JobContext, Progress
from relattr_studio.training.dataset_scores import score_dataset
from tests.unit._analysis_models import ArrayDataset, PatchPairRanker, PatchRanker, patch_images

LEVELS = [30, 220, 120, 90, 250, 10, 160]


def test_scores_order_images_by_the_patch_brightness():
    events = []
    ds = ArrayDataset(patch_images(LEVELS))
    scores = score_dataset(PatchRanker(), ds, batch_size=3, ctx=JobContext(on_event=events.append, min_interval=0))
    assert scores.shape == (len(LEVELS), 2) and scores.dtype == np.float32
    assert list(total_ordering(scores, 0)) == list(np.argsort(LEVELS)[::-1])
    assert list(total_ordering(scores, 1)) == list(np.argsort(LEVELS)[::-1])[::-1]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == len(LEVELS)


def test_pairwise_ranker_gets_per_image_scores_from_comparisons():
    ds = ArrayDataset(patch_images(LEVELS))
    scores = score_dataset(PatchPairRanker(), ds, batch_size=4)
    assert list(total_ordering(scores, 0)) == list(np.argsort(LEVELS)[::-1])


def test_cancel_stops_between_batches():
    ds = ArrayDataset(patch_images(LEVELS))
    with pytest.raises(Cancelled):
        score_dataset(PatchRanker(), ds, batch_size=2, ctx=JobContext(should_stop=lambda: True))


def test_histogram_counts_every_finite_score():
    scores = np.array([[0.0], [1.0], [1.0], [np.nan], [3.0]])
    counts, edges = score_histogram(scores, 0, bins=3)
    assert counts.sum() == 4 and edges[0] == 0.0 and edges[-1] == 3.0
    counts, _ = score_histogram(np.ones((5, 1)), 0, bins=4)
    assert counts.sum() == 5
