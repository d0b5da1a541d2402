"""The attribute oracle: a small CNN that reads attribute strengths off an image, generated ones included.

It regresses one strength per attribute on the training dataset's scale (for the procedural
datasets [0, 1]), trained with MSE on their exact ground truth. The simulated annotator asks it
for the strengths of generated images, and the faithfulness measure compares them with the y a
generator was asked for.

Legibility ("an image it cannot read"): the squared Mahalanobis distance of the image's
last-stage features to the Gaussian of the features of real held-out images, and a threshold
at a high quantile of those real images' distances (stored in the file with the quantile). An
image beyond it is far from anything the oracle was trained to read, so its strengths are not
to be trusted and a simulated person discards a pair showing it. The features are the last
conv stage averaged over the four quadrants of the image (4 x 8w values; their mean is the
penultimate layer the strengths are read from): the global average alone is blind to layout,
and let block-scrambled faces or a shoe given to the face oracle pass as readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.registry import Registry
from relattr_studio.modeling.model_file import (
    ModelFile,
    ModelKind,
    model_file_payload,
    read_model_file,
    register_kind,
    save_model_file,
)

ORACLES: Registry = Registry("oracle")
_MEAN, _STD = 0.5, 0.25  # pixel normalisation, as the small CNN backbone uses


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class OracleNet(nn.Module):
    """Four conv stages (w, 2w, 4w, 8w channels; 64 -> 8 px), global average, FC 8w -> A.

    ``legibility_features`` (the last stage pooled to 2 x 2, 4 x 8w values) are what the
    legibility score is measured on. Outputs are standardised strengths (the oracle undoes the
    scaling).
    """

    def __init__(self, n_attributes: int, *, width: int = 16):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers.append(_block(chans[i], chans[i + 1]))
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], n_attributes)
        self.feature_dim = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x).mean(dim=(2, 3)))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(standardised strengths, legibility features) of one pass."""
        maps = self.trunk(x)
        return self.head(maps.mean(dim=(2, 3))), nn.functional.adaptive_avg_pool2d(maps, 2).flatten(1)


@ORACLES.register("oracle-cnn", "four conv stages, global average, one linear output per attribute")
def oracle_cnn(*, attributes: Sequence[str], width: int = 16, image_size: int = 64) -> OracleNet:
    """An untrained :class:`OracleNet` for ``attributes`` (``image_size`` is the input the
    oracle resizes images to; the net itself takes any size)."""
    del image_size  # the oracle (AttributeOracle) resizes to it; the conv net is size-free
    return OracleNet(len(attributes), width=width)


