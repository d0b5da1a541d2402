"""ATTIC's control module: random seeds q become the generator inputs of a pair of images.

Yu and Grauman, "Thinking Outside the Pool: Active Training Image Creation for Relative
Attributes" (ATTIC), Sec. III-B and Fig. 4. The module precedes a frozen attribute-conditioned
generator and learns, against a ranker, to place pairs where the ranker is unsure::

    q ~ N(0, I), q in R^(2M)         (M: the generator's z size)
    h   = ReLU(FC_512(q))            shared by both images
    y_A = BN(FC_N(ReLU(FC_256(h)))) * sigma + mu      (per image: its own FC_256, FC_N, BN)
    y_B = the same with the B branch's weights
    z_A, z_B = the two halves of q   (not learned: they keep the generator's prior p(z))

``mu`` and ``sigma`` are the real strengths' mean and standard deviation (the generator's own
statistics, so y stays in the range the generator was trained on); the linear layers start
from Kaiming (He) initialisation, as the paper's "ReLU initialization". The details beyond the
paper (the halves of q, the branch widths, BatchNorm then scaling) follow the authors' Torch7
scripts for round 1 and 2 on shoes.

A control module is trained against the ranker of one attribute (``targets``: one name, as the
paper trains one network per attribute) or of several at once; it is saved in the one model
file as kind "control", and names the generator it was trained with (its ``generator_id``), so
a query batch can say which generator and which control module imagined it.
"""

from __future__ import annotations

from collections.abc import Sequence
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

CONTROLS: Registry = Registry("control module")


