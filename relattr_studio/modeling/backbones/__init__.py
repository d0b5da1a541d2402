"""Backbones by name: ``build_backbone("efficientnet-lite0", weights="auto")``.

``weights``: None (random initialisation), "auto" (ImageNet weights where the product can find
them offline: a packaged file, or the torch cache; otherwise random initialisation, said in
``backbone.weights_source``), or a path to a state-dict file. Nothing is ever downloaded.
"""

# ruff: noqa: I001  (import order is registration order)
from __future__ import annotations

# Imports register the builders; their order is the order menus list them in (cheapest first).
from relattr_studio.modeling.backbones import small_cnn as _small_cnn  # noqa: F401
from relattr_studio.modeling.backbones import efficientnet_lite as _efficientnet_lite  # noqa: F401
from relattr_studio.modeling.backbones import torchvision_nets as _torchvision_nets  # noqa: F401
from relattr_studio.modeling.backbones.base import Backbone, Preprocess
from relattr_studio.modeling.backbones.registry import BACKBONES


def build_backbone(name: str, **kwargs) -> Backbone:
    return BACKBONES.build(name, **kwargs)


def backbone_names() -> list[str]:
    return BACKBONES.names()


__all__ = ["BACKBONES", "Backbone", "Preprocess", "backbone_names", "build_backbone"]
