"""The procedural renderer of a toy dataset as a "generator", for previews, tests and benchmarks."""

from __future__ import annotations

import numpy as np

from relattr_studio.core.errors import RelAttrError


class ProceduralGenerator:
    """The procedural renderer of a toy dataset as a "generator": a perfect, if slow, one.

    ``generate(y, z)`` draws y's strengths (clipped to [0, 1]) exactly; z picks one of a fixed
    pool of nuisance draws (skin, hair style, pose, background...), so one z is one look. The
    prior is fitted on the strengths of 4,000 of the dataset's images. For previews, tests and benchmarks
    where no trained generator is at hand.
    """

    def __init__(self, dataset: str = "toy-faces", *, z_dim: int = 8, pool: int = 256, seed: int = 0):
        from relattr_studio.data import procedural as pr

        kinds = {"toy-faces": (pr.FACE_ATTRIBUTES, pr.sample_faces, pr.render_faces),
                 "toy-shoes": (pr.SHOE_ATTRIBUTES, pr.sample_shoes, pr.render_shoes)}
        if dataset not in kinds:
            raise RelAttrError(f"no procedural dataset {dataset!r}; choose {' or '.join(kinds)}")
        names, sample, self._render = kinds[dataset]
        self.attributes = list(names)
        self.z_dim, self.image_size = int(z_dim), 64
        self.generator_id = f"procedural-{dataset}"
        _, self._nuisance, _ = sample(pool, seed, n_identities=pool)
        strengths = sample(4000, seed + 1)[0]  # as a generator trained on the dataset would fit it
        self.prior_mean = np.asarray(strengths, np.float64).mean(axis=0)
        self.prior_cov = np.cov(np.asarray(strengths, np.float64), rowvar=False)
        self._pool = pool

    def look(self, z: np.ndarray) -> np.ndarray:
        """Which nuisance draw each row of ``z`` shows: Phi(z_0) spread over the pool."""
        from scipy.special import ndtr

        z = np.asarray(z, np.float64).reshape(len(z), -1)
        first = z[:, 0] if z.shape[1] else np.zeros(len(z))
        return np.minimum((ndtr(first) * self._pool).astype(np.int64), self._pool - 1)

    def generate(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        y = np.clip(np.asarray(y, np.float64).reshape(-1, len(self.attributes)), 0.0, 1.0)
        idx = self.look(z)
        return self._render(y, {k: v[idx] for k, v in self._nuisance.items()}, self.image_size)
