"""Checked option types and the one-line parser: every number a user types has a range.

``ints(lo, hi)`` and ``floats(lo, hi)`` are argparse ``type=`` callables that refuse what is out
of range (or not finite) with the bound in the message, at parse time, before anything is read
or written. The ranges are generous for real work and small enough that no value can exhaust
the machine's memory by itself; work whose size is only known from several options together
(a spectrum sheet, a dataset) is checked against the available memory where it starts
(:func:`relattr_studio.core.resources.check_memory`).

:class:`Parser` prints a parse error as one line (``relattr train: error: argument --lr: ...
(relattr train --help lists the options)``) with exit status 2, instead of argparse's usage block.
"""

from __future__ import annotations

import argparse
import math

SEED_MAX = 2**32 - 1
THREADS_MAX = 1024
STEPS_MAX = 100_000_000
BATCH_MAX = 4096
IMAGE_SIZE = (16, 1024)


def _format(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def ints(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must lie in {_format(lo)}..{_format(hi)}, not {text}")
        return value

    parse.__name__ = f"integer in {lo}..{hi}"
    return parse


def floats(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False):
    """An argparse type: a finite number in [lo, hi] (``open_lo`` / ``open_hi``: that end excluded)."""
    left, right = "(" if open_lo else "[", ")" if open_hi else "]"
    interval = f"{left}{_format(lo)}, {_format(hi)}{right}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = (lo < value if open_lo else lo <= value) and (value < hi if open_hi else value <= hi)
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}, not {text}")
        return value

    parse.__name__ = f"number in {interval}"
    return parse


SEED = ints(0, SEED_MAX)
THREADS = ints(1, THREADS_MAX)
STEPS = ints(1, STEPS_MAX)
BATCH = ints(2, BATCH_MAX)
LR = floats(0.0, 1.0, open_lo=True)
SHARE = floats(0.0, 1.0)  # a share or a probability, ends included
SHARE_BELOW_ONE = floats(0.0, 1.0, open_hi=True)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the command and its --help, exit 2."""

    def error(self, message: str):  # noqa: D401 (argparse's signature)
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the options)\n")
