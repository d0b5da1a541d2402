"""Pairs of generated images for the labeling queue, made with a loaded generator.

The Explore view's plain work, run on its worker and callable without Qt: load a generator
model file, name the generator its images are traced to (:func:`generator_id`), share one
generator between threads (:class:`LockedGenerator`), and make semantic-jitter pairs on one
attribute (:func:`make_explore_pairs`) and put them in the label store's queue
(:func:`queue_pairs`). torch is only imported by the generator module when a model file is loaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relattr_studio.core.errors import RelAttrError

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
                       seed: int = 0, batch_size: int = 8) -> ExplorePairs:
    """``n_pairs`` semantic-jitter pairs on ``attribute``: identities from the generator's prior,
    each pair differing by +-2 sigma of the attribute, intra- and/or inter-identity (``kind``).

    Images are made ``batch_size`` at a time: the live preview, sharing the generator's lock,
    waits for one batch at most."""
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
    """Put ``made`` in the label store's labeling queue as one batch ("explore: 20 smiling pairs",
    origin "explore", entries "explore intra" / "explore inter"); the entries' ids, in order."""
    info = store.create_batch(f"{ORIGIN}: {len(made)} {made.attribute} pairs", origin=ORIGIN,
                              details={"generator": made.model_id, "attribute": made.attribute,
                                       "intra": made.kinds.count("intra"), "inter": made.kinds.count("inter")},
                              pairs=made.pairs, attributes=made.attribute, priority=priority,
                              origins=[f"{ORIGIN} {kind}" for kind in made.kinds])
    return [item.id for item in store.pending(batch=info.id, with_pixels=False)]
