"""torchvision's VGG16 and ResNets as backbones, with ImageNet weights only from local files.

The full torchvision model is built and filled strictly (so a file is checked against the whole
architecture), then only the convolutional trunk is kept: the ImageNet classifier (120 M
parameters for VGG16) never reaches a ranker, an optimiser or a checkpoint. The trunk keeps
torchvision's parameter names, so a backbone's state dict is a subset of the published file.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision import models as tvm

from relattr_studio.modeling.backbones.base import Backbone, Preprocess
from relattr_studio.modeling.backbones.registry import BACKBONES
from relattr_studio.modeling.backbones.weights_files import (
    WeightsArg,
    hub_cache_file,
    resolve_weights,
)


def _imagenet_preprocess(image_size: int) -> Preprocess:
    return Preprocess(size=image_size)  # Preprocess defaults are the ImageNet mean / std


class VGG16Backbone(Backbone):
    """VGG16's ``features`` (13 conv layers, 5 max-pools): 512 x 7 x 7 maps at 224 px."""

    out_channels = 512

    def __init__(self, net: tvm.VGG, *, image_size: int, weights_source: str):
        super().__init__()
        self.features = net.features
        self.preprocess = _imagenet_preprocess(image_size)
        self.weights_source = weights_source

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class ResNetBackbone(Backbone):
    """A ResNet up to ``layer4``: 512 (ResNet-18) or 2048 (ResNet-50) x 7 x 7 maps at 224 px."""

    def __init__(self, net: tvm.ResNet, *, image_size: int, weights_source: str):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = net.fc.in_features
        self.preprocess = _imagenet_preprocess(image_size)
        self.weights_source = weights_source

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _build(arch: str, make: Callable[[], nn.Module], imagenet: tvm.WeightsEnum, wrap, *,
           weights: WeightsArg, image_size: int) -> Backbone:
    found = resolve_weights(weights, arch=arch, auto_file=hub_cache_file(imagenet.url))
    # weights=None to torchvision: its random init; its downloading loader is never used.
    net = found.build(make, arch)
    return wrap(net, image_size=image_size, weights_source=found.source)


@BACKBONES.register("vgg16", "VGG16 conv trunk, 512 maps (ImageNet weights from a local file)")
def vgg16(*, weights: WeightsArg = None, image_size: int = 224) -> VGG16Backbone:
    """torchvision VGG16's conv trunk. ``weights``: None, "auto" (torch hub cache) or a path."""
    return _build("vgg16", lambda: tvm.vgg16(weights=None), tvm.VGG16_Weights.IMAGENET1K_V1,
                  VGG16Backbone, weights=weights, image_size=image_size)


@BACKBONES.register("resnet18", "ResNet-18 to layer4, 512 maps (ImageNet weights from a local file)")
def resnet18(*, weights: WeightsArg = None, image_size: int = 224) -> ResNetBackbone:
    """torchvision ResNet-18 up to layer4. ``weights``: None, "auto" (torch hub cache) or a path."""
    return _build("resnet18", lambda: tvm.resnet18(weights=None), tvm.ResNet18_Weights.IMAGENET1K_V1,
                  ResNetBackbone, weights=weights, image_size=image_size)


@BACKBONES.register("resnet50", "ResNet-50 to layer4, 2048 maps (ImageNet weights from a local file)")
def resnet50(*, weights: WeightsArg = None, image_size: int = 224) -> ResNetBackbone:
    """torchvision ResNet-50 up to layer4. ``weights``: None, "auto" (torch hub cache) or a path."""
    return _build("resnet50", lambda: tvm.resnet50(weights=None), tvm.ResNet50_Weights.IMAGENET1K_V1,
                  ResNetBackbone, weights=weights, image_size=image_size)
