"""The simulated annotator: labels image pairs the way people do, from an attribute oracle.

A person compares two images through a noisy perception of each one's attribute strength
(Thurstone's case V): perceived s~ = s + N(0, noise^2) per image and judgement, so

    P(a judged more) = Phi((s_a - s_b) / (sqrt(2) * noise)).

On top of it a ``flip_rate`` of lapses (a wrong key, a misread attribute) inverts the label;
pairs whose perceived difference is below ``equal_threshold`` are called equal; a
``discard_rate`` share is thrown away as illegible (the papers saw 15-17 % of generated
pairs discarded). The confidence is how sure a careful Thurstonian observer would be of the
label it gave: 2 * Phi(|perceived diff| / (sqrt(2) * noise)) - 1, in [0, 1].

Strengths come from an *oracle* (:class:`StrengthOracle`): for the procedural datasets the
exact ground truth (:class:`GroundTruthOracle`); for generated images a trained attribute
regressor (``relattr_studio.modeling.oracle.AttributeOracle``, whose refs are uint8 image
arrays). An oracle that can also tell which images it cannot read (:class:`ReadingOracle`)
makes the annotator discard every pair showing such an image, on top of ``discard_rate``:
what people do with illegible generated pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.special import ndtr

from relattr_studio.core.types import PairLabel


@runtime_checkable
class StrengthOracle(Protocol):
    """Knows (or estimates) attribute strengths of images."""

    attribute_names: Sequence[str]

    def strengths(self, refs: Any) -> np.ndarray:
        """n x A strengths for ``refs`` (image indices, or images, as the oracle defines)."""
        ...


@runtime_checkable
class ReadingOracle(StrengthOracle, Protocol):
    """A StrengthOracle that also says which images it can read (e.g. the trained attribute oracle)."""

    def read(self, refs: Any) -> tuple[np.ndarray, np.ndarray]:
        """(n x A strengths, n bool legible) for ``refs``."""
        ...


class GroundTruthOracle:
    """The exact strengths of a procedural dataset; refs are image indices."""

    def __init__(self, strengths: np.ndarray, attribute_names: Sequence[str]):
        self._strengths = np.asarray(strengths, np.float64)
        self.attribute_names = list(attribute_names)
        if self._strengths.shape[1:] != (len(self.attribute_names),):
            raise ValueError(f"strengths {self._strengths.shape} do not match {len(self.attribute_names)} attributes")

    def strengths(self, refs: Any) -> np.ndarray:
        return self._strengths[np.asarray(refs, dtype=np.int64)]


@dataclass(frozen=True)
class AnnotatorConfig:
    """How a simulated person judges. Strength differences are on the oracle's scale."""

    noise: float = 0.05  # std of the perceived strength of one image (Thurstonian)
    flip_rate: float = 0.0  # share of lapses that invert the label
    equal_threshold: float = 0.0  # |perceived difference| below this is called equal
    discard_rate: float = 0.0  # share of pairs discarded as illegible

    def __post_init__(self) -> None:
        if self.noise < 0 or self.equal_threshold < 0:
            raise ValueError("noise and equal_threshold must be >= 0")
        for name in ("flip_rate", "discard_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    def agreement_probability(self, diff: np.ndarray) -> np.ndarray:
        """P(label == sign(diff)) for true differences ``diff``, with no equal threshold.

        The analytic value the annotator's empirical agreement with truth converges to.
        """
        diff = np.abs(np.asarray(diff, np.float64))
        if self.noise > 0:
            p = ndtr(diff / (np.sqrt(2.0) * self.noise))
        else:
            p = (diff > 0).astype(np.float64)
        return (1.0 - self.flip_rate) * p + self.flip_rate * (1.0 - p)


@dataclass
class Judgements:
    """Labels for n pairs; discarded pairs keep a label of EQUAL and NaN confidence.

    ``illegible`` marks the discarded pairs that show an image the oracle cannot read (None:
    the oracle does not tell); the rest of ``discarded`` is the random ``discard_rate``.
    """

    label: np.ndarray  # int8 PairLabel values
    confidence: np.ndarray  # float32 in [0, 1]
    discarded: np.ndarray  # bool
    illegible: np.ndarray | None = None  # bool

    @property
    def kept(self) -> np.ndarray:
        return ~self.discarded


class SimulatedAnnotator:
    """Seeded, reproducible simulated person: same seed, same calls -> same labels."""

    def __init__(self, oracle: StrengthOracle, config: AnnotatorConfig | None = None, *, seed: int = 0):
        self.oracle = oracle
        self.config = config or AnnotatorConfig()
        self._rng = np.random.default_rng([seed, 0xA220])

    def judge_strengths(self, s_a: np.ndarray, s_b: np.ndarray, *, illegible: np.ndarray | None = None) -> Judgements:
        """Judge pairs from the two images' strengths of the attribute in question (n each).

        Pairs where ``illegible`` is True are discarded whatever the dice say; the random draws
        are the same with or without it, so the other pairs' labels do not change.
        """
        cfg, rng = self.config, self._rng
        s_a = np.asarray(s_a, np.float64).reshape(-1)
        s_b = np.asarray(s_b, np.float64).reshape(-1)
        n = len(s_a)
        perceived = (s_a - s_b) + cfg.noise * np.sqrt(2.0) * rng.standard_normal(n)
        label = np.sign(perceived).astype(np.int8)
        lapse = rng.uniform(size=n) < cfg.flip_rate
        label[lapse] = -label[lapse]
        equal = np.abs(perceived) < cfg.equal_threshold
        label[equal] = PairLabel.EQUAL
        if cfg.noise > 0:
            confidence = 2.0 * ndtr(np.abs(perceived) / (np.sqrt(2.0) * cfg.noise)) - 1.0
        else:
            confidence = np.ones(n)
        discarded = rng.uniform(size=n) < cfg.discard_rate
        if illegible is not None:
            illegible = np.asarray(illegible, bool).reshape(-1)
            if illegible.shape != (n,):
                raise ValueError(f"illegible has {illegible.size} values for {n} pairs")
            discarded |= illegible
        confidence = np.where(discarded, np.nan, confidence).astype(np.float32)
        label[discarded] = PairLabel.EQUAL
        return Judgements(label, confidence, discarded, illegible)

    def annotate(self, a: Any, b: Any, attribute: int | np.ndarray) -> Judgements:
        """Judge pairs (a[i], b[i]) on ``attribute`` (one index, or one per pair).

        With a :class:`ReadingOracle` a pair showing an image it cannot read is discarded.
        """
        illegible = None
        if isinstance(self.oracle, ReadingOracle):
            (sa, legible_a), (sb, legible_b) = self.oracle.read(a), self.oracle.read(b)
            illegible = ~(np.asarray(legible_a, bool) & np.asarray(legible_b, bool))
        else:
            sa, sb = self.oracle.strengths(a), self.oracle.strengths(b)
        attr = np.broadcast_to(np.asarray(attribute, np.int64), (len(sa),))
        rows = np.arange(len(sa))
        return self.judge_strengths(sa[rows, attr], sb[rows, attr], illegible=illegible)
