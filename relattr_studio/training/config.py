"""The training configuration (one frozen, JSON-able dataclass) and device choice.

Optimiser presets (``with_preset``): ``paper`` is Souri et al.'s RankNet setting for ImageNet
backbones (RMSProp, lr 1e-4 head / 1e-5 backbone, weight decay 1e-5: the defaults here);
``scratch`` suits a small CNN from random initialisation on a CPU (Adam, lr 1e-3 everywhere);
``finetune`` is Adam with lr 1e-3 head / 1e-4 backbone, for short runs from ImageNet weights.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError
from relattr_studio.modeling.catalog import BACKBONES, NEURAL, ranker_family
from relattr_studio.training.batching import BATCHINGS

if TYPE_CHECKING:
    import torch

OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd")
SCHEDULES = ("none", "cosine", "step")
DEVICES = ("auto", "cuda", "mps", "cpu")
AMPS = ("auto", "off", "bf16", "fp16")

PRESETS: dict[str, dict] = {
    "paper": {"optimizer": "rmsprop", "lr": 1e-4, "backbone_lr_scale": 0.1, "weight_decay": 1e-5},
    "scratch": {"optimizer": "adam", "lr": 1e-3, "backbone_lr_scale": 1.0, "weight_decay": 1e-5},
    # ImageNet backbones, few steps on a CPU: 120 steps of it reach 90.9 % on PubFig with
    # EfficientNet-Lite0 (multi-head, seed 0)
    "finetune": {"optimizer": "adam", "lr": 1e-3, "backbone_lr_scale": 0.1, "weight_decay": 1e-5},
}


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "dict": (dict,),
          "tuple": (tuple, list), "list": (tuple, list)}


def _accepts(annotation: str, value) -> bool:
    """Whether ``value`` fits a field annotated ``annotation`` ("int | None", "tuple[str, ...]");
    an annotation this does not know accepts anything."""
    parts = [a.strip().split("[")[0] for a in annotation.split("|")]
    if value is None:
        return "None" in parts
    allowed = tuple(t for part in parts if part != "None" for t in _TYPES.get(part, (object,)))
    if isinstance(value, bool) and bool not in allowed and object not in allowed:
        return False  # True is not a number of steps
    return isinstance(value, allowed)


# The range of each number a TrainConfig holds (the CLI's options take the same bounds).
TRAIN_BOUNDS = {
    "epochs": bounds.EPOCHS, "steps": bounds.STEPS, "batch_size": bounds.BATCH, "max_pairs": bounds.PAIRS,
    "lr": bounds.LR, "backbone_lr_scale": bounds.LR_SCALE, "weight_decay": bounds.WEIGHT_DECAY,
    "ema": bounds.SHARE_BELOW_ONE, "warmup_steps": bounds.STEPS_OR_NONE, "val_fraction": bounds.VAL_FRACTION,
    "eval_every": bounds.STEPS, "patience": bounds.PATIENCE, "max_eval_pairs": bounds.PAIRS,
    "max_test_pairs": bounds.ints(1, 1_000_000_000), "log_every": bounds.STEPS,
    "augment_zoom": bounds.SHARE_BELOW_ONE, "augment_color": bounds.SHARE_BELOW_ONE, "seed": bounds.SEED,
    "min_confidence": bounds.SHARE,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs. ``attributes`` are the heads of ONE model (the paper
    trains one model per attribute: give one name; several names share a backbone); empty
    means every attribute of the dataset."""

    dataset: str
    protocol: str = "default"
    attributes: tuple[str, ...] = ()
    ranker: str = "ranknet"
    ranker_options: dict = field(default_factory=dict)
    backbone: str = "small-cnn"
    backbone_options: dict = field(default_factory=dict)
    weights: str | None = "auto"  # "auto": offline ImageNet weights where the backbone has them; None/"none": random init; a file
    epochs: float = 2.0
    steps: int | None = None  # overrides epochs
    batch_size: int = 32  # images per step and per process (32 = the paper's 16 pairs)
    batching: str = "all-pairs"
    max_pairs: int | None = None  # image pairs a step at most (None: all); bounds a pairwise ranker's head passes
    optimizer: str = "rmsprop"
    lr: float = 1e-4  # head lr; the backbone gets lr * backbone_lr_scale
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-5
    schedule: str = "none"
    ema: float = 0.0  # > 0: validate, test and save a moving average of the weights with this decay a step
    warmup_steps: int = 0
    val_fraction: float = 0.1  # of the training pairs (or images, category-level), when no VAL split
    eval_every: int | None = None  # steps between validations; None: once per epoch
    patience: int | None = None  # validations without improvement before stopping; None: never
    max_eval_pairs: int = 20000  # cap on validation pairs scored
    max_test_pairs: int | None = None  # test on a seeded sample of this many image pairs (None: all)
    test_flip: bool = False  # test margins averaged over the images and their mirror images
    log_every: int = 10
    augment: bool = False  # random flips and small shifts
    augment_zoom: float = 0.0  # with augment: random crops of side 1 - zoom .. 1 instead of the shift
    augment_color: float = 0.0  # with augment: contrast and brightness jitter of this size
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 (or fp16 without bf16) on CUDA, off elsewhere
    channels_last: bool = False  # CUDA only
    # BatchNorm layers keep their running statistics during training. "auto": frozen when the
    # backbone starts from pretrained weights. Batch statistics of 32 faces are far from
    # ImageNet's: fine-tuning EfficientNet-Lite0 on PubFig with them reached 79.9 % where
    # frozen statistics reached 90.4 % (60 steps, same settings).
    freeze_bn: str = "auto"  # auto | on | off
    num_workers: int = 0  # images live in memory; kept for API stability
    out_dir: str | None = None
    # Training on a label store's judgements (see data/label_training.py): its real and generated
    # pairs join the dataset's train pairs, or replace them with labels_only.
    labels: str | None = None
    labels_only: bool = False
    min_confidence: float | None = None  # judgements below it are left out; None: all

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", tuple(self.attributes))
        for name, value, allowed in (("freeze_bn", self.freeze_bn, ("auto", "on", "off")),
                                     ("batching", self.batching, BATCHINGS), ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES), ("device", self.device, DEVICES),
                                     ("amp", self.amp, AMPS)):
            if value not in allowed:
                raise RelAttrError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if self.backbone not in BACKBONES.names():
            raise RelAttrError(f"no backbone named {self.backbone!r}; known: {', '.join(BACKBONES.names())}")
        if ranker_family(self.ranker) != NEURAL:  # an unknown name is refused here too, with the known ones
            raise RelAttrError(f"{self.ranker} is not trained in steps on a backbone; it has its own trainer "
                               f"(relattr train --ranker {self.ranker}, or training.ranksvm_job.run_ranksvm)")
        check_bounds(self, TRAIN_BOUNDS)
        if self.labels_only and not self.labels:
            raise RelAttrError("labels_only needs a label store (labels)")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def with_preset(self, preset: str) -> "TrainConfig":
        if preset not in PRESETS:
            raise RelAttrError(f"no preset {preset!r}; known: {', '.join(PRESETS)}")
        return self.replace(**PRESETS[preset])

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["attributes"] = list(self.attributes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The config a dict (a checkpoint's, a file's) describes; a RelAttrError naming the
        first field whose value is not of the field's type (unknown keys are left out)."""
        if not isinstance(d, dict):
            raise RelAttrError(f"a training config must be a mapping, not {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, value in d.items():
            if name in fields and not _accepts(str(fields[name].type), value):
                raise RelAttrError(f"training config field {name!r} is {value!r}, not {fields[name].type}")
        return cls(**{k: v for k, v in d.items() if k in fields})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def resolve_device(choice: str = "auto", local_rank: int | None = None) -> torch.device:
    """cuda > mps > cpu for "auto"; an explicit device that is missing is a RelAttrError."""
    import torch  # here, not at the top: the window builds configs without importing torch

    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise RelAttrError("device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
        return torch.device("cuda", local_rank or 0)
    if choice == "mps":
        if not has_mps:
            raise RelAttrError("device mps asked for, but this torch has no MPS; use --device cpu or auto")
        return torch.device("mps")
    return torch.device("cpu")


def resolve_amp(choice: str, device: torch.device) -> str:
    """Mixed precision only on CUDA: bf16 where the GPU has it, else fp16 (with a GradScaler)."""
    import torch

    if device.type != "cuda" or choice == "off":
        return "off"
    if choice == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return choice
