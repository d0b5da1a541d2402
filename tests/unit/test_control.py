"""ATTIC's control module: its shape, its scaling to the strengths, its file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.modeling.control import ControlModule, load_control, save_control
from relattr_studio.modeling.model_file import describe_model_file, load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATTRS = ["bald", "smiling", "young"]


def _module(**kw) -> ControlModule:
    torch.manual_seed(0)
    return ControlModule(ATTRS, z_dim=4, y_mean=[0.2, 0.5, 0.8], y_std=[0.1, 0.2, 0.05], **kw)


def test_q_is_twice_z_and_its_halves_are_the_two_latents():
    m = _module(targets=["smiling"])
    assert m.q_dim == 8 and m.targets == ["smiling"]
    q = m.sample_q(64, torch.Generator().manual_seed(1))
    y_a, z_a, y_b, z_b = m(q)
    assert y_a.shape == y_b.shape == (64, 3) and z_a.shape == z_b.shape == (64, 4)
    assert torch.equal(z_a, q[:, :4]) and torch.equal(z_b, q[:, 4:])  # not learned: the prior p(z)
    assert not torch.allclose(y_a, y_b)  # two branches of their own after the shared layer
    # BatchNorm then scaling: in training mode each output has the strengths' mean and spread
    np.testing.assert_allclose(y_a.mean(0).detach().numpy(), [0.2, 0.5, 0.8], atol=1e-5)
    np.testing.assert_allclose(y_a.std(0, unbiased=False).detach().numpy(), [0.1, 0.2, 0.05], rtol=1e-3)


def test_the_layers_follow_the_authors_sizes_with_he_initialisation():
    m = _module()
    linear = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert [tuple(mod.weight.shape) for mod in linear] == [(512, 8), (256, 512), (3, 256), (256, 512), (3, 256)]
    w = m.branches[0][0].weight.detach()
    assert abs(float(w.std()) - (2 / 512) ** 0.5) < 0.01 and float(m.branches[0][0].bias.detach().abs().max()) == 0.0


def test_bad_settings_are_refused():
    with pytest.raises(RelAttrError, match="target attribute"):
        _module(targets=["tall"])
    with pytest.raises(RelAttrError, match="one value per attribute"):
        ControlModule(ATTRS, z_dim=4, y_mean=[0.0], y_std=[1.0])
    with pytest.raises(RelAttrError, match="q must be"):
        _module()(torch.zeros(2, 5))


def test_a_generator_without_z_gets_a_seed_of_its_own():
    m = ControlModule(ATTRS, z_dim=0, y_mean=[0, 0, 0], y_std=[1, 1, 1])
    y_a, z_a, _, _ = m(m.sample_q(4))
    assert m.q_dim == 6 and z_a.shape == (4, 0) and y_a.shape == (4, 3)


def test_the_file_rebuilds_the_same_module_and_imagines_the_same_pairs(tmp_path):
    m = _module(targets=["young"], generator_id="abc123")
    m(m.sample_q(32))  # BatchNorm's running statistics move
    path = save_control(tmp_path / "c.pt", m, card={"rounds": 2})
    back = load_control(path)
    assert back.config() == m.config() and back.targets == ["young"]
    a, b = m.imagine(16, seed=3), back.imagine(16, seed=3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    model, info = load_model(path)
    assert isinstance(model, ControlModule) and info.kind == "control"
    described = describe_model_file(info)
    assert "young" in str(described) and "abc123" in str(described)
    with pytest.raises(DataFileError, match="control"):
        from relattr_studio.modeling.generator import load_generator

        load_generator(path)
