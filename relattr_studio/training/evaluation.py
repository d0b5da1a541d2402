"""Scoring and pairwise accuracy for any neural ranker.

A pointwise ranker scores each image once; a pairwise ranker embeds each image once (its
shared trunk) and compares the pairs' embeddings in batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, Split
from relattr_studio.data.metrics import pairwise_accuracy
from relattr_studio.data.pairs import PairTable


class ImageBank:
    """A dataset's images held in memory once as uint8 (N x H x W x 3), preprocessed on the fly.

    ``extra`` (uint8 G x H x W x 3, the dataset's image size) are images beyond the dataset's,
    addressed as ``N .. N + G - 1``: generated images of labeled pairs (``relattr train --labels``).
    """

    def __init__(self, dataset, indices: np.ndarray | None = None, *, extra: np.ndarray | None = None):
        n, g = len(dataset), 0 if extra is None else len(extra)
        self.indices = np.arange(n + g) if indices is None else np.unique(np.asarray(indices, np.int64))
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n + g):
            raise IndexError(f"image indices outside 0..{n + g - 1}")
        self.where = np.full(n + g, -1, np.int64)
        self.where[self.indices] = np.arange(len(self.indices))
        own = self.indices[self.indices < n]
        pixels = dataset.images(own)
        if g:
            pixels = np.concatenate([pixels, np.asarray(extra, np.uint8)[self.indices[self.indices >= n] - n]])
        self.pixels = torch.from_numpy(pixels)

    def tensor(self, images: np.ndarray, preprocess, device, *, channels_last: bool = False,
               augment: torch.Generator | None = None, zoom: float = 0.0, color: float = 0.0) -> torch.Tensor:
        """Preprocessed images; with ``augment`` (a seeded generator), augmented (see augment_batch)."""
        x = preprocess(self.pixels[torch.from_numpy(self.where[images])], device=device)
        if augment is not None:
            x = augment_batch(x, augment, zoom=zoom, color=color)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def augment_batch(x: torch.Tensor, gen: torch.Generator, *, zoom: float = 0.0, color: float = 0.0) -> torch.Tensor:
    """Random horizontal flips per image and one random shift of up to 1/16 of the size.

    ``zoom`` > 0: instead of the shift, each image is cropped at a random side of (1 - zoom) to 1
    of the image, at a random place inside it, and resized back (bilinear). ``color`` > 0: each
    image's contrast is scaled by a factor in [1 - color, 1 + color] about its mean and a
    brightness offset in [-color, color] standard units is added.
    """
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    if zoom > 0:
        side = 1.0 - zoom * torch.rand(n, generator=gen)
        centre = (1.0 - side).unsqueeze(1) * (2.0 * torch.rand(n, 2, generator=gen) - 1.0)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = torch.where(flip, -side, side)
        theta[:, 1, 1] = side
        theta[:, :, 2] = centre
        grid = nn.functional.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        x = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    else:
        x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
        pad = max(1, x.shape[-1] // 16)
        dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=gen))
        padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
        x = padded[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]
    if color > 0:
        contrast = 1.0 + color * (2.0 * torch.rand(n, 1, 1, 1, generator=gen) - 1.0)
        offset = color * (2.0 * torch.rand(n, 1, 1, 1, generator=gen) - 1.0)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast.to(x.device, x.dtype) + mean + offset.to(x.device, x.dtype)
    return x


def _autocast(device: torch.device, amp: str):
    if amp == "off":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@torch.no_grad()
def score_images(model, bank: ImageBank, images: np.ndarray, device, *, batch_size: int = 64, amp: str = "off",
                 channels_last: bool = False, ctx: JobContext = NULL_CONTEXT, stage: str = "scoring",
                 mirror: bool = False) -> torch.Tensor:
    """Pointwise scores (len(images) x A, float32 CPU), or a pairwise ranker's embeddings;
    ``mirror``: of the horizontally flipped images."""
    model.eval()
    fn = model.embed if model.kind == "pairwise" else model
    out = []
    for start in range(0, len(images), batch_size):
        ctx.check()
        x = bank.tensor(images[start:start + batch_size], model.preprocess, device, channels_last=channels_last)
        if mirror:
            x = x.flip(-1)
        with _autocast(device, amp):
            out.append(fn(x).float().cpu())
        ctx.report(min(start + batch_size, len(images)), len(images), stage)
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def pair_margins(model, bank: ImageBank, pairs: PairTable, device, *, heads: np.ndarray, batch_size: int = 64,
                 amp: str = "off", ctx: JobContext = NULL_CONTEXT, test_flip: bool = False) -> np.ndarray:
    """Per pair, a value whose sign says which image shows its attribute more (positive: a).

    ``heads``: per pair, the model's head for its attribute. Pointwise: r(a) - r(b) with every
    image scored once. Pairwise: logit of P(a > b) from compare(embed(a), embed(b)).
    ``test_flip``: the mean of that value on the images and on their mirror images.
    """
    if test_flip:
        views = [_pair_margins(model, bank, pairs, device, heads=heads, batch_size=batch_size, amp=amp, ctx=ctx,
                               mirror=m) for m in (False, True)]
        return (views[0] + views[1]) / 2
    return _pair_margins(model, bank, pairs, device, heads=heads, batch_size=batch_size, amp=amp, ctx=ctx)


def _pair_margins(model, bank, pairs, device, *, heads, batch_size, amp, ctx, mirror: bool = False) -> np.ndarray:
    images = np.unique(np.concatenate([pairs.a, pairs.b])).astype(np.int64)
    pos = np.full(int(images.max()) + 1 if len(images) else 1, -1, np.int64)
    pos[images] = np.arange(len(images))
    feats = score_images(model, bank, images, device, batch_size=batch_size, amp=amp, ctx=ctx, mirror=mirror,
                         stage="scoring mirrored" if mirror else "scoring")
    h = torch.from_numpy(heads)
    if model.kind != "pairwise":
        ia, ib = torch.from_numpy(pos[pairs.a]), torch.from_numpy(pos[pairs.b])
        return (feats[ia, h] - feats[ib, h]).numpy()
    key, where = np.unique(pos[pairs.a] * len(images) + pos[pairs.b], return_inverse=True)
    ua, ub = torch.from_numpy(key // len(images)), torch.from_numpy(key % len(images))
    out = []  # each image pair compared once; its logits hold every head
    for s in range(0, len(key), 256):
        ctx.check()
        with _autocast(device, amp):
            out.append(model.compare(feats[ua[s:s + 256]].to(device), feats[ub[s:s + 256]].to(device)).float().cpu())
        ctx.report(min(s + 256, len(key)), len(key), "comparing pairs")
    if not out:
        return np.zeros(0)
    return torch.cat(out)[torch.from_numpy(where.reshape(-1)), h].numpy()


def sample_image_pairs(pairs: PairTable, max_pairs: int | None, seed: int = 0) -> PairTable:
    """The rows of at most ``max_pairs`` image pairs (seeded), each with all its labels; all if fewer."""
    if max_pairs is None or len(pairs) == 0:
        return pairs
    key = pairs.a.astype(np.int64) * (int(max(pairs.a.max(), pairs.b.max())) + 1) + pairs.b
    unique = np.unique(key)
    if len(unique) <= max_pairs:
        return pairs
    chosen = np.random.default_rng(seed).choice(unique, max_pairs, replace=False)
    return pairs.select(np.isin(key, chosen))


def evaluate_pairs(model, bank: ImageBank, pairs: PairTable, device, *, attribute_ids: list[int],
                   amp: str = "off", ctx: JobContext = NULL_CONTEXT, split: int = Split.TEST,
                   max_pairs: int | None = None, test_flip: bool = False) -> dict[str, dict[int, float]]:
    """``{"test": {attribute id: %}, "test/coarse": ..., "test/fine": ...}`` on ``split``'s
    non-equal pairs of ``attribute_ids`` (model heads in that order); groups where present.
    ``max_pairs``: a seeded sample of that many image pairs (with all their labels) instead of all.
    ``test_flip``: each pair's margin is averaged over the images and their mirror images."""
    rows = pairs.where(split=split, non_equal=True)
    rows = sample_image_pairs(rows.select(np.isin(rows.attribute, attribute_ids)), max_pairs)
    name = {int(Split.TEST): "test", int(Split.VAL): "val", int(Split.TRAIN): "train"}.get(int(split), "test")
    if len(rows) == 0:
        return {name: {}}
    head_of = {a: k for k, a in enumerate(attribute_ids)}
    heads = np.array([head_of[int(a)] for a in rows.attribute], np.int64)
    margin = pair_margins(model, bank, rows, device, heads=heads, amp=amp, ctx=ctx, test_flip=test_flip)
    out: dict[str, dict[int, float]] = {name: {}}
    groups = [(None, name)] + [(g, f"{name}/{g.name.lower()}") for g in (PairGroup.COARSE, PairGroup.FINE)
                               if (rows.group == g).any()]
    for g, key in groups:
        out[key] = {}
        for a in attribute_ids:
            m = rows.attribute == a
            if g is not None:
                m &= rows.group == g
            if m.any():
                out[key][a] = 100.0 * pairwise_accuracy(margin[m], rows.label[m])
    return out
