"""The settings of one ATTIC round (torch-free, so the command line and the window build and
check them without importing torch; :mod:`attic_job` runs them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError

OBJECTIVES = ("flipped", "negative")
QUERY_PAIRS_BOUND = bounds.ints(1, 100_000)  # pairs one query batch imagines

ATTIC_BOUNDS = {
    "steps": bounds.STEPS, "pairs_per_step": bounds.ints(1, 2048), "ranker_lr": bounds.LR,
    "control_lr": bounds.LR, "control_lr_final": bounds.floats(0.0, 1.0, open_lo=True),
    "eval_every": bounds.STEPS, "checkpoint_every": bounds.STEPS, "log_every": bounds.STEPS,
    "eval_pairs": bounds.ints(1, 1_000_000), "seed": bounds.SEED,
}


@dataclass(frozen=True)
class AtticConfig:
    """One adversarial round. ``ranker``: a neural ranker file trained on the real pairs;
    ``generator``: the generator it imagines with; ``out``: the control module file to write;
    ``control``: a control module file to continue (the active loop carries it from batch to
    batch), else a fresh one; ``attributes``: the targets (empty: every attribute the ranker,
    the generator and the dataset share; one name trains one network per attribute, as the
    paper)."""

    dataset: str
    ranker: str
    generator: str
    out: str
    control: str | None = None
    oracle: str | None = None  # label legibility at each evaluation
    labels: str | None = None  # real pairs from this label store's judgements, not the dataset's train pairs
    attributes: tuple[str, ...] = ()
    protocol: str = "default"
    objective: str = "flipped"
    steps: int = 200
    pairs_per_step: int = 16
    ranker_lr: float = 1e-4
    control_lr: float = 1e-3
    control_lr_final: float = 0.1  # the control's learning rate decays linearly to lr * this
    eval_every: int = 50
    checkpoint_every: int = 50
    log_every: int = 10
    eval_pairs: int = 2000  # test pairs (and imagined pairs for legibility) per evaluation
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", tuple(self.attributes))
        if self.objective not in OBJECTIVES:
            raise RelAttrError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        check_bounds(self, ATTIC_BOUNDS)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["attributes"] = list(self.attributes)
        return d