def to_input(images: np.ndarray | torch.Tensor, size: int = 64) -> torch.Tensor:
    """uint8 n x H x W x 3 -> float n x 3 x size x size in [0, 1] (resized when H, W differ)."""
    x = torch.as_tensor(np.ascontiguousarray(images)) if not isinstance(images, torch.Tensor) else images
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (size, size):
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def normalise(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels -> the network's input scale."""
    return (x - _MEAN) / _STD


def check_images(images, what: str = "images") -> np.ndarray:
    """The oracle's input: a uint8 n x H x W x 3 array, or a message saying what it got instead."""
    arr = np.asarray(images)
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise RelAttrError(f"the attribute oracle reads uint8 RGB images (n x H x W x 3); {what} are "
                           f"{arr.dtype} of shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class FeatureGaussian:
    """N(mean, cov) of legibility features; ``distance`` is the squared Mahalanobis distance."""

    mean: np.ndarray  # D
    precision: np.ndarray  # D x D, inverse of the (shrunk) covariance

    @classmethod
    def fit(cls, features: np.ndarray, shrinkage: float = 0.1) -> FeatureGaussian:
        """Mean and covariance of n x D features; ``shrinkage`` pulls the covariance towards a
        multiple of the identity so that a few hundred images give a stable inverse."""
        f = np.asarray(features, np.float64)
        if f.ndim != 2 or len(f) < 2:
            raise RelAttrError("fitting the legibility model needs at least 2 feature vectors")
        mean = f.mean(axis=0)
        cov = np.cov(f, rowvar=False)
        scale = max(float(np.trace(cov)) / len(mean), 1e-12)
        cov = (1.0 - shrinkage) * cov + shrinkage * scale * np.eye(len(mean))
        return cls(mean, np.linalg.inv(cov))

    def distance(self, features: np.ndarray) -> np.ndarray:
        d = np.asarray(features, np.float64) - self.mean
        return np.einsum("nd,de,ne->n", d, self.precision, d)


@dataclass(frozen=True)
class Legibility:
    """The fitted legibility model: features of real images, a threshold and where it came from."""

    gaussian: FeatureGaussian
    threshold: float  # squared Mahalanobis distance; at most this reads as legible
    quantile: float  # the share of calibration images at or below the threshold
    n_calibration: int


class AttributeOracle:
    """Strengths and legibility of uint8 images; a StrengthOracle whose refs are image arrays.

    ``read(images)`` gives both in one pass; ``strengths`` and ``legible`` each alone.
    """

    def __init__(self, net: OracleNet, attribute_names: Sequence[str], *, target_mean: np.ndarray,
                 target_std: np.ndarray, width: int, image_size: int = 64, legibility: Legibility | None = None,
                 metrics: dict | None = None, training: dict | None = None):
        self.net = net.eval()
        self.attribute_names = list(attribute_names)
        self.target_mean = np.asarray(target_mean, np.float64)
        self.target_std = np.asarray(target_std, np.float64)
        self.width = int(width)
        self.image_size = int(image_size)
        self.legibility = legibility
        self.metrics = dict(metrics or {})  # held-out figures measured when it was trained
        self.training = dict(training or {})  # how it was trained (config, data, time)
        self.batch_size = 256

    @classmethod
    def new(cls, attribute_names: Sequence[str], *, target_mean, target_std, width: int = 16,
            image_size: int = 64) -> AttributeOracle:
        """An untrained oracle (random weights) for the training job to fit."""
        return cls(OracleNet(len(attribute_names), width=width), attribute_names, target_mean=target_mean,
                   target_std=target_std, width=width, image_size=image_size)

    # -- reading images ---------------------------------------------------------------------

    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(strengths n x A, legibility features n x D) of [0, 1] float inputs n x 3 x S x S."""
        self.net.eval()
        z, features = self.net.forward_with_features(normalise(x))
        return z.double().numpy() * self.target_std + self.target_mean, features.double().numpy()

    def read_tensor(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(strengths n x A, squared Mahalanobis distances n; zeros before calibration) of [0, 1] inputs."""
        strengths, features = self.outputs(x)
        if self.legibility is None:
            return strengths, np.zeros(len(x))
        return strengths, self.legibility.gaussian.distance(features)

    def read(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(strengths n x A float64, legible n bool) of uint8 n x H x W x 3 images."""
        s, d = self.scores(images)
        return s, self._legible(d)

    def scores(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(strengths n x A, legibility distance n): the distance is 0 before calibration."""
        arr = check_images(images)
        parts_s, parts_d = [], []
        for start in range(0, len(arr), self.batch_size):
            s, d = self.read_tensor(to_input(arr[start:start + self.batch_size], self.image_size))
            parts_s.append(s)
            parts_d.append(d)
        if not parts_s:
            return np.zeros((0, len(self.attribute_names))), np.zeros(0)
        return np.concatenate(parts_s), np.concatenate(parts_d)

    def strengths(self, refs) -> np.ndarray:
        """n x A strengths of uint8 images ``refs`` (n x H x W x 3)."""
        return self.scores(refs)[0]

    def ood_score(self, images) -> np.ndarray:
        """Squared Mahalanobis distance of each image's features to the real images' Gaussian."""
        self._need_legibility()
        return self.scores(images)[1]

    def legible(self, images) -> np.ndarray:
        """True where the oracle can read an image (its distance is within the calibrated threshold)."""
        self._need_legibility()
        return self.read(images)[1]

    def _legible(self, distance: np.ndarray) -> np.ndarray:
        if self.legibility is None:
            return np.ones(len(distance), bool)
        return distance <= self.legibility.threshold

    def _need_legibility(self) -> None:
        if self.legibility is None:
            raise RelAttrError("this attribute oracle has no legibility model yet (it was not calibrated)")

    # -- files ------------------------------------------------------------------------------

    def to_payload(self, *, train_state: dict | None = None) -> dict:
        """The ``relattr-model`` payload of this oracle (kind "oracle", builder "oracle-cnn"), with
        its checksum: the target statistics and the legibility model travel in ``extra``;
        ``train_state`` for a checkpoint that resumes."""
        extra: dict = {"target_mean": torch.tensor(self.target_mean), "target_std": torch.tensor(self.target_std)}
        if self.legibility is not None:
            g = self.legibility
            extra["legibility"] = {
                "mean": torch.tensor(g.gaussian.mean), "precision": torch.tensor(g.gaussian.precision),
                "threshold": float(g.threshold), "quantile": float(g.quantile), "n_calibration": int(g.n_calibration),
                "score": "squared Mahalanobis distance of the last conv stage pooled to 2 x 2",
            }
        return model_file_payload(
            kind="oracle", builder="oracle-cnn", config={"width": self.width, "image_size": self.image_size},
            attributes=self.attribute_names,
            preprocessing={"size": self.image_size, "mean": _MEAN, "std": _STD, "input": "uint8 RGB / 255"},
            weights=self.net.state_dict(), extra=extra,
            card={"metrics": dict(self.metrics), "training": dict(self.training)}, train_state=train_state)

    def save(self, path: str | Path) -> Path:
        return save_model_file(path, self.to_payload())

    @classmethod
    def load(cls, path: str | Path) -> AttributeOracle:
        return load_oracle(path)


def oracle_from_file(model_file: ModelFile, device: str | torch.device = "cpu") -> AttributeOracle:
    """The oracle of an oracle file (of any format), rebuilt through ``ORACLES``; it runs on the CPU."""
    del device  # the oracle reads numpy images on the CPU (see AttributeOracle.outputs)
    m = model_file
    try:
        width, size = int(m.config["width"]), int(m.config["image_size"])
        net = ORACLES.build(m.builder, attributes=m.attributes, width=width, image_size=size)
        net.load_state_dict(m.weights)
        legibility = None
        if "legibility" in m.extra:
            g = m.extra["legibility"]
            legibility = Legibility(FeatureGaussian(g["mean"].double().numpy(), g["precision"].double().numpy()),
                                    float(g["threshold"]), float(g["quantile"]), int(g["n_calibration"]))
        return AttributeOracle(net, m.attributes, target_mean=m.extra["target_mean"].double().numpy(),
                               target_std=m.extra["target_std"].double().numpy(), width=width, image_size=size,
                               legibility=legibility, metrics=m.card.get("metrics"), training=m.card.get("training"))
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, RelAttrError) as err:
        raise DataFileError(m.path, f"an attribute oracle file that does not match its architecture: "
                            f"{str(err).splitlines()[0][:200]}", "train the oracle again") from None


def load_oracle(path: str | Path) -> AttributeOracle:
    """An oracle from its model file; a file of another kind or architecture is refused with a message."""
    return oracle_from_file(read_model_file(path, kind="oracle"))


def describe_oracle(model_file: ModelFile) -> dict[str, Any]:
    """What ``relattr model info`` says about an oracle besides the header and the card."""
    g = model_file.extra.get("legibility")
    if not g:
        return {"legibility": "not calibrated"}
    return {"legibility": f"squared Mahalanobis distance <= {float(g['threshold']):.4g} (the "
                          f"{100 * float(g['quantile']):g} % quantile of {int(g['n_calibration'])} real images)"}


ORACLE_KIND = register_kind(ModelKind("oracle", builders=ORACLES.names, load=oracle_from_file,
                                      describe=describe_oracle))
