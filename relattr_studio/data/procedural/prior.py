"""The correlated attribute prior of the procedural datasets: a Gaussian copula with identities.

Strengths live in [0, 1] and are uniform marginally: s = Phi(z) with z ~ N(0, R), R a fixed
correlation matrix saying which attributes co-occur (bald faces tend to be masculine...).
Each image belongs to an identity: z = z_identity + z_image with z_image ~ N(0, D R D),
D = diag(sqrt(v)), and z_identity ~ N(0, R - D R D), so the marginal is N(0, R) exactly while
``v`` (per attribute) is the share of an attribute's variance that changes between images of
one identity (a smile: a lot; baldness: little).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr


@dataclass(frozen=True)
class CopulaPrior:
    names: tuple[str, ...]
    correlation: np.ndarray  # A x A, symmetric positive definite, unit diagonal
    within_identity: np.ndarray  # A, share of variance that changes between images of one identity

    def __post_init__(self) -> None:
        a = len(self.names)
        r = np.asarray(self.correlation, np.float64)
        if r.shape != (a, a) or not np.allclose(r, r.T) or not np.allclose(np.diag(r), 1.0):
            raise ValueError("correlation must be a symmetric A x A matrix with unit diagonal")
        np.linalg.cholesky(r)  # raises LinAlgError unless positive definite
        v = np.asarray(self.within_identity, np.float64)
        object.__setattr__(self, "correlation", r)
        object.__setattr__(self, "within_identity", v)
        if np.linalg.eigvalsh(self.identity_covariance).min() < -1e-9:
            raise ValueError("within_identity shares leave no valid identity covariance")

    @property
    def image_covariance(self) -> np.ndarray:
        d = np.sqrt(self.within_identity)
        return self.correlation * np.outer(d, d)

    @property
    def identity_covariance(self) -> np.ndarray:
        return self.correlation - self.image_covariance

    def latent(self, rng: np.random.Generator, n: int, cov: np.ndarray | None = None) -> np.ndarray:
        """n x A draws of N(0, cov) (default: the correlation R)."""
        cov = self.correlation if cov is None else cov
        w, u = np.linalg.eigh(cov)
        root = u * np.sqrt(np.clip(w, 0.0, None))
        return rng.standard_normal((n, len(self.names))) @ root.T

    def sample(self, rng: np.random.Generator, identity: np.ndarray, n_identities: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Strengths for images whose identity index is given.

        Returns (strengths N x A float32 in (0, 1), latent z N x A, identity latent K x A).
        """
        z_id = self.latent(rng, n_identities, self.identity_covariance)
        z_img = self.latent(rng, len(identity), self.image_covariance)
        z = z_id[identity] + z_img
        return to_strength(z), z, z_id


def to_strength(z: np.ndarray) -> np.ndarray:
    """Latent N(0, 1) values to strengths in [0, 1] (the normal CDF), float32."""
    return ndtr(np.asarray(z, np.float64)).astype(np.float32)


def correlation_from_pairs(names: tuple[str, ...], pairs: dict[tuple[str, str], float]) -> np.ndarray:
    """A correlation matrix from the listed off-diagonal entries (zero elsewhere)."""
    index = {n: i for i, n in enumerate(names)}
    r = np.eye(len(names))
    for (a, b), rho in pairs.items():
        r[index[a], index[b]] = r[index[b], index[a]] = rho
    return r


def assign_identities(rng: np.random.Generator, n: int, n_identities: int) -> np.ndarray:
    """Identity index per image: every identity gets at least one image when n allows."""
    k = max(1, min(int(n_identities), int(n)))
    base = np.arange(n) % k
    return rng.permutation(base).astype(np.int32)


def categorical_from_latent(rng: np.random.Generator, z: np.ndarray, weights: np.ndarray,
                            bias: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Classes drawn with logits linear in the attribute latent (a softmax choice per image).

    ``weights`` is A x C, ``bias`` C; Gumbel-max sampling keeps it one vectorised draw.
    """
    logits = (z @ weights + bias) / temperature
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, logits.shape)))
    return np.argmax(logits + gumbel, axis=1).astype(np.int16)


@dataclass(frozen=True)
class Identities:
    """Which identity each image shows, and each identity's base attributes.

    ``strengths`` (K x A) are the identity's own strengths, Phi(z_identity): what its images
    vary around. The semantic-jitter identity prior N(mu, Sigma) is estimated from these.
    """

    index: np.ndarray  # int32 per image
    strengths: np.ndarray  # float32 K x A

    @property
    def names(self) -> list[str]:
        return [f"id{k:05d}" for k in range(len(self.strengths))]
