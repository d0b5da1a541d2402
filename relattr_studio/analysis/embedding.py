"""2-D maps of a ranker's penultimate features: PCA (SVD) and a small exact t-SNE.

Features are the backbone's pooled features (what the rank layer sees). PCA is immediate; the
t-SNE here is the exact O(N^2) algorithm of van der Maaten & Hinton (2008) in numpy, meant for
up to ~2,000 points, seeded and cancellable. Plain numpy out; no Qt, no scikit-learn.
"""

from __future__ import annotations

import numpy as np
import torch

from relattr_studio.core.jobs import NULL_CONTEXT, JobContext

TSNE_MAX_POINTS = 2000


def _pooled(f: torch.Tensor) -> torch.Tensor:
    return f.mean(dim=(2, 3)) if f.dim() == 4 else f.flatten(1)


@torch.no_grad()
def extract_features(model, dataset, *, batch_size: int = 64, device="cpu",
                     ctx: JobContext = NULL_CONTEXT) -> np.ndarray:
    """Pooled backbone features of every image of ``dataset``: N x D float32.

    Uses ``model.backbone`` (pointwise rankers) or ``model.embed`` (pairwise rankers).
    """
    if hasattr(model, "backbone"):
        trunk = model.backbone
    elif hasattr(model, "embed"):
        trunk = model.embed
    else:
        raise ValueError(f"{type(model).__name__} has neither a backbone nor embed(): no features to map")
    was_training = model.training
    model.eval()
    try:
        n = len(dataset)
        out = None
        ctx.report(0, n, "features")
        step = max(1, int(batch_size))
        for start in range(0, n, step):
            ctx.check()
            stop = min(n, start + step)
            x = model.preprocess(dataset.images(np.arange(start, stop)), device=device)
            f = _pooled(trunk(x)).float().cpu().numpy()
            if out is None:
                out = np.zeros((n, f.shape[1]), np.float32)
            out[start:stop] = f
            ctx.report(stop, n, "features")
        return out if out is not None else np.zeros((0, 0), np.float32)
    finally:
        model.train(was_training)


def pca_2d(features: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Projection on the first principal axes (centred, numpy SVD): N x n_components float32.

    Signs are fixed so that the largest loading of each axis is positive (deterministic output).
    """
    x = np.asarray(features, np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[0] == 0:
        return np.zeros((0, n_components), np.float32)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, vt.shape[0])
    vt = vt[:k]
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    vt = vt * np.where(signs == 0, 1, signs)[:, None]
    y = x @ vt.T
    if k < n_components:
        y = np.hstack([y, np.zeros((len(y), n_components - k))])
    return y.astype(np.float32)


def subsample(n: int, max_points: int = TSNE_MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` items (all of them when n is small)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _sq_distances(x: np.ndarray) -> np.ndarray:
    sq = (x * x).sum(axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d, 0.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def _joint_probabilities(d2: np.ndarray, perplexity: float, *, steps: int = 60) -> np.ndarray:
    """Symmetric P of t-SNE: per-row Gaussian bandwidths found by bisection on the entropy."""
    n = len(d2)
    target = np.log(perplexity)
    # a scale-free start: distances divided by each row's mean
    d2 = d2 / np.maximum(d2.sum(axis=1, keepdims=True) / max(1, n - 1), 1e-12)
    beta = np.ones(n)
    lo = np.full(n, 0.0)
    hi = np.full(n, np.inf)
    for _ in range(steps):
        p = np.exp(-d2 * beta[:, None])
        np.fill_diagonal(p, 0.0)
        sp = np.maximum(p.sum(axis=1), 1e-300)
        entropy = np.log(sp) + beta * (d2 * p).sum(axis=1) / sp
        too_flat = entropy > target  # entropy too high: sharpen (raise beta)
        lo = np.where(too_flat, beta, lo)
        hi = np.where(too_flat, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    p = p / sp[:, None]
    p = (p + p.T) / (2.0 * n)
    return np.maximum(p, 1e-12)


def tsne_2d(features: np.ndarray, *, perplexity: float = 30.0, n_iter: int = 500, seed: int = 0,
            pca_dims: int = 50, ctx: JobContext = NULL_CONTEXT) -> np.ndarray:
    """Exact t-SNE of ``features`` (N <= TSNE_MAX_POINTS x D) to N x 2 float32, seeded.

    Early exaggeration 12 for the first quarter of the iterations, momentum 0.5 then 0.8,
    adaptive gains, learning rate max(N / 48, 50), initialised from PCA (as scikit-learn's
    init="pca"). Reports progress through ``ctx`` and stops with Cancelled when asked.
    """
    x = np.asarray(features, np.float64)
    n = len(x)
    if n > TSNE_MAX_POINTS:
        raise ValueError(f"exact t-SNE is limited to {TSNE_MAX_POINTS} points (got {n}); subsample first")
    if n < 3:
        return pca_2d(x)
    if x.shape[1] > pca_dims:
        x = pca_2d(x, pca_dims).astype(np.float64)
    perplexity = float(min(perplexity, (n - 1) / 3.0))
    ctx.report(0, n_iter, "t-SNE")
    p = _joint_probabilities(_sq_distances(x), perplexity)
    rng = np.random.default_rng(seed)
    y = pca_2d(x).astype(np.float64)
    y = y / max(float(np.std(y[:, 0])), 1e-12) * 1e-4 + rng.normal(0.0, 1e-6, size=y.shape)
    update = np.zeros_like(y)
    gains = np.ones_like(y)
    lr = max(n / 48.0, 50.0)
    exaggerate_until = n_iter // 4
    for it in range(n_iter):
        if it % 10 == 0:
            ctx.check()
            ctx.report(it, n_iter, "t-SNE")
        pe = p * 12.0 if it < exaggerate_until else p
        num = 1.0 / (1.0 + _sq_distances(y))
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        w = (pe - q) * num
        grad = 4.0 * (w.sum(axis=1)[:, None] * y - w @ y)
        momentum = 0.5 if it < exaggerate_until else 0.8
        same = np.sign(grad) == np.sign(update)
        gains = np.where(same, gains * 0.8, gains + 0.2)
        np.maximum(gains, 0.01, out=gains)
        update = momentum * update - lr * gains * grad
        y = y + update
        y = y - y.mean(axis=0)
    ctx.report(n_iter, n_iter, "t-SNE")
    return y.astype(np.float32)
