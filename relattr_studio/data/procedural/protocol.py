"""Pair protocols of the procedural datasets.

Images are split first, by identity, so that no test image (nor any image of a test
identity) is ever seen in training. Then, per attribute:

- train (and a small val) pairs: random pairs of train images labelled by the
  :class:`~relattr_studio.data.annotator.SimulatedAnnotator` (source SIMULATED): human-like
  noise, equal calls and discards, as the public datasets' crowd labels have; a ranker that
  trains on them faces what it would face on real data. Discarded pairs are replaced, so each
  attribute gets its full budget;
- test pairs from exact ground truth (source REAL: the dataset's own annotation), never
  noisy: COARSE pairs differ by at least ``coarse_min`` and FINE pairs by between
  ``fine_min`` and ``fine_max`` (like UT-Zap50K-2: small enough to be hard, large enough that
  a person sees it at 64 px and the truth orders every one).

Strengths are in [0, 1], so differences are shares of an attribute's full range.
Named protocols: ``sparse-200`` keeps only the first 200 train pairs per attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split
from relattr_studio.data.annotator import AnnotatorConfig, GroundTruthOracle, SimulatedAnnotator
from relattr_studio.data.dataset_file import PairTable, Protocol


@dataclass(frozen=True)
class PairProtocolOptions:
    train_pairs: int = 1000  # labelled train pairs per attribute (the label budget)
    val_pairs: int = 100  # per attribute, from train images, labelled by the annotator
    test_coarse: int = 300  # per attribute
    test_fine: int = 300  # per attribute
    test_fraction: float = 0.2  # share of identities held out for testing
    coarse_min: float = 0.40
    fine_min: float = 0.08
    fine_max: float = 0.16
    sparse_budget: int = 200  # train pairs per attribute in the "sparse-200" protocol
    annotator_noise: float = 0.05
    annotator_flip_rate: float = 0.03
    annotator_equal_threshold: float = 0.02
    annotator_discard_rate: float = 0.05

    @classmethod
    def from_kwargs(cls, **kwargs) -> "PairProtocolOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"unknown protocol option(s) {unknown}; known: {sorted(known)}")
        opts = cls(**kwargs)
        if not 0.0 < opts.test_fraction < 1.0:
            raise ValueError("test_fraction must be in (0, 1)")
        if not 0.0 < opts.fine_min < opts.fine_max <= opts.coarse_min:
            raise ValueError("need 0 < fine_min < fine_max <= coarse_min")
        if not 0.0 <= opts.annotator_discard_rate < 1.0:
            # train pairs are drawn until the budget is met: an annotator that discards
            # everything would never meet it
            raise ValueError("annotator_discard_rate must be in [0, 1)")
        return opts

    @property
    def annotator(self) -> AnnotatorConfig:
        return AnnotatorConfig(self.annotator_noise, self.annotator_flip_rate,
                               self.annotator_equal_threshold, self.annotator_discard_rate)


def split_by_identity(identity: np.ndarray, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Split value per image (TRAIN or TEST); all images of an identity share it."""
    ids = np.unique(identity)
    n_test = min(len(ids) - 1, max(1, int(round(test_fraction * len(ids))))) if len(ids) > 1 else 0
    test_ids = rng.choice(ids, size=n_test, replace=False)
    split = np.full(len(identity), Split.TRAIN, np.int8)
    split[np.isin(identity, test_ids)] = Split.TEST
    return split


def _random_pairs(pool: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.choice(pool, n)
    b = rng.choice(pool, n)
    same = a == b
    while same.any():
        b[same] = rng.choice(pool, int(same.sum()))
        same = a == b
    return a, b


def _pairs_in_band(pool, s, lo, hi, n, rng, max_rounds: int = 200):
    """n random pairs of pool images whose |s_a - s_b| lies in [lo, hi] (fewer if rare)."""
    got_a, got_b, have = [], [], 0
    for _ in range(max_rounds):
        if have >= n:
            break
        a, b = _random_pairs(pool, max(4 * (n - have), 256), rng)
        d = np.abs(s[a] - s[b])
        ok = (d >= lo) & (d <= hi)
        got_a.append(a[ok]), got_b.append(b[ok])
        have += int(ok.sum())
    a, b = np.concatenate(got_a)[:n], np.concatenate(got_b)[:n]
    return a, b


def make_pairs(strengths: np.ndarray, identity: np.ndarray, attribute_names, seed: int,
               opts: PairProtocolOptions) -> tuple[PairTable, dict[str, Protocol], np.ndarray]:
    """The pairs table, named protocols and the image split (TRAIN/TEST per image)."""
    rng = np.random.default_rng([seed, 0x9A1E])
    s = np.asarray(strengths, np.float64)
    image_split = split_by_identity(identity, opts.test_fraction, rng)
    train_pool = np.flatnonzero(image_split == Split.TRAIN)
    test_pool = np.flatnonzero(image_split == Split.TEST)
    annotator = SimulatedAnnotator(GroundTruthOracle(s, attribute_names), opts.annotator, seed=seed)
    tables = []
    for ai in range(len(attribute_names)):
        for split, budget in ((Split.TRAIN, opts.train_pairs), (Split.VAL, opts.val_pairs)):
            a_all, b_all, lab, conf = [], [], [], []
            have = 0
            while have < budget and len(train_pool) > 1:
                a, b = _random_pairs(train_pool, budget - have, rng)
                j = annotator.annotate(a, b, ai)
                k = j.kept
                a_all.append(a[k]), b_all.append(b[k]), lab.append(j.label[k]), conf.append(j.confidence[k])
                have += int(k.sum())
            if have:
                tables.append(PairTable.build(np.concatenate(a_all), np.concatenate(b_all), ai, np.concatenate(lab),
                                              confidence=np.concatenate(conf), source=PairSource.SIMULATED, split=split))
        if len(test_pool) > 1:
            col = s[:, ai]
            for group, lo, hi, n in ((PairGroup.COARSE, opts.coarse_min, np.inf, opts.test_coarse),
                                     (PairGroup.FINE, opts.fine_min, opts.fine_max, opts.test_fine)):
                a, b = _pairs_in_band(test_pool, col, lo, hi, n, rng)
                label = np.sign(col[a] - col[b]).astype(np.int8)
                tables.append(PairTable.build(a, b, ai, label, confidence=1.0, agreement=1.0,
                                              source=PairSource.REAL, split=Split.TEST, group=group))
    pairs = PairTable.concat(tables)
    protocols = {}
    if opts.train_pairs > opts.sparse_budget:
        sparse = pairs.split.copy()
        for ai in range(len(attribute_names)):
            rows = np.flatnonzero((pairs.attribute == ai) & (pairs.split == Split.TRAIN))
            sparse[rows[opts.sparse_budget:]] = Split.UNUSED
        protocols[f"sparse-{opts.sparse_budget}"] = Protocol(
            f"only the first {opts.sparse_budget} simulated-annotator train pairs per attribute; "
            "same val and test pairs as the default", sparse)
    assert not (pairs.label[pairs.split == Split.TEST] == PairLabel.EQUAL).any()
    return pairs, protocols, image_split
