"""A small CNN that trains in seconds on a CPU: the default for toy datasets and tests."""

from __future__ import annotations

from torch import nn

from relattr_studio.modeling.backbones.base import Backbone, Preprocess
from relattr_studio.modeling.backbones.registry import BACKBONES


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class SmallCNN(Backbone):
    """Four conv stages (width, 2w, 4w, 8w channels), each halving the resolution.

    ``stem_stride`` 2 makes the first convolution strided: the network then sees an image of
    twice the side for about the cost of one of the side (every later layer runs at half the
    input's resolution), which keeps details a plain downscale would lose (eyes, a smile)."""

    def __init__(self, *, width: int = 32, image_size: int = 64, stem_stride: int = 1):
        super().__init__()
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, not {stem_stride}")
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers.append(_block(chans[i], chans[i + 1], stride=stem_stride if i == 0 else 1))
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.out_channels = chans[-1]
        self.preprocess = Preprocess(size=image_size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        self.weights_source = "random initialisation (small CNN, trained from scratch)"

    def forward_features(self, x):
        return self.features(x)


@BACKBONES.register("small-cnn", "small CNN for CPU training (random init)")
def small_cnn(*, weights=None, width: int = 32, image_size: int = 64, stem_stride: int = 1) -> SmallCNN:
    # "auto" asks for pretrained weights where a backbone has them; this one has none
    if weights not in (None, "none", "auto"):
        from relattr_studio.core.errors import RelAttrError

        raise RelAttrError("small-cnn has no pretrained weights; train it from scratch")
    return SmallCNN(width=width, image_size=image_size, stem_stride=stem_stride)
