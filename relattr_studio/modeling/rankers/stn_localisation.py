"""The localisation half of DeepSTN's spatial transformer: a small CNN that predicts a crop.

The transform is constrained as in Singh & Lee: an isotropic scale ``s`` and a translation
``(tx, ty)``, no rotation or shear::

    theta = [[s, 0, tx],
             [0, s, ty]]      (torch ``affine_grid`` convention, coordinates in [-1, 1])

``s`` lies in [min_scale, max_scale] (a sigmoid) and the centre is ``t = (1 - s) tanh(raw)``,
so the crop always lies inside the image. It used to roam over (-1, 1) whatever ``s``, so that
shrinking a crop would not drag it; but a crop may then hang over the edge, where
``grid_sample`` repeats border pixels, and a crop of repeated pixels gives every image the same
score: RankNet's loss sits at log 2 with no gradient and the ranker is dead (seen in exploratory
runs). On the localisation test of ``tests/unit/test_deepstn.py`` the free centre reached the
patch in 1 seed of 4 (the others stopped 0.21-0.37 from it), the bounded one in 4 of 4. The
last layer starts at zero weights with a bias giving ``s = init_scale`` and ``t = 0``: every
image starts with the same centred, nearly whole-image crop, the usual STN initialisation.

``sample_crop`` returns plain bilinear samples, but differentiates them with respect to the box
on a copy of the image low-passed at the crop's sampling step (see there): that is what lets
the ranking loss move the crop at all.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from relattr_studio.core.errors import RelAttrError

# Width (standard deviation) of the low-pass under the box gradient, in crop sampling steps
# (see sample_crop). On the localisation test, over seeds 0-7: 1 step reached the patch in 7
# seeds, 1.5 steps in 5, 2 steps in 6, half a step in 2.
GRADIENT_BLUR = 1.0


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
        tx = (1.0 - s) * torch.tanh(raw[:, 1])
        ty = (1.0 - s) * torch.tanh(raw[:, 2])
        return s, tx, ty


def crop_theta(s: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """N x 2 x 3 affine matrices for ``affine_grid`` from scale and translation."""
    zero = torch.zeros_like(s)
    return torch.stack([torch.stack([s, zero, tx], dim=1), torch.stack([zero, s, ty], dim=1)], dim=1)


def crop_box(s: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """N x 4 boxes (x0, y0, x1, y1) in [0, 1] image coordinates (0 = left/top edge)."""
    box = torch.stack([(1.0 + tx - s) / 2, (1.0 + ty - s) / 2, (1.0 + tx + s) / 2, (1.0 + ty + s) / 2], dim=1)
    return box.clamp(0.0, 1.0)


def _gaussian_blur(x: torch.Tensor, sigma_y: float, sigma_x: float) -> torch.Tensor:
    """Separable Gaussian low-pass of N x C x H x W, edges replicated (as ``padding_mode="border"``)."""
    channels = x.shape[1]
    for dim, sigma in ((3, sigma_x), (2, sigma_y)):
        if sigma < 0.5:  # narrower than the bilinear kernel itself
            continue
        radius = math.ceil(3.0 * sigma)
        taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
        kernel = (kernel / kernel.sum()).view(1, 1, *((1, -1) if dim == 3 else (-1, 1)))
        pad = (radius, radius, 0, 0) if dim == 3 else (0, 0, radius, radius)
        x = F.conv2d(F.pad(x, pad, mode="replicate"), kernel.expand(channels, 1, *kernel.shape[2:]),
                     groups=channels)
    return x


def sample_crop(x: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """The crop of ``x`` under ``theta`` resampled (bilinear) to ``size`` x ``size``.

    The values are plain bilinear samples of ``x`` and their gradient with respect to ``x`` is
    exact. Their gradient with respect to the box (``theta``) is that of the same samples taken
    from ``x`` low-passed by a Gaussian ``GRADIENT_BLUR`` crop sampling steps wide (a step is
    the distance in input pixels between neighbouring crop pixels, at the batch's mean scale).

    Why: a bilinear sample's derivative with respect to where it samples sees only the four
    input pixels around it, so the box gradient of a whole-image crop sampled every few pixels
    is made of whatever pixels happen to lie next to a sample, not of what the crop would gain
    by moving or zooming (the defect of spatial transformers that Jiang et al.'s "linearized
    multi-sampling" fixes with a wider neighbourhood). Measured on the localisation test of
    ``tests/unit/test_deepstn.py`` (a 2-pixel patch 0.35 of the image off-centre, 300 steps):
    with the bilinear derivative the crop's centre ended 0.35-0.36 from the patch, where it
    started, in 4 seeds of 4; with this one 0.05-0.16 from it in 9 seeds of 12 (0.21-0.45 in
    the other 3).
    """
    grid = F.affine_grid(theta.to(x.dtype), [x.shape[0], x.shape[1], size, size], align_corners=False)
    if not (torch.is_grad_enabled() and grid.requires_grad):
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    crop = F.grid_sample(x, grid.detach(), mode="bilinear", padding_mode="border", align_corners=False)
    steps = GRADIENT_BLUR * theta[:, 0, 0].detach().float().mean().item() / size
    smooth = _gaussian_blur(x.detach(), steps * x.shape[-2], steps * x.shape[-1])
    soft = F.grid_sample(smooth, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return crop + (soft - soft.detach())  # the values of ``crop``, the box gradient of ``soft``
