"""The settings of one generator training run (torch-free, so the window builds and checks
them on its GUI thread without importing torch; :mod:`generator_job` runs them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError

# settings that ``relattr generator train`` takes as --flag-name (the field name with dashes)
CLI_OPTIONS = ("steps", "batch_size", "z_dim", "width", "lr", "kl_weight", "kl_warmup", "consistency_weight",
               "reader_pool", "reader_degrade", "checkpoint_every", "seed", "device")


# The range of each number a GeneratorTrainConfig holds (the CLI's options take the same bounds).
GENERATOR_BOUNDS = {
    "z_dim": bounds.Z_DIM, "image_size": bounds.IMAGE_SIZE, "width": bounds.GENERATOR_WIDTH,
    "hidden": bounds.ints(1, 65_536), "refine_until": bounds.IMAGE_SIZE, "steps": bounds.STEPS,
    "batch_size": bounds.BATCH, "lr": bounds.LR, "lr_final": bounds.floats(0.0, 1.0, open_lo=True),
    "kl_weight": bounds.LOSS_WEIGHT, "kl_warmup": bounds.STEPS_OR_NONE, "consistency_weight": bounds.LOSS_WEIGHT,
    "consistency_batch": bounds.BATCH, "reader_width": bounds.RANKER_WIDTH,
    "holdout_fraction": bounds.floats(0.0, 0.5, open_hi=True), "max_holdout": bounds.ints(1, 1_000_000),
    "checkpoint_every": bounds.STEPS, "log_every": bounds.STEPS, "seed": bounds.SEED,
}


@dataclass(frozen=True)
class GeneratorTrainConfig:
    """Everything one generator training run needs (JSON-able; stored in the file for resume)."""

    dataset: str
    out: str
    attributes: tuple[str, ...] = ()  # empty: every attribute of the dataset
    strengths_from: str | None = None  # a ranker checkpoint whose scores stand in for strengths
    z_dim: int = 32
    image_size: int = 64
    width: int = 32
    hidden: int = 256
    refine_until: int = 16
    steps: int = 6000
    batch_size: int = 64
    lr: float = 1e-3
    lr_final: float = 0.1  # the cosine schedule ends at lr * lr_final
    kl_weight: float = 1.0
    kl_warmup: int = 1000  # steps over which beta (and lambda) rise from 0 to their weights
    consistency_weight: float = 10.0  # lambda of the attribute-consistency term (0: a plain CVAE)
    consistency_batch: int = 32  # prior draws (y', z') per step for it
    reader_width: int = 16
    # With P > 1 the reader sees every image (real or generated) shifted by a random 0 .. P-1
    # pixels and average-pooled by P, at least 16 px. A reader can be fooled: the first toy-shoes
    # run (P = 1) painted faint period-2 purple and orange speckles; its reader read 3.5 of the 4
    # normalised units a colorful tweak asked for, 1.3 after a 2 x 2 blur, and the oracle 14 %
    # of it. With P = 2 the speckles moved to a coarser period at step 1,500 (colorful 0.57, not
    # better), so the shipped generators use P = 1 and the option stays for such experiments.
    reader_pool: int = 1
    # The reader sees every image, real or generated, through the oracle's random degradations
    # (affine jitter, blur, colour, noise; training.oracle_job.Degrade), so that pixel-scale
    # patterns the generator paints stop reading as an attribute (the oracle, trained so, was
    # not fooled by the speckles the plain reader took for colour). 3,000 steps of it took the
    # toy-shoes generator's colorful faithfulness from 0.755 to 0.866.
    reader_degrade: bool = False
    holdout_fraction: float = 0.05
    max_holdout: int = 1000
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", tuple(self.attributes))
        check_bounds(self, GENERATOR_BOUNDS)
        if self.reader_pool not in (1, 2, 4):
            raise RelAttrError("reader_pool must be 1, 2 or 4")
        if self.device not in ("auto", "cuda", "mps", "cpu"):
            raise RelAttrError(f"device must be auto, cuda, mps or cpu, not {self.device!r}")

    @property
    def reader_scale(self) -> int:
        """The pooling the reader's images get: ``reader_pool``, less where they would drop below 16 px."""
        return max(1, min(self.reader_pool, self.image_size // 16))

    def replace(self, **changes) -> GeneratorTrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["attributes"] = list(self.attributes)
        return d

    def command(self) -> str:
        """The ``relattr generator train`` command line that trains this configuration."""
        import shlex

        default = GeneratorTrainConfig(dataset=self.dataset, out=self.out)
        words = ["relattr", "generator", "train", "--dataset", str(self.dataset), "--out", str(self.out)]
        if self.strengths_from:
            words += ["--strengths-from", str(self.strengths_from)]
        for a in self.attributes:
            words += ["--attribute", a]
        for name in CLI_OPTIONS:
            value = getattr(self, name)
            if value is True:  # a switch
                words.append(f"--{name.replace('_', '-')}")
            elif value != getattr(default, name):
                words += [f"--{name.replace('_', '-')}", str(value)]
        return shlex.join(words)

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorTrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def architecture(self) -> dict:
        return {k: getattr(self, k) for k in ("z_dim", "image_size", "width", "hidden", "refine_until")}
