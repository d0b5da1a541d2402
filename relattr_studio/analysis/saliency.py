"""Input-gradient saliency of a ranker's judgement on a pair, and what its attention looks at.

Souri et al. (deep relative attributes, sec. 4.6) visualise a ranker with the gradient of its
output with respect to the input pixels, Gaussian-smoothed. Here, for a pair (x_i, x_j) and an
attribute a:

- a *pointwise* ranker (``forward(x) -> N x A`` scores r): the gradient of
  P(i > j) = sigmoid(r_i - r_j) with respect to each input, and the gradient of each score r
  with respect to its own input;
- a *pairwise* ranker (``forward(xi, xj) -> N x A`` logits): the gradient of the logit of
  P(i > j) with respect to both inputs.

A map is the gradient's magnitude (max over colour channels), brought back to the image's
displayed resolution (the preprocess resize undone), Gaussian-smoothed with ``sigma`` displayed
pixels and scaled to [0, 1]. Plain numpy out; no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import nn


@dataclass(frozen=True)
class PairSaliency:
    """Saliency of one pair for one attribute; maps are H x W float32 in [0, 1]."""

    attribute: int
    p_ij: float  # P(i > j)
    map_i: np.ndarray  # d P(i > j) / d x_i (pairwise: d logit / d x_i)
    map_j: np.ndarray
    score_i: float | None = None  # pointwise rankers only
    score_j: float | None = None
    score_map_i: np.ndarray | None = None  # d r_i / d x_i (pointwise only)
    score_map_j: np.ndarray | None = None


def saliency_map(grad: np.ndarray, out_hw: tuple[int, int], *, sigma: float = 2.0) -> np.ndarray:
    """A 3 x h x w input gradient -> H x W map in [0, 1] (max |.| over channels, resized, smoothed)."""
    mag = np.abs(np.asarray(grad, np.float32)).max(axis=0)
    if mag.shape != tuple(out_hw):
        t = torch.from_numpy(np.ascontiguousarray(mag))[None, None]
        mag = nn.functional.interpolate(t, size=tuple(out_hw), mode="bilinear", align_corners=False)[0, 0].numpy()
    if sigma > 0:
        mag = gaussian_filter(mag, sigma=float(sigma), mode="nearest")
    mag = np.maximum(mag, 0.0)
    top = float(mag.max())
    return (mag / top if top > 0 else np.zeros_like(mag)).astype(np.float32)


def _inputs(model, images: np.ndarray, device) -> torch.Tensor:
    x = model.preprocess(np.ascontiguousarray(images), device=device).detach()
    return x.requires_grad_(True)


def _grad(output: torch.Tensor, x: torch.Tensor, *, retain: bool) -> np.ndarray:
    (g,) = torch.autograd.grad(output, x, retain_graph=retain)
    return g.detach().cpu().numpy()


def pair_saliency(model, image_i: np.ndarray, image_j: np.ndarray, attribute: int, *,
                  sigma: float = 2.0, device: str | torch.device = "cpu") -> PairSaliency:
    """Saliency maps of ``model``'s judgement "i shows ``attribute`` more than j".

    ``image_i``, ``image_j``: uint8 H x W x 3 as displayed. The model is used in eval mode (its
    training flag is restored); no parameter gradient is accumulated.
    """
    hw_i, hw_j = image_i.shape[:2], image_j.shape[:2]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xi = _inputs(model, image_i[None], device)
            xj = _inputs(model, image_j[None], device)
            if getattr(model, "kind", "pointwise") == "pairwise":
                logit = model(xi, xj)[0, attribute]
                gi, gj = torch.autograd.grad(logit, (xi, xj))
                return PairSaliency(attribute, float(torch.sigmoid(logit.detach())),
                                    saliency_map(gi[0].cpu().numpy(), hw_i, sigma=sigma),
                                    saliency_map(gj[0].cpu().numpy(), hw_j, sigma=sigma))
            ri = model(xi)[0, attribute]
            rj = model(xj)[0, attribute]
            p = torch.sigmoid(ri - rj)
            gi, gj = torch.autograd.grad(p, (xi, xj), retain_graph=True)
            si = _grad(ri, xi, retain=True)[0]
            sj = _grad(rj, xj, retain=False)[0]
    finally:
        model.train(was_training)
    return PairSaliency(
        attribute, float(p.detach()),
        saliency_map(gi[0].cpu().numpy(), hw_i, sigma=sigma), saliency_map(gj[0].cpu().numpy(), hw_j, sigma=sigma),
        float(ri.detach()), float(rj.detach()),
        saliency_map(si, hw_i, sigma=sigma), saliency_map(sj, hw_j, sigma=sigma),
    )


def crop_box(model, image: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray | None:
    """DeepSTN's crop (x0, y0, x1, y1 in [0, 1] of the image) or None for models without one."""
    if not hasattr(model, "crop_boxes"):
        return None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            box = model.crop_boxes(model.preprocess(image[None], device=device))
    finally:
        model.train(was_training)
    return np.clip(box[0].detach().cpu().numpy().astype(np.float32), 0.0, 1.0)


@dataclass(frozen=True)
class ChannelAttention:
    """DACRL's channel weights for a pair: ``weights`` over the 2C concatenated maps [f_i, f_j]."""

    weights: np.ndarray  # 2C
    top: np.ndarray  # channel indices, most attended first
    bottom: np.ndarray  # least attended first
    top_maps: np.ndarray  # k x h x w, each scaled to [0, 1]
    bottom_maps: np.ndarray


def channel_attention(model, image_i: np.ndarray, image_j: np.ndarray, *, k: int = 4,
                      device: str | torch.device = "cpu") -> ChannelAttention | None:
    """The most and least attended channels of a pairwise model with ``channel_attention``."""
    if not hasattr(model, "channel_attention") or not hasattr(model, "embed"):
        return None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            fi = model.embed(model.preprocess(image_i[None], device=device))
            fj = model.embed(model.preprocess(image_j[None], device=device))
            w = model.channel_attention(fi, fj)[0].detach().cpu().numpy().astype(np.float32).reshape(-1)
            maps = torch.cat([fi, fj], dim=1)[0].detach().cpu().numpy().astype(np.float32)
    finally:
        model.train(was_training)
    order = np.argsort(-w, kind="stable")
    k = max(0, min(k, len(w) // 2))
    top, bottom = order[:k], order[::-1][:k]

    def scaled(idx):
        m = maps[idx] if len(idx) else np.zeros((0, *maps.shape[1:]), np.float32)
        lo = m.min(axis=(1, 2), keepdims=True) if len(m) else 0
        span = (m.max(axis=(1, 2), keepdims=True) - lo) if len(m) else 1
        return ((m - lo) / np.where(span > 0, span, 1)).astype(np.float32)

    return ChannelAttention(w, top, bottom, scaled(top), scaled(bottom))
