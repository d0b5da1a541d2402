"""The attribute-conditioned image generator: a conditional VAE after Attribute2Image.

``AttributeGenerator`` holds the recognition net q(z | x, y) and the generative net
p(x | y, z) (see :mod:`generator_nets`). Strengths y enter on the training dataset's own scale;
the model keeps their mean and standard deviation as buffers and normalises inside. It also
keeps the Gaussian N(mu, Sigma) of the training strengths, the identity prior of semantic
jitter (Gao et al.), from which the Explore view takes its slider ranges.

Generator file: a ``relattr-model`` file of kind "generator", builder "attribute-cvae" (see
:mod:`relattr_studio.modeling.model_file` for the header and its checksum)::

    config:        {attributes, z_dim, image_size, width, hidden, refine_until}
    weights:       {name: tensor}            weights and the strength statistics
    extra:         {generator_id}            short sha256 of the weights (the label store records it)
    card:          {dataset: {path, name, images, strengths_from, ...},
                    metrics: {recon_mse, psnr, ...} measured at the end of training,
                    notes: free plain-data notes (command, time, faithfulness)}
    train_state:   {step, config, optimizer, rng, history} while training, or None

Older ``relattr-generator`` v1 files (the shipped generators among them) load as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.registry import Registry
from relattr_studio.modeling.generator_nets import GenerativeNet, RecognitionNet, stages
from relattr_studio.modeling.model_file import (
    ModelFile,
    ModelKind,
    model_file_payload,
    read_model_file,
    register_kind,
    save_model_file,
)
from relattr_studio.modeling.model_file_legacy import generator_preprocessing, generator_v1

CONFIG_KEYS = ("attributes", "z_dim", "image_size", "width", "hidden", "refine_until")
GENERATORS: Registry = Registry("generator")


class AttributeGenerator(nn.Module):
    """CVAE generator of ``image_size`` px images from attribute strengths y and latent factors z.

    ``decode`` is differentiable (a control module can backprop through it); ``generate`` is
    the fast eval path for the GUI (numpy in, uint8 images out, no autograd).
    """

    def __init__(self, attributes: Sequence[str], *, z_dim: int = 32, image_size: int = 64, width: int = 32,
                 hidden: int = 256, refine_until: int = 16, strength_mean: np.ndarray | None = None,
                 strength_std: np.ndarray | None = None, prior_cov: np.ndarray | None = None):
        super().__init__()
        self.attributes = [str(a) for a in attributes]
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise RelAttrError("a generator needs at least one attribute, each named once")
        if z_dim < 0 or width < 1 or hidden < 1:
            raise RelAttrError("z_dim must be >= 0, width and hidden >= 1")
        try:
            stages(image_size)
        except ValueError as err:
            raise RelAttrError(str(err)) from None
        a = len(self.attributes)
        self.z_dim, self.image_size, self.width, self.hidden = int(z_dim), int(image_size), int(width), int(hidden)
        self.refine_until = int(refine_until)
        self._id: str | None = None
        mean = np.zeros(a) if strength_mean is None else np.asarray(strength_mean, np.float64).reshape(a)
        std = np.ones(a) if strength_std is None else np.asarray(strength_std, np.float64).reshape(a)
        cov = np.diag(std ** 2) if prior_cov is None else np.asarray(prior_cov, np.float64).reshape(a, a)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov)) and np.all(std > 0)):
            raise RelAttrError("a generator's strength statistics must be finite, with every std > 0")
        self.register_buffer("y_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("y_std", torch.as_tensor(std, dtype=torch.float32))
        self.register_buffer("y_cov", torch.as_tensor(cov, dtype=torch.float64))
        self.recognition = RecognitionNet(a, self.z_dim, image_size=image_size, width=width, hidden=hidden)
        self.generative = GenerativeNet(a, self.z_dim, image_size=image_size, width=width, hidden=hidden,
                                        refine_until=refine_until)

    # -- what the file and the GUI need to know ------------------------------------------------

    def config(self) -> dict:
        return {"attributes": list(self.attributes), "z_dim": self.z_dim, "image_size": self.image_size,
                "width": self.width, "hidden": self.hidden, "refine_until": self.refine_until}

    @property
    def prior_mean(self) -> np.ndarray:
        """mu (A,): the mean of the training strengths, on their own scale."""
        return self.y_mean.detach().cpu().double().numpy().copy()

    @property
    def prior_cov(self) -> np.ndarray:
        """Sigma (A x A): the covariance of the training strengths."""
        return self.y_cov.detach().cpu().numpy().copy()

    def set_strength_statistics(self, strengths: np.ndarray) -> None:
        """Take mu, sigma and Sigma from ``strengths`` (n x A on the dataset's scale, no NaN)."""
        s = np.asarray(strengths, np.float64)
        if s.ndim != 2 or s.shape[1] != len(self.attributes) or len(s) < 2 or not np.all(np.isfinite(s)):
            raise RelAttrError(f"strength statistics need n >= 2 finite rows of {len(self.attributes)} values")
        std = s.std(axis=0)
        if np.any(std <= 0):
            flat = [a for a, v in zip(self.attributes, std) if v <= 0]
            raise RelAttrError(f"attribute(s) {', '.join(flat)} do not vary over the training images")
        self._id = None
        with torch.no_grad():
            self.y_mean.copy_(torch.as_tensor(s.mean(axis=0)))
            self.y_std.copy_(torch.as_tensor(std))
            self.y_cov.copy_(torch.as_tensor(np.atleast_2d(np.cov(s, rowvar=False))))

    def normalise(self, y: torch.Tensor) -> torch.Tensor:
        return (y.to(self.y_mean.dtype) - self.y_mean) / self.y_std

    # -- the CVAE --------------------------------------------------------------------------------

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, y): (mu, logvar), x n x 3 x S x S in [0, 1], y n x A on the dataset's scale."""
        return self.recognition(x, self.normalise(y))

    def decode(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """p(x | y, z): n x 3 x S x S in [0, 1]; y n x A on the dataset's scale, z n x z_dim."""
        if y.ndim != 2 or y.shape[1] != len(self.attributes):
            raise RelAttrError(f"y must be n x {len(self.attributes)}, not {tuple(y.shape)}")
        if z.ndim != 2 or z.shape != (y.shape[0], self.z_dim):
            raise RelAttrError(f"z must be {y.shape[0]} x {self.z_dim}, not {tuple(z.shape)}")
        return self.generative(self.normalise(y), z.to(self.y_mean.dtype))

    def forward(self, x: torch.Tensor, y: torch.Tensor, *, sample: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (x_hat, mu, logvar): z drawn from q(z | x, y), or its mean when not ``sample``."""
        mu, logvar = self.encode(x, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.decode(y, z), mu, logvar

    @torch.inference_mode()
    def generate(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """uint8 images n x S x S x 3 for strengths ``y`` (n x A) and latents ``z`` (n x z_dim); eval, no grad."""
        was_training = self.training
        self.eval()
        try:
            dev = self.y_mean.device
            yt = torch.as_tensor(np.asarray(y, np.float32), device=dev).reshape(-1, len(self.attributes))
            zt = torch.as_tensor(np.asarray(z, np.float32), device=dev).reshape(len(yt), self.z_dim)
            x = self.decode(yt, zt)
            return x.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
        finally:
            self.train(was_training)

    @property
    def generator_id(self) -> str:
        """A short sha256 of the weights and statistics: the same file gives the same id.

        Hashing the weights takes tens of milliseconds, so a model in eval mode keeps its id
        (the GUI asks for it with every image it stores); ``train()`` and ``load_state_dict``
        forget it, since weights may change after them.
        """
        if self._id is not None and not self.training:
            return self._id
        digest = weights_digest(self.state_dict())
        if not self.training:
            self._id = digest
        return digest

    def train(self, mode: bool = True) -> AttributeGenerator:
        if mode:
            self._id = None
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._id = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def weights_digest(state_dict: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- files


@GENERATORS.register("attribute-cvae", "conditional VAE after Attribute2Image (MLP mixing y and z, "
                                       "coarse-to-fine conv decoder)")
def attribute_cvae(*, attributes: Sequence[str], z_dim: int = 32, image_size: int = 64, width: int = 32,
                   hidden: int = 256, refine_until: int = 16) -> AttributeGenerator:
    """An untrained :class:`AttributeGenerator` (statistics at 0 +- 1 until set)."""
    return AttributeGenerator(attributes, z_dim=z_dim, image_size=image_size, width=width, hidden=hidden,
                              refine_until=refine_until)


@dataclass(frozen=True)
class GeneratorInfo:
    """What a generator file says besides its weights."""

    path: str
    generator_id: str
    config: dict
    dataset: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    step: int = 0
    train_config: dict | None = None
    history: list = field(default_factory=list)
    created: str = ""

    @property
    def attributes(self) -> list[str]:
        return list(self.config["attributes"])


def generator_payload(model: AttributeGenerator, *, train_state: dict | None = None, card: dict | None = None,
                      dataset: dict | None = None, metrics: dict | None = None) -> dict:
    """The ``relattr-model`` payload of ``model`` (with its checksum); ``card`` holds free notes."""
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    return model_file_payload(
        kind="generator", builder="attribute-cvae", config=model.config(), attributes=model.attributes,
        preprocessing=generator_preprocessing(model.image_size), weights=state,
        extra={"generator_id": weights_digest(state)}, train_state=train_state,
        card={"dataset": dict(dataset or {}), "metrics": dict(metrics or {}), "notes": dict(card or {})})


def save_generator(path: str | Path, model: AttributeGenerator, *, train_state: dict | None = None,
                   card: dict | None = None, dataset: dict | None = None, metrics: dict | None = None) -> Path:
    """Write ``model`` to ``path`` atomically; ``train_state`` makes the file resumable."""
    return save_model_file(path, generator_payload(model, train_state=train_state, card=card, dataset=dataset,
                                                   metrics=metrics))


def generator_view(model_file: ModelFile) -> dict:
    """A generator file in the ``relattr-generator`` version-1 layout (the dict resuming code reads)."""
    card = model_file.card
    return {"format": "relattr-generator", "format_version": 1, "created": model_file.created,
            "generator_id": str(model_file.extra.get("generator_id", "")), "config": dict(model_file.config),
            "state_dict": model_file.weights, "dataset": dict(card.get("dataset") or {}),
            "metrics": dict(card.get("metrics") or {}), "card": dict(card.get("notes") or {}),
            "train_state": model_file.train_state}


def read_generator(path: str | Path) -> dict:
    """Any generator file (checksum verified where it has one) as a dict in the version-1 layout:
    generator_id, config, state_dict, dataset, metrics, card, train_state."""
    return generator_view(read_model_file(path, kind="generator"))


def generator_info(payload: dict, path: str | Path = "") -> GeneratorInfo:
    """The :class:`GeneratorInfo` of a payload in the version-1 layout (see :func:`read_generator`)."""
    return info_of(generator_v1(payload, Path(path)))


def info_of(model_file: ModelFile) -> GeneratorInfo:
    """The :class:`GeneratorInfo` of a generator file."""
    ts = model_file.train_state or {}
    card = model_file.card
    metrics = dict(card.get("metrics") or {})
    return GeneratorInfo(path=str(model_file.path), generator_id=str(model_file.extra.get("generator_id", "")),
                         config=dict(model_file.config), dataset=dict(card.get("dataset") or {}), metrics=metrics,
                         card=dict(card.get("notes") or {}), step=int(ts.get("step", metrics.get("steps", 0) or 0)),
                         train_config=ts.get("config"), history=model_file.history,
                         created=model_file.created)


def generator_from_file(model_file: ModelFile, device: str | torch.device = "cpu") -> AttributeGenerator:
    """The generator of a generator file, rebuilt through ``GENERATORS``, in eval mode."""
    path, config = model_file.path, model_file.config
    if not isinstance(config, dict) or any(k not in config for k in CONFIG_KEYS):
        raise DataFileError(path, "its generator config is missing or incomplete",
                            "the file was written by an incompatible version; retrain the generator")
    try:
        model = GENERATORS.build(model_file.builder, **{k: config[k] for k in CONFIG_KEYS})
        model.load_state_dict(model_file.weights, strict=True)
    except (RelAttrError, TypeError, KeyError) as err:
        raise DataFileError(path, f"cannot rebuild its generator: {err}",
                            "the file was written by an incompatible version; retrain the generator") from None
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()][1:3]
        raise DataFileError(path, "its weights do not fit the generator its config describes: "
                            + "; ".join(lines)[:300], "the file is damaged or from another version") from None
    return model.to(device).eval()


def generator_from_payload(payload: dict, path: str | Path, device: str | torch.device = "cpu") -> AttributeGenerator:
    """The generator of a payload in the version-1 layout, in eval mode."""
    return generator_from_file(generator_v1(payload, Path(path)), device)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> AttributeGenerator:
    """The generator rebuilt from the file alone, in eval mode (see :func:`load_generator_with_info`)."""
    return load_generator_with_info(path, device)[0]


def load_generator_with_info(path: str | Path, device: str | torch.device = "cpu"
                             ) -> tuple[AttributeGenerator, GeneratorInfo]:
    model_file = read_model_file(path, kind="generator")
    return generator_from_file(model_file, device), info_of(model_file)


def describe_generator(model_file: ModelFile) -> dict[str, Any]:
    """What ``relattr model info`` says about a generator besides the header and the card."""
    return {"generator id": model_file.extra.get("generator_id")}


GENERATOR_KIND = register_kind(ModelKind("generator", builders=GENERATORS.names, load=generator_from_file,
                                         describe=describe_generator))
