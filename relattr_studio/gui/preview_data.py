"""Fake datasets for previews, GUI tests and GUI benchmarks (no procedural engine needed).

Images are simple shapes whose size and colour follow made-up attribute strengths, drawn
vectorised so that 50,000 of them are written in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split
from relattr_studio.data.dataset_file import CategoricalAttribute, DatasetMeta, DatasetWriter, PairTable

FAKE_ATTRIBUTES = ["round", "bright", "warm", "big"]


def _draw(strengths: np.ndarray, size: int, seed: int) -> np.ndarray:
    n = len(strengths)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    radius = (0.12 + 0.3 * strengths[:, 3])[:, None, None]
    squash = (0.5 + 0.5 * strengths[:, 0])[:, None, None]
    d = np.sqrt(xx[None] ** 2 + (yy[None] / squash) ** 2)
    inside = np.clip((radius - d) * size, 0.0, 1.0)[..., None]  # anti-aliased edge
    bg = rng.uniform(0.1, 0.35, (n, 1, 1, 3)).astype(np.float32)
    warm = strengths[:, 2][:, None]
    colour = np.concatenate([0.4 + 0.6 * warm, 0.45 + 0.2 * strengths[:, 1][:, None], 1.0 - 0.7 * warm], axis=1)
    colour = (colour * (0.5 + 0.5 * strengths[:, 1][:, None]))[:, None, None, :]
    img = bg * (1 - inside) + colour * inside
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_fake_dataset(out: str | Path, *, n: int = 500, size: int = 64, n_pairs: int | None = None,
                      seed: int = 0, batch: int = 2000) -> Path:
    """Write a small relative-attribute dataset with strengths, identities and pairs."""
    rng = np.random.default_rng(seed)
    n_attr = len(FAKE_ATTRIBUTES)
    strengths = rng.uniform(0, 1, (n, n_attr)).astype(np.float32)
    n_ids = max(1, min(40, n // 10))
    identities = rng.integers(0, n_ids, n).astype(np.int32)
    shape = rng.integers(0, 3, n).astype(np.int16)
    n_pairs = n_pairs if n_pairs is not None else min(20 * n, 200_000)
    a = rng.integers(0, n, n_pairs)
    b = (a + rng.integers(1, max(2, n), n_pairs)) % n
    attr = rng.integers(0, n_attr, n_pairs)
    diff = strengths[a, attr] - strengths[b, attr]
    label = np.where(np.abs(diff) < 0.03, PairLabel.EQUAL, np.sign(diff)).astype(np.int8)
    split = np.where(rng.uniform(size=n_pairs) < 0.8, Split.TRAIN, Split.TEST).astype(np.int8)
    group = np.where(np.abs(diff) < 0.15, PairGroup.FINE, PairGroup.COARSE).astype(np.int8)
    pairs = PairTable.build(a, b, attr, label, confidence=rng.uniform(0.5, 1, n_pairs),
                            agreement=rng.uniform(0.6, 1, n_pairs), source=PairSource.REAL,
                            split=split, group=group)
    meta = DatasetMeta(
        name=f"fake-shapes-{n}", attribute_names=list(FAKE_ATTRIBUTES),
        image_names=[f"shape_{i:06d}.png" for i in range(n)], strengths=strengths,
        categorical={"shape": CategoricalAttribute(shape, ["disc", "ellipse", "blob"])},
        identities=identities, identity_names=[f"person {i}" for i in range(n_ids)],
        pairs=pairs, provenance="relattr_studio.gui.preview_data (fake, for previews and tests)",
    )
    with DatasetWriter(out, n_images=n, image_shape=(size, size)) as w:
        for start in range(0, n, batch):
            stop = min(n, start + batch)
            w.write_images(start, _draw(strengths[start:stop], size, seed + start))
        w.finish(meta)
    return Path(out)
