"""Which pair to label next: the label store's queue first, then dataset or random pairs.

Plain Python (no Qt), so the order of pairs is testable without a display.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from relattr_studio.core.types import Split

DATASET_PAIRS = "dataset"
RANDOM_PAIRS = "random"


@dataclass(frozen=True)
class PairTask:
    """One pair to show: ``pair`` is the store's DatasetPair or GeneratedPair."""

    pair: Any
    attribute: str
    left_is_a: bool
    pending: Any = None  # the store's PendingPair when the pair came from the queue
    origin: str = DATASET_PAIRS

    def images(self, dataset) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) as uint8 H x W x 3 arrays, in presentation order."""
        if hasattr(self.pair, "dataset"):
            a, b = dataset.images([self.pair.a, self.pair.b])
        else:
            a, b = np.asarray(self.pair.a.pixels), np.asarray(self.pair.b.pixels)
        return (a, b) if self.left_is_a else (b, a)


class PairSource:
    """Yields :class:`PairTask` s: queued pairs, then unlabeled train pairs or random pairs.

    ``attribute`` None means mixed (every attribute). Left/right order is drawn from ``seed``
    so that a session can be replayed; the store keeps ``left_is_a`` with each judgement.
    """

    def __init__(self, dataset, store, *, attribute: str | None = None, mode: str = DATASET_PAIRS,
                 seed: int = 0):
        from relattr_studio.data.label_store import DatasetPair, DatasetRef

        self._DatasetPair = DatasetPair
        self.dataset = dataset
        self.store = store
        self.attribute = attribute
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.ref = DatasetRef.of(dataset)
        self._front: deque[PairTask] = deque()
        self._taken_pending: set[int] = set()
        self._queue_exhausted = store is None
        self._labeled = self._labeled_pairs()
        self._rows = self._candidate_rows() if mode == DATASET_PAIRS else np.zeros(0, np.int64)
        self._cursor = 0
        self._train_keys, self._train_counts, self._train_rows, self._train_done = self._train_pair_counts()

    # -- public -----------------------------------------------------------------------------

    def next(self) -> PairTask | None:
        if self._front:
            return self._front.popleft()
        task = self._from_queue()
        if task is None:
            task = self._from_dataset() if self.mode == DATASET_PAIRS else self._random()
        return task

    def push_front(self, task: PairTask) -> None:
        """Show ``task`` again next (after an undo)."""
        self._front.appendleft(task)

    def forget_labeled(self, task: PairTask) -> None:
        """An undone judgement: its pair may come again."""
        p = task.pair
        key = (task.attribute, min(p.a, p.b), max(p.a, p.b)) if hasattr(p, "dataset") else None
        if key in self._labeled:
            self._labeled.discard(key)
            self._count_train(key, -1)

    def mark_labeled(self, task: PairTask) -> None:
        p = task.pair
        key = (task.attribute, min(p.a, p.b), max(p.a, p.b)) if hasattr(p, "dataset") else None
        if key is not None and key not in self._labeled:
            self._labeled.add(key)
            self._count_train(key, +1)

    def train_progress(self) -> dict[str, tuple[int, int]]:
        """Per attribute: (train pairs of this dataset judged, train pairs in all).

        A train pair counts once it has an effective judgement of its attribute, whoever made
        it and however it was shown (train pair, random pair, queue), "can't tell" included:
        it is what the "not yet labeled" mode has left to show. Judgements of other pairs do
        not count here.
        """
        names = self.dataset.attribute_names
        return {name: (int(self._train_done[i]), int(self._train_rows[i])) for i, name in enumerate(names)}

    def remaining(self) -> int:
        return max(0, len(self._rows) - self._cursor)

    # -- sources ----------------------------------------------------------------------------

    def _labeled_pairs(self) -> set[tuple[str, int, int]]:
        if self.store is None:
            return set()
        done = set()
        for rec in self.store.judgements(dataset=self.ref, effective=True):
            p = rec.pair
            done.add((rec.attribute, min(p.a, p.b), max(p.a, p.b)))
        return done

    def _pair_key(self, attribute: int, lo, hi):
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
        labeled = [(index[k[0]], k[1], k[2]) for k in self._labeled if k[0] in index]
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

    def _candidate_rows(self) -> np.ndarray:
        t = self.dataset.pairs()
        mask = t.split == int(Split.TRAIN)
        if self.attribute is not None:
            mask &= t.attribute == self.dataset.attribute_names.index(self.attribute)
        rows = np.flatnonzero(mask)
        return rows[self.rng.permutation(len(rows))]

    def _from_queue(self) -> PairTask | None:
        if self._queue_exhausted:
            return None
        # Filter in SQL and decode pixels for the one pair served: the queue may hold
        # hundreds of generated pairs and other datasets' pairs.
        while items := self.store.pending(self.attribute, limit=16, with_pixels=False,
                                          labelable_with=self.ref.fingerprint, exclude=self._taken_pending):
            for item in items:
                self._taken_pending.add(item.id)  # served, or unusable here: never asked for again
                p = item.pair
                if hasattr(p, "dataset") and item.attribute not in self.dataset.attribute_names:
                    continue
                return PairTask(self.store.with_pixels(p), item.attribute, bool(self.rng.random() < 0.5),
                                pending=item, origin="queue")
        self._queue_exhausted = True  # refreshed when a new source is made
        return None

    def _from_dataset(self) -> PairTask | None:
        t = self.dataset.pairs()
        names = self.dataset.attribute_names
        while self._cursor < len(self._rows):
            r = int(self._rows[self._cursor])
            self._cursor += 1
            a, b, attr = int(t.a[r]), int(t.b[r]), names[int(t.attribute[r])]
            if (attr, min(a, b), max(a, b)) in self._labeled:
                continue
            pair = self._DatasetPair(self.ref, a, b, r)
            return PairTask(pair, attr, bool(self.rng.random() < 0.5), origin=DATASET_PAIRS)
        return None

    def _random(self) -> PairTask | None:
        n = len(self.dataset)
        if n < 2:
            return None
        a, b = (int(v) for v in self.rng.choice(n, size=2, replace=False))
        names = self.dataset.attribute_names
        attr = self.attribute if self.attribute is not None else names[int(self.rng.integers(len(names)))]
        return PairTask(self._DatasetPair(self.ref, a, b, None), attr, bool(self.rng.random() < 0.5),
                        origin=RANDOM_PAIRS)
