"""Ordering images with a pairwise ranker (DACRL), and measuring how antisymmetric it is.

A pair network gives P(i > j), not a score per image. To order a set we use a Borda count:
image i's score for attribute A is its mean P_A(i > j) over a reference set (the set itself,
minus i, by default). P(i > j) is taken from the antisymmetrised logit
``(l(i, j) - l(j, i)) / 2``, so the order cannot depend on which image was shown first; the
network itself is not antisymmetric by construction, only nearly so after both-order training
(``antisymmetry_gap`` measures how nearly).
"""

from __future__ import annotations

import torch


def antisymmetric_logits(model, fi: torch.Tensor, fj: torch.Tensor) -> torch.Tensor:
    """N x A logits of P(i > j) averaged over both orders: exactly l(i,j) = -l(j,i)."""
    return 0.5 * (model.compare(fi, fj) - model.compare(fj, fi))


@torch.no_grad()
def antisymmetry_gap(model, fi: torch.Tensor, fj: torch.Tensor) -> float:
    """Mean |P(i > j) + P(j > i) - 1| over pairs and attributes (0 for a consistent model)."""
    p = torch.sigmoid(model.compare(fi, fj).float()) + torch.sigmoid(model.compare(fj, fi).float())
    return float((p - 1.0).abs().mean())


@torch.no_grad()
def pairwise_scores(model, feats: torch.Tensor, reference: torch.Tensor | None = None, *,
                    batch_pairs: int = 1024) -> torch.Tensor:
    """Borda scores, N x A in [0, 1]: mean P(i > r) of each image i of ``feats`` (trunk maps
    from ``model.embed``) against every image r of ``reference`` (default: ``feats`` itself,
    leaving out i against itself). Costs N x M pair comparisons, ``batch_pairs`` at a time."""
    same = reference is None
    ref = feats if same else reference
    n, m = feats.shape[0], ref.shape[0]
    total = torch.zeros(n, len(model.attributes), device=feats.device)
    ii, rr = torch.meshgrid(torch.arange(n), torch.arange(m), indexing="ij")
    ii, rr = ii.reshape(-1), rr.reshape(-1)
    if same:
        keep = ii != rr
        ii, rr = ii[keep], rr[keep]
    for start in range(0, ii.numel(), batch_pairs):
        i, r = ii[start:start + batch_pairs], rr[start:start + batch_pairs]
        p = torch.sigmoid(antisymmetric_logits(model, feats[i], ref[r]).float())
        total.index_add_(0, i.to(feats.device), p)
    count = max(1, m - 1 if same else m)
    return total / count
