"""ATTIC's query batches: T pairs imagined through a control module and a generator, queued in
the label store for a person (the Label pairs view) or the simulated annotator to judge.

Each pair keeps what made it: both images' pixels, their strengths y and latents z, and the
generator's id (:class:`~relattr_studio.data.label_records.GeneratedImage`); the batch records
the round number, the control module's id and file, the target attributes and the seed, so a
labeled batch can be traced back to the round that imagined it and trained on with
``relattr train --labels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relattr_studio.analysis.generated_pairs import generator_id
from relattr_studio.core import bounds
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.resources import check_pair_images
from relattr_studio.data.label_records import BatchInfo, GeneratedImage, GeneratedPair
from relattr_studio.data.label_store import LabelStore
from relattr_studio.training.attic_config import QUERY_PAIRS_BOUND



def check_query_memory(pairs: int, side: int) -> None:
    """Refuse a batch whose images would not fit in memory: both images of every pair are held
    (uint8) until the batch is in the store, with a float copy of a slice while rendering."""
    QUERY_PAIRS_BOUND.check("pairs", pairs)
    check_pair_images(pairs, side, what="imagined pairs", smaller="ask for fewer --pairs per batch")


def control_id(control) -> str:
    """A short sha256 of the control module's weights (the same weights, the same id)."""
    from relattr_studio.modeling.generator import weights_digest

    return weights_digest(control.state_dict())


@dataclass(frozen=True)
class QueryBatch:
    info: BatchInfo
    y_a: np.ndarray
    y_b: np.ndarray

    def message(self) -> str:
        return (f"batch {self.info.id} '{self.info.name}': {self.info.total} imagined pairs queued "
                f"({self.info.pending} to label)")


def imagine_pairs(control, generator, n: int, seed: int, *, ctx: JobContext = NULL_CONTEXT
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``n`` pairs the control module imagines from seeds drawn with ``seed`` (eval mode), rendered
    by ``generator`` 256 pairs at a time (a big batch never holds every float image): (the
    control's outputs, see ControlModule.imagine; uint8 images of A; uint8 images of B)."""
    out = control.imagine(n, seed)
    parts_a, parts_b = [], []
    for start in range(0, n, 256):
        ctx.check()
        stop = min(n, start + 256)
        part = generator.generate(np.concatenate([out["y_a"][start:stop], out["y_b"][start:stop]]),
                                  np.concatenate([out["z_a"][start:stop], out["z_b"][start:stop]]))
        parts_a.append(part[: stop - start])
        parts_b.append(part[stop - start:])
    side = int(getattr(generator, "image_size", 64))
    empty = np.zeros((0, side, side, 3), np.uint8)
    return out, np.concatenate(parts_a) if parts_a else empty, np.concatenate(parts_b) if parts_b else empty


def imagine_query_batch(store_path: str | Path, control, generator, *, pairs: int, seed: int, round_number: int,
                        control_file: str = "", name: str | None = None,
                        ctx: JobContext = NULL_CONTEXT) -> QueryBatch:
    """Imagine ``pairs`` pairs (seeds drawn with ``seed``, the control module in eval mode),
    render them with ``generator`` and queue them as one batch in the store at ``store_path``.
    Pairs are spread evenly over the control module's targets (one pair: one attribute)."""
    bounds.SEED.check("seed", seed)
    check_query_memory(pairs, int(getattr(generator, "image_size", 64)))
    ctx.report(0, 2, "imagining", f"{pairs} pairs")
    out, images_a, images_b = imagine_pairs(control, generator, pairs, seed, ctx=ctx)
    ctx.report(1, 2, "imagining", f"{pairs} pairs")
    model_id = str(generator_id(generator))
    made = [GeneratedPair(GeneratedImage(model_id, out["y_a"][i], out["z_a"][i], pixels=images_a[i]),
                          GeneratedImage(model_id, out["y_b"][i], out["z_b"][i], pixels=images_b[i]))
            for i in range(pairs)]
    targets = list(control.targets)
    per_pair = [targets[i % len(targets)] for i in range(pairs)]
    details = {"kind": "attic", "round": int(round_number), "generator_id": model_id,
               "control_id": control_id(control), "control_file": str(control_file), "targets": targets,
               "seed": int(seed)}
    title = name or f"attic round {round_number}: {', '.join(targets)}"
    with LabelStore(store_path) as store:
        info = store.create_batch(title, origin="attic", details=details, pairs=made, attributes=per_pair)
    ctx.report(2, 2, "imagining", f"{pairs} pairs")
    return QueryBatch(info, out["y_a"], out["y_b"])
