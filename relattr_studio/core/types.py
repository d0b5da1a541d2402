"""Vocabulary shared by every layer: pair labels, sources, splits, groups.

Enums are stored in files by their integer value; names travel beside them so a file stays
readable without this module.
"""

from __future__ import annotations

from enum import IntEnum


class PairLabel(IntEnum):
    """Which image of a pair (a, b) shows the attribute more. The value is sign(s_a - s_b)."""

    B_MORE = -1
    EQUAL = 0
    A_MORE = 1

    @property
    def ranknet_target(self) -> float:
        """P(a > b) as RankNet's target: 1, 0 or 0.5 for ties."""
        return (int(self) + 1) / 2

    def flipped(self) -> "PairLabel":
        return PairLabel(-int(self))


class PairSource(IntEnum):
    """Where a pair's label comes from."""

    REAL = 0  # a dataset's own annotation
    SYNTHETIC_AUTO = 1  # labelled from the generator's requested strengths
    HUMAN = 2  # labelled by a person in the app
    PSEUDO = 3  # derived from real-valued strengths (Real+)
    SIMULATED = 4  # labelled by the simulated annotator


class Split(IntEnum):
    TRAIN = 0
    TEST = 1
    VAL = 2
    UNUSED = 3


class PairGroup(IntEnum):
    """A test-pair subset: coarse pairs differ clearly; fine-grained ones barely (Zappos50K-2)."""

    NONE = 0
    COARSE = 1
    FINE = 2


def enum_names(enum: type[IntEnum]) -> dict[int, str]:
    """Integer value -> lower-case name, the form written into files."""
    return {int(m): m.name.lower().replace("_", "-") for m in enum}
