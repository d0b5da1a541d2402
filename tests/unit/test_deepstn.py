"""DeepSTN: shapes, crop boxes, hooks (parameter groups, STN-first phases), rebuild from config."""

from __future__ import annotations

import pytest
import torch

from relattr_studio.modeling.rankers import RANKERS
from relattr_studio.modeling.rankers.deepstn import DeepSTNRanker
from relattr_studio.training.phases import Phase, parameter_groups, training_phases


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(**kw) -> DeepSTNRanker:
    torch.manual_seed(0)
    return RANKERS.build("deepstn", attributes=["smile", "open"], backbone="small-cnn",
                         backbone_options={"width": 8}, **kw)


def test_shapes_and_identity_ish_crop_at_init_64px():
    m = _model()
    x = torch.randn(5, 3, 64, 64)
    assert m(x).shape == (5, 2)
    assert m.crops(x).shape == (5, 3, 64, 64)
    boxes = m.crop_boxes(x)
    assert boxes.shape == (5, 4)
    assert bool(((boxes >= 0) & (boxes <= 1)).all())
    # Every image starts with the same centred crop of init_scale (0.9) of each side.
    expected = torch.tensor([0.05, 0.05, 0.95, 0.95]).expand(5, 4)
    assert torch.allclose(boxes, expected, atol=1e-5)
    assert m.kind == "pointwise" and m.preprocess.size == 64


def test_boxes_stay_in_unit_square_for_extreme_localisation_outputs():
    m = _model()
    with torch.no_grad():
        m.stn.regress.bias.copy_(torch.tensor([-50.0, 50.0, -50.0]))
    boxes = m.crop_boxes(torch.randn(2, 3, 64, 64))
    assert bool(((boxes >= 0) & (boxes <= 1)).all())
    assert bool((boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all())


def test_gradients_reach_every_parameter_group():
    m = _model()
    # Round 2 (joint): the global channel is live; every group must get a gradient.
    with torch.no_grad():  # the global head starts at zero; as after one joint-round step
        m.global_head.weight.normal_(std=0.01)
    x = torch.randn(4, 3, 64, 64)
    s = m(x)
    m.loss(s[:2], s[2:], torch.tensor([[1.0, 0.0], [0.5, 1.0]])).backward()
    for name, params in m.parameter_groups().items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), name


def test_stn_first_phases_and_global_channel_absent_in_round_one():
    m = _model()
    phases = training_phases(m, {"backbone_lr_scale": 0.1})
    assert [p.name for p in phases] == ["stn-first", "joint"] and all(isinstance(p, Phase) for p in phases)
    first, joint = phases
    assert first.multiplier("global_backbone") is None and first.multiplier("global_head") is None
    assert first.multiplier("stn") is not None and first.multiplier("crop_backbone") == pytest.approx(0.1)
    assert all(joint.multiplier(g) is not None for g in parameter_groups(m))
    # Round 1 as the engine runs it: frozen global groups -> the global backbone is not even
    # run, and the score is the crop channel's alone.
    for g in ("global_backbone", "global_head"):
        for p in m.parameter_groups()[g]:
            p.requires_grad_(False)
    calls = []
    hook = m.global_backbone.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(m(x), m.head(m.crop_backbone(m.crops(x))))
    assert not calls
    hook.remove()


def test_config_rebuilds_identical_model():
    m = _model(input_size=64, loc_size=32)
    twin = RANKERS.build("deepstn", **m.config())
    twin.load_state_dict(m.state_dict(), strict=True)
    m.eval(), twin.eval()
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(m(x), twin(x)) and torch.equal(m.crop_boxes(x), twin.crop_boxes(x))


def test_higher_input_resolution_than_backbone():
    torch.manual_seed(0)
    m = RANKERS.build("deepstn", attributes=["a"], backbone="small-cnn",
                      backbone_options={"width": 4, "image_size": 32}, input_size=64)
    assert m.preprocess.size == 64
    x = torch.randn(2, 3, 64, 64)
    assert m.crops(x).shape == (2, 3, 32, 32)
    with torch.no_grad():
        m.global_head.weight.fill_(0.1)
    assert m(x).shape == (2, 1)
