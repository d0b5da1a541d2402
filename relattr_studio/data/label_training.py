"""The label store's judgements as training pairs for a dataset: real pairs and generated ones.

:func:`labeled_pairs` turns a store's effective judgements (undone ones left out, discards
excluded) into a :class:`LabeledPairs`: a pairs table over the dataset's images followed by
the generated images the judgements show, with their pixels (resized to the dataset's image
size) and provenance. Training reads it in memory (``relattr train --labels``);
``relattr labels import`` writes the same thing into the dataset file
(:func:`import_labels`), generated images becoming images of the file. One function decides
what a judgement contributes, so the two never disagree.

A real pair refers to the dataset by content fingerprint, so labels stay valid when the file
moves; generated images appended to a dataset file are named ``generated:<pixel hash>`` and
left out of the fingerprint, so importing them does not orphan the labels made before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.types import PairGroup, PairSource, Split
from relattr_studio.data.images import resize_images
from relattr_studio.data.label_records import (
    GENERATED_PREFIX,
    GeneratedPair,
    ImportResult,
    JudgementRecord,
    dataset_fingerprint,
)
from relattr_studio.data.pairs import PairTable

if TYPE_CHECKING:
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore

SIMULATED_PREFIX = "simulated"  # annotator names of the simulated annotator start with it


@dataclass
class LabeledPairs:
    """Judgements as pairs over ``n_dataset`` dataset images plus ``len(images)`` generated ones.

    ``pairs.a`` / ``pairs.b`` below ``n_dataset`` are the dataset's images; ``n_dataset + k``
    is ``images[k]`` (uint8, the dataset's image size), made by ``model_ids[k]``, stored in the
    label store under ``image_hashes[k]``. ``judgement_ids`` are the store rows, one per pair.
    """

    pairs: PairTable
    n_dataset: int
    images: np.ndarray
    image_hashes: list[str]
    model_ids: list[str]
    judgement_ids: list[int]
    skipped: dict[str, int] = field(default_factory=dict)
    # judgements left out because they cannot be right for this file, each named
    # ("judgement 7 names images 0 and 1000000; the file has 120")
    unusable: list[str] = field(default_factory=list)

    @property
    def generated_rows(self) -> np.ndarray:
        """Which pairs show a generated image."""
        return (self.pairs.a >= self.n_dataset) | (self.pairs.b >= self.n_dataset)

    @property
    def n_real(self) -> int:
        return int((~self.generated_rows).sum())

    @property
    def n_generated(self) -> int:
        return int(self.generated_rows.sum())

    def summary(self) -> str:
        """E.g. ``120 real and 1,000 generated pairs (1,406 images); skipped 31 can't tell``."""
        text = (f"{self.n_real:,} real and {self.n_generated:,} generated pairs"
                f" ({len(self.images):,} generated images)")
        skipped = [f"{n:,} {why}" for why, n in self.skipped.items() if n]
        return text + ("; skipped " + ", ".join(skipped) if skipped else "")


def labeled_pairs(store: "LabelStore", dataset: "DatasetFile", *, min_confidence: float | None = None,
                  annotator: str | None = None, generated: bool = True, exclude: set[int] = frozenset(),
                  split: Split = Split.TRAIN) -> LabeledPairs:
    """The store's effective judgements that can train on ``dataset``, as pairs.

    Kept: judgements of this dataset's pairs (matched by content fingerprint) and of generated
    pairs (``generated=False`` leaves those out), of attributes the dataset has, with a label
    ("can't tell" is skipped) and, with ``min_confidence``, a confidence of at least that (a
    judgement made without a confidence passes: none was asked). ``exclude``: judgement ids
    to leave out (already imported). Skipped judgements are counted by reason.
    """
    fingerprint = dataset_fingerprint(dataset.image_names, dataset.image_shape)
    index = {name: i for i, name in enumerate(dataset.attribute_names)}
    skipped = dict.fromkeys(("can't tell", "below the confidence", "from other datasets",
                             "of attributes the dataset lacks", "imported before", "generated (left out)",
                             "naming images the file lacks"), 0)
    unusable: list[str] = []
    n = len(dataset)
    take: list[JudgementRecord] = []
    for r in store.judgements(annotator=annotator):
        is_generated = isinstance(r.pair, GeneratedPair)
        if is_generated and not generated:
            skipped["generated (left out)"] += 1
        elif not is_generated and r.pair.dataset.fingerprint != fingerprint:
            skipped["from other datasets"] += 1
        elif r.label is None:
            skipped["can't tell"] += 1
        elif r.attribute not in index:
            skipped["of attributes the dataset lacks"] += 1
        elif r.id in exclude:
            skipped["imported before"] += 1
        elif min_confidence is not None and r.confidence is not None and r.confidence < min_confidence:
            skipped["below the confidence"] += 1
        elif not is_generated and not (0 <= r.pair.a < n and 0 <= r.pair.b < n):
            # its images match by fingerprint, its indices do not: name it, and go on with the rest
            skipped["naming images the file lacks"] += 1
            unusable.append(f"judgement {r.id} names images {r.pair.a} and {r.pair.b}; the file has {n}")
        else:
            take.append(r)
    slot: dict[str, int] = {}
    hashes: list[str] = []
    models: list[str] = []
    images: list[np.ndarray] = []

    def image_index(img) -> int:
        if img.image_hash not in slot:
            slot[img.image_hash] = n + len(hashes)
            hashes.append(img.image_hash)
            models.append(img.model_id)
            images.append(store.pixels(img.image_hash))
        return slot[img.image_hash]

    a, b = [], []
    for r in take:
        if isinstance(r.pair, GeneratedPair):
            a.append(image_index(r.pair.a))
            b.append(image_index(r.pair.b))
        else:
            a.append(r.pair.a)
            b.append(r.pair.b)
    source = [PairSource.SIMULATED if r.annotator.startswith(SIMULATED_PREFIX) else PairSource.HUMAN for r in take]
    table = PairTable.build(
        a=a, b=b, attribute=[index[r.attribute] for r in take], label=[int(r.label) for r in take],
        confidence=[np.nan if r.confidence is None else r.confidence for r in take],
        source=np.asarray(source, np.int8) if take else PairSource.HUMAN, split=int(split), group=PairGroup.NONE)
    pixels = (np.concatenate([resize_images(im[None], dataset.image_shape) for im in images]) if images
              else np.zeros((0, *dataset.image_shape, 3), np.uint8))
    return LabeledPairs(table, n, pixels, hashes, models, [r.id for r in take], skipped, unusable)


def labeled_pairs_from(store_path: str | Path, dataset: "DatasetFile", *, min_confidence: float | None = None
                       ) -> LabeledPairs:
    """:func:`labeled_pairs` of the label store at ``store_path`` (a trainer's ``--labels``);
    a missing file is a DataFileError, not a new empty store."""
    from relattr_studio.data.label_store import LabelStore

    if not Path(store_path).is_file():
        raise DataFileError(store_path, "no such label store",
                            "give the labels file made in the window or by `relattr labels simulate`")
    with LabelStore(store_path) as store:
        return labeled_pairs(store, dataset, min_confidence=min_confidence)


def import_labels(store: "LabelStore", dataset_path: str | Path, *, split: Split = Split.TRAIN,
                  annotator: str | None = None, skip_imported: bool = True,
                  generated: bool = True) -> ImportResult:
    """Append ``store``'s effective judgements to the dataset file's pairs table.

    Generated pairs' images become images of the file (``generated:<hash>``; an image already
    there is reused). One atomic rewrite of the file, which also records the judgements it took
    (:meth:`LabelStore.judgement_keys`): a judgement already in this file is never added again,
    even when a crash came between the file's rename and the store's import log, and a copy of
    the file made before the import takes them. A file written before files kept that record
    goes by the store's log (keyed by the images' fingerprint) and gets the record with its next
    import; ``skip_imported=False`` ignores that log (another copy of such a file).
    """
    from relattr_studio.data.dataset_file import DatasetFile, append_pairs_and_images

    dataset_path = Path(dataset_path)
    with DatasetFile(dataset_path) as ds:
        fingerprint = dataset_fingerprint(ds.image_names, ds.image_shape)
        recorded = ds.meta.imported_judgements
        if recorded is not None:  # the file says what it holds: this store's judgements among them
            in_file = set(recorded)
            ids = {int(k.rpartition(":")[2]) for k in in_file if k.rpartition(":")[2].isdigit()}
            done = {i for i, key in store.judgement_keys(ids).items() if key in in_file}
        else:  # a file from before files kept the record: the store's log, keyed by the images' fingerprint
            done = store._imported_ids(fingerprint) if skip_imported else set()
        # what the log alone knew goes into the file's record with this import, so it is not lost
        carried = [] if recorded is not None else sorted(done)
        lp = labeled_pairs(store, ds, annotator=annotator, generated=generated, exclude=done, split=split)
        n_pairs = len(ds.meta.pairs)
        have = {name[len(GENERATED_PREFIX):]: i for i, name in enumerate(ds.image_names)
                if name.startswith(GENERATED_PREFIX)}
    counts = dict(skipped_discard=lp.skipped["can't tell"], skipped_generated=lp.skipped["generated (left out)"],
                  skipped_other_dataset=lp.skipped["from other datasets"],
                  skipped_unknown_attribute=lp.skipped["of attributes the dataset lacks"],
                  skipped_already_imported=lp.skipped["imported before"], unusable=list(lp.unusable))
    if not len(lp.pairs):
        return ImportResult(added=0, total_pairs=n_pairs, **counts)
    # Generated images the file already holds are reused; the others are appended in order.
    new = [k for k, h in enumerate(lp.image_hashes) if h not in have]
    position = {k: i for i, k in enumerate(new)}
    where = np.arange(lp.n_dataset + len(lp.images))
    for k, h in enumerate(lp.image_hashes):
        where[lp.n_dataset + k] = have[h] if h in have else lp.n_dataset + position[k]
    table = lp.pairs
    table.a, table.b = where[table.a].astype(table.a.dtype), where[table.b].astype(table.b.dtype)
    keys = store.judgement_keys([*carried, *lp.judgement_ids])
    total = append_pairs_and_images(dataset_path, table, images=lp.images[new],
                                    names=[GENERATED_PREFIX + lp.image_hashes[k] for k in new],
                                    imported=[keys[i] for i in [*carried, *lp.judgement_ids] if i in keys])
    store._log_import(lp.judgement_ids, fingerprint, str(dataset_path.resolve()))
    return ImportResult(added=len(table), total_pairs=total, added_images=len(new),
                        added_generated=lp.n_generated, **counts)
