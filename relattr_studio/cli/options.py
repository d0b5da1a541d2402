"""Checked option types and the one-line parser: every number a user types has a range.

:func:`option` turns a :class:`~relattr_studio.core.bounds.Bound` (the ranges the Python API
checks too) into an argparse ``type=`` callable that refuses what is out of range (or not
finite) with the bound in the message, at parse time, before anything is read or written;
``ints(lo, hi)`` and ``floats(lo, hi)`` are the same for a range only the command line has.

:class:`Parser` prints a parse error as one line (``relattr train: error: argument --lr: ...
(relattr train --help lists the options)``) with exit status 2, instead of argparse's usage block.
"""

from __future__ import annotations

import argparse

from relattr_studio.core import bounds
from relattr_studio.core.bounds import Bound


def option(bound: Bound):
    """An argparse type: a number inside ``bound`` (the callable keeps it as ``.bound``)."""
    def parse(text: str):
        try:
            value = int(text, 10) if bound.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {bound.kind()}") from None
        if not bound.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {bound.kind()} in {bound.describe()}, not {text}")
        return value

    parse.__name__ = f"{'integer' if bound.integer else 'number'} in {bound.describe()}"
    parse.bound = bound  # read by the tests that try every bound
    return parse


def ints(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi]."""
    return option(bounds.ints(lo, hi))


def floats(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False):
    """An argparse type: a finite number in [lo, hi] (``open_lo`` / ``open_hi``: that end excluded)."""
    return option(bounds.floats(lo, hi, open_lo=open_lo, open_hi=open_hi))


SEED = option(bounds.SEED)
THREADS = option(bounds.THREADS)
STEPS = option(bounds.STEPS)
BATCH = option(bounds.BATCH)
LR = option(bounds.LR)
SHARE = option(bounds.SHARE)  # a share or a probability, ends included
SHARE_BELOW_ONE = option(bounds.SHARE_BELOW_ONE)
IMAGE_SIZE = option(bounds.IMAGE_SIZE)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the command and its --help, exit 2."""

    def error(self, message: str):  # noqa: D401 (argparse's signature)
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the options)\n")
