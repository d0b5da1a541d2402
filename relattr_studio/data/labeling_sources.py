"""Labeling sources: which pair a person (or the simulated annotator) judges next.

A :class:`LabelingSource` hands out :class:`PairTask` s, one at a time, and hears which were
judged or undone. The Label pairs view and the CLI's simulated annotator consume the same
sources, so an offline experiment takes exactly the path a person's labels take:

* :class:`QueueSource`: the label store's pending queue (pairs sent from Explore, an ATTIC
  round, ...), asked afresh at every :meth:`next`, so pairs queued while someone labels come
  next without any other action;
* :class:`BatchSource`: one batch of the queue, in the order it was made, to its end;
* :class:`DatasetPairsSource`: a dataset's train pairs not yet labeled, in a seeded order;
* :class:`RandomPairsSource`: random pairs of a dataset's images;
* :class:`QueueFirst`: the queue, then another source (what Label pairs shows by default).

Plain Python (no Qt); left/right order is drawn from a seed so that a session can be replayed,
and the store keeps ``left_is_a`` with each judgement.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from relattr_studio.core.types import Split
from relattr_studio.data.label_records import (
    BatchInfo,
    DatasetPair,
    DatasetRef,
    GeneratedPair,
    Judgement,
    JudgementRecord,
    Pair,
    PendingPair,
)

if TYPE_CHECKING:
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore

QUEUE = "queue"
DATASET_PAIRS = "dataset"
RANDOM_PAIRS = "random"


@dataclass(frozen=True)
class PairTask:
    """One pair to show: which images, which attribute, which side is left, where it came from."""

    pair: Pair
    attribute: str
    left_is_a: bool
    pending: PendingPair | None = None  # the queue entry, when the pair came from the queue
    origin: str = DATASET_PAIRS

    def images(self, dataset: "DatasetFile | None") -> tuple[np.ndarray, np.ndarray]:
        """(left, right) as uint8 H x W x 3 arrays, in presentation order."""
        if isinstance(self.pair, DatasetPair):
            if dataset is None:
                raise ValueError("a dataset pair needs its dataset to show its images")
            a, b = dataset.images([self.pair.a, self.pair.b])
        else:
            a, b = np.asarray(self.pair.a.pixels), np.asarray(self.pair.b.pixels)
        return (a, b) if self.left_is_a else (b, a)

    def key(self) -> tuple[str, int, int] | None:
        """(attribute, lower index, higher index) of a dataset pair; None for a generated pair."""
        p = self.pair
        return (self.attribute, min(p.a, p.b), max(p.a, p.b)) if isinstance(p, DatasetPair) else None


def record_task(store: "LabelStore", task: PairTask, judgement: Judgement | str, *,
                confidence: float | None = None) -> JudgementRecord:
    """Commit a judgement of ``task`` as it was shown (the one way every front end saves one)."""
    return store.record(task.pair, task.attribute, Judgement(judgement), left_is_a=task.left_is_a,
                        confidence=confidence, pending_id=None if task.pending is None else task.pending.id)


@runtime_checkable
class LabelingSource(Protocol):
    """What a labeling front end asks for pairs. ``next`` returns None when nothing is left."""

    def next(self) -> PairTask | None: ...

    def push_front(self, task: PairTask) -> None:
        """Show ``task`` again next (after an undo, or a prefetched pair given back)."""

    def mark_labeled(self, task: PairTask) -> None:
        """``task`` was judged."""

    def forget_labeled(self, task: PairTask) -> None:
        """``task``'s judgement was undone: it may come again."""


class _Front:
    """Tasks given back (undo, prefetch returned), served before anything new."""

    def __init__(self) -> None:
        self._front: deque[PairTask] = deque()

    def push_front(self, task: PairTask) -> None:
        self._front.appendleft(task)

    def _pop_front(self) -> PairTask | None:
        return self._front.popleft() if self._front else None

    def mark_labeled(self, task: PairTask) -> None:
        pass

    def forget_labeled(self, task: PairTask) -> None:
        pass


# --------------------------------------------------------------------------- the queue


class QueueSource(_Front):
    """The label store's pending entries, highest priority first (or one batch in its order).

    ``dataset`` (or None) decides which dataset pairs can be shown: generated pairs always
    can, dataset pairs only when they are of this dataset and of one of its attributes.
    The store is asked again at every :meth:`next`; entries already handed out are not
    handed out twice (an undone one comes back through :meth:`push_front`).
    """

    def __init__(self, store: "LabelStore", dataset: "DatasetFile | None" = None, *, attribute: str | None = None,
                 batch: int | None = None, seed: int = 0):
        super().__init__()
        self.store, self.dataset, self.attribute, self.batch_id = store, dataset, attribute, batch
        self.rng = np.random.default_rng(seed)
        self.ref = DatasetRef.of(dataset) if dataset is not None else None
        self._taken: set[int] = set()  # handed out; an undone one comes back through push_front, not the store

    @property
    def _fingerprint(self) -> str:
        # No dataset: a fingerprint no dataset has, so only generated pairs pass.
        return self.ref.fingerprint if self.ref is not None else "-"

    def next(self) -> PairTask | None:
        front = self._pop_front()
        if front is not None:
            return front
        # Filter in SQL and decode pixels for the one pair served: the queue may hold
        # hundreds of generated pairs and other datasets' pairs.
        while items := self.store.pending(self.attribute, limit=16, with_pixels=False, batch=self.batch_id,
                                          labelable_with=self._fingerprint, exclude=self._taken):
            for item in items:
                self._taken.add(item.id)  # served, or unusable here: never asked for again
                if isinstance(item.pair, DatasetPair) and item.attribute not in self.dataset.attribute_names:
                    continue
                return PairTask(self.store.with_pixels(item.pair), item.attribute, bool(self.rng.random() < 0.5),
                                pending=item, origin=QUEUE)
        return None

    def count(self) -> int:
        """Entries still to judge here (the one on screen included)."""
        return self.store.pending_count(self.attribute, labelable_with=self._fingerprint, batch=self.batch_id)


