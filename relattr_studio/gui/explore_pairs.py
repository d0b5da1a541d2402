"""The Explore view's plain work (no Qt): loading a generator, semantic-jitter pairs for the
labeling queue, spectrum strips as PNG, and a procedural stand-in generator for previews.

Everything here runs on worker threads or in tests; nothing imports Qt, and torch is only
imported by the generator module when a model file is loaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relattr_studio.core.errors import DataFileError, RelAttrError

PAIR_KINDS = {"intra": 1.0, "inter": 0.0, "both": 0.5}  # kind -> share of intra-identity pairs
ORIGIN = "explore"  # queue entries' origin: "explore intra" / "explore inter"


def generator_id(generator: Any) -> str:
    """The id a generated image is stored with (the generator model's id)."""
    for name in ("generator_id", "model_id"):
        value = getattr(generator, name, None)
        if value:
            return str(value)
    raise RelAttrError(f"the generator {type(generator).__name__} has no model id; "
                       "images made with it could not be traced back to it")


class LockedGenerator:
    """A generator whose ``generate`` runs one call at a time, for use from several threads
    (the live preview's worker and a pair-making job); every other attribute is the model's."""

    def __init__(self, generator: Any):
        self.model = generator
        self._lock = threading.Lock()

    def generate(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self.model.generate(np.asarray(y, np.float32), np.asarray(z, np.float32)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def load_generator_job(*, ctx, path: str) -> Any:
    """Load a generator model file on a worker (torch is imported here, off the GUI thread)."""
    ctx.report(0, None, "loading generator", Path(path).name)
    from relattr_studio.modeling.generator import load_generator

    gen = load_generator(path)
    generator_id(gen)  # refuse a model that could not be traced in the label store
    return gen


# --------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class ExplorePairs:
    """Generated pairs for one attribute, ready for the label store's queue."""

    attribute: str
    pairs: list  # GeneratedPair, in the order made
    kinds: list  # "intra" / "inter" per pair
    model_id: str

    def __len__(self) -> int:
        return len(self.pairs)


def make_explore_pairs(*, ctx, generator: Any, attribute: str, n_pairs: int, kind: str = "both",
                       seed: int = 0, batch_size: int = 16) -> ExplorePairs:
    """``n_pairs`` semantic-jitter pairs on ``attribute``: identities from the generator's prior,
    each pair differing by +-2 sigma of the attribute, intra- and/or inter-identity (``kind``)."""
    from relattr_studio.analysis.semantic_jitter import INTRA, IdentityPrior, semantic_jitter_latents
    from relattr_studio.data.label_store import GeneratedImage, GeneratedPair

    if kind not in PAIR_KINDS:
        raise RelAttrError(f"pair kind must be one of {', '.join(PAIR_KINDS)}, not {kind!r}")
    model_id = generator_id(generator)
    prior = IdentityPrior.of_generator(generator)
    rng = np.random.default_rng([int(seed), 0xE7])
    y, z, a, b, kinds = semantic_jitter_latents(prior, attribute, int(n_pairs), rng, intra_share=PAIR_KINDS[kind])
    images = []
    for start in range(0, len(y), batch_size):
        ctx.check()
        ctx.report(start, len(y), "generating", f"{len(y)} images")
        images.append(generator.generate(y[start:start + batch_size], z[start:start + batch_size]))
    ctx.report(len(y), len(y), "generating", f"{len(y)} images")
    images = np.concatenate(images)
    made = [GeneratedImage(model_id, y[i], z[i], pixels=images[i]) for i in range(len(y))]
    pairs = [GeneratedPair(made[i], made[j]) for i, j in zip(a.tolist(), b.tolist())]
    return ExplorePairs(attribute, pairs, ["intra" if k == INTRA else "inter" for k in kinds.tolist()], model_id)


def queue_pairs(store: Any, made: ExplorePairs, *, priority: float = 0.0) -> list[int]:
    """Put ``made`` in the label store's labeling queue (one transaction per kind); their ids."""
    ids = []
    for kind in ("intra", "inter"):
        chosen = [p for p, k in zip(made.pairs, made.kinds) if k == kind]
        if chosen:
            ids += store.enqueue_many(chosen, made.attribute, priority=priority, origin=f"{ORIGIN} {kind}")
    return ids


# --------------------------------------------------------------------------- strips


def strip_image(images: np.ndarray, gap: int = 0) -> np.ndarray:
    """n x S x S x 3 images side by side, left to right, at their own size: S x (n S + (n-1) gap) x 3."""
    images = np.asarray(images, np.uint8)
    if images.ndim != 4 or len(images) == 0:
        raise RelAttrError("a strip needs at least one image")
    n, h, w, c = images.shape
    out = np.full((h, n * w + (n - 1) * gap, c), 255, np.uint8)
    for i, img in enumerate(images):
        out[:, i * (w + gap):i * (w + gap) + w] = img
    return out


def save_strip_png(images: np.ndarray, path: str | Path) -> Path:
    """Write a spectrum strip (see :func:`strip_image`) as a PNG file at ``path``."""
    from PIL import Image

    path = Path(path)
    try:
        Image.fromarray(strip_image(images), "RGB").save(path, "PNG")
    except OSError as err:
        raise DataFileError(path, f"cannot write the strip: {err.strerror or err}",
                            "choose a folder you can write to") from err
    return path


# --------------------------------------------------------------------------- a stand-in generator


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
