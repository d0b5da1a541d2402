"""What every backbone is: a feature-map extractor that carries its own preprocessing."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Preprocess:
    """How uint8 H x W x 3 images become a backbone's input.

    Images are resized to ``size`` x ``size`` (bilinear), scaled to [0, 1], then normalised as
    ``(x - mean) / std`` per channel. EfficientNet-Lite0 uses mean = std = 0.5 (inputs in
    [-1, 1]); torchvision's ImageNet models use the ImageNet statistics. It travels inside every
    checkpoint, so a model is always fed as it was trained.
    """

    size: int
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(size=int(d["size"]), mean=tuple(d["mean"]), std=tuple(d["std"]))

    def __call__(self, images: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
        """uint8 N x H x W x 3 (numpy or tensor) -> float N x 3 x size x size, normalised."""
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        if device is not None:
            x = x.to(device, non_blocking=True)
        return self.from_unit(x.permute(0, 3, 1, 2).float().div_(255.0))

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """float N x 3 x H x W in [0, 1] (a generator's output) -> the backbone's input, differentiably."""
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear",
                                          align_corners=False, antialias=True)
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std


class Backbone(nn.Module):
    """A CNN trunk: ``forward_features`` gives maps, ``forward`` their global average.

    Subclasses set ``out_channels`` (channels of the last feature map), ``preprocess`` and
    ``weights_source`` (a plain sentence the UI and log show: which ImageNet file the weights
    came from, or "random initialisation").
    """

    out_channels: int
    preprocess: Preprocess
    weights_source: str = "random initialisation"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3))
