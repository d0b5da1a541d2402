"""RankNet for relative attributes (Souri, Noury & Adeli, "Deep Relative Attributes").

A CNN backbone and a ranking layer of one linear unit per attribute: r_A(x) = w_A . phi(x) + b_A.
For a pair (i, j) with target t (1: i more, 0: j more, 0.5: equal), the loss is the binary
cross-entropy of p = sigmoid(r_i - r_j), p clipped to [1e-7, 1 - 1e-7] as the paper does.

The paper trains one model per attribute (``attributes=[name]``); a multi-head model shares
one backbone across attributes (``attributes=[a1, a2, ...]``), which is faster to train.
"""

from __future__ import annotations

import torch
from torch import nn

from relattr_studio.core.errors import RelAttrError
from relattr_studio.modeling.backbones import Backbone, build_backbone
from relattr_studio.modeling.rankers.base import PointwiseRanker
from relattr_studio.modeling.rankers.registry import RANKERS

P_CLIP = 1e-7

def ranknet_loss(score_i: torch.Tensor, score_j: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of clipped p = sigmoid(score_i - score_j) against ``target``.

    Computed in float32 whatever the autocast dtype: the clip at 1e-7 is below bf16/fp16
    resolution near 1.
    """
    p = torch.sigmoid(score_i.float() - score_j.float()).clamp(P_CLIP, 1.0 - P_CLIP)
    t = target.float()
    return -(t * torch.log(p) + (1.0 - t) * torch.log1p(-p)).mean()


class RankNetRanker(PointwiseRanker):
    """Backbone + one linear rank unit per attribute; ``forward(x) -> N x A`` rank scores."""

    registry_name = "ranknet"

    def __init__(self, *, attributes: list[str], backbone: Backbone, backbone_name: str,
                 backbone_options: dict | None = None, dropout: float = 0.0):
        super().__init__()
        if not attributes:
            raise RelAttrError("RankNet needs at least one attribute")
        self.attributes = list(attributes)
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.backbone_options = dict(backbone_options or {})
        self.preprocess = backbone.preprocess
        if not 0.0 <= dropout < 1.0:
            raise RelAttrError(f"RankNet dropout must lie in [0, 1), not {dropout}")
        self.dropout = float(dropout)
        self.drop = nn.Dropout(self.dropout)  # on the features in training; nothing at test
        self.head = nn.Linear(backbone.out_channels, len(self.attributes))
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.backbone(x)))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"backbone": list(self.backbone.parameters()), "head": list(self.head.parameters())}

    def loss(self, score_i: torch.Tensor, score_j: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ranknet_loss(score_i, score_j, target)

    def config(self) -> dict:
        config = {"attributes": list(self.attributes), "backbone": self.backbone_name,
                  "backbone_options": dict(self.backbone_options)}
        if self.dropout:  # only when used: files without it stay readable by earlier versions
            config["dropout"] = self.dropout
        return config


@RANKERS.register("ranknet", "RankNet: CNN backbone + one linear rank unit per attribute (Souri et al.)")
def ranknet(*, attributes: list[str], backbone: str | Backbone = "small-cnn", weights=None,
            backbone_options: dict | None = None, backbone_name: str | None = None,
            dropout: float = 0.0) -> RankNetRanker:
    """Build RankNet on a backbone given by registry name (with ``weights``: None, "auto" or a
    file) or as a built module (then ``backbone_name`` names it for checkpoints)."""
    options = dict(backbone_options or {})
    if isinstance(backbone, str):
        name, module = backbone, build_backbone(backbone, weights=weights, **options)
    else:
        if backbone_name is None:
            raise RelAttrError("RankNet on a built backbone needs backbone_name for its checkpoints")
        name, module = backbone_name, backbone
    return RankNetRanker(attributes=attributes, backbone=module, backbone_name=name, backbone_options=options,
                         dropout=dropout)
