"""DeepSTN: shapes, crop boxes, hooks (parameter groups, STN-first phases), rebuild from config, and
that training moves the crop onto the small region that decides the attribute."""

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


# -- the spatial transformer learns where the attribute is ------------------------------------

PATCH_CENTRE = (16, 16)  # (row, col) in pixels of a 64 x 64 image: 0.35 of its side from the centre
PATCH_JITTER = 3


def _patch_images(n: int, gen: torch.Generator):
    """n flat grey 64 x 64 images, each with a 2 x 2 patch whose brightness is the attribute.

    The patch sits at PATCH_CENTRE +- PATCH_JITTER pixels. The crop ranker samples its crop on a
    16 x 16 grid, so the initial whole-image crop samples every 3.6 pixels and sees a 2-pixel
    patch partly or not at all, depending on where it falls between samples; a crop zoomed onto
    the patch sees all of it. Returns (images normalised like the small CNN's input, strengths,
    patch centres as (x, y) in [0, 1]).
    """
    strength = torch.rand(n, generator=gen)
    centre = torch.tensor(PATCH_CENTRE) + torch.randint(-PATCH_JITTER, PATCH_JITTER + 1, (n, 2), generator=gen)
    img = torch.full((n, 64, 64), 0.5)
    rows = centre[:, :1] + torch.tensor([-1, 0])
    cols = centre[:, 1:] + torch.tensor([-1, 0])
    img[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = strength[:, None, None]
    x = ((img - 0.5) / 0.25)[:, None].expand(n, 3, 64, 64).contiguous()
    return x, strength, centre.flip(1).float() / 64


def _train_through_phases(model: DeepSTNRanker, steps: int, gen: torch.Generator) -> None:
    """The engine's training loop in miniature: its phases, parameter groups (frozen unless the
    phase names them, lr times the phase's multiplier), optimiser and pair loss; all pairs of 32
    fresh images per step."""
    from types import SimpleNamespace

    from relattr_studio.training.phases import phase_steps
    from relattr_studio.training.step import PairLoss, make_optimizer

    config = SimpleNamespace(optimizer="adam", lr=1e-3, backbone_lr_scale=1.0, weight_decay=1e-5)
    phases = training_phases(model, config)
    pair_loss = PairLoss(model)
    i, j = torch.triu_indices(32, 32, 1)
    for phase, length in zip(phases, phase_steps(phases, steps, 1)):
        model.requires_grad_(False)
        groups = []
        for name, params in parameter_groups(model).items():
            if phase.multiplier(name) is not None:
                for p in params:
                    p.requires_grad_(True)
                groups.append({"params": params, "lr": config.lr * phase.multiplier(name), "name": name})
        optimizer = make_optimizer(config, groups)
        model.train()
        for _ in range(length):
            x, strength, _ = _patch_images(32, gen)
            loss, _ = pair_loss(x, i, j, torch.zeros_like(i), (strength[i] > strength[j]).float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def test_crop_moves_onto_the_small_patch_that_decides_the_attribute():
    # Measured: the mean crop centre goes from (0.50, 0.50) to (0.23, 0.18) (patch at (0.25,
    # 0.25)), the crop from 0.90 to 0.35 of the image, held-out accuracy 0.985. With the STN
    # frozen, its translation zeroed, the plain bilinear box gradient or the earlier model the
    # centre stays 0.35 from the patch (accuracy still 0.94-0.97: the accuracy bound alone
    # cannot tell). The outcome depends on the seed: 9 of seeds 0-11 pass these bounds, so a
    # failure after a change of platform or torch version may be a seed, not a regression.
    torch.manual_seed(0)
    model = RANKERS.build("deepstn", attributes=["bright"], backbone="small-cnn",
                          backbone_options={"width": 4, "image_size": 16}, input_size=64)
    x, strength, patch = _patch_images(256, torch.Generator().manual_seed(100))  # held out

    def crops_and_accuracy():
        model.eval()
        with torch.no_grad():
            boxes, scores = model.crop_boxes(x), model(x)[:, 0]
        centre = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], dim=1)
        distance = float((centre - patch).norm(dim=1).mean())
        inside = (boxes[:, :2] <= patch - 1 / 64) & (boxes[:, 2:] >= patch + 1 / 64)
        ordered = strength[:, None] > strength[None, :]
        accuracy = float(((scores[:, None] - scores[None, :])[ordered] > 0).float().mean())
        return distance, float((boxes[:, 2] - boxes[:, 0]).mean()), float(inside.all(dim=1).float().mean()), accuracy

    distance0, width0, _, _ = crops_and_accuracy()
    assert distance0 == pytest.approx(0.35, abs=0.02) and width0 == pytest.approx(0.9)  # centred, whole image

    _train_through_phases(model, 300, torch.Generator().manual_seed(1))

    distance, width, inside, accuracy = crops_and_accuracy()
    assert accuracy > 0.9, accuracy  # held-out pairs; chance is 0.5
    # The crop has moved at least half-way to the patch, zoomed in, and holds the whole patch.
    assert distance < 0.5 * distance0, (distance, distance0)
    assert width < 0.7 and inside > 0.9, (width, inside)
