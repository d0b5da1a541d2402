"""Procedural datasets, the embedded default: toy faces and toy shoes with exact ground truth.

``make_toy_faces`` / ``make_toy_shoes`` write a dataset file; ``sample_*`` and ``render_*``
are the pure pieces (strengths in [0, 1], nuisance factors, identities -> uint8 images) that
generators and oracles reuse. Everything is deterministic in the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.data.procedural.build import ProceduralKind, build_dataset
from relattr_studio.data.procedural.faces import FACE_ATTRIBUTES, FACE_PRIOR, render_faces, sample_faces
from relattr_studio.data.procedural.prior import Identities
from relattr_studio.data.procedural.protocol import PairProtocolOptions
from relattr_studio.data.procedural.shoes import (
    CATEGORICAL as SHOE_CATEGORICAL, SHOE_ATTRIBUTES, SHOE_PRIOR, render_shoes, sample_shoes,
)

TOY_FACES = ProceduralKind("toy-faces", FACE_ATTRIBUTES, sample_faces, render_faces, {})
TOY_SHOES = ProceduralKind("toy-shoes", SHOE_ATTRIBUTES, sample_shoes, render_shoes, SHOE_CATEGORICAL)


def make_toy_faces(out: Path, *, n: int = 5000, seed: int = 0, size: int = 64,
                   ctx: JobContext = NULL_CONTEXT, **protocol_options) -> Path:
    """Write a toy-faces dataset file at ``out`` (atomically); returns ``out``.

    ``protocol_options`` are :class:`PairProtocolOptions` fields (train_pairs, test_fine, ...).
    Reports progress through ``ctx`` and stops with Cancelled, leaving no file, when asked.
    """
    return build_dataset(TOY_FACES, out, n=n, seed=seed, size=size, ctx=ctx, **protocol_options)


def make_toy_shoes(out: Path, *, n: int = 5000, seed: int = 0, size: int = 64,
                   ctx: JobContext = NULL_CONTEXT, **protocol_options) -> Path:
    """Write a toy-shoes dataset file at ``out``; as :func:`make_toy_faces`."""
    return build_dataset(TOY_SHOES, out, n=n, seed=seed, size=size, ctx=ctx, **protocol_options)


PROCEDURAL_DATASETS: dict[str, Callable[..., Path]] = {
    "toy-faces": make_toy_faces,
    "toy-shoes": make_toy_shoes,
}

__all__ = [
    "FACE_ATTRIBUTES", "FACE_PRIOR", "SHOE_ATTRIBUTES", "SHOE_PRIOR", "SHOE_CATEGORICAL",
    "Identities", "PairProtocolOptions", "PROCEDURAL_DATASETS",
    "make_toy_faces", "make_toy_shoes", "render_faces", "render_shoes", "sample_faces", "sample_shoes",
]
