"""The simulated annotator: agreement with truth matches its configured noise."""

from __future__ import annotations

import numpy as np
import pytest

from relattr_studio.core.types import PairLabel
from relattr_studio.data.annotator import (
    AnnotatorConfig, GroundTruthOracle, ReadingOracle, SimulatedAnnotator, StrengthOracle,
)

N = 20_000


def _oracle(n=2000, seed=0):
    s = np.random.default_rng(seed).uniform(size=(n, 3))
    return GroundTruthOracle(s, ["a", "b", "c"]), s


def _pairs(n_images, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_images, N)
    b = (a + rng.integers(1, n_images, N)) % n_images
    return a, b


def test_ground_truth_oracle_is_a_strength_oracle():
    oracle, s = _oracle()
    assert isinstance(oracle, StrengthOracle)
    np.testing.assert_array_equal(oracle.strengths([3, 1]), s[[3, 1]])


def test_flip_rate_alone_gives_matching_agreement():
    oracle, s = _oracle()
    a, b = _pairs(len(s))
    j = SimulatedAnnotator(oracle, AnnotatorConfig(noise=0.0, flip_rate=0.1), seed=0).annotate(a, b, 0)
    truth = np.sign(s[a, 0] - s[b, 0])
    assert abs((j.label == truth).mean() - 0.90) < 0.01


def test_thurstonian_noise_matches_analytic_agreement():
    oracle, s = _oracle()
    a, b = _pairs(len(s))
    cfg = AnnotatorConfig(noise=0.1, flip_rate=0.05)
    j = SimulatedAnnotator(oracle, cfg, seed=3).annotate(a, b, 1)
    diff = s[a, 1] - s[b, 1]
    expected = cfg.agreement_probability(diff).mean()
    observed = (j.label == np.sign(diff)).mean()
    assert 0.5 < expected < 0.99
    assert abs(observed - expected) < 0.01


def test_equal_threshold_and_discard_rate_are_honoured():
    oracle, s = _oracle()
    a, b = _pairs(len(s))
    cfg = AnnotatorConfig(noise=0.0, equal_threshold=0.1, discard_rate=0.15)
    j = SimulatedAnnotator(oracle, cfg, seed=0).annotate(a, b, 2)
    diff = np.abs(s[a, 2] - s[b, 2])
    kept = j.kept
    assert abs(j.discarded.mean() - 0.15) < 0.01
    assert (j.label[kept & (diff < 0.1)] == PairLabel.EQUAL).all()
    assert (j.label[kept & (diff > 0.1)] != PairLabel.EQUAL).all()
    assert np.isnan(j.confidence[j.discarded]).all()
    assert ((j.confidence[kept] >= 0) & (j.confidence[kept] <= 1)).all()


def test_confidence_grows_with_the_difference():
    oracle, s = _oracle()
    a, b = _pairs(len(s))
    j = SimulatedAnnotator(oracle, AnnotatorConfig(noise=0.1), seed=0).annotate(a, b, 0)
    diff = np.abs(s[a, 0] - s[b, 0])
    assert j.confidence[diff > 0.5].mean() > j.confidence[diff < 0.05].mean() + 0.3


def test_seeded_reproducibility():
    oracle, s = _oracle()
    a, b = _pairs(len(s))
    cfg = AnnotatorConfig(noise=0.1, flip_rate=0.1, equal_threshold=0.02, discard_rate=0.1)
    j1 = SimulatedAnnotator(oracle, cfg, seed=7).annotate(a, b, 0)
    j2 = SimulatedAnnotator(oracle, cfg, seed=7).annotate(a, b, 0)
    j3 = SimulatedAnnotator(oracle, cfg, seed=8).annotate(a, b, 0)
    np.testing.assert_array_equal(j1.label, j2.label)
    np.testing.assert_array_equal(j1.confidence, j2.confidence)
    assert (j1.label != j3.label).any()


def test_per_pair_attributes():
    oracle, s = _oracle()
    attr = np.array([0, 1, 2, 0])
    j = SimulatedAnnotator(oracle, AnnotatorConfig(noise=0.0), seed=0).annotate([0, 1, 2, 3], [4, 5, 6, 7], attr)
    np.testing.assert_array_equal(j.label, np.sign(s[[0, 1, 2, 3], attr] - s[[4, 5, 6, 7], attr]))


@pytest.mark.parametrize("kwargs", [dict(noise=-1), dict(flip_rate=1.5), dict(discard_rate=-0.1)])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        AnnotatorConfig(**kwargs)


class _ReadingOracle:
    """Strengths of image indices, and a set of indices it cannot read."""

    def __init__(self, strengths, unreadable):
        self._truth = GroundTruthOracle(strengths, ["a", "b", "c"])
        self.attribute_names = self._truth.attribute_names
        self.unreadable = np.asarray(unreadable)

    def strengths(self, refs):
        return self._truth.strengths(refs)

    def read(self, refs):
        return self.strengths(refs), ~np.isin(np.asarray(refs), self.unreadable)


def test_reading_oracle_discards_pairs_it_cannot_read_and_leaves_the_rest_alone():
    oracle, s = _oracle()
    reading = _ReadingOracle(s, unreadable=np.arange(0, 2000, 10))  # one image in ten
    assert isinstance(reading, ReadingOracle) and not isinstance(oracle, ReadingOracle)
    a, b = _pairs(len(s))
    cfg = AnnotatorConfig(noise=0.05, flip_rate=0.02, equal_threshold=0.01, discard_rate=0.1)
    plain = SimulatedAnnotator(oracle, cfg, seed=4).annotate(a, b, 1)
    read = SimulatedAnnotator(reading, cfg, seed=4).annotate(a, b, 1)
    shows_unreadable = (a % 10 == 0) | (b % 10 == 0)
    np.testing.assert_array_equal(read.illegible, shows_unreadable)
    assert plain.illegible is None
    assert read.discarded[shows_unreadable].all()
    assert np.isnan(read.confidence[shows_unreadable]).all()
    assert (read.label[shows_unreadable] == PairLabel.EQUAL).all()
    # the other pairs get exactly the labels and random discards a non-reading annotator gives
    rest = ~shows_unreadable
    np.testing.assert_array_equal(read.label[rest], plain.label[rest])
    np.testing.assert_array_equal(read.discarded[rest], plain.discarded[rest])
    expected = 1 - 0.9 ** 2 + 0.9 ** 2 * 0.1  # an unreadable image in the pair, or the random discard
    assert abs(read.discarded.mean() - expected) < 0.01


def test_illegible_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        SimulatedAnnotator(_oracle()[0]).judge_strengths(np.zeros(3), np.ones(3), illegible=np.zeros(2, bool))
