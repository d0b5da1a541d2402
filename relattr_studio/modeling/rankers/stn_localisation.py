"""The localisation half of DeepSTN's spatial transformer: a small CNN that predicts a crop.

The transform is constrained as in Singh & Lee: an isotropic scale ``s`` and a translation
``(tx, ty)``, no rotation or shear::

    theta = [[s, 0, tx],
             [0, s, ty]]      (torch ``affine_grid`` convention, coordinates in [-1, 1])

``s`` lies in [min_scale, max_scale] (a sigmoid) and the centre ``t`` in (-1, 1) (a tanh),
independent of ``s`` (bounding ``|t| <= 1 - s`` instead couples them: shrinking the crop then
drags it outwards). A crop may therefore overhang the image edge, where ``grid_sample``
repeats the border pixels; ``crop_box`` reports the part inside the image, in [0, 1]. The last layer starts at zero
weights with a bias giving ``s = init_scale`` and ``t = 0``: every image starts with the same
centred, nearly whole-image crop, the usual STN initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from relattr_studio.core.errors import RelAttrError


class LocalisationNet(nn.Module):
    """Downscaled image (N x 3 x size x size) -> raw crop parameters (N x 3)."""

    def __init__(self, *, size: int, init_scale: float, min_scale: float, max_scale: float):
        super().__init__()
        if not 0.0 < min_scale <= init_scale <= max_scale <= 1.0 or min_scale == max_scale:
            raise RelAttrError(f"DeepSTN crop scales must satisfy 0 < min < max <= 1 with min <= init <= max; "
                               f"got min {min_scale}, init {init_scale}, max {max_scale}")
        self.size = int(size)
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        # Spatial layout is kept (4 x 4 grid, flattened) rather than globally pooled: where the
        # attribute is must survive to the regression layer.
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(32 * 16, 64), nn.ReLU(inplace=True),
        )
        self.regress = nn.Linear(64, 3)
        nn.init.zeros_(self.regress.weight)
        u = (init_scale - min_scale) / (max_scale - min_scale)
        u = min(max(u, 1e-4), 1.0 - 1e-4)
        with torch.no_grad():
            self.regress.bias.copy_(torch.tensor([math.log(u / (1.0 - u)), 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=True)
        return self.regress(self.features(x))

    def crop_parameters(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(s, tx, ty), each of shape N, constrained as the module docstring says."""
        raw = self(x).float()
        s = self.min_scale + (self.max_scale - self.min_scale) * torch.sigmoid(raw[:, 0])
        tx = torch.tanh(raw[:, 1])
        ty = torch.tanh(raw[:, 2])
        return s, tx, ty


def crop_theta(s: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """N x 2 x 3 affine matrices for ``affine_grid`` from scale and translation."""
    zero = torch.zeros_like(s)
    return torch.stack([torch.stack([s, zero, tx], dim=1), torch.stack([zero, s, ty], dim=1)], dim=1)


def crop_box(s: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """N x 4 boxes (x0, y0, x1, y1) in [0, 1] image coordinates (0 = left/top edge)."""
    box = torch.stack([(1.0 + tx - s) / 2, (1.0 + ty - s) / 2, (1.0 + tx + s) / 2, (1.0 + ty + s) / 2], dim=1)
    return box.clamp(0.0, 1.0)


def sample_crop(x: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """The crop of ``x`` under ``theta`` resampled (bilinear) to ``size`` x ``size``."""
    grid = F.affine_grid(theta.to(x.dtype), [x.shape[0], x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