class BatchSource(QueueSource):
    """One batch of the queue, in the order its pairs were made, until every pair is judged."""

    def __init__(self, store: "LabelStore", batch: int, dataset: "DatasetFile | None" = None, *,
                 attribute: str | None = None, seed: int = 0):
        store.batch(batch)  # KeyError for a batch that does not exist
        super().__init__(store, dataset, attribute=attribute, batch=batch, seed=seed)

    def info(self) -> BatchInfo:
        return self.store.batch(self.batch_id)


# --------------------------------------------------------------------------- a dataset's pairs


class JudgedPairs:
    """Which of a dataset's pairs have an effective judgement, and its train pairs' progress.

    A train pair counts once it has an effective judgement of its attribute, whoever made it
    and however it was shown (train pair, random pair, queue), "can't tell" included: it is
    what the "not yet labeled" mode has left to show.
    """

    def __init__(self, dataset: "DatasetFile", store: "LabelStore | None"):
        self.dataset = dataset
        self.ref = DatasetRef.of(dataset)
        self.keys: set[tuple[str, int, int]] = set()
        if store is not None:
            for rec in store.judgements(dataset=self.ref, effective=True):
                p = rec.pair
                self.keys.add((rec.attribute, min(p.a, p.b), max(p.a, p.b)))
        self._train_keys, self._train_counts, self._train_rows, self._train_done = self._train_pair_counts()

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self.keys

    def mark(self, task: PairTask) -> None:
        key = task.key()
        if key is not None and key not in self.keys:
            self.keys.add(key)
            self._count_train(key, +1)

    def forget(self, task: PairTask) -> None:
        key = task.key()
        if key in self.keys:
            self.keys.discard(key)
            self._count_train(key, -1)

    def train_progress(self) -> dict[str, tuple[int, int]]:
        """Per attribute: (train pairs of this dataset judged, train pairs in all)."""
        names = self.dataset.attribute_names
        return {name: (int(self._train_done[i]), int(self._train_rows[i])) for i, name in enumerate(names)}

    def _pair_key(self, attribute, lo, hi):
        n = len(self.dataset)
        return (np.asarray(attribute, np.int64) * n + lo) * n + hi

    def _train_pair_counts(self):
        """Train rows per distinct (attribute, pair) key, and how many are judged, per attribute."""
        t, names = self.dataset.pairs(), self.dataset.attribute_names
        train = t.split == int(Split.TRAIN)
        a, b, attr = t.a[train].astype(np.int64), t.b[train].astype(np.int64), t.attribute[train].astype(np.int64)
        keys, counts = np.unique(self._pair_key(attr, np.minimum(a, b), np.maximum(a, b)), return_counts=True)
        rows = np.bincount(attr, minlength=len(names))
        done = np.zeros(len(names), np.int64)
        index = {name: i for i, name in enumerate(names)}
        labeled = [(index[k[0]], k[1], k[2]) for k in self.keys if k[0] in index]
        if labeled and len(keys):
            lk = self._pair_key(*np.array(labeled, np.int64).T)
            pos = np.clip(np.searchsorted(keys, lk), 0, len(keys) - 1)
            hit = keys[pos] == lk
            done = np.bincount(lk[hit] // (len(self.dataset) ** 2), weights=counts[pos[hit]],
                               minlength=len(names)).astype(np.int64)
        return keys, counts, rows, done

    def _count_train(self, key: tuple[str, int, int], sign: int) -> None:
        names = self.dataset.attribute_names
        if key[0] not in names or not len(self._train_keys):
            return
        i = names.index(key[0])
        k = int(self._pair_key(i, key[1], key[2]))
        pos = min(int(np.searchsorted(self._train_keys, k)), len(self._train_keys) - 1)
        if self._train_keys[pos] == k:
            self._train_done[i] += sign * int(self._train_counts[pos])


