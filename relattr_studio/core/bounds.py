"""The range of every number a user can set, written once for the command line and the Python API.

A :class:`Bound` is an interval (integer or real, each end open or closed, always finite). The
CLI turns one into an argparse type (:func:`relattr_studio.cli.options.option`), refused at parse
time; the configs and functions of the Python API check their fields against the same bounds
(:func:`check_bounds`), so ``TrainConfig(lr=float("nan"))`` is refused as ``--lr nan`` is, with
the bound in the message. The ranges are generous for real work and small enough that no value
can exhaust the machine by itself; work whose size follows from several numbers together (a
spectrum sheet, a dataset, a training step) is checked against the memory available where it
starts (:func:`relattr_studio.core.resources.check_memory`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from relattr_studio.core.errors import RelAttrError


def _format(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class Bound:
    """Numbers from ``lo`` to ``hi``: whole numbers when ``integer``, else finite reals with each
    end excluded where ``open_lo`` / ``open_hi``."""

    lo: float
    hi: float
    integer: bool = False
    open_lo: bool = False
    open_hi: bool = False

    def describe(self) -> str:
        """``"1..100,000,000"`` for whole numbers, ``"(0, 1]"`` for reals."""
        if self.integer:
            return f"{_format(self.lo)}..{_format(self.hi)}"
        return (f"{'(' if self.open_lo else '['}{_format(self.lo)}, "
                f"{_format(self.hi)}{')' if self.open_hi else ']'}")

    def kind(self) -> str:
        return "a whole number" if self.integer else "a finite number"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.integer and not isinstance(value, numbers.Integral):
            return False
        if not math.isfinite(value):
            return False
        above = self.lo < value if self.open_lo else self.lo <= value
        below = value < self.hi if self.open_hi else value <= self.hi
        return above and below

    def problem(self, value: Any) -> str:
        """What is wrong with ``value``, for a message after its name."""
        return f"must be {self.kind()} in {self.describe()}, not {value!r}"

    def check(self, name: str, value: Any) -> None:
        """A RelAttrError naming ``name`` and this bound when ``value`` lies outside it."""
        if not self.accepts(value):
            raise RelAttrError(f"{name} {self.problem(value)}")

    @property
    def largest(self) -> float:
        """The largest value inside (for tests that try every bound)."""
        return math.nextafter(self.hi, self.lo) if self.open_hi else self.hi


def ints(lo: int, hi: int) -> Bound:
    return Bound(lo, hi, integer=True)


def floats(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Bound:
    return Bound(float(lo), float(hi), open_lo=open_lo, open_hi=open_hi)


def check_bounds(source: Any, bounds: dict[str, Bound], *, owner: str = "") -> None:
    """Check each named value of ``source`` (a mapping, or an object such as a config, read by
    attribute) against its bound; None means "not set" and passes. The RelAttrError names the
    first value out of its range, prefixed by ``owner``."""
    for name, bound in bounds.items():
        value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
        if value is not None:
            bound.check(f"{owner}{name}", value)


def check_seeds(seeds) -> None:
    """An experiment's seeds: 1 to SEEDS.hi of them, each a valid seed."""
    if not 1 <= len(seeds) <= SEEDS.hi:
        raise RelAttrError(f"give 1 to {SEEDS.hi:,} seeds, not {len(seeds)}")
    for seed in seeds:
        SEED.check("seed", seed)


SEED = ints(0, 2**32 - 1)
THREADS = ints(1, 1024)
STEPS = ints(1, 100_000_000)
STEPS_OR_NONE = ints(0, 100_000_000)  # a count of steps where 0 means "none" (warm-up, KL warm-up)
BATCH = ints(2, 4096)
LR = floats(0.0, 1.0, open_lo=True)
SHARE = floats(0.0, 1.0)  # a share or a probability, ends included
SHARE_BELOW_ONE = floats(0.0, 1.0, open_hi=True)
IMAGE_SIZE = ints(16, 1024)
N_IMAGES = ints(2, 1_000_000)  # images a procedural dataset draws
SEEDS = ints(1, 1000)  # seeds of one experiment or training command
EPOCHS = floats(0.0, 100_000.0, open_lo=True)
WEIGHT_DECAY = floats(0.0, 10.0)
VAL_FRACTION = floats(0.0, 0.9)
PAIRS = ints(1, 100_000_000)
PATIENCE = ints(1, 1_000_000)
LR_SCALE = floats(0.0, 100.0)
LOSS_WEIGHT = floats(0.0, 1000.0)
RANKER_WIDTH = ints(2, 256)
GENERATOR_WIDTH = ints(4, 512)
Z_DIM = ints(0, 1024)
ORACLE_WIDTH = RANKER_WIDTH
LEGIBLE_QUANTILE = floats(0.5, 1.0, open_hi=True)  # of the real images a legible image is as typical as
BUDGET = ints(1, 1_000_000)
JITTER_AMOUNT = floats(0.0, 100.0, open_lo=True)
SPECTRUM_STEPS = ints(2, 64)
SPECTRUM_ROWS = ints(1, 64)
SPECTRUM_SPAN = floats(0.0, 10.0, open_lo=True)
SIMULATED_PAIRS = ints(1, 1_000_000)  # pairs one simulated labeling batch makes
FAITHFULNESS_N = ints(1, 1_000_000)
TWEAKS = ints(0, 10_000_000)
