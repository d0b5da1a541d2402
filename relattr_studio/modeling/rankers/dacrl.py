"""DACRL (deep attentive cross-image representation learning) for relative attributes.

A pair network. With ``[R_i, R_j]`` the two images' maps of one shared trunk (eq. 3)
concatenated along channels (2C channels)::

    W_ij = sigmoid(FC_2(ReLU(FC_1(GAP([R_i, R_j])))))      channel attention, 2C gates
    O_ij = f_M([R_i, R_j] * W_ij)                          cross-image convolution (eq. 4)
    p_ij = sigmoid(FC(ReLU(FC_1024(O_ij))))                prediction: FC 1024 -> 1

and the loss is the cross-entropy of p_ij (clipped to [1e-7, 1 - 1e-7]) against t_ij in
{0, 0.5, 1} (eq. 5). Each pair is also trained in the other order with target 1 - t_ij
(``train_both_orders``), which the paper does to balance the data.

Sizes. The paper (VGG-16 trunk, C = 512) fixes only the prediction FCs (1024 and 1), the
attention layout (GAP + two FC) and the Gaussian init (std 0.01, biases 0.01). The rest is
ours: attention FC 2C -> 2C/16 -> 2C (the squeeze-and-excitation reduction 16), f_M = two
3x3 conv + ReLU, 2C -> H -> H with H = min(C, 512) (``head_channels``), then a 2 x 2 average
pool (so the head does not depend on the input size while keeping a coarse layout),
prediction FC 4H -> 2H (1024 for VGG-16's C = 512, as the paper) -> A. H is capped at VGG-16's
512 because f_M costs 2C x H x 9 multiply-adds per position of every pair: with
EfficientNet-Lite0's C = 1280 and H = C the head held 44 M parameters against the trunk's
3.4 M, and a 64-image toy-faces step took 36 s on a busy CPU core. With one attribute this is
the paper's network; with several, trunk, attention and f_M are shared and the last FC has one
unit per attribute.
"""

from __future__ import annotations

import torch
from torch import nn

from relattr_studio.core.errors import RelAttrError
from relattr_studio.modeling.backbones import Backbone, build_backbone
from relattr_studio.modeling.rankers.base import PairwiseRanker
from relattr_studio.modeling.rankers.dacrl_ordering import antisymmetric_logits, pairwise_scores
from relattr_studio.modeling.rankers.registry import RANKERS

P_CLIP = 1e-7
ATTENTION_REDUCTION = 16
POOL = 2
HEAD_CHANNELS = 512  # f_M's width: VGG-16's C in the paper

__all__ = ["DACRLRanker", "dacrl", "dacrl_loss", "pairwise_scores", "antisymmetric_logits"]


def dacrl_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (eq. 5) of clipped p = sigmoid(logits) against ``target`` (float32)."""
    p = torch.sigmoid(logits.float()).clamp(P_CLIP, 1.0 - P_CLIP)
    t = target.float()
    return -(t * torch.log(p) + (1.0 - t) * torch.log1p(-p)).mean()


class DACRLRanker(PairwiseRanker):
    """Shared trunk, channel-attentive cross-image convolution, FC -> logit of P(i > j)."""

    registry_name = "dacrl"
    train_both_orders = True

    def __init__(self, *, attributes: list[str], backbone: Backbone, backbone_name: str,
                 backbone_options: dict | None = None, attention: bool = True, head_channels: int | None = None):
        super().__init__()
        if not attributes:
            raise RelAttrError("DACRL needs at least one attribute")
        self.attributes = list(attributes)
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.backbone_options = dict(backbone_options or {})
        self.preprocess = backbone.preprocess
        self.use_attention = bool(attention)  # False: the paper's "Ours-without-attention"
        c = backbone.out_channels
        h = self.head_channels = int(head_channels or min(c, HEAD_CHANNELS))
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * c, max(1, 2 * c // ATTENTION_REDUCTION)), nn.ReLU(inplace=True),
            nn.Linear(max(1, 2 * c // ATTENTION_REDUCTION), 2 * c), nn.Sigmoid(),
        )
        self.cross_conv = nn.Sequential(
            nn.Conv2d(2 * c, h, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h, h, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(POOL), nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(h * POOL * POOL, 2 * h), nn.ReLU(inplace=True),
            nn.Linear(2 * h, len(self.attributes)),
        )
        for module in (self.attention, self.cross_conv, self.head):
            for layer in module.modules():
                if isinstance(layer, (nn.Linear, nn.Conv2d)):
                    nn.init.normal_(layer.weight, std=0.01)
                    nn.init.constant_(layer.bias, 0.01)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image maps of the shared trunk, N x C x h x w (compute once per image)."""
        return self.backbone.forward_features(x)

    def channel_attention(self, fi: torch.Tensor, fj: torch.Tensor) -> torch.Tensor:
        """N x 2C gates W_ij in (0, 1): channels 0..C-1 weigh image i's maps, C..2C-1 image j's."""
        return self.attention(torch.cat([fi, fj], dim=1))

    def compare(self, fi: torch.Tensor, fj: torch.Tensor) -> torch.Tensor:
        """N x A logits of P(i > j) from two batches of trunk maps."""
        pair = torch.cat([fi, fj], dim=1)
        if self.use_attention:
            pair = pair * self.attention(pair)[:, :, None, None]
        return self.head(self.cross_conv(pair))

    def forward(self, xi: torch.Tensor, xj: torch.Tensor) -> torch.Tensor:
        return self.compare(self.embed(xi), self.embed(xj))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dacrl_loss(logits, target)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """"backbone" (the shared trunk; the engine scales its lr by backbone_lr_scale, the
        paper's 5e-5 vs 5e-4) and the new layers."""
        return {"backbone": list(self.backbone.parameters()), "attention": list(self.attention.parameters()),
                "cross_conv": list(self.cross_conv.parameters()), "head": list(self.head.parameters())}

    param_groups = parameter_groups

    def pairwise_scores(self, feats: torch.Tensor, reference: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        return pairwise_scores(self, feats, reference, **kwargs)

    def config(self) -> dict:
        return {"attributes": list(self.attributes), "backbone": self.backbone_name,
                "backbone_options": dict(self.backbone_options), "attention": self.use_attention,
                "head_channels": self.head_channels}


@RANKERS.register("dacrl", "DACRL: pair network with channel-attentive cross-image convolution")
def dacrl(*, attributes: list[str], backbone: str = "small-cnn", weights=None,
          backbone_options: dict | None = None, attention: bool = True,
          head_channels: int | None = None) -> DACRLRanker:
    """Build DACRL on a shared trunk given by registry name (``weights``: None, "auto" or a file)."""
    options = dict(backbone_options or {})
    trunk = build_backbone(backbone, weights=weights, **options)
    return DACRLRanker(attributes=attributes, backbone=trunk, backbone_name=backbone,
                       backbone_options=options, attention=attention, head_channels=head_channels)