class DatasetPairsSource(_Front):
    """A dataset's train pairs (of ``attribute``, or all) without a judgement yet, in a seeded order."""

    def __init__(self, dataset: "DatasetFile", labeled: JudgedPairs, *, attribute: str | None = None,
                 seed: int = 0):
        super().__init__()
        self.dataset, self.labeled, self.attribute = dataset, labeled, attribute
        self.rng = np.random.default_rng(seed)
        t = dataset.pairs()
        mask = t.split == int(Split.TRAIN)
        if attribute is not None:
            mask &= t.attribute == dataset.attribute_names.index(attribute)
        rows = np.flatnonzero(mask)
        self._rows = rows[self.rng.permutation(len(rows))]
        self._cursor = 0

    def mark_labeled(self, task: PairTask) -> None:
        self.labeled.mark(task)

    def forget_labeled(self, task: PairTask) -> None:
        self.labeled.forget(task)

    def next(self) -> PairTask | None:
        front = self._pop_front()
        if front is not None:
            return front
        t, names = self.dataset.pairs(), self.dataset.attribute_names
        while self._cursor < len(self._rows):
            r = int(self._rows[self._cursor])
            self._cursor += 1
            a, b, attr = int(t.a[r]), int(t.b[r]), names[int(t.attribute[r])]
            if (attr, min(a, b), max(a, b)) in self.labeled:
                continue
            return PairTask(DatasetPair(self.labeled.ref, a, b, r), attr, bool(self.rng.random() < 0.5),
                            origin=DATASET_PAIRS)
        return None

    def remaining(self) -> int:
        return max(0, len(self._rows) - self._cursor)


class RandomPairsSource(_Front):
    """Endless random pairs of a dataset's distinct images, of ``attribute`` or a random one."""

    def __init__(self, dataset: "DatasetFile", *, attribute: str | None = None, seed: int = 0):
        super().__init__()
        self.dataset, self.attribute = dataset, attribute
        self.rng = np.random.default_rng(seed)
        self.ref = DatasetRef.of(dataset)

    def next(self) -> PairTask | None:
        front = self._pop_front()
        if front is not None:
            return front
        n = len(self.dataset)
        if n < 2:
            return None
        a, b = (int(v) for v in self.rng.choice(n, size=2, replace=False))
        names = self.dataset.attribute_names
        attr = self.attribute if self.attribute is not None else names[int(self.rng.integers(len(names)))]
        return PairTask(DatasetPair(self.ref, a, b, None), attr, bool(self.rng.random() < 0.5), origin=RANDOM_PAIRS)


class QueueFirst(_Front):
    """The queue first, then ``then``: a pair queued at any moment is the next one served."""

    def __init__(self, queue: QueueSource, then: LabelingSource | None):
        super().__init__()
        self.queue, self.then = queue, then

    def next(self) -> PairTask | None:
        front = self._pop_front()
        if front is not None:
            return front
        task = self.queue.next()
        if task is None and self.then is not None:
            task = self.then.next()
        return task

    def give_back(self, task: PairTask) -> None:
        """Return a prefetched, unseen task to the source it came from (it is served again later)."""
        (self.queue if task.origin == QUEUE else self.then or self.queue).push_front(task)

    def mark_labeled(self, task: PairTask) -> None:
        for s in (self.queue, self.then):
            if s is not None:
                s.mark_labeled(task)

    def forget_labeled(self, task: PairTask) -> None:
        for s in (self.queue, self.then):
            if s is not None:
                s.forget_labeled(task)


def labeling_source(dataset: "DatasetFile | None", store: "LabelStore | None", *, mode: str = DATASET_PAIRS,
                    attribute: str | None = None, batch: int | None = None, seed: int = 0,
                    labeled: JudgedPairs | None = None) -> LabelingSource | None:
    """The source a labeling front end uses for ``mode``.

    ``mode`` is ``"dataset"`` (queue, then train pairs not yet labeled), ``"random"`` (queue,
    then random pairs), ``"queue"`` (the queue only) or ``"batch"`` (batch ``batch`` only).
    None when there is nothing to label from (no dataset and no store).
    """
    if mode == "batch":
        if store is None or batch is None:
            raise ValueError("labeling a batch needs a label store and a batch id")
        return BatchSource(store, batch, dataset, attribute=attribute, seed=seed)
    queue = QueueSource(store, dataset, attribute=attribute, seed=seed) if store is not None else None
    if mode == QUEUE:
        return queue
    if mode not in (DATASET_PAIRS, RANDOM_PAIRS):
        raise ValueError(f"labeling mode must be dataset, random, queue or batch, not {mode!r}")
    then: LabelingSource | None = None
    if dataset is not None:
        if mode == DATASET_PAIRS:
            then = DatasetPairsSource(dataset, labeled or JudgedPairs(dataset, store), attribute=attribute, seed=seed)
        else:
            then = RandomPairsSource(dataset, attribute=attribute, seed=seed)
    if queue is None:
        return then
    return QueueFirst(queue, then)


__all__ = [
    "BatchSource", "DATASET_PAIRS", "DatasetPairsSource", "GeneratedPair", "JudgedPairs", "LabelingSource",
    "PairTask", "QUEUE", "QueueFirst", "QueueSource", "RANDOM_PAIRS", "RandomPairsSource", "labeling_source",
    "record_task",
]
