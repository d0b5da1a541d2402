"""RankNet: the clipped loss with ties, heads, and a config that rebuilds the model."""

import math

import torch

from relattr_studio.core.types import PairLabel
from relattr_studio.modeling.rankers.ranknet import RankNetRanker, ranknet, ranknet_loss
from relattr_studio.modeling.rankers.registry import RANKERS

TINY = {"width": 4, "image_size": 16}


def test_loss_targets_and_ties():
    zero = torch.zeros(1)
    assert math.isclose(float(ranknet_loss(zero, zero, torch.tensor([0.5]))), math.log(2), rel_tol=1e-6)
    assert float(ranknet_loss(torch.tensor([20.0]), zero, torch.tensor([PairLabel.A_MORE.ranknet_target]))) < 1e-6
    assert float(ranknet_loss(torch.tensor([20.0]), zero, torch.tensor([PairLabel.B_MORE.ranknet_target]))) > 15


def test_loss_is_clipped_and_finite():
    big = ranknet_loss(torch.tensor([1e4]), torch.tensor([0.0]), torch.tensor([0.0]))
    assert math.isfinite(float(big))
    assert math.isclose(float(big), -math.log(1e-7), rel_tol=0.02)  # float32: 1 - 1e-7 rounds to 1 - 1.2e-7


def test_heads_and_registry_config_rebuilds():
    m = ranknet(attributes=["a", "b", "c"], backbone_options=TINY)
    assert isinstance(m, RankNetRanker) and m.kind == "pointwise"
    x = torch.randn(5, 3, 16, 16)
    assert m(x).shape == (5, 3)
    again = RANKERS.build("ranknet", **m.config())
    again.load_state_dict(m.state_dict())
    m.eval(), again.eval()
    assert torch.equal(m(x), again(x))
    assert set(m.parameter_groups()) == {"backbone", "head"}
