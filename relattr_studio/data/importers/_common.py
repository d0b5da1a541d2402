"""Small helpers shared by the importers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.types import PairLabel


def require_dir(source: str | Path) -> Path:
    source = Path(source)
    if not source.is_dir():
        raise DataFileError(source, "not a folder" if source.exists() else "no such folder",
                            "give the folder that holds the dataset's files (see `relattr import --help`)")
    return source


def find_file(source: Path, names: Sequence[str], subdirs: Sequence[str] = ("", "data")) -> Path | None:
    """The first of ``names`` found in ``source`` or one of its usual sub-folders."""
    for sub in subdirs:
        for name in names:
            p = source / sub / name if sub else source / name
            if p.is_file():
                return p
    return None


def need_file(source: Path, names: Sequence[str], subdirs: Sequence[str] = ("", "data")) -> Path:
    found = find_file(source, names, subdirs)
    if found is None:
        where = ", ".join(str(Path(s) / names[0]) if s else names[0] for s in subdirs)
        raise DataFileError(source / names[0], f"{names[0]} not found (looked for {where} under {source})",
                            "check the folder layout (see `relattr import --help`)")
    return found


def find_dir(source: Path, names: Sequence[str]) -> Path | None:
    for name in names:
        if (source / name).is_dir():
            return source / name
    return None


def randomize_order(a: np.ndarray, b: np.ndarray, label: np.ndarray, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Swap a seeded half of the pairs so which image comes first carries no information."""
    rng = np.random.default_rng(seed)
    swap = rng.random(len(a)) < 0.5
    a2 = np.where(swap, b, a)
    b2 = np.where(swap, a, b)
    lab = np.where(swap, -np.asarray(label), label)
    return a2, b2, lab


def labels_from_123(values: np.ndarray, path: Path, what: str) -> np.ndarray:
    """UT-Zap50K's label column (1 = A more, 2 = B more, 3 = equal) as PairLabel values."""
    v = np.asarray(values, np.float64)
    ok = np.isin(v, [1, 2, 3])
    if not ok.all():
        bad = v[~ok][0]
        hint = "labels must be 1 (A more), 2 (B more) or 3 (equal)"
        if bad in (0, -1):
            hint += "; this looks like a 0-based or signed encoding"
        raise DataFileError(path, f"{what} holds label {bad:g} ({int((~ok).sum())} bad rows)", hint)
    out = np.full(len(v), int(PairLabel.EQUAL), np.int8)
    out[v == 1] = PairLabel.A_MORE
    out[v == 2] = PairLabel.B_MORE
    return out


def seed_for(seed: int, *parts: int) -> int:
    """A sub-seed for one attribute/split, stable across runs."""
    return int(np.random.SeedSequence([int(seed), *map(int, parts)]).generate_state(1)[0])
