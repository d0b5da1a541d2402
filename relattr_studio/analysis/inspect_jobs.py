"""The Inspect view's jobs: plain functions run on a worker (no Qt here), also callable alone.

The model loaded by :func:`analyse_checkpoint` is a CPU (or device) torch module that the view
keeps and hands back to later jobs; it is only ever run on the view's worker threads, one job
at a time. The dataset is reopened from its path in the job, so no HDF5 handle crosses threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads when a job runs, not when the view is built
    from relattr_studio.analysis.saliency import ChannelAttention, PairSaliency


# A pairwise ranker (DACRL) scores an image by its mean P(image > r) over other images r; over
# all N - 1 of them that is N^2 pair comparisons (300 toy faces: 13 min on one busy CPU core),
# so the view compares every image with a seeded sample of this many.
PAIRWISE_REFERENCES = 32


@dataclass(frozen=True)
class Analysis:
    model: object
    info: object  # the checkpoint's CheckpointInfo
    scores: np.ndarray  # N x A
    features: np.ndarray | None  # N x D; None for a ranker with no per-image features (DeepSTN)
    pca: np.ndarray | None  # N x 2, None with the features
    device: str
    score_note: str = ""  # how the scores were made, where it is not one forward pass per image


@dataclass(frozen=True)
class PairAnalysis:
    a: int
    b: int
    attribute: int
    saliency: "PairSaliency"
    box_a: np.ndarray | None
    box_b: np.ndarray | None
    attention: "ChannelAttention | None"


def analyse_checkpoint(*, ctx, checkpoint: str, dataset_path: str, device: str = "auto",
                       batch_size: int = 64) -> Analysis:
    """Load a checkpoint, score every image of the dataset, take its features and their PCA."""
    from relattr_studio.analysis.embedding import extract_features, pca_2d
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.training.checkpoint import load_checkpoint
    from relattr_studio.training.dataset_scores import as_device, reference_count, score_dataset

    dev = as_device(device)
    ctx.report(0, None, "loading", Path(checkpoint).name)
    model, info = load_checkpoint(checkpoint, device=dev)
    ds = DatasetFile(dataset_path)
    note = ""
    try:
        scores = score_dataset(model, ds, batch_size=batch_size, device=dev, ctx=ctx, references=PAIRWISE_REFERENCES)
        if getattr(model, "kind", "pointwise") == "pairwise" and hasattr(model, "pairwise_scores"):
            note = f"score = mean P(image > r) over {reference_count(len(ds), PAIRWISE_REFERENCES)} reference images"
        # extract_features maps a backbone's or embed()'s features; a ranker with neither has none
        has_features = hasattr(model, "backbone") or hasattr(model, "embed")
        features = extract_features(model, ds, batch_size=batch_size, device=dev, ctx=ctx) if has_features else None
    finally:
        ds.close()
    ctx.report(0, None, "PCA")
    return Analysis(model, info, scores, features, None if features is None else pca_2d(features), str(dev), note)


def analyse_pair(*, ctx, model, a: int, b: int, image_a: np.ndarray, image_b: np.ndarray, attribute: int,
                 sigma: float = 2.0, k: int = 4, device: str = "cpu") -> PairAnalysis:
    """Saliency of "a shows the attribute more than b", crop boxes and channel attention."""
    from relattr_studio.analysis.saliency import channel_attention, crop_box, pair_saliency

    ctx.check()
    sal = pair_saliency(model, image_a, image_b, attribute, sigma=sigma, device=device)
    ctx.check()
    return PairAnalysis(a, b, attribute, sal, crop_box(model, image_a, device), crop_box(model, image_b, device),
                        channel_attention(model, image_a, image_b, k=k, device=device))


def tsne_job(*, ctx, features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """t-SNE of (a seeded subsample of at most 2,000 of) the features: (indices, N x 2)."""
    from relattr_studio.analysis.embedding import subsample, tsne_2d

    idx = subsample(len(features), seed=seed)
    return idx, tsne_2d(features[idx], seed=seed, ctx=ctx)
