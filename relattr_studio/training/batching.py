"""Training batches: which images to score and which labelled pairs to form among them.

Two strategies, selectable so their labelled pairs per second can be compared:

* ``all-pairs`` scores every image of a batch once and forms every labelled pair among them.
  Category-level data (PubFig, OSR: every image pair has a label, from class ranks) gives a
  dense label matrix: a batch of B images yields B (B - 1) / 2 pairs per attribute. A sparse
  pair table gives a batch of B / 2 pairs, their unique images, and every other labelled pair
  whose two images happen to be in the batch.
* ``siamese`` is the per-pair loop of the reference code: B / 2 pairs per step, the first and
  the second images of the pairs forwarded separately (``Batch.separate``).

A :class:`Batch` holds image indices into the dataset and, per pair, positions into those
images, the head index and the RankNet target (1, 0 or 0.5). Samplers are seeded numpy
generators, so a run is reproducible, and shard each step by rank for distributed training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relattr_studio.core.types import PairLabel
from relattr_studio.data.pairs import PairTable

BATCHINGS = ("all-pairs", "siamese")


@dataclass
class Batch:
    images: np.ndarray  # int64 dataset indices of the images to score
    i: np.ndarray  # int64 positions into ``images``
    j: np.ndarray
    head: np.ndarray  # int64 head (attribute position in the model)
    target: np.ndarray  # float32 P(i > j)
    separate: bool = False  # siamese: images = [first images..., second images...], forwarded apart

    @property
    def n_pairs(self) -> int:
        return len(self.i)


def local_pairs(pairs: PairTable, attribute_ids: list[int]) -> PairTable:
    """Rows of ``attribute_ids`` with their attribute column remapped to head positions."""
    keep = np.isin(pairs.attribute, attribute_ids)
    table = pairs.select(keep)
    remap = np.full(int(max(attribute_ids)) + 1, -1, np.int64)
    remap[np.asarray(attribute_ids)] = np.arange(len(attribute_ids))
    table.attribute = remap[table.attribute].astype(np.int16)
    return table


def category_strengths(meta, pairs: PairTable, attribute_ids: list[int]) -> np.ndarray | None:
    """N x A' per-image category strengths when the labels are category level, else None.

    Category level means: the dataset has identities and strengths, every image of one identity
    has the same strength for each attribute, and every pair label is the sign of the strength
    difference. Then every pair of images has a label, and a dense matrix can be formed.
    """
    if meta.strengths is None or meta.identities is None or len(pairs) == 0:
        return None
    s = meta.strengths[:, attribute_ids].astype(np.float64)
    ids = meta.identities
    if np.isnan(s).any() or (ids < 0).any():
        return None
    for ident in np.unique(ids):
        block = s[ids == ident]
        if not np.all(block == block[0]):
            return None
    local = np.asarray(pairs.attribute, np.int64)
    derived = np.sign(s[pairs.a, local] - s[pairs.b, local])
    if not np.array_equal(derived.astype(np.int8), pairs.label):
        return None
    return s.astype(np.float32)


def targets(labels: np.ndarray) -> np.ndarray:
    return ((np.asarray(labels, np.float32) + 1.0) / 2.0).astype(np.float32)


class _EpochOrder:
    """Seeded endless permutation stream of ``n`` items; ``take(k)`` the next k."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n, self.rng = n, rng
        self.order, self.pos = rng.permutation(n), 0
        self.epoch = 0

    def take(self, k: int) -> np.ndarray:
        out = []
        while k > 0:
            if self.pos >= self.n:
                self.order, self.pos, self.epoch = self.rng.permutation(self.n), 0, self.epoch + 1
            chunk = self.order[self.pos:self.pos + k]
            self.pos += len(chunk)
            k -= len(chunk)
            out.append(chunk)
        return np.concatenate(out)

    def state(self) -> dict:
        return {"order": self.order.tolist(), "pos": self.pos, "epoch": self.epoch}

    def load(self, state: dict) -> None:
        self.order, self.pos, self.epoch = np.asarray(state["order"], np.int64), int(state["pos"]), int(state["epoch"])


