"""Training phases a ranker can ask for: which parameter groups train, for how long, how fast.

A ranker may define ``training_phases(config) -> list[Phase]`` (DeepSTN trains its spatial
transformer first, as its authors do) and ``parameter_groups() -> dict[str, list[Parameter]]``;
the training engine (``relattr_studio.training.phases``) turns them into optimiser steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Phase:
    """One stage of training.

    ``groups``: parameter-group name -> lr multiplier (``"*"`` means every group not named);
    groups not matched are frozen. Length: ``epochs`` (of the training pairs) if given, else
    ``fraction`` of the whole step budget (the phases' fractions are normalised; a phase with
    neither gets an equal share of what the others leave).
    """

    name: str
    groups: Mapping[str, float] = field(default_factory=lambda: {"*": 1.0})
    fraction: float | None = None
    epochs: float | None = None

    def multiplier(self, group: str) -> float | None:
        """The lr multiplier of ``group`` in this phase, None when it is frozen."""
        if group in self.groups:
            return float(self.groups[group])
        if "*" in self.groups:
            return float(self.groups["*"])
        return None


TRAIN_EVERYTHING = Phase("train", {"*": 1.0}, fraction=1.0)
