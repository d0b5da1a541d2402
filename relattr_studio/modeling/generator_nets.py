"""The two networks of the attribute-conditioned CVAE (after Attribute2Image, Yan et al.).

- :class:`RecognitionNet` q(z | x, y): a strided conv encoder on the image; the normalised
  strengths y join its features before the layers that give mu and log sigma^2.
- :class:`GenerativeNet` p(x | y, z): y through an MLP, z through an MLP, their concatenation
  mixed by an MLP into a coarse 4 x 4 feature map, then a coarse-to-fine decoder: each stage
  doubles the resolution (a learned 4 x 4 transposed convolution) and, at the coarse stages,
  refines with a 3 x 3 convolution; the last stage gives RGB in [0, 1].

The decoder is sized for the Explore view's budget (a slider move painted in 16 ms, a 9-image
strip in 33 ms on a 2-core CPU): the expensive fine stages are single thin layers, the
refinements sit where the maps are small.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def stages(image_size: int) -> int:
    """How many doublings take a 4 x 4 map to ``image_size`` (a power of two, 16 to 256)."""
    k = round(math.log2(image_size / 4)) if image_size > 0 else -1
    if image_size not in (16, 32, 64, 128, 256) or 4 * 2 ** k != image_size:
        raise ValueError(f"image_size must be 16, 32, 64, 128 or 256, not {image_size}")
    return k


def _channels(width: int, n_stages: int) -> list[int]:
    """Channels of the 4 x 4 map and after each stage: 8w, 4w, 2w, w, ... (at least 8)."""
    return [max(8, width * 8 // 2 ** i) for i in range(n_stages + 1)]


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.LeakyReLU(0.2, inplace=True),
                         nn.Linear(hidden, d_out), nn.LeakyReLU(0.2, inplace=True))


class RecognitionNet(nn.Module):
    """q(z | x, y) = N(mu, diag(exp(logvar))); x in [0, 1] (n x 3 x S x S), y normalised (n x A)."""

    def __init__(self, n_attributes: int, z_dim: int, *, image_size: int = 64, width: int = 32, hidden: int = 256):
        super().__init__()
        chans = list(reversed(_channels(width, stages(image_size))))  # w, 2w, ..., 8w
        layers: list[nn.Module] = []
        c_in = 3
        for c in chans:  # S -> S/2 -> ... -> 4
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.LeakyReLU(0.2, inplace=True)]
            c_in = c
        self.trunk = nn.Sequential(*layers)
        self.features = nn.Sequential(nn.Linear(c_in * 2 * 2, hidden), nn.LeakyReLU(0.2, inplace=True))
        self.joint = nn.Sequential(nn.Linear(hidden + n_attributes, hidden), nn.LeakyReLU(0.2, inplace=True))
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(self.trunk(x * 2.0 - 1.0).flatten(1))
        h = self.joint(torch.cat([h, y], dim=1))
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)


# Where a stride-2, 4 x 4, padding-1 transposed convolution takes each output pixel's taps from:
# output row 2i + a reads input row i + e through kernel row _TAPS[(a, e)] (the same for columns).
_TAPS = {(0, 0): 1, (0, -1): 3, (1, 0): 2, (1, 1): 0}


def subpixel_conv(ct: nn.ConvTranspose2d) -> nn.Sequential:
    """The same map as ``ct`` (stride 2, kernel 4, padding 1) as a 3 x 3 convolution to 4 x the
    channels and a pixel shuffle (equal up to float rounding).

    For few output channels oneDNN runs this far faster: the toy generator's last layer (32 to 3
    channels at 64 px) took 6 ms for 8 images as a transposed convolution and 1.7 ms so; with
    many output channels the transposed convolution is faster, so only the last layer uses it.
    """
    if ct.stride != (2, 2) or ct.kernel_size != (4, 4) or ct.padding != (1, 1) or ct.groups != 1 \
            or ct.dilation != (1, 1) or ct.output_padding != (0, 0):
        raise ValueError("only a stride-2, 4 x 4, padding-1 transposed convolution has this form")
    w = ct.weight.detach()  # c_in x c_out x 4 x 4
    c_in, c_out = w.shape[:2]
    k = w.new_zeros(c_out, 2, 2, c_in, 3, 3)
    for (a, ey), ky in _TAPS.items():
        for (b, ex), kx in _TAPS.items():
            k[:, a, b, :, ey + 1, ex + 1] = w[:, :, ky, kx].T
    conv = nn.Conv2d(c_in, 4 * c_out, 3, padding=1, bias=ct.bias is not None).to(w.device, w.dtype)
    conv.weight.data.copy_(k.reshape(4 * c_out, c_in, 3, 3))
    if ct.bias is not None:
        conv.bias.data.copy_(ct.bias.detach().repeat_interleave(4))
    return nn.Sequential(conv, nn.PixelShuffle(2))


class GenerativeNet(nn.Module):
    """p(x | y, z): (y normalised n x A, z n x z_dim) -> n x 3 x S x S in [0, 1]."""

    def __init__(self, n_attributes: int, z_dim: int, *, image_size: int = 64, width: int = 32, hidden: int = 256,
                 refine_until: int = 16):
        super().__init__()
        n = stages(image_size)
        chans = _channels(width, n)
        self.c0 = chans[0]
        self.y_net = _mlp(n_attributes, hidden, hidden)
        self.z_net = _mlp(max(1, z_dim), hidden, hidden)
        self.mix = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Linear(hidden, self.c0 * 16), nn.LeakyReLU(0.2, inplace=True))
        blocks: list[nn.Module] = []
        size = 4
        for i in range(n):
            last = i == n - 1
            c_in, c_out = chans[i], (3 if last else chans[i + 1])
            size *= 2
            block: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
            if not last:
                block.append(nn.LeakyReLU(0.2, inplace=True))
                if size <= refine_until:  # cheap at coarse scales: a 3 x 3 refinement
                    block += [nn.Conv2d(c_out, c_out, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            blocks.append(nn.Sequential(*block))
        self.blocks = nn.Sequential(*blocks)
        self.z_dim = z_dim
        self._fast_last: tuple[tuple, nn.Module] | None = None  # (weights' version key, subpixel form)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.z_dim == 0:  # no latent factors: a constant input keeps the MLP's shape
            z = y.new_zeros(len(y), 1)
        h = self.mix(torch.cat([self.y_net(y), self.z_net(z)], dim=1))
        x = h.view(len(h), self.c0, 4, 4)
        if self.training or torch.is_grad_enabled():
            return torch.sigmoid(self.blocks(x))
        for block in self.blocks[:-1]:  # inference (the Explore view): the last layer in its faster form
            x = block(x)
        return torch.sigmoid(self._last_for_inference()(x))

    def _last_for_inference(self) -> nn.Module:
        last = self.blocks[-1][0]
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in (last.weight, last.bias) if t is not None)
        if self._fast_last is None or self._fast_last[0] != key:
            self._fast_last = (key, subpixel_conv(last).eval())
        return self._fast_last[1]


class AttributeReader(nn.Module):
    """A small strided CNN that reads normalised strengths off an image (n x 3 x S x S in [0, 1]).

    Used only in training: fitted to real images, it tells the generator whether an image made
    from prior draws (y, z) shows the y it was asked for (the attribute-consistency term).
    """

    def __init__(self, n_attributes: int, *, image_size: int = 64, width: int = 16):
        super().__init__()
        n = stages(image_size)
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(n):  # S -> 4
            c = width * 2 ** min(i, 3)
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, n_attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x * 2.0 - 1.0).flatten(1))
