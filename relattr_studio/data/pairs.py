"""The pairs table: one row per labelled image pair, for every attribute of a dataset."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split

PAIR_COLUMNS: dict[str, np.dtype] = {
    "a": np.dtype(np.int32),
    "b": np.dtype(np.int32),
    "attribute": np.dtype(np.int16),
    "label": np.dtype(np.int8),
    "confidence": np.dtype(np.float32),
    "agreement": np.dtype(np.float32),
    "source": np.dtype(np.int8),
    "split": np.dtype(np.int8),
    "group": np.dtype(np.int8),
}



@dataclass
class PairTable:
    """Columns of the pairs table as numpy arrays of equal length."""

    a: np.ndarray
    b: np.ndarray
    attribute: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    agreement: np.ndarray
    source: np.ndarray
    split: np.ndarray
    group: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in PAIR_COLUMNS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype).reshape(-1))
        n = len(self.a)
        bad = [name for name in PAIR_COLUMNS if len(getattr(self, name)) != n]
        if bad:
            raise ValueError(f"pair columns differ in length: {bad}")

    def __len__(self) -> int:
        return len(self.a)

    @classmethod
    def build(
        cls,
        a: Sequence[int] | np.ndarray,
        b: Sequence[int] | np.ndarray,
        attribute: Sequence[int] | np.ndarray | int,
        label: Sequence[int] | np.ndarray,
        *,
        confidence: Sequence[float] | np.ndarray | float = np.nan,
        agreement: Sequence[float] | np.ndarray | float = np.nan,
        source: Sequence[int] | np.ndarray | int = PairSource.REAL,
        split: Sequence[int] | np.ndarray | int = Split.TRAIN,
        group: Sequence[int] | np.ndarray | int = PairGroup.NONE,
    ) -> "PairTable":
        """Make a table; scalar columns are broadcast to the length of ``a``."""
        n = len(a)

        def col(value, name):
            arr = np.asarray(value, dtype=PAIR_COLUMNS[name])
            return np.full(n, arr, dtype=arr.dtype) if arr.ndim == 0 else arr

        return cls(
            a=col(a, "a"), b=col(b, "b"), attribute=col(attribute, "attribute"),
            label=col(label, "label"), confidence=col(confidence, "confidence"),
            agreement=col(agreement, "agreement"), source=col(source, "source"),
            split=col(split, "split"), group=col(group, "group"),
        )

    @classmethod
    def empty(cls) -> "PairTable":
        return cls(**{name: np.zeros(0, dtype) for name, dtype in PAIR_COLUMNS.items()})

    @classmethod
    def concat(cls, tables: Iterable["PairTable"]) -> "PairTable":
        tables = list(tables)
        if not tables:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(t, name) for t in tables]) for name in PAIR_COLUMNS})

    def select(self, mask_or_index: np.ndarray) -> "PairTable":
        return PairTable(**{name: getattr(self, name)[mask_or_index] for name in PAIR_COLUMNS})

    def where(
        self,
        *,
        attribute: int | None = None,
        split: int | None = None,
        group: int | None = None,
        source: int | None = None,
        non_equal: bool = False,
    ) -> "PairTable":
        """The rows matching every given condition."""
        mask = np.ones(len(self), dtype=bool)
        for name, value in (("attribute", attribute), ("split", split), ("group", group), ("source", source)):
            if value is not None:
                mask &= getattr(self, name) == int(value)
        if non_equal:
            mask &= self.label != PairLabel.EQUAL
        return self.select(mask)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in PAIR_COLUMNS}
