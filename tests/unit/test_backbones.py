"""Backbones: documented shapes for every registered one, channels_last, and weights files.

VGG / ResNet ImageNet weights are not on test machines, so their loading is proven with
randomly initialised torchvision state dicts saved to a temporary file; nothing is downloaded.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from torchvision import models as tvm

from relattr_studio.core.errors import RelAttrError
from relattr_studio.modeling.backbones import (
    BACKBONES,
    Backbone,
    backbone_names,
    build_backbone,
)

# name -> (builder kwargs, maps at the default size: C, h, w)
DOCUMENTED = {
    "small-cnn": ({}, (256, 8, 8)),
    "efficientnet-lite0": ({"weights": None}, (1280, 7, 7)),
    "resnet18": ({}, (512, 7, 7)),
    "resnet50": ({}, (2048, 7, 7)),
    "vgg16": ({}, (512, 7, 7)),
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _refuse_download(*args, **kwargs):
    raise AssertionError(f"a backbone tried to download: {args}")


@pytest.fixture(autouse=True)
def _no_download(monkeypatch, tmp_path):
    """An empty torch cache, and any attempt to download fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _refuse_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _refuse_download)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each backbone built once per module (VGG16's random init alone takes seconds).

    The torchvision ones are asked for weights="auto" with an empty torch cache, so they are
    the random-init fallback; EfficientNet-Lite0 is asked for weights=None.
    """
    cache: dict[str, Backbone] = {}

    def get(name: str) -> Backbone:
        if name not in cache:
            kwargs = DOCUMENTED[name][0] or ({"weights": "auto"} if name != "small-cnn" else {})
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("empty-torch-home")))
                mp.setattr(torch.hub, "load_state_dict_from_url", _refuse_download)
                cache[name] = build_backbone(name, **kwargs).eval()
        return cache[name]

    return get


def test_registry_lists_every_backbone():
    assert set(backbone_names()) == set(DOCUMENTED)
    assert all(entry.summary for entry in BACKBONES.entries())


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_shapes(name, built):
    c, h, w = DOCUMENTED[name][1]
    net = built(name)
    assert isinstance(net, Backbone) and net.out_channels == c
    size = net.preprocess.size
    images = torch.randint(0, 256, (1, size + 13, size - 7, 3), dtype=torch.uint8)  # any size in
    x = net.preprocess(images)
    assert x.shape == (1, 3, size, size)
    with torch.no_grad():
        maps, pooled = net.forward_features(x), net(x)
    assert maps.shape == (1, c, h, w)
    assert pooled.shape == (1, c)
    torch.testing.assert_close(pooled, maps.mean(dim=(2, 3)))
    assert net.weights_source.startswith("random initialisation")


@pytest.mark.parametrize("name", ["efficientnet-lite0", "resnet18"])
def test_image_size_sets_preprocess_and_maps(name):
    kwargs = dict(DOCUMENTED[name][0], image_size=128)
    net = build_backbone(name, **kwargs).eval()
    assert net.preprocess.size == 128
    with torch.no_grad():
        maps = net.forward_features(torch.randn(1, 3, 128, 128))
    assert maps.shape == (1, net.out_channels, 4, 4)


def test_preprocessing_travels_with_the_backbone(built):
    for name in ("resnet18", "resnet50", "vgg16"):
        p = built(name).preprocess
        assert (p.size, p.mean, p.std) == (224, IMAGENET_MEAN, IMAGENET_STD)
    p = built("efficientnet-lite0").preprocess
    assert (p.size, p.mean, p.std) == (224, (0.5,) * 3, (0.5,) * 3)
    x = p(torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8))  # scaled to [-1, 1]
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_channels_last(name, built):
    net = built(name)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
        out = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_backbones_train_one_step():
    net = build_backbone("efficientnet-lite0", weights=None).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = net._conv_stem.weight.detach().clone()
    net(torch.randn(2, 3, 64, 64)).square().mean().backward()
    opt.step()
    assert not torch.equal(before, net._conv_stem.weight)


# --- weights: "auto", a path, and files that are refused -------------------------------------

def test_auto_without_cached_weights_is_random_init_said_plainly(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        net = build_backbone("resnet18", weights="auto")
    assert net.weights_source.startswith("random initialisation: no ImageNet weights for resnet18")
    assert "resnet18-f37072fd.pth" in net.weights_source
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "random initialisation" in warnings[0].getMessage()
    assert "nothing is downloaded" in warnings[0].getMessage()


@pytest.mark.parametrize("name, make, file_name", [
    ("resnet18", tvm.resnet18, "resnet18-f37072fd.pth"),
    ("resnet50", tvm.resnet50, "resnet50-0676ba61.pth"),
])
def test_auto_finds_the_torch_hub_cache_file(name, make, file_name, tmp_path):
    checkpoints = tmp_path / "torch-home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    state = make().state_dict()
    torch.save(state, checkpoints / file_name)
    net = build_backbone(name, weights="auto")
    assert net.weights_source == f"ImageNet weights from {checkpoints / file_name}"
    _assert_trunk_equals(net, state)


def test_vgg16_auto_looks_for_torchvisions_file_name(built):
    net = built("vgg16")
    assert "vgg16-397923af.pth" in net.weights_source
    assert net.weights_source.startswith("random initialisation")


def _assert_trunk_equals(net, state):
    mine = net.state_dict()
    assert mine, "empty backbone"
    assert not any(k.startswith(("fc.", "classifier.", "_fc.")) for k in mine)  # head dropped
    for key, value in mine.items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("name, make", [("resnet18", tvm.resnet18), ("resnet50", tvm.resnet50)])
def test_weights_from_a_file_load_strictly(name, make, tmp_path):
    state = make().state_dict()
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    net = build_backbone(name, weights=str(path))
    assert net.weights_source == f"ImageNet weights from {path}"
    _assert_trunk_equals(net, state)
    tensors = [*net.parameters(), *net.buffers()]
    assert all(t.device.type == "cpu" for t in tensors)  # nothing left on the meta device
    assert all(p.requires_grad and p.is_leaf for p in net.parameters())
    fresh = build_backbone(name)  # and they are not what random init gives
    assert not torch.equal(fresh.conv1.weight, net.conv1.weight)


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(tvm.resnet18().state_dict(), path)
    return path


@pytest.mark.parametrize("name", ["resnet50", "vgg16", "efficientnet-lite0"])
def test_a_file_for_another_architecture_is_refused(name, resnet18_file):
    with pytest.raises(RelAttrError) as err:
        build_backbone(name, weights=resnet18_file)
    message = str(err.value)
    assert str(resnet18_file) in message
    assert f"these are not {name} weights" in message
    assert "missing" in message


def test_a_file_with_a_missing_key_is_refused(tmp_path):
    state = tvm.resnet18().state_dict()
    del state["layer4.1.bn2.running_var"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(RelAttrError, match=r"1 missing \(e.g. layer4.1.bn2.running_var\)"):
        build_backbone("resnet18", weights=tmp_path / "cut.pth")


class _NeedsCode:
    pass


@pytest.mark.parametrize("payload", [torch.nn.Linear(2, 2), {"weight": _NeedsCode()}])
def test_a_pickle_that_needs_code_is_refused(payload, tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save(payload, path)
    with pytest.raises(RelAttrError) as err:
        build_backbone("resnet18", weights=path)
    assert str(path) in str(err.value)
    assert "needs code to load" in str(err.value)


@pytest.mark.parametrize("content, problem", [
    (b"", "not a PyTorch state-dict file"),
    (b"garbage", "not a PyTorch state-dict file"),
    (None, "weights file not found"),
])
def test_unreadable_files_are_refused(content, problem, tmp_path):
    path = tmp_path / "weights.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RelAttrError, match=problem) as err:
        build_backbone("resnet18", weights=path)
    assert str(path) in str(err.value)


def test_a_tensor_is_not_a_state_dict(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "t.pth")
    with pytest.raises(RelAttrError, match="holds a Tensor, not a state dict"):
        build_backbone("vgg16", weights=tmp_path / "t.pth")


def test_small_cnn_has_no_pretrained_weights(tmp_path):
    # "auto" means "pretrained where the backbone has weights": none here, so random init
    assert build_backbone("small-cnn", weights="auto").weights_source.startswith("random")
    with pytest.raises(RelAttrError):  # but a weights file for it is refused
        build_backbone("small-cnn", weights=str(tmp_path / "w.pt"))


def test_small_cnn_strided_stem_sees_twice_the_side_at_the_cost_of_one():
    """stem_stride 2: a 48 px image gives the maps a 24 px one gives without it, through the same
    parameters (only the first convolution's stride differs), and a model file rebuilds it."""
    from relattr_studio.modeling.rankers import RANKERS

    plain = build_backbone("small-cnn", width=8, image_size=24)
    strided = build_backbone("small-cnn", width=8, image_size=48, stem_stride=2)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in strided.state_dict().items()}
    assert strided.features[0][0].stride == (2, 2) and plain.features[0][0].stride == (1, 1)
    with torch.no_grad():
        assert strided.forward_features(torch.zeros(2, 3, 48, 48)).shape == \
            plain.forward_features(torch.zeros(2, 3, 24, 24)).shape == (2, 64, 3, 3)
    model = RANKERS.build("ranknet", attributes=["a"], backbone="small-cnn",
                          backbone_options={"width": 8, "image_size": 48, "stem_stride": 2})
    twin = RANKERS.build("ranknet", **model.config())
    assert twin.backbone.features[0][0].stride == (2, 2) and twin.preprocess.size == 48
    with pytest.raises(ValueError, match="stem_stride must be 1 or 2"):
        build_backbone("small-cnn", stem_stride=3)


def test_efficientnet_drop_path_acts_in_training_only():
    from relattr_studio.modeling.backbones import build_backbone

    torch.manual_seed(0)
    plain = build_backbone("efficientnet-lite0", weights=None, image_size=64)
    dropping = build_backbone("efficientnet-lite0", weights=None, image_size=64, drop_path=0.5)
    dropping.load_state_dict(plain.state_dict())
    rates = [b.drop_rate for b in dropping._blocks]
    assert rates[0] == 0.0 and rates == sorted(rates) and 0.45 < rates[-1] < 0.5  # rises with depth
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(plain.eval()(x), dropping.eval()(x))  # nothing at test time
        plain.train(), dropping.train()
        assert not torch.allclose(plain(x), dropping(x))
    from relattr_studio.core.errors import RelAttrError

    with pytest.raises(RelAttrError, match="drop_path"):  # a message in the CLI, not a traceback
        build_backbone("efficientnet-lite0", weights=None, drop_path=1.0)