def _he(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


class ControlModule(nn.Module):
    """q (n x 2M) -> (y_A, z_A, y_B, z_B) for a generator with ``attributes`` and z size ``z_dim``.

    ``y_mean`` / ``y_std``: the strengths' statistics the outputs are scaled to (length N);
    ``targets``: the attributes whose ranker it is trained against; ``generator_id``: the
    generator it was made for.
    """

    registry_name = "attic-control"

    def __init__(self, attributes: Sequence[str], *, z_dim: int, y_mean: Sequence[float], y_std: Sequence[float],
                 targets: Sequence[str] = (), generator_id: str = "", hidden: int = 512, branch: int = 256):
        super().__init__()
        self.attributes = list(attributes)
        n = len(self.attributes)
        if n < 1:
            raise RelAttrError("a control module needs at least one attribute")
        if len(y_mean) != n or len(y_std) != n:
            raise RelAttrError(f"y_mean and y_std must have one value per attribute ({n})")
        unknown = [t for t in targets if t not in self.attributes]
        if unknown:
            raise RelAttrError(f"target attribute(s) {', '.join(unknown)} are not the generator's "
                               f"({', '.join(self.attributes)})")
        self.targets = list(targets) or list(self.attributes)
        self.z_dim, self.hidden, self.branch = int(z_dim), int(hidden), int(branch)
        # q's halves are z_A and z_B; a generator without z still gets a seed of 2N numbers
        self.q_dim = 2 * self.z_dim if self.z_dim > 0 else 2 * n
        self.generator_id = str(generator_id)
        self.shared = nn.Sequential(nn.Linear(self.q_dim, self.hidden), nn.ReLU())
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(self.hidden, self.branch), nn.ReLU(), nn.Linear(self.branch, n),
                          nn.BatchNorm1d(n))
            for _ in range(2))
        self.register_buffer("y_mean", torch.as_tensor(np.asarray(y_mean, np.float32)))
        self.register_buffer("y_std", torch.as_tensor(np.asarray(y_std, np.float32)).clamp_min(1e-6))
        _he(self)

    def config(self) -> dict:
        """The builder's keyword arguments (plain JSON data) that rebuild this module."""
        return {"z_dim": self.z_dim, "y_mean": [float(v) for v in self.y_mean.cpu()],
                "y_std": [float(v) for v in self.y_std.cpu()], "targets": list(self.targets),
                "generator_id": self.generator_id, "hidden": self.hidden, "branch": self.branch}

    @torch.no_grad()
    def calibrate(self, n: int = 1024, seed: int = 0) -> ControlModule:
        """Set BatchNorm's running statistics from ``n`` seeds, so that a module in eval mode
        (imagining a batch) gives strengths on the real strengths' scale from the start (an
        untrained module: the random-pairs baseline). Returns the module."""
        was = self.training
        norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm1d)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one pass sets the statistics of the batch
        self.train()
        self(self.sample_q(n, torch.Generator().manual_seed(int(seed))))
        for m in norms:
            m.momentum = 0.1
        self.train(was)
        return self

    def sample_q(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n seeds q ~ N(0, I) on the module's device."""
        q = torch.randn(n, self.q_dim, generator=generator)
        return q.to(self.y_mean.device)

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if q.ndim != 2 or q.shape[1] != self.q_dim:
            raise RelAttrError(f"q must be n x {self.q_dim}, not {tuple(q.shape)}")
        h = self.shared(q)
        y_a, y_b = (branch(h) * self.y_std + self.y_mean for branch in self.branches)
        if self.z_dim > 0:
            z_a, z_b = q[:, : self.z_dim], q[:, self.z_dim:]
        else:
            z_a = z_b = q.new_zeros(len(q), 0)
        return y_a, z_a, y_b, z_b

    @torch.inference_mode()
    def imagine(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """``n`` control outputs from seeds drawn with ``seed`` (eval mode: BatchNorm's running
        statistics): {"q", "y_a", "z_a", "y_b", "z_b"} as float32 arrays."""
        was = self.training
        self.eval()
        try:
            q = self.sample_q(n, torch.Generator().manual_seed(int(seed)))
            y_a, z_a, y_b, z_b = self(q)
        finally:
            self.train(was)
        return {k: v.float().cpu().numpy() for k, v in (("q", q), ("y_a", y_a), ("z_a", z_a), ("y_b", y_b),
                                                         ("z_b", z_b))}


@CONTROLS.register("attic-control", "ATTIC's control module: shared FC 512, per image FC 256, FC N, BatchNorm, "
                   "scaled to the strengths; z the halves of q")
def attic_control(*, attributes: Sequence[str], **config) -> ControlModule:
    return ControlModule(attributes, **config)


def control_for_generator(generator, targets: Sequence[str] = (), **options) -> ControlModule:
    """A fresh control module for ``generator`` (an AttributeGenerator): its attributes, z size,
    strength statistics (the prior's mean and standard deviation) and id."""
    mean = np.asarray(generator.prior_mean, np.float64)
    std = np.sqrt(np.clip(np.diag(np.asarray(generator.prior_cov, np.float64)), 1e-12, None))
    module = ControlModule(list(generator.attributes), z_dim=int(generator.z_dim), y_mean=mean, y_std=std,
                           targets=targets, generator_id=str(getattr(generator, "generator_id", "")), **options)
    return module.calibrate()


def control_payload(model: ControlModule, *, train_state: dict | None = None, card: dict | None = None) -> dict:
    return model_file_payload(kind="control", builder=model.registry_name, config=model.config(),
                              attributes=list(model.attributes), preprocessing={}, weights=model.state_dict(),
                              extra={"generator_id": model.generator_id, "q_dim": model.q_dim},
                              train_state=train_state, card=dict(card or {}))


def save_control(path: str | Path, model: ControlModule, **kwargs) -> Path:
    """Write ``model`` to ``path`` atomically (see :func:`control_payload` for ``kwargs``)."""
    return save_model_file(path, control_payload(model, **kwargs))


def control_from_file(model_file: ModelFile, device: str | torch.device = "cpu") -> ControlModule:
    m = model_file
    try:
        model = CONTROLS.build(m.builder, attributes=m.attributes, **m.config)
        model.load_state_dict(m.weights)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, RelAttrError) as err:
        raise DataFileError(m.path, f"a control module file that does not match its architecture: "
                            f"{str(err).splitlines()[0][:200]}", "run the ATTIC round again") from None
    return model.to(device).eval()


def load_control(path: str | Path, device: str | torch.device = "cpu") -> ControlModule:
    """A control module from its model file (in eval mode); another kind is refused with a message."""
    return control_from_file(read_model_file(path, kind="control"), device)


def describe_control(model_file: ModelFile) -> dict[str, Any]:
    c = model_file.config
    return {"targets": ", ".join(c.get("targets", [])), "generator id": model_file.extra.get("generator_id"),
            "rounds": model_file.card.get("rounds", 0)}


CONTROL_KIND = register_kind(ModelKind("control", builders=CONTROLS.names, load=control_from_file,
                                       describe=describe_control))