class PairSampler:
    """Endless seeded batches of the training pairs (``pairs`` has head positions as attribute).

    ``batch_size`` counts images per step and per rank (the paper's 32 = 16 pairs).
    ``dense``: per-image category strengths (see :func:`category_strengths`); with it,
    all-pairs batches sample images, not pairs. ``rank``/``world`` shard every global step.
    ``both_orders``: add (j, i, 1 - t) for every pair (pairwise rankers such as DACRL).
    ``max_pairs``: keep at most this many image pairs a step (each with all its attributes'
    labels), drawn at random. A pairwise ranker compares every image pair of a batch through
    its own head, so all-pairs batching of 32 category-labelled images costs 496 (992 in both
    orders) head passes; the cap bounds that while every image is still scored once.
    """

    def __init__(self, pairs: PairTable, *, batch_size: int, batching: str = "all-pairs",
                 dense: np.ndarray | None = None, seed: int = 0, rank: int = 0, world: int = 1,
                 both_orders: bool = False, n_heads: int | None = None, max_pairs: int | None = None):
        if batching not in BATCHINGS:
            raise ValueError(f"batching must be one of {BATCHINGS}")
        if len(pairs) == 0:
            raise ValueError("no training pairs")
        self.pairs, self.batching, self.dense = pairs, batching, dense
        self.batch_size = max(2, int(batch_size))
        self.rank, self.world, self.both_orders = rank, world, both_orders
        self.n_heads = n_heads if n_heads is not None else int(pairs.attribute.max()) + 1
        self.rng = np.random.default_rng(seed)
        if max_pairs is not None and max_pairs < 1:
            raise ValueError("max_pairs must be at least 1")
        self.max_pairs = max_pairs
        # its own stream, per rank: ranks draw from it unevenly, and the shared order must not drift
        self.cap_rng = np.random.default_rng([seed, rank, 1])
        self.n_images = int(max(pairs.a.max(), pairs.b.max())) + 1
        if batching == "all-pairs" and dense is not None:
            self.train_images = np.unique(np.concatenate([pairs.a, pairs.b])).astype(np.int64)
            self.order = _EpochOrder(len(self.train_images), self.rng)
        else:
            self.order = _EpochOrder(len(pairs), self.rng)

    @property
    def labelled_pairs(self) -> int:
        """Labelled training pairs: the table's rows, or every pair of training images (dense)."""
        if self.batching == "all-pairs" and self.dense is not None:
            n = len(self.train_images)
            return n * (n - 1) // 2 * self.dense.shape[1]
        return len(self.pairs)

    @property
    def steps_per_epoch(self) -> int:
        """Global steps for as many labelled pairs as the training set has (an epoch)."""
        if self.batching == "all-pairs" and self.dense is not None:
            image_pairs = self.batch_size * (self.batch_size - 1) // 2
            per_step = min(image_pairs, self.max_pairs or image_pairs) * self.dense.shape[1]
        else:
            per_step = min(self.batch_size // 2, self.max_pairs or self.batch_size)
        return max(1, -(-self.labelled_pairs // (per_step * self.world)))

    @property
    def epoch(self) -> int:
        return self.order.epoch

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": self.order.state(),
                "cap_rng": self.cap_rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        if "cap_rng" in state:
            self.cap_rng.bit_generator.state = state["cap_rng"]
        self.order.load(state["order"])

    def next(self) -> Batch:
        if self.batching == "all-pairs" and self.dense is not None:
            batch = self._dense_batch()
        elif self.batching == "all-pairs":
            batch = self._sparse_batch()
        else:
            batch = self._siamese_batch()
        if self.max_pairs is not None:
            batch = self._capped(batch)
        if self.both_orders:
            batch = Batch(batch.images, np.concatenate([batch.i, batch.j]), np.concatenate([batch.j, batch.i]),
                          np.concatenate([batch.head, batch.head]),
                          np.concatenate([batch.target, 1.0 - batch.target]).astype(np.float32), batch.separate)
        return batch

    def _capped(self, batch: Batch) -> Batch:
        key = batch.i * len(batch.images) + batch.j
        unique = np.unique(key)
        if len(unique) <= self.max_pairs:
            return batch
        keep = np.isin(key, self.cap_rng.choice(unique, self.max_pairs, replace=False))
        return Batch(batch.images, batch.i[keep], batch.j[keep], batch.head[keep], batch.target[keep], batch.separate)

    def _shard(self, k: int) -> np.ndarray:
        chunk = self.order.take(k * self.world)
        return chunk[self.rank * k:(self.rank + 1) * k]

    def _dense_batch(self) -> Batch:
        images = np.sort(self.train_images[self._shard(self.batch_size)])
        i, j = np.triu_indices(len(images), 1)
        s = self.dense[images]  # B x A
        lab = np.sign(s[i] - s[j])  # pairs x A
        heads = np.arange(s.shape[1])
        ii = np.repeat(i, len(heads))
        jj = np.repeat(j, len(heads))
        hh = np.tile(heads, len(i))
        return Batch(images, ii.astype(np.int64), jj.astype(np.int64), hh.astype(np.int64),
                     targets(lab.reshape(-1)))

    def _sparse_batch(self) -> Batch:
        rows = self._shard(self.batch_size // 2)
        images = np.unique(np.concatenate([self.pairs.a[rows], self.pairs.b[rows]])).astype(np.int64)
        inside = np.zeros(self.n_images, bool)
        inside[images] = True
        extra = np.flatnonzero(inside[self.pairs.a] & inside[self.pairs.b])
        pos = np.full(self.n_images, -1, np.int64)
        pos[images] = np.arange(len(images))
        p = self.pairs
        return Batch(images, pos[p.a[extra]], pos[p.b[extra]], p.attribute[extra].astype(np.int64),
                     targets(p.label[extra]))

    def _siamese_batch(self) -> Batch:
        rows = self._shard(self.batch_size // 2)
        p, n = self.pairs, len(rows)
        images = np.concatenate([p.a[rows], p.b[rows]]).astype(np.int64)
        return Batch(images, np.arange(n), n + np.arange(n), p.attribute[rows].astype(np.int64),
                     targets(p.label[rows]), separate=True)


def is_equal(label: np.ndarray) -> np.ndarray:
    return np.asarray(label) == PairLabel.EQUAL
