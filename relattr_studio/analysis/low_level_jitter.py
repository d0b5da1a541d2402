"""Low-level jitter, the semantic-jitter paper's "Jitter" baseline: each real image is moved,
scaled, rotated and changed in contrast and colour at random, and a jittered pair keeps the
label of the real pair it came from.

The ranges follow the classic augmentation recipe the paper cites (a few pixels of
translation, about 10 % of scale, about 10 degrees of rotation, contrast and per-channel
colour gains of about 20 % and 10 %); :class:`JitterRanges` holds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JitterRanges:
    translate: float = 0.06  # of the image side, each way
    scale: float = 0.10  # zoom in 1 - s .. 1 + s
    rotate_degrees: float = 10.0
    contrast: float = 0.20  # pixel deviations from the image mean scaled by 1 - c .. 1 + c
    colour: float = 0.10  # each channel scaled by 1 - c .. 1 + c


def low_level_jitter(images: np.ndarray, rng: np.random.Generator, ranges: JitterRanges = JitterRanges()
                     ) -> np.ndarray:
    """A jittered copy of each of ``images`` (n x H x W x 3 uint8), edges padded by replication."""
    import torch
    import torch.nn.functional as F

    images = np.asarray(images)
    n = len(images)
    if n == 0:
        return images.copy()
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.from_numpy(rng.uniform(lo, hi, size=n)).float()

    angle = u(-ranges.rotate_degrees, ranges.rotate_degrees) * (np.pi / 180.0)
    zoom = u(1.0 - ranges.scale, 1.0 + ranges.scale)
    tx, ty = (u(-ranges.translate, ranges.translate) * 2.0 for _ in range(2))  # grid units span 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * u(1.0 - ranges.contrast, 1.0 + ranges.contrast).view(n, 1, 1, 1)
    gains = torch.from_numpy(rng.uniform(1.0 - ranges.colour, 1.0 + ranges.colour, size=(n, 3, 1, 1))).float()
    x = (x * gains).clamp(0.0, 1.0)
    return (x * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
