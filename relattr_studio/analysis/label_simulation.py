"""The simulated annotator labels pairs through the same path as a person in the window.

:func:`simulate_labels` puts pairs into the label store as a batch (a dataset's train pairs,
or semantic-jitter pairs made by a generator), then labels that batch through a
:class:`~relattr_studio.data.labeling_sources.BatchSource` with the simulated annotator:
each pair is shown left/right as the source decides, judged from the oracle's strengths of
the two images as shown, and committed with :func:`record_task`, exactly as the Label pairs
view commits a key press. Generated pairs the oracle cannot read are discarded ("can't
tell"), as people discard illegible generated images. Everything downstream (``relattr train
--labels``, ``relattr labels import``) then sees labels no different from a person's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from relattr_studio.analysis.generated_pairs import generator_id
from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.resources import check_pair_images
from relattr_studio.core.types import Split
from relattr_studio.data.annotator import (
    AnnotatorConfig,
    GroundTruthOracle,
    SimulatedAnnotator,
)
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.label_records import (
    DatasetPair,
    DatasetRef,
    GeneratedImage,
    GeneratedPair,
    Judgement,
)
from relattr_studio.data.label_store import LabelStore
from relattr_studio.data.label_training import SIMULATED_PREFIX
from relattr_studio.data.labeling_sources import BatchSource, PairTask, record_task

# The annotator the semantic-jitter experiment uses (human-like noise, lapses and equal calls);
# discards come from the oracle's legibility for generated images.
DEFAULT_ANNOTATOR = AnnotatorConfig(noise=0.05, flip_rate=0.03, equal_threshold=0.02, discard_rate=0.0)


@dataclass(frozen=True)
class SimulationResult:
    batch_id: int
    batch_name: str
    pairs: int
    judged: int  # with a label (more / less / equal)
    discarded: int  # "can't tell"
    counts: dict = field(default_factory=dict)  # per attribute: pairs made

    def message(self) -> str:
        return (f"batch {self.batch_id} '{self.batch_name}': {self.pairs} pairs, {self.judged} judged, "
                f"{self.discarded} can't tell")


def _split_evenly(n: int, attributes: list[str]) -> dict[str, int]:
    base, extra = divmod(int(n), len(attributes))
    return {a: base + (1 if k < extra else 0) for k, a in enumerate(attributes)}


def _attributes(asked: list[str] | None, available: list[str], where: str) -> list[str]:
    if not available:
        raise RelAttrError(f"no attribute is in {where}: they are of different kinds (a toy-shoes generator "
                           "for a toy-faces dataset?)")
    if not asked:
        return list(available)
    missing = [a for a in asked if a not in available]
    if missing:
        raise RelAttrError(f"no attribute {', '.join(missing)} in {where} (it has {', '.join(available)})")
    return list(asked)


def _real_batch(store: LabelStore, ds: DatasetFile, attributes: list[str], n: int, rng: np.random.Generator,
                protocol: str) -> tuple[list, list[str], dict[str, int]]:
    """``n`` of the dataset's train pairs, spread over ``attributes``, not yet in the store."""
    ref = DatasetRef.of(ds)
    judged = {(r.attribute, min(r.pair.a, r.pair.b), max(r.pair.a, r.pair.b)) for r in store.judgements(dataset=ref)}
    train = ds.pairs(protocol).where(split=Split.TRAIN)
    pairs, names, counts = [], [], {}
    for name, want in _split_evenly(n, attributes).items():
        rows = train.where(attribute=ds.attribute_index(name))
        order = rng.permutation(len(rows))
        taken = 0
        for r in order:
            if taken == want:
                break
            a, b = int(rows.a[r]), int(rows.b[r])
            if (name, min(a, b), max(a, b)) in judged:
                continue
            pairs.append(DatasetPair(ref, a, b))
            names.append(name)
            taken += 1
        if taken < want:
            raise RelAttrError(f"{ds.path}: only {taken} unlabeled train pairs of {name!r} under protocol "
                               f"{protocol!r}, {want} asked for")
        counts[name] = taken
    return pairs, names, counts


