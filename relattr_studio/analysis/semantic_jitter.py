"""Semantic jitter (Gao et al.): synthetic identities, attribute spectra and dense synthetic pairs.

An *identity* is a latent pair I_j = (y_j, z_j): attribute strengths y_j drawn from a Gaussian
prior N(mu, Sigma) fitted on the strengths of real training images (so a draw keeps the way
attributes co-occur), and non-attribute factors z_j from the generator's prior N(0, I). Two
tweaked identities differ from I_j in one attribute A only:

    y_j^-(A) = y_j(A) - 2 sigma_A,    y_j^+(A) = y_j(A) + 2 sigma_A,

sigma_A the standard deviation of A over the real training images. From the generated images
x^-, x, x^+ come *intra-identity* pairs (x_j^-, x_j), (x_j, x_j^+) and *inter-identity* pairs
(x_j, x_k^+), (x_k^-, x_j), half and half. Their putative order comes from y (DSynth-Auto) or
from an annotator (DSynth).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from relattr_studio.core.errors import RelAttrError


@dataclass(frozen=True)
class IdentityPrior:
    """p(y) = N(mean, cov) over the attribute strengths and p(z) = N(0, I) of size ``z_dim``."""

    attributes: tuple[str, ...]
    mean: np.ndarray  # A
    cov: np.ndarray  # A x A
    z_dim: int

    def __post_init__(self) -> None:
        a = len(self.attributes)
        mean = np.asarray(self.mean, np.float64).reshape(-1)
        cov = np.asarray(self.cov, np.float64)
        if mean.shape != (a,) or cov.shape != (a, a):
            raise RelAttrError(f"an identity prior over {a} attributes needs a mean of {a} and a {a} x {a} "
                               f"covariance, not {mean.shape} and {cov.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))) or not np.allclose(cov, cov.T, atol=1e-9):
            raise RelAttrError("an identity prior's covariance must be finite and symmetric")
        if self.z_dim < 0:
            raise RelAttrError("z_dim must be >= 0")
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)

    @classmethod
    def fit(cls, strengths: np.ndarray, attributes: Sequence[str], z_dim: int) -> IdentityPrior:
        """Mean and covariance of ``strengths`` (n x A); rows with a NaN are left out."""
        s = np.asarray(strengths, np.float64)
        if s.ndim != 2 or s.shape[1] != len(attributes):
            raise RelAttrError(f"strengths of shape {s.shape} do not match {len(attributes)} attributes")
        s = s[np.all(np.isfinite(s), axis=1)]
        if len(s) < 2:
            raise RelAttrError("fitting an identity prior needs at least 2 images with every strength known")
        return cls(tuple(attributes), s.mean(axis=0), np.atleast_2d(np.cov(s, rowvar=False)), int(z_dim))

    @classmethod
    def of_generator(cls, generator) -> IdentityPrior:
        """The prior a generator was trained with (its ``prior_mean`` / ``prior_cov`` / ``z_dim``)."""
        return cls(tuple(generator.attributes), generator.prior_mean, generator.prior_cov, int(generator.z_dim))

    @property
    def sigma(self) -> np.ndarray:
        """sigma_A per attribute: the spread of the real training strengths."""
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    def index(self, attribute: int | str) -> int:
        if isinstance(attribute, str):
            if attribute not in self.attributes:
                raise RelAttrError(f"no attribute {attribute!r}; known: {', '.join(self.attributes)}")
            return self.attributes.index(attribute)
        if not 0 <= int(attribute) < len(self.attributes):
            raise RelAttrError(f"attribute index {attribute} out of range 0..{len(self.attributes) - 1}")
        return int(attribute)

    def sample_y(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n x A strengths from N(mean, cov); a covariance that is only semi-definite is fine."""
        w, u = np.linalg.eigh(self.cov)
        root = u * np.sqrt(np.clip(w, 0.0, None))
        return self.mean + rng.standard_normal((n, len(self.attributes))) @ root.T

    def sample_z(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal((n, self.z_dim))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n identities: (y n x A, z n x z_dim), y drawn before z."""
        return self.sample_y(rng, n), self.sample_z(rng, n)

    def spectrum(self, y: np.ndarray, attribute: int | str, steps: int = 9, span: float = 2.0) -> np.ndarray:
        """steps x A: ``y`` with attribute A swept evenly from y_A - span sigma_A to y_A + span sigma_A."""
        if steps < 2:
            raise RelAttrError("a spectrum needs at least 2 steps")
        k = self.index(attribute)
        out = np.repeat(np.asarray(y, np.float64).reshape(1, -1), steps, axis=0)
        out[:, k] = out[0, k] + np.linspace(-span, span, steps) * self.sigma[k]
        return out

    def tweak(self, y: np.ndarray, attribute: int | str, amount: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
        """(y^-, y^+): ``y`` (n x A or A) with attribute A moved by -amount and +amount sigma_A."""
        k = self.index(attribute)
        lo, hi = np.array(y, np.float64, copy=True), np.array(y, np.float64, copy=True)
        lo[..., k] -= amount * self.sigma[k]
        hi[..., k] += amount * self.sigma[k]
        return lo, hi

    def to_dict(self) -> dict:
        return {"attributes": list(self.attributes), "mean": self.mean.tolist(), "cov": self.cov.tolist(),
                "z_dim": int(self.z_dim)}

    @classmethod
    def from_dict(cls, d: dict) -> IdentityPrior:
        return cls(tuple(d["attributes"]), np.asarray(d["mean"]), np.asarray(d["cov"]), int(d["z_dim"]))


INTRA, INTER = 0, 1  # SyntheticPairs.kind


@dataclass(frozen=True)
class SyntheticPairs:
    """Generated images and the pairs among them, all for one attribute.

    ``a``/``b`` index ``images`` (and ``y``/``z``); ``auto_label`` is the order the requested
    strengths imply (DSynth-Auto's label): A_MORE where y_a(A) > y_b(A). Which image of a pair
    comes first is random, so the label carries no position bias.
    """

    attribute: int
    images: np.ndarray  # m x S x S x 3 uint8
    y: np.ndarray  # m x A requested strengths
    z: np.ndarray  # m x z_dim
    a: np.ndarray  # n
    b: np.ndarray  # n
    kind: np.ndarray  # n, INTRA or INTER

    @property
    def auto_label(self) -> np.ndarray:
        from relattr_studio.core.types import PairLabel

        d = self.y[self.a, self.attribute] - self.y[self.b, self.attribute]
        return np.where(d > 0, PairLabel.A_MORE, np.where(d < 0, PairLabel.B_MORE, PairLabel.EQUAL)).astype(np.int8)

    def __len__(self) -> int:
        return len(self.a)


def semantic_jitter_latents(prior: IdentityPrior, attribute: int | str, n_pairs: int, rng: np.random.Generator, *,
                            intra_share: float = 0.5, amount: float = 2.0
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The latents of ``n_pairs`` semantic-jitter pairs on one attribute, before any image is made.

    Identities j = 0..m-1 each give x_j^-, x_j, x_j^+ (latent rows 3j, 3j+1, 3j+2). A share
    ``intra_share`` of the pairs are intra-identity, (x_j^-, x_j) or (x_j, x_j^+); the rest are
    inter-identity, (x_j, x_k^+) or (x_k^-, x_j) with k != j. Each identity serves one pair of
    each kind, as the paper samples them. Returns (y 3m x A, z 3m x z_dim, a, b, kind), where the
    rows no pair uses are dropped.
    """
    if n_pairs < 1:
        raise RelAttrError("ask for at least one synthetic pair")
    if not 0.0 <= intra_share <= 1.0:
        raise RelAttrError("intra_share must lie in [0, 1]")
    k_attr = prior.index(attribute)
    n_intra = round(n_pairs * intra_share)
    n_inter = n_pairs - n_intra
    m = max(n_intra, n_inter, 2 if n_inter else 1)
    y0, z0 = prior.sample(rng, m)
    lo, hi = prior.tweak(y0, k_attr, amount)
    y = np.stack([lo, y0, hi], axis=1).reshape(3 * m, -1)  # rows 3j + (0: minus, 1: base, 2: plus)
    z = np.repeat(z0, 3, axis=0)
    ids = np.arange(m)
    plus = rng.uniform(size=m) < 0.5
    # intra: (minus_j, base_j) or (base_j, plus_j); inter: (base_j, plus_k) or (minus_k, base_j)
    ia = np.where(plus, 3 * ids + 1, 3 * ids)[:n_intra]
    ib = np.where(plus, 3 * ids + 2, 3 * ids + 1)[:n_intra]
    other = (ids + rng.integers(1, m, size=m)) % m if m > 1 else ids
    plus2 = rng.uniform(size=m) < 0.5
    ea = np.where(plus2, 3 * ids + 1, 3 * other)[:n_inter]
    eb = np.where(plus2, 3 * other + 2, 3 * ids + 1)[:n_inter]
    a = np.concatenate([ia, ea])
    b = np.concatenate([ib, eb])
    kind = np.concatenate([np.full(n_intra, INTRA), np.full(n_inter, INTER)]).astype(np.int8)
    swap = rng.uniform(size=len(a)) < 0.5  # random presentation order
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    used, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    return y[used], z[used], inverse[: len(a)], inverse[len(a):], kind


def semantic_jitter_pairs(generator, attribute: int | str, n_pairs: int, rng: np.random.Generator, *,
                          prior: IdentityPrior | None = None, intra_share: float = 0.5, amount: float = 2.0,
                          batch_size: int = 256) -> SyntheticPairs:
    """``n_pairs`` synthetic pairs on one attribute, images made by ``generator`` (its ``generate(y, z)``)."""
    prior = prior or IdentityPrior.of_generator(generator)
    y, z, a, b, kind = semantic_jitter_latents(prior, attribute, n_pairs, rng, intra_share=intra_share,
                                               amount=amount)
    images = np.concatenate([generator.generate(y[i:i + batch_size], z[i:i + batch_size])
                             for i in range(0, len(y), batch_size)])
    return SyntheticPairs(prior.index(attribute), images, y, z, a, b, kind)
