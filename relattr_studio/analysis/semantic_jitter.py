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
