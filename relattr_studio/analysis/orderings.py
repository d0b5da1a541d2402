"""Total orderings: score every image of a dataset, sort by score, histogram the scores.

Plain functions (long ones take a job ``ctx`` for progress and cancel), numpy out, no Qt. A
pointwise ranker scores each image once; a pairwise ranker (DACRL) has no per-image score, so
its ``pairwise_scores`` (or, failing that, mean logits against a fixed set of reference images)
give one.
"""

from __future__ import annotations

import numpy as np
import torch

from relattr_studio.core.jobs import NULL_CONTEXT, JobContext


def _batches(n: int, batch_size: int):
    for start in range(0, n, max(1, int(batch_size))):
        yield start, min(n, start + max(1, int(batch_size)))


def _device(device) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def embed_images(model, dataset, *, batch_size: int = 64, device="cpu",
                 ctx: JobContext = NULL_CONTEXT, stage: str = "embedding") -> torch.Tensor:
    """``model.embed`` of every image (a pairwise ranker's per-image features), on ``device``."""
    dev = _device(device)
    out = []
    n = len(dataset)
    for start, stop in _batches(n, batch_size):
        ctx.check()
        x = model.preprocess(dataset.images(np.arange(start, stop)), device=dev)
        out.append(model.embed(x))
        ctx.report(stop, n, stage)
    return torch.cat(out)


@torch.no_grad()
def _reference_scores(model, dataset, *, batch_size, device, ctx, n_ref: int = 16, seed: int = 0) -> np.ndarray:
    """Per-image score of a pairwise ranker: mean logit of "image > reference" over references."""
    feats = embed_images(model, dataset, batch_size=batch_size, device=device, ctx=ctx)
    n = len(feats)
    refs = np.random.default_rng(seed).choice(n, size=min(n_ref, n), replace=False)
    scores = torch.zeros(n, len(model.attributes), device=feats.device)
    for r in refs:
        ctx.check()
        for start, stop in _batches(n, batch_size):
            fr = feats[int(r)].expand(stop - start, *feats.shape[1:])
            scores[start:stop] += model.compare(feats[start:stop], fr) - model.compare(fr, feats[start:stop])
    return (scores / (2 * len(refs))).cpu().numpy().astype(np.float32)


def _sample_size(n: int, references: int | None) -> int:
    """Reference images drawn from ``n``: all of them, or ``references`` at most."""
    return n if references is None else min(int(references), n)


def reference_count(n: int, references: int | None) -> int:
    """How many other images a pairwise ranker compares each of ``n`` images with (see
    :func:`score_images`): all the others, or the sample of ``references``."""
    m = _sample_size(n, references)
    return m - 1 if m == n else m


@torch.no_grad()
def _borda_scores(model, dataset, *, references: int | None, seed: int, batch_size, device, ctx) -> np.ndarray:
    """``model.pairwise_scores`` (mean P(i > r)) of every image against all images, or a seeded
    sample of ``references`` of them; an image of the sample is not compared with itself.
    Reported and cancellable per chunk of images."""
    feats = embed_images(model, dataset, batch_size=batch_size, device=device, ctx=ctx)
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


@torch.no_grad()
def score_images(model, dataset, *, batch_size: int = 64, device="cpu",
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
    dev = _device(device)
    try:
        if getattr(model, "kind", "pointwise") == "pairwise":
            if hasattr(model, "pairwise_scores"):
                return _borda_scores(model, dataset, references=references, seed=seed, batch_size=batch_size,
                                     device=dev, ctx=ctx)
            return _reference_scores(model, dataset, batch_size=batch_size, device=dev, ctx=ctx)
        n = len(dataset)
        out = np.zeros((n, len(model.attributes)), np.float32)
        ctx.report(0, n, "scoring")
        for start, stop in _batches(n, batch_size):
            ctx.check()
            x = model.preprocess(dataset.images(np.arange(start, stop)), device=dev)
            out[start:stop] = model(x).float().cpu().numpy()
            ctx.report(stop, n, "scoring")
        return out
    finally:
        model.train(was_training)


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