def _generated_batch(generator, attributes: list[str], n: int, rng: np.random.Generator, *,
                     ctx: JobContext, intra_share: float, amount: float) -> tuple[list, list[str], dict[str, int]]:
    """``n`` semantic-jitter pairs made by ``generator``, spread over ``attributes``."""
    from relattr_studio.analysis.semantic_jitter import (
        IdentityPrior,
        semantic_jitter_pairs,
    )

    model_id = generator_id(generator)
    prior = IdentityPrior.of_generator(generator)
    pairs, names, counts = [], [], {}
    plan = _split_evenly(n, attributes)
    for k, (name, want) in enumerate(plan.items()):
        ctx.check()
        ctx.report(k, len(plan), "generating pairs", name)
        if not want:
            continue
        sp = semantic_jitter_pairs(generator, name, want, rng, prior=prior, intra_share=intra_share, amount=amount)
        made = [GeneratedImage(str(model_id), sp.y[i], sp.z[i], pixels=sp.images[i]) for i in range(len(sp.images))]
        pairs += [GeneratedPair(made[i], made[j]) for i, j in zip(sp.a.tolist(), sp.b.tolist())]
        names += [name] * len(sp)
        counts[name] = len(sp)
    ctx.report(len(plan), len(plan), "generating pairs", "")
    return pairs, names, counts


class _TaskJudge:
    """Judges tasks as shown: dataset pairs from the truth, generated ones from the oracle's reading.

    Tasks are judged in groups so that the oracle reads many images in one pass; each task's
    judgement depends only on its own images and the annotator's seeded dice.
    """

    def __init__(self, dataset: DatasetFile, oracle, config: AnnotatorConfig, seed: int):
        self.dataset = dataset
        truth = None if dataset.strengths is None else GroundTruthOracle(dataset.strengths, dataset.attribute_names)
        self.truth = SimulatedAnnotator(truth, config, seed=seed) if truth is not None else None
        self.reader = SimulatedAnnotator(oracle, config, seed=seed) if oracle is not None else None

    def judge(self, tasks: list[PairTask]) -> list[tuple[Judgement, float | None]]:
        """Per task: the judgement, and a confidence on the window's 1-3 scale (1/3, 2/3, 1)."""
        out: list[tuple[Judgement, float | None] | None] = [None] * len(tasks)
        by_truth = [k for k, t in enumerate(tasks) if isinstance(t.pair, DatasetPair) and self.truth is not None]
        by_reader = [k for k in range(len(tasks)) if k not in set(by_truth)]
        for annotator, picked in ((self.truth, by_truth), (self.reader, by_reader)):
            if not picked:
                continue
            if annotator is None:
                raise RelAttrError("labeling these pairs needs an oracle that reads images (--oracle)")
            names = list(annotator.oracle.attribute_names)
            unknown = sorted({tasks[k].attribute for k in picked} - set(names))
            if unknown:
                raise RelAttrError(f"the oracle knows no attribute {', '.join(unknown)}")
            if annotator is self.truth:
                shown = [((t.pair.a, t.pair.b) if t.left_is_a else (t.pair.b, t.pair.a)) for t in
                         (tasks[k] for k in picked)]
                left, right = np.array([s[0] for s in shown]), np.array([s[1] for s in shown])
            else:
                images = [tasks[k].images(self.dataset) for k in picked]
                left, right = np.stack([im[0] for im in images]), np.stack([im[1] for im in images])
            j = annotator.annotate(left, right, np.array([names.index(tasks[k].attribute) for k in picked]))
            for row, k in enumerate(picked):
                if j.discarded[row]:
                    out[k] = (Judgement.DISCARD, None)
                    continue
                # left and right were the annotator's (a, b): A_MORE means left more
                verdict = {1: Judgement.LEFT_MORE, -1: Judgement.RIGHT_MORE, 0: Judgement.EQUAL}[int(j.label[row])]
                out[k] = (verdict, int(np.clip(np.ceil(3.0 * float(j.confidence[row])), 1, 3)) / 3.0)
        return out


