"""Plain data of the label store: judgements, pair provenance, queue entries, import results.

Everything here is an immutable dataclass or enum that may cross threads. Only pixel
handling imports numpy and Pillow, lazily, so the store starts fast in a fresh process.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import io
import json
import operator
import sys
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Union

from relattr_studio.core.types import PairLabel


class Judgement(Enum):
    """A label as the person saw it: which side shows the attribute more."""

    LEFT_MORE = "left-more"
    RIGHT_MORE = "right-more"
    EQUAL = "equal"
    DISCARD = "discard"  # the pair cannot be judged (illegible generated image, broken file)

    def pair_label(self, left_is_a: bool) -> PairLabel | None:
        """The label normalised to the pair (a, b); None for DISCARD."""
        if self is Judgement.DISCARD:
            return None
        if self is Judgement.EQUAL:
            return PairLabel.EQUAL
        left_more = self is Judgement.LEFT_MORE
        return PairLabel.A_MORE if left_more == bool(left_is_a) else PairLabel.B_MORE


# --------------------------------------------------------------------------- provenance


GENERATED_PREFIX = "generated:"  # names of generated images imported into a dataset file: + pixel hash


def dataset_fingerprint(image_names: Sequence[str], image_shape: Sequence[int]) -> str:
    """A content fingerprint of a dataset: sha256 of its image count, image shape and names.

    It does not change when the file is moved, renamed, gets new pairs or gets generated
    images imported from a label store (names starting with :data:`GENERATED_PREFIX` are
    left out), and it does change when its own images are a different set.
    """
    own = [name for name in image_names if not name.startswith(GENERATED_PREFIX)]
    payload = json.dumps({"n": len(own), "shape": [int(s) for s in image_shape],
                          "names": own}, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DatasetRef:
    """Which dataset a pair comes from: name and path as last seen, and a content fingerprint."""

    name: str
    path: str
    fingerprint: str
    # how many images the dataset has, where the reference was made from the file itself
    # (not stored: the fingerprint says which dataset); a pair of it is checked against it
    n_images: int | None = field(default=None, compare=False)

    @classmethod
    def of(cls, dataset: Any) -> "DatasetRef":
        """The reference of an open :class:`DatasetFile` or of the dataset file at a path."""
        from relattr_studio.data.dataset_file import DatasetFile

        if isinstance(dataset, (str, Path)):
            with DatasetFile(dataset) as ds:
                return cls.of(ds)
        return cls(name=dataset.name, path=str(Path(dataset.path).resolve()),
                   fingerprint=dataset_fingerprint(dataset.image_names, dataset.image_shape),
                   n_images=len(dataset.image_names))


@dataclass(frozen=True)
class DatasetPair:
    """Images ``a`` and ``b`` of a dataset; ``pair_row`` is the row of its pairs table, if any."""

    dataset: DatasetRef
    a: int
    b: int
    pair_row: int | None = None

    def __post_init__(self) -> None:
        n = self.dataset.n_images
        for index in (self.a, self.b):
            try:
                ok = operator.index(index) >= 0 and (n is None or operator.index(index) < n)
            except TypeError:  # not a whole number (numpy's integers are)
                ok = False
            if not ok:
                bound = f"0..{n - 1}" if n is not None else "0 or more"
                raise ValueError(f"a pair of {self.dataset.name} names image {index!r}; its images are {bound}")


def _float32_tuple(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(array("f", [float(v) for v in values]))


def _float32_blob(values: tuple[float, ...]) -> bytes:
    arr = array("f", values)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tobytes()


def _float32_from_blob(blob: bytes) -> tuple[float, ...]:
    arr = array("f")
    arr.frombytes(blob)
    if sys.byteorder == "big":
        arr.byteswap()
    return tuple(arr)


@dataclass(frozen=True)
class GeneratedImage:
    """A generated image: its pixels and how it was made.

    ``pixels`` is a uint8 H x W x 3 array. Images read back from the store carry
    ``image_hash`` and, only where asked for, ``pixels`` (see :meth:`LabelStore.pixels`).
    ``y`` and ``z`` are kept as float32 (returned as tuples of the float32 values).
    Two images are equal when model, latents and pixel hash are; pixels are not compared.
    """

    model_id: str
    y: tuple[float, ...]
    z: tuple[float, ...]
    pixels: Any = field(default=None, compare=False, repr=False)
    image_hash: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "y", _float32_tuple(self.y))
        object.__setattr__(self, "z", _float32_tuple(self.z))
        if self.pixels is not None:
            import numpy as np

            px = np.ascontiguousarray(self.pixels)
            if px.dtype != np.uint8 or px.ndim != 3 or px.shape[2] != 3:
                raise ValueError(f"generated pixels must be uint8 H x W x 3, got {px.dtype} {px.shape}")
            object.__setattr__(self, "pixels", px)
            digest = pixel_hash(px)
            if self.image_hash is not None and self.image_hash != digest:
                raise ValueError("image_hash does not match the pixels")
            object.__setattr__(self, "image_hash", digest)
        elif self.image_hash is None:
            raise ValueError("a generated image needs its pixels (or the hash of pixels already stored)")


@dataclass(frozen=True)
class GeneratedPair:
    a: GeneratedImage
    b: GeneratedImage


Pair = Union[DatasetPair, GeneratedPair]


def pixel_hash(pixels: Any) -> str:
    """sha256 of ``"HxWx3:"`` followed by the raw RGB bytes: the key of the images table."""
    h, w, c = pixels.shape
    return hashlib.sha256(f"{h}x{w}x{c}:".encode() + pixels.tobytes()).hexdigest()


def encode_png(pixels: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "PNG")
    return buf.getvalue()


def decode_png(data: bytes) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB")).copy()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class JudgementRecord:
    """One judgement as stored. Plain data: safe to hand to another thread."""

    id: int
    attribute: str
    pair: Pair
    judgement: Judgement
    left_is_a: bool
    confidence: float | None
    annotator: str
    session: str
    created_utc: str
    created_unix: float
    pending_id: int | None = None
    undone: bool = False

    @property
    def label(self) -> PairLabel | None:
        """Normalised to the pair: A_MORE, B_MORE, EQUAL, or None for a discard."""
        return self.judgement.pair_label(self.left_is_a)


@dataclass(frozen=True)
class PendingPair:
    """A queue entry: a pair waiting for a judgement of ``attribute``."""

    id: int
    attribute: str
    pair: Pair
    priority: float = 0.0
    origin: str = ""
    created_utc: str = ""
    batch_id: int | None = None


@dataclass(frozen=True)
class BatchInfo:
    """A batch of queued pairs and how far its labeling has come.

    ``judged`` counts entries with an effective judgement that is not a discard,
    ``discarded`` those judged "can't tell", ``pending`` the rest; they add up to ``total``.
    ``details`` is the free-form JSON the maker stored (round number, generator id, ...).
    """

    id: int
    name: str
    origin: str
    created_utc: str
    total: int
    judged: int
    discarded: int
    pending: int
    details: dict = field(default_factory=dict, compare=False)

    @property
    def done(self) -> bool:
        return self.pending == 0

    def describe(self) -> str:
        """E.g. ``round 3: 37 of 50 judged, 2 discarded``."""
        text = f"{self.name}: {self.judged + self.discarded} of {self.total} judged"
        if self.discarded:
            text += f" ({self.discarded} can't tell)"
        return text


@dataclass(frozen=True)
class ImportResult:
    """What ``label_training.import_labels`` did: rows and images added, and why others were not."""

    added: int
    total_pairs: int
    added_images: int = 0  # generated images that became images of the file
    added_generated: int = 0  # of the pairs added, those showing generated images
    skipped_discard: int = 0
    skipped_generated: int = 0
    skipped_other_dataset: int = 0
    skipped_unknown_attribute: int = 0
    skipped_already_imported: int = 0
    unusable: list[str] = field(default_factory=list)  # judgements that cannot be right for the file, named

    def message(self) -> str:
        parts = [f"added {self.added} labelled pairs, {self.added_generated} of them generated "
                 f"({self.added_images} new images; {self.total_pairs} pairs in the file now)"]
        for name, n in (("discarded", self.skipped_discard),
                        ("generated pairs (left out)", self.skipped_generated),
                        ("from other datasets", self.skipped_other_dataset),
                        ("of attributes the dataset lacks", self.skipped_unknown_attribute),
                        ("imported before", self.skipped_already_imported)):
            if n:
                parts.append(f"skipped {n} {name}")
        if self.unusable:
            more = f" and {len(self.unusable) - 3} more" if len(self.unusable) > 3 else ""
            parts.append(f"could not import {len(self.unusable)}: " + "; ".join(self.unusable[:3]) + more)
        return "; ".join(parts)


def _now() -> tuple[str, float]:
    t = time.time()
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="microseconds"), t


def _default_annotator() -> str:
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no user name in this environment (containers, odd Windows setups)
        return "unknown"


_PAIR_SELECT = """
    x.kind, d.fingerprint, d.name, d.path, x.a, x.b, x.pair_row,
    ga.image_hash, ga.model_id, ga.y, ga.z, gb.image_hash, gb.model_id, gb.y, gb.z
"""
_PAIR_JOINS = """
    LEFT JOIN datasets d ON d.id = x.dataset_id
    LEFT JOIN generated_images ga ON ga.id = x.gen_a
    LEFT JOIN generated_images gb ON gb.id = x.gen_b
"""


def _pair_from_row(r: Sequence[Any]) -> Pair:
    kind, fp, name, path, a, b, row, ha, ma, ya, za, hb, mb, yb, zb = r
    if kind == "dataset":
        return DatasetPair(DatasetRef(name, path, fp), a, b, row)
    return GeneratedPair(
        GeneratedImage(ma, _float32_from_blob(ya), _float32_from_blob(za), image_hash=ha),
        GeneratedImage(mb, _float32_from_blob(yb), _float32_from_blob(zb), image_hash=hb),
    )
