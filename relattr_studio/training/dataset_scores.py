"""Rank scores of every image of a dataset, for orderings, Inspect and strengths from a ranker.

The forward passes are :func:`~relattr_studio.training.evaluation.score_images`, the one batch
loop of the trainers' evaluation; here it reads a dataset batch by batch (:class:`DatasetImages`)
instead of holding every image in an :class:`~relattr_studio.training.evaluation.ImageBank`,
because a dataset to score may not fit in memory. A pointwise ranker scores each image once; a
pairwise ranker (DACRL) has no per-image score, so its ``pairwise_scores`` (or, failing that,
mean logits against a fixed set of reference images) give one.
"""

from __future__ import annotations

import numpy as np
import torch

from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.training.config import resolve_device
from relattr_studio.training.evaluation import score_images


class DatasetImages:
    """An :class:`~relattr_studio.training.evaluation.ImageBank` stand-in that reads
    ``dataset.images(indices)`` when a batch is asked for (``len``, ``images`` are enough)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def tensor(self, images: np.ndarray, preprocess, device, *, channels_last: bool = False) -> torch.Tensor:
        x = preprocess(self.dataset.images(np.asarray(images, np.int64)), device=device)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def as_device(device) -> torch.device:
    """A torch.device: a choice of DEVICES ("auto", "cuda", ...; None means "auto") through
    :func:`~relattr_studio.training.config.resolve_device`, a torch.device or "cuda:1" as given."""
    if isinstance(device, torch.device):
        return device
    if device is None or device in ("auto", "cuda", "mps", "cpu"):
        return resolve_device(device or "auto")
    return torch.device(device)


def embed_dataset(model, dataset, *, batch_size: int = 64, device="cpu",
                  ctx: JobContext = NULL_CONTEXT, stage: str = "embedding") -> torch.Tensor:
    """``model.embed`` of every image (a pairwise ranker's per-image features), on ``device``."""
    dev = as_device(device)
    feats = score_images(model, DatasetImages(dataset), np.arange(len(dataset)), dev, batch_size=max(1, batch_size),
                         ctx=ctx, stage=stage)
    return feats.to(dev)


@torch.no_grad()
def _reference_scores(model, dataset, *, batch_size, device, ctx, n_ref: int = 16, seed: int = 0) -> np.ndarray:
    """Per-image score of a pairwise ranker: mean logit of "image > reference" over references."""
    feats = embed_dataset(model, dataset, batch_size=batch_size, device=device, ctx=ctx)
    n = len(feats)
    refs = np.random.default_rng(seed).choice(n, size=min(n_ref, n), replace=False)
    scores = torch.zeros(n, len(model.attributes), device=feats.device)
    step = max(1, int(batch_size))
    for r in refs:
        ctx.check()
        for start in range(0, n, step):
            stop = min(n, start + step)
            fr = feats[int(r)].expand(stop - start, *feats.shape[1:])
            scores[start:stop] += model.compare(feats[start:stop], fr) - model.compare(fr, feats[start:stop])
    return (scores / (2 * len(refs))).cpu().numpy().astype(np.float32)


def _sample_size(n: int, references: int | None) -> int:
    """Reference images drawn from ``n``: all of them, or ``references`` at most."""
    return n if references is None else min(int(references), n)


def reference_count(n: int, references: int | None) -> int:
    """How many other images a pairwise ranker compares each of ``n`` images with (see
    :func:`score_dataset`): all the others, or the sample of ``references``."""
    m = _sample_size(n, references)
    return m - 1 if m == n else m


@torch.no_grad()
def _borda_scores(model, dataset, *, references: int | None, seed: int, batch_size, device, ctx) -> np.ndarray:
    """``model.pairwise_scores`` (mean P(i > r)) of every image against all images, or a seeded
    sample of ``references`` of them; an image of the sample is not compared with itself.
    Reported and cancellable per chunk of images."""
    feats = embed_dataset(model, dataset, batch_size=batch_size, device=device, ctx=ctx)
    n = len(feats)
    m = _sample_size(n, references)
    refs = np.arange(n) if m == n else np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
    ref = feats[torch.as_tensor(refs)]
    scores = np.zeros((n, len(model.attributes)), np.float32)
    step = max(1, 1024 // max(1, m))
    ctx.report(0, n, "scoring pairs")
    for start in range(0, n, step):
        ctx.check()
        stop = min(n, start + step)
        scores[start:stop] = model.pairwise_scores(feats[start:stop], reference=ref).float().cpu().numpy()
        ctx.report(stop, n, "scoring pairs")
    if m > 1:  # against itself an image scores P = 1/2 exactly (antisymmetric): take it out
        scores[refs] = (scores[refs] * m - 0.5) / (m - 1)
    return scores


def score_dataset(model, dataset, *, batch_size: int = 64, device="cpu",
                  ctx: JobContext = NULL_CONTEXT, references: int | None = None, seed: int = 0) -> np.ndarray:
    """Rank scores of every image of ``dataset`` (``len``, ``images(indices)``): N x A float32.

    Higher means "shows the attribute more". A pairwise ranker (DACRL) scores an image by its
    mean P(image > r) over the other images r: N^2 comparisons (300 toy faces took 13 min on a
    busy CPU core), or N x ``references`` against a sample of that many (``seed``). The model is
    used in eval mode (its training flag is restored afterwards). Reports progress through
    ``ctx`` and stops with Cancelled between batches when asked.
    """
    was_training = model.training
    model.eval()
    dev = as_device(device)
    try:
        if getattr(model, "kind", "pointwise") == "pairwise":
            if hasattr(model, "pairwise_scores"):
                return _borda_scores(model, dataset, references=references, seed=seed, batch_size=batch_size,
                                     device=dev, ctx=ctx)
            return _reference_scores(model, dataset, batch_size=batch_size, device=dev, ctx=ctx)
        n = len(dataset)
        ctx.report(0, n, "scoring")
        if n == 0:
            return np.zeros((0, len(model.attributes)), np.float32)
        return score_images(model, DatasetImages(dataset), np.arange(n), dev, batch_size=max(1, batch_size),
                            ctx=ctx).numpy()
    finally:
        model.train(was_training)
