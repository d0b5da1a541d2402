"""The attribute-conditioned generator (CVAE): shapes, determinism, statistics, model files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.modeling.generator import (
    AttributeGenerator,
    load_generator,
    load_generator_with_info,
    read_generator,
    save_generator,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATTRS = ["bald", "smiling", "young"]


def tiny(**kw) -> AttributeGenerator:
    torch.manual_seed(0)
    return AttributeGenerator(ATTRS, **{"z_dim": 4, "image_size": 32, "width": 4, "hidden": 16, **kw})


def strengths(n=50, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, size=(n, 3))
    s[:, 1] = 0.5 * s[:, 0] + 0.5 * s[:, 1]  # correlated, as real attributes are
    return s


def test_decode_and_generate_shapes_range_and_determinism():
    g = tiny()
    y, z = np.full((5, 3), 0.5), np.random.default_rng(1).standard_normal((5, 4))
    x = g.decode(torch.as_tensor(y, dtype=torch.float32), torch.as_tensor(z, dtype=torch.float32))
    x = x.detach()
    assert x.shape == (5, 3, 32, 32) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    images = g.generate(y, z)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, g.generate(y, z))
    expected = np.round(x.detach().permute(0, 2, 3, 1).numpy() * 255)
    assert np.abs(images.astype(int) - expected).max() <= 1
    assert not np.array_equal(images[0], g.generate(y[:1], z[1:2])[0])  # z matters
    assert g.training  # generate leaves the training flag as it found it


@pytest.mark.parametrize("size", [16, 64])
def test_other_image_sizes(size):
    g = tiny(image_size=size)
    assert g.generate(np.zeros((2, 3)), np.zeros((2, 4))).shape == (2, size, size, 3)
    x_hat, mu, logvar = g(torch.rand(2, 3, size, size), torch.zeros(2, 3))
    assert x_hat.shape == (2, 3, size, size) and mu.shape == logvar.shape == (2, 4)


def test_bad_sizes_and_shapes_are_refused():
    with pytest.raises(RelAttrError, match="image_size"):
        tiny(image_size=48)
    with pytest.raises(RelAttrError, match="at least one attribute"):
        AttributeGenerator([])
    g = tiny()
    with pytest.raises(RelAttrError, match="y must be n x 3"):
        g.decode(torch.zeros(2, 2), torch.zeros(2, 4))
    with pytest.raises(RelAttrError, match="z must be 2 x 4"):
        g.decode(torch.zeros(2, 3), torch.zeros(2, 5))


def test_strength_statistics_are_the_identity_prior_and_normalise_y():
    from relattr_studio.analysis.semantic_jitter import IdentityPrior

    s = strengths()
    g = tiny()
    g.set_strength_statistics(s)
    assert np.allclose(g.prior_mean, s.mean(axis=0)) and np.allclose(g.prior_cov, np.cov(s, rowvar=False))
    assert isinstance(g.prior_mean, np.ndarray) and g.prior_cov.shape == (3, 3)
    y = torch.as_tensor(s, dtype=torch.float32)
    assert torch.allclose(g.normalise(y).mean(0), torch.zeros(3), atol=1e-5)
    prior = IdentityPrior.of_generator(g)
    assert prior.attributes == tuple(ATTRS) and prior.z_dim == 4
    with pytest.raises(RelAttrError, match="smiling"):
        g.set_strength_statistics(np.c_[s[:, 0], np.ones(50), s[:, 2]])


def test_decode_is_differentiable_in_y_and_z():
    g = tiny().eval()
    y = torch.full((2, 3), 0.5, requires_grad=True)
    z = torch.zeros(2, 4, requires_grad=True)
    g.decode(y, z).mean().backward()
    assert y.grad is not None and z.grad is not None and float(y.grad.abs().sum()) > 0


def test_save_and_rebuild_from_the_file_alone(tmp_path):
    g = tiny()
    g.set_strength_statistics(strengths())
    path = save_generator(tmp_path / "g.pt", g, card={"command": "relattr generator train ..."},
                          dataset={"name": "toy"}, metrics={"recon_mse": 0.01})
    loaded, info = load_generator_with_info(path)
    assert not loaded.training and loaded.attributes == ATTRS and loaded.z_dim == 4 and loaded.image_size == 32
    y, z = strengths(4, seed=3), np.random.default_rng(2).standard_normal((4, 4))
    assert np.array_equal(loaded.generate(y, z), g.generate(y, z))
    assert np.allclose(loaded.prior_cov, g.prior_cov) and np.allclose(loaded.prior_mean, g.prior_mean)
    assert info.generator_id == g.generator_id == loaded.generator_id and len(info.generator_id) == 16
    assert info.card["command"].startswith("relattr") and info.metrics["recon_mse"] == 0.01
    assert info.attributes == ATTRS and info.dataset["name"] == "toy"
    other = tiny()
    other.set_strength_statistics(strengths(seed=5))
    assert other.generator_id != g.generator_id  # the statistics are part of what the id names


class Evil:  # any class: unpickling it would run code
    pass


def test_the_id_follows_the_weights():
    g = tiny().eval()
    first = g.generator_id
    assert g.generator_id == first  # kept in eval mode
    g.train()
    with torch.no_grad():
        g.generative.blocks[0][0].bias.add_(1.0)
    assert g.eval().generator_id != first
    g.load_state_dict(tiny().state_dict())
    assert g.generator_id == first


def test_a_file_that_needs_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    g = tiny()
    torch.save({"format": "relattr-generator", "format_version": 1, "config": g.config(), "thing": Evil()}, path)
    with pytest.raises(DataFileError, match="pickle"):
        load_generator(path)


def test_wrong_kind_and_damaged_files_are_refused(tmp_path):
    torch.save({"format": "relattr-checkpoint", "format_version": 1}, tmp_path / "ranker.pt")
    with pytest.raises(DataFileError, match="relattr-checkpoint"):
        load_generator(tmp_path / "ranker.pt")
    with pytest.raises(DataFileError, match="no such generator"):
        load_generator(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(DataFileError, match="junk.pt"):
        load_generator(tmp_path / "junk.pt")
    payload = read_generator(save_generator(tmp_path / "g.pt", tiny()))
    payload["config"]["width"] = 8  # weights of width 4 under a config of width 8
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(DataFileError, match="do not fit"):
        load_generator(tmp_path / "mixed.pt")
    del payload["config"]["z_dim"]
    torch.save(payload, tmp_path / "noconfig.pt")
    with pytest.raises(DataFileError, match="config"):
        load_generator(tmp_path / "noconfig.pt")


def test_inference_uses_the_subpixel_form_of_the_last_layer_with_the_same_images():
    from relattr_studio.modeling.generator_nets import subpixel_conv

    torch.manual_seed(0)
    for c_in, c_out in ((32, 3), (8, 5)):
        ct = torch.nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        x = torch.randn(2, c_in, 7, 9)
        assert torch.allclose(subpixel_conv(ct)(x), ct(x), atol=1e-5)
    with pytest.raises(ValueError):
        subpixel_conv(torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1))
    g = tiny(width=8).eval()
    y, z = torch.randn(5, len(ATTRS)), torch.randn(5, 4)
    with torch.no_grad():
        fast = g.generative(y, z)
    slow = g.generative(y, z)  # with autograd on: the transposed convolution itself
    assert slow.requires_grad and torch.allclose(fast, slow.detach(), atol=1e-6)
    last = g.generative.blocks[-1][0]
    with torch.no_grad():
        last.weight.mul_(2.0)  # new weights: the cached form must follow them
        assert torch.allclose(g.generative(y, z), torch.sigmoid(g.generative.blocks(
            g.generative.mix(torch.cat([g.generative.y_net(y), g.generative.z_net(z)], 1)).view(5, -1, 4, 4))),
            atol=1e-6)
