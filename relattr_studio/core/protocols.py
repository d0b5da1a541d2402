"""What the session holds, typed by what it offers: Protocols and one plain reference.

Core must import neither the data nor the modeling layer (nor torch, nor Qt), yet the session
holds a dataset, a label store, a generator and a ranker. These Protocols name what the
session and the views rely on of each; ``DatasetFile``, ``LabelStore``, ``AttributeGenerator``
and ``ProceduralGenerator`` satisfy them structurally (``tests/unit/test_session.py`` checks
the real classes). A ranker is held as a :class:`RankerRef`: a description of a checkpoint
file, plain data, so the session never owns a torch module; loading it is a view's job on a
worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: core never loads numpy-heavy or data-layer modules for these
    import numpy as np

    from relattr_studio.data.dataset_file import DatasetMeta
    from relattr_studio.data.label_records import DatasetRef
    from relattr_studio.data.pairs import PairTable


@runtime_checkable
class DatasetLike(Protocol):
    """An open dataset: metadata in memory, images read on demand (``data.DatasetFile``)."""

    @property
    def path(self) -> Path: ...

    @property
    def name(self) -> str: ...

    @property
    def attribute_names(self) -> list[str]: ...

    @property
    def image_names(self) -> list[str]: ...

    @property
    def strengths(self) -> np.ndarray | None:
        """N x A real-valued strengths (NaN where unknown), or None for a dataset without any."""

    @property
    def meta(self) -> DatasetMeta: ...

    @property
    def image_shape(self) -> tuple[int, int]: ...

    def __len__(self) -> int: ...

    def attribute_index(self, name: str) -> int: ...

    def image(self, index: int) -> np.ndarray:
        """One image, uint8 H x W x 3."""

    def pairs(self) -> PairTable:
        """The pairs table of the default protocol."""

    def close(self) -> None:
        """Release file handles (the session calls it when another dataset replaces this one)."""


@runtime_checkable
class LabelStoreLike(Protocol):
    """An open label store (``data.LabelStore``): what the session and the views read directly.

    The labeling sources and exports of the data layer take the store itself."""

    @property
    def path(self) -> Path: ...

    def progress(self, *, dataset: DatasetRef | str | None = None, generated: bool = False,
                 annotator: str | None = None) -> dict[str, int]:
        """Effective, non-discard judgements per attribute name."""

    def pending_count(self, attribute: str | None = None, *, labelable_with: str | None = None,
                      batch: int | None = None) -> int:
        """Pairs waiting in the labeling queue."""

    def close(self) -> None: ...


@runtime_checkable
class GeneratorLike(Protocol):
    """An attribute-conditioned generator: images from strengths y and latents z, with the
    identity prior N(mean, cov) it was trained with (``AttributeGenerator``,
    ``ProceduralGenerator``, or either behind ``LockedGenerator``)."""

    @property
    def attributes(self) -> Sequence[str]: ...

    @property
    def z_dim(self) -> int: ...

    @property
    def prior_mean(self) -> np.ndarray: ...

    @property
    def prior_cov(self) -> np.ndarray: ...

    @property
    def generator_id(self) -> str:
        """The id generated images are stored with in the label store."""

    def generate(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """uint8 images n x S x S x 3 for strengths y (n x A) and latents z (n x z_dim)."""


@runtime_checkable
class GalleryLike(Protocol):
    """A retrieval gallery: features of one dataset's images, searched with a query feature
    (FLAM's retrieval, next issue). It indexes the images of ``dataset_path`` only."""

    @property
    def dataset_path(self) -> Path: ...

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(image indices, similarities) of the ``k`` nearest gallery images, best first."""


RankerOrigin = Literal["trained", "opened"]


@dataclass(frozen=True)
class RankerRef:
    """A ranker checkpoint in the workspace: the file and what it is, without its weights.

    ``accuracy`` is the mean test accuracy over its attributes in percent, None when not
    known; ``origin`` says whether a training run of this window just made it ("trained") or
    the user opened the file ("opened").
    """

    path: str
    ranker: str = ""  # registry name ("ranknet", "deepstn", "dacrl"); "" when not known
    backbone: str = ""
    attributes: tuple[str, ...] = ()
    accuracy: float | None = None
    origin: RankerOrigin = "opened"

    @classmethod
    def describe(cls, path: str | Path, *, ranker: str = "", backbone: str = "",
                 attributes: Sequence[str] = (), test_accuracy: Mapping[str, float] | None = None,
                 origin: RankerOrigin = "opened") -> RankerRef:
        """A reference from what a run or a checkpoint's header says: ``test_accuracy`` is
        attribute -> percent on the test split (its attributes stand in when none are given)."""
        acc = {str(a): float(v) for a, v in (test_accuracy or {}).items()}
        return cls(str(path), str(ranker), str(backbone), tuple(attributes) or tuple(acc),
                   sum(acc.values()) / len(acc) if acc else None, origin)

    @property
    def name(self) -> str:
        """The checkpoint's file name."""
        return Path(self.path).name

    def title(self) -> str:
        """"ranknet on small-cnn" (or the file name when the header was not read)."""
        if not self.ranker:
            return self.name
        return f"{self.ranker} on {self.backbone}" if self.backbone else self.ranker

    def same_file(self, other: RankerRef | str | Path | None) -> bool:
        """True when ``other`` names the same checkpoint file."""
        if other is None:
            return False
        path = other.path if isinstance(other, RankerRef) else str(other)
        return Path(path).resolve() == Path(self.path).resolve()