def simulate_labels(store_path: str, dataset_path: str, *, pairs: int, generator=None, oracle=None,
                    attributes: list[str] | None = None, seed: int = 0, protocol: str = "default",
                    annotator: AnnotatorConfig = DEFAULT_ANNOTATOR, intra_share: float = 0.5, amount: float = 2.0,
                    ctx: JobContext = NULL_CONTEXT) -> SimulationResult:
    """Fill the store at ``store_path`` with the simulated annotator's judgements of ``pairs`` new pairs.

    Without ``generator``: the dataset's train pairs not judged yet, labeled from the dataset's
    true strengths (or ``oracle`` where it has none). With ``generator``: its semantic-jitter
    pairs (intra and inter identity, +- ``amount`` sigma), labeled through ``oracle`` (a
    :class:`ReadingOracle` that also discards what it cannot read). Pairs are spread evenly
    over ``attributes`` (default: all the dataset has, and the generator too). The batch is
    named after what it holds; judgements carry the annotator name ``simulated-seed<seed>``.
    """
    check_bounds({"pairs": pairs, "seed": seed, "intra_share": intra_share, "amount": amount},
                 {"pairs": bounds.SIMULATED_PAIRS, "seed": bounds.SEED, "intra_share": bounds.SHARE,
                  "amount": bounds.JITTER_AMOUNT})
    if generator is not None:
        # known before anything is opened or generated
        check_pair_images(pairs, int(getattr(generator, "image_size", 64)), what="generated pairs",
                          smaller="ask for fewer --pairs, in several runs into the same store")
    rng = np.random.default_rng([int(seed), 0x51B])
    with DatasetFile(dataset_path) as ds, LabelStore(store_path, annotator=f"{SIMULATED_PREFIX}-seed{seed}") as store:
        if generator is None:
            names = _attributes(attributes, ds.attribute_names, str(dataset_path))
            if ds.strengths is None and oracle is None:
                raise RelAttrError(f"{dataset_path} has no attribute strengths; give an oracle that reads its images")
            made, per_pair, counts = _real_batch(store, ds, names, pairs, rng, protocol)
            title, details = f"simulated: {pairs} real pairs", {"kind": "real"}
        else:
            shared = [a for a in ds.attribute_names if a in list(generator.attributes)]
            names = _attributes(attributes, shared, f"both {dataset_path} and the generator")
            if oracle is None:
                raise RelAttrError("labeling generated pairs needs an oracle that reads images")
            made, per_pair, counts = _generated_batch(generator, names, pairs, rng, ctx=ctx,
                                                      intra_share=intra_share, amount=amount)
            title = f"simulated: {pairs} semantic-jitter pairs"
            details = {"kind": "semantic-jitter", "amount": amount, "intra_share": intra_share,
                       "generator": generator_id(generator)}
        details.update(seed=seed, annotator=dataclasses.asdict(annotator))
        info = store.create_batch(title, origin="simulate", details=details, pairs=made, attributes=per_pair)
        final = _label_batch(store, info.id, ds, oracle, annotator, seed, ctx)
    return SimulationResult(final.id, final.name, final.total, final.judged, final.discarded, counts)


def _label_batch(store: LabelStore, batch_id: int, ds: DatasetFile, oracle, annotator: AnnotatorConfig, seed: int,
                 ctx: JobContext):
    """Judge every pending pair of one batch through the path a person's labels take (the
    batch's source, pair by pair); returns the batch's final summary."""
    info = store.batch(batch_id)
    source = BatchSource(store, batch_id, ds, seed=seed)
    judge = _TaskJudge(ds, oracle, annotator, seed)
    done = 0
    while True:
        ctx.check()
        ctx.report(done, info.pending, "labeling", info.name)
        tasks = [t for t in (source.next() for _ in range(64)) if t is not None]
        if not tasks:
            break
        for task, (verdict, confidence) in zip(tasks, judge.judge(tasks)):
            record_task(store, task, verdict, confidence=confidence)
        done += len(tasks)
    ctx.report(done, max(done, info.pending), "labeling", info.name)
    return store.batch(batch_id)


def find_batch(store: LabelStore, name: str):
    """The batch named ``name`` (or with that id), the newest where several share the name."""
    batches = store.batches()
    found = [b for b in batches if b.name == name] or [b for b in batches if str(b.id) == str(name)]
    if not found:
        known = ", ".join(f"{b.id} '{b.name}'" for b in batches[-8:]) or "none"
        raise RelAttrError(f"{store.path}: no batch named {name!r} (the newest: {known})")
    return found[-1]


def simulate_batch_labels(store_path: str, dataset_path: str, batch: str, *, oracle, seed: int = 0,
                          annotator: AnnotatorConfig = DEFAULT_ANNOTATOR,
                          ctx: JobContext = NULL_CONTEXT) -> SimulationResult:
    """The simulated annotator judges the pending pairs of an existing batch (an ATTIC query
    batch, or one a person left half done): real pairs from the dataset's truth, generated ones
    through ``oracle``, which discards what it cannot read."""
    bounds.SEED.check("seed", seed)
    with DatasetFile(dataset_path) as ds, LabelStore(store_path, annotator=f"{SIMULATED_PREFIX}-seed{seed}") as store:
        info = find_batch(store, batch)
        counts: dict[str, int] = {}
        for item in store.pending(batch=info.id, with_pixels=False):
            counts[item.attribute] = counts.get(item.attribute, 0) + 1
        final = _label_batch(store, info.id, ds, oracle, annotator, seed, ctx)
    return SimulationResult(final.id, final.name, final.total, final.judged, final.discarded, counts)


__all__ = ["DEFAULT_ANNOTATOR", "SimulationResult", "find_batch", "simulate_batch_labels", "simulate_labels"]
