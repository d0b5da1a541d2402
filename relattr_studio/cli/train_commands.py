"""``relattr train`` and ``relattr eval``: rankers from the command line."""

from __future__ import annotations


def register(sub) -> None:
    """Add the training sub-commands (being built: see issue 3)."""
