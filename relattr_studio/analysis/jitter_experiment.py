"""The semantic-jitter experiment (Gao et al., Table I): do dense synthetic pairs help a ranker?

Five training pools with the same number of labelled real pairs per attribute (``budget``):

- ``real``: ``budget`` real pairs;
- ``real+``: those plus as many pseudo pairs among real training images, ordered by strengths
  a model estimated (the paper's generator-training strengths came from a classifier; here
  the oracle, an attribute regressor trained on other images, plays that part);
- ``jitter``: those plus a low-level jittered copy of each real pair, which keeps its label;
- ``dsynth``: half the real pairs, the other half semantic-jitter pairs labelled by an
  annotator (here the simulated one, reading the images through the oracle; illegible pairs are
  discarded and replaced);
- ``dsynth-auto``: all real pairs plus as many semantic-jitter pairs labelled by the strengths
  they were generated with.

Each pool becomes a dataset file of its own (the real images it uses, the made images, its
train pairs and the source's test pairs with their coarse / fine groups), and the ranker trains
on it with the ordinary training engine, so every condition runs the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from relattr_studio.analysis.low_level_jitter import low_level_jitter
from relattr_studio.analysis.semantic_jitter import IdentityPrior, semantic_jitter_pairs
from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairSource, Split
from relattr_studio.data.annotator import AnnotatorConfig
from relattr_studio.data.dataset_file import DatasetFile, DatasetMeta, write_dataset
from relattr_studio.data.images import resize_images
from relattr_studio.data.pairs import PairTable

CONDITIONS = ("real", "real+", "jitter", "dsynth", "dsynth-auto", "attic", "attic-auto")
SEMANTIC_JITTER_CONDITIONS = CONDITIONS[:5]  # Gao et al.'s Table I
# ATTIC's Tables I and II: Normal (attic: half the real pairs, half imagined pairs labeled) and
# Auto (attic-auto: every real pair and as many imagined ones, labeled by their strengths)
ATTIC_CONDITIONS = ("real", "real+", "jitter", "dsynth", "attic", "dsynth-auto", "attic-auto")
IMAGINED = ("attic", "attic-auto")  # pools made after Real is trained: a control module fights its ranker


@dataclass(frozen=True)
class JitterExperimentConfig:
    dataset: str  # a dataset file with train and test pairs (coarse / fine groups where it has them)
    generator: str  # a generator model file
    oracle: str  # an oracle model file: Real+'s strengths and DSynth's simulated annotator
    out_dir: str
    budget: int = 200  # real labelled pairs per attribute
    seeds: tuple[int, ...] = (0, 1, 2)
    conditions: tuple[str, ...] = SEMANTIC_JITTER_CONDITIONS
    attic_steps: int = 200  # steps of the adversarial round before ATTIC's pairs are imagined
    attic_per_attribute: bool = False  # one control module (and round) per attribute, as the paper
    attributes: tuple[str, ...] = ()  # default: every attribute the dataset and the generator share
    protocol: str = "default"
    ranker: str = "ranknet"
    backbone: str = "small-cnn"
    steps: int = 600
    batch_size: int = 32
    preset: str | None = None  # None: scratch for small-cnn, finetune for a pretrained backbone
    image_size: int | None = None  # the ranker's input side (default: the backbone's own)
    backbone_options: dict = field(default_factory=dict)  # more of the backbone's options (width, stem_stride)
    amount: float = 2.0  # sigmas between a tweaked identity and its base (the paper: 2)
    intra_share: float = 0.5
    annotator: AnnotatorConfig = field(default_factory=lambda: AnnotatorConfig(
        noise=0.05, flip_rate=0.03, equal_threshold=0.02, discard_rate=0.0))
    device: str = "auto"
    keep_datasets: bool = False  # keep each condition's dataset file after training

    def __post_init__(self) -> None:
        from relattr_studio.training.config import PRESETS

        if self.preset is None:
            object.__setattr__(self, "preset", "scratch" if self.backbone == "small-cnn" else "finetune")
        if self.preset not in PRESETS:
            raise RelAttrError(f"no preset {self.preset!r}; known: {', '.join(PRESETS)}")
        unknown = sorted(set(self.conditions) - set(CONDITIONS))
        if unknown:
            raise RelAttrError(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
        if set(self.conditions) & set(IMAGINED) and "real" not in self.conditions:
            raise RelAttrError("the attic conditions need the real one: their control module fights Real's ranker")
        if self.budget < 2:
            raise RelAttrError("the real budget must be at least 2 pairs per attribute")
        check_bounds(self, {"budget": bounds.BUDGET, "steps": bounds.STEPS, "attic_steps": bounds.STEPS,
                            "batch_size": bounds.BATCH,
                            "image_size": bounds.IMAGE_SIZE, "amount": bounds.JITTER_AMOUNT,
                            "intra_share": bounds.SHARE})
        bounds.check_seeds(self.seeds)


@dataclass(frozen=True)
class ExperimentRow:
    """One condition's accuracy (%) on one attribute and test group for one seed."""

    condition: str
    ranker: str
    backbone: str
    attribute: str
    seed: int
    accuracy: float
    test_split: str  # "test", "test/coarse", "test/fine"


@dataclass
class Pool:
    """A training pool under construction: real image indices and made images, and its pairs.

    Pair ends are *pool* indices: 0..len(real)-1 the real images (in ``real`` order), then the
    made images in order."""

    real: list[int] = field(default_factory=list)
    made: list[np.ndarray] = field(default_factory=list)
    tables: list[PairTable] = field(default_factory=list)
    _index: dict[int, int] = field(default_factory=dict)

    @property
    def n_made(self) -> int:
        return sum(len(m) for m in self.made)

    def real_ids(self, dataset_ids: np.ndarray) -> np.ndarray:
        out = np.empty(len(dataset_ids), np.int64)
        for i, d in enumerate(np.asarray(dataset_ids, np.int64)):
            if d not in self._index:
                self._index[int(d)] = len(self.real)
                self.real.append(int(d))
            out[i] = self._index[int(d)]
        return out

    def add_made(self, images: np.ndarray) -> int:
        """Append made images; returns the pool index of the first (real ones come first, so
        the offset is fixed up in :meth:`materialise`)."""
        first = self.n_made
        self.made.append(np.asarray(images, np.uint8))
        return first


MADE = 1 << 30  # pair ends at or above this are made images (offset by MADE) until materialised


def _real_pairs(pool: Pool, rows: PairTable) -> PairTable:
    return PairTable.build(pool.real_ids(rows.a), pool.real_ids(rows.b), rows.attribute, rows.label,
                           confidence=rows.confidence, agreement=rows.agreement, source=rows.source,
                           split=rows.split, group=rows.group)


def _made_pairs(first: int, a: np.ndarray, b: np.ndarray, attribute: int, label: np.ndarray, *,
                source: int, confidence=np.nan) -> PairTable:
    return PairTable.build(MADE + first + np.asarray(a), MADE + first + np.asarray(b), attribute, label,
                           confidence=confidence, source=source, split=Split.TRAIN)


def materialise(pool: Pool, ds: DatasetFile, attributes: list[str], out: Path, name: str,
                size: tuple[int, int]) -> Path:
    """Write ``pool`` as a dataset file of ``size`` images: real ones (resized where need be), then
    made ones; pair ends re-indexed."""
    pairs = PairTable.concat(pool.tables)
    n_real = len(pool.real)
    src_ids = [ds.attribute_index(a) for a in attributes]
    to_pool = np.full(max(src_ids) + 1, -1, np.int64)
    to_pool[src_ids] = np.arange(len(src_ids))
    pairs.attribute = to_pool[pairs.attribute].astype(np.int16)  # pair attributes are the source's ids until here
    for col in ("a", "b"):
        v = getattr(pairs, col).astype(np.int64)
        made = v >= MADE
        v[made] = v[made] - MADE + n_real
        setattr(pairs, col, v.astype(np.int32))
    real = ds.images(np.asarray(pool.real, np.int64))
    if real.shape[1:3] != tuple(size):
        real = resize_images(real, size)  # as the paper: real images at the generator's size
    bad = [m.shape for m in pool.made if m.shape[1:3] != tuple(size)]
    if bad:
        raise RelAttrError(f"made images of shape {bad[0][1:3]} in a pool of {size[0]} x {size[1]} images")
    images = np.concatenate([real, *pool.made]) if pool.made else real
    strengths = None
    if ds.strengths is not None:
        strengths = np.full((len(images), len(attributes)), np.nan, np.float32)
        strengths[:n_real] = ds.strengths[np.asarray(pool.real, np.int64)][:, src_ids]
    names = [f"real/{ds.image_names[i]}" for i in pool.real] + [f"made/{i:06d}" for i in range(pool.n_made)]
    meta = DatasetMeta(name=name, attribute_names=list(attributes), image_names=names, strengths=strengths,
                       pairs=pairs, provenance=f"semantic-jitter experiment pool built from {ds.path}")
    return write_dataset(out, images, meta, compression=None)


def _train_images(train: PairTable) -> np.ndarray:
    return np.unique(np.concatenate([train.a, train.b]).astype(np.int64))


def _pseudo_pairs(pool: Pool, images: np.ndarray, strength: np.ndarray, n: int, attribute: int,
                  rng: np.random.Generator) -> PairTable:
    """Real+: ``n`` random pairs of distinct ``images`` ordered by an estimated ``strength``."""
    a = rng.integers(0, len(images), size=n)
    b = (a + rng.integers(1, len(images), size=n)) % len(images)
    label = np.sign(strength[a] - strength[b]).astype(np.int8)
    return PairTable.build(pool.real_ids(images[a]), pool.real_ids(images[b]), attribute, label,
                           source=PairSource.PSEUDO, split=Split.TRAIN)


def _jittered_pairs(pool: Pool, ds: DatasetFile, rows: PairTable, rng: np.random.Generator,
                    size: tuple[int, int]) -> PairTable:
    """Jitter: a low-level jittered copy of both images of each real pair, with its label."""
    n = len(rows)
    images = ds.images(np.concatenate([rows.a, rows.b]))
    if images.shape[1:3] != tuple(size):
        images = resize_images(images, size)
    first = pool.add_made(low_level_jitter(images, rng))
    return _made_pairs(first, np.arange(n), n + np.arange(n), int(rows.attribute[0]), rows.label,
                       source=PairSource.REAL)


def _synthetic_auto_pairs(pool: Pool, sp, attribute: int) -> PairTable:
    """Made pairs ``sp`` (a SyntheticPairs) labeled by the strengths they were made with."""
    first = pool.add_made(sp.images)
    return _made_pairs(first, sp.a, sp.b, attribute, sp.auto_label, source=PairSource.SYNTHETIC_AUTO)


def _synthetic_judged_pairs(pool: Pool, make, attribute: int, n: int, annotator, oracle_attr: int,
                            max_rounds: int = 20) -> tuple[PairTable, int]:
    """Made pairs (``make(ask)``: a SyntheticPairs of ``ask`` pairs) judged by the (simulated)
    annotator until ``n`` are kept; returns the table and how many pairs were discarded on the way."""
    tables, have, discarded = [], 0, 0
    for _ in range(max_rounds):
        if have >= n:
            break
        sp = make(int(np.ceil((n - have) * 1.25)) + 2)
        j = annotator.annotate(sp.images[sp.a], sp.images[sp.b], oracle_attr)
        keep = np.flatnonzero(j.kept)[: n - have]
        discarded += int((~j.kept).sum())
        if not len(keep):
            continue
        used, inverse = np.unique(np.concatenate([sp.a[keep], sp.b[keep]]), return_inverse=True)
        first = pool.add_made(sp.images[used])
        tables.append(_made_pairs(first, inverse[: len(keep)], inverse[len(keep):], attribute, j.label[keep],
                                  source=PairSource.SIMULATED, confidence=j.confidence[keep]))
        have += len(keep)
    if have < n:
        raise RelAttrError(f"the annotator discarded too many generated pairs: {have} of {n} kept after "
                           f"{max_rounds} rounds ({discarded} discarded)")
    return PairTable.concat(tables), discarded


@dataclass
class SeedPools:
    pools: dict[str, Pool]
    discarded: int = 0  # DSynth pairs the annotator discarded
    judged: int = 0
    picks: dict = field(default_factory=dict)  # attribute -> the budget's real pairs (a PairTable)


def build_pools(cfg: JitterExperimentConfig, ds: DatasetFile, attributes: list[str], generator, oracle,
                annotator, seed: int, size: tuple[int, int]) -> SeedPools:
    """Every condition's training pool for one seed (the same real pairs underlie all of them)."""
    rng = np.random.default_rng([seed, 0x5E17])
    pairs = ds.pairs(cfg.protocol)
    train, test = pairs.where(split=Split.TRAIN), pairs.where(split=Split.TEST)
    prior = IdentityPrior.of_generator(generator)
    out = SeedPools({c: Pool() for c in cfg.conditions if c not in IMAGINED})
    pseudo_strength = None
    if "real+" in cfg.conditions:
        train_images = _train_images(train)
        pseudo_strength = oracle_strengths(oracle, ds.images(train_images), attributes)
    for k, name in enumerate(attributes):
        src = ds.attribute_index(name)
        rows = train.where(attribute=src)
        pick = rows.select(rng.choice(len(rows), cfg.budget, replace=False))
        out.picks[name] = pick
        half = cfg.budget // 2
        gen_attr = list(generator.attributes).index(name)
        for condition, pool in out.pools.items():
            pool.tables.append(_real_pairs(pool, pick.select(np.arange(half)) if condition == "dsynth" else pick))
            crng = np.random.default_rng([seed, k, CONDITIONS.index(condition)])
            if condition == "real+":
                pool.tables.append(_pseudo_pairs(pool, train_images, pseudo_strength[:, k], cfg.budget, src, crng))
            elif condition == "jitter":
                pool.tables.append(_jittered_pairs(pool, ds, pick, crng, size))
            elif condition in ("dsynth", "dsynth-auto"):
                def make(ask, gen_attr=gen_attr, crng=crng):
                    return semantic_jitter_pairs(generator, gen_attr, ask, crng, prior=prior,
                                                 intra_share=cfg.intra_share, amount=cfg.amount)

                auto = condition.endswith("-auto")
                _add_synthetic(out, pool, auto, make, src, cfg.budget if auto else cfg.budget - half, annotator,
                               list(oracle.attribute_names).index(name))
            pool.tables.append(_real_pairs(pool, test.where(attribute=src)))
    return out


def _add_synthetic(out: SeedPools, pool: Pool, auto: bool, make, attribute: int, n: int, annotator,
                   oracle_attr: int) -> None:
    """``n`` made pairs of a synthetic condition (``make(ask)`` makes ``ask`` of them): labeled by
    the strengths they were made with (Auto), or judged by the annotator until ``n`` are kept
    (Normal; the discarded ones counted)."""
    if auto:
        pool.tables.append(_synthetic_auto_pairs(pool, make(n), attribute))
        return
    table, discarded = _synthetic_judged_pairs(pool, make, attribute, n, annotator, oracle_attr)
    pool.tables.append(table)
    out.discarded += discarded
    out.judged += discarded + len(table)


def oracle_strengths(oracle, images: np.ndarray, attributes: list[str]) -> np.ndarray:
    """The oracle's strengths of ``images`` for ``attributes`` (n x len(attributes))."""
    names = list(oracle.attribute_names)
    missing = [a for a in attributes if a not in names]
    if missing:
        raise RelAttrError(f"the oracle knows no attribute {', '.join(missing)}")
    s = np.concatenate([oracle.strengths(images[i:i + 512]) for i in range(0, len(images), 512)])
    return s[:, [names.index(a) for a in attributes]]


def experiment_attributes(cfg: JitterExperimentConfig, ds: DatasetFile, generator) -> list[str]:
    shared = [a for a in ds.meta.attribute_names if a in list(generator.attributes)]
    if cfg.attributes:
        bad = [a for a in cfg.attributes if a not in shared]
        if bad:
            raise RelAttrError(f"attribute(s) {', '.join(bad)} are not in both {ds.path} and the generator "
                               f"(shared: {', '.join(shared) or 'none'})")
        return list(cfg.attributes)
    if not shared:
        raise RelAttrError(f"{ds.path} and the generator share no attribute")
    return shared


@dataclass
class ExperimentResult:
    rows: list[ExperimentRow]
    attributes: list[str]
    discarded: int  # DSynth pairs the simulated annotator discarded, over all seeds
    judged: int
    seconds: float


def check_budget(cfg: JitterExperimentConfig, ds: DatasetFile, attributes: list[str], side: int) -> None:
    """Refuse, before any image is made, a budget the dataset cannot fill or whose pools would not
    fit in memory: per attribute each condition holds up to two images per budgeted pair (real,
    jittered or made), and a pool is copied once more when it is written."""
    from relattr_studio.core.resources import check_memory

    train = ds.pairs(cfg.protocol).where(split=Split.TRAIN)
    for name in attributes:
        have = len(train.where(attribute=ds.attribute_index(name)))
        if have < cfg.budget:
            raise RelAttrError(f"{ds.path}: attribute {name!r} has {have} train pairs under protocol "
                               f"{cfg.protocol!r}, fewer than the budget of {cfg.budget}")
    images = len(attributes) * cfg.budget * 2 * len(cfg.conditions)
    check_memory(2 * images * side * side * 3, what=f"the pools of {cfg.budget:,} pairs for each of {len(attributes)} "
                 f"attributes ({len(cfg.conditions)} conditions, {side} px)",
                 smaller="use a smaller --budget or fewer --attribute")


def run_semantic_jitter_experiment(cfg: JitterExperimentConfig, *, generator=None, oracle=None,
                                   ctx: JobContext = NULL_CONTEXT) -> ExperimentResult:
    """Train every condition for every seed; a job (progress through ``ctx``, cancel between runs).

    ``generator`` / ``oracle``: already-loaded models, else loaded from ``cfg``'s paths.
    """
    import time

    from relattr_studio.training.config import TrainConfig
    from relattr_studio.training.job import train_ranker

    t0 = time.monotonic()
    if generator is None:
        from relattr_studio.modeling.generator import load_generator

        generator = load_generator(cfg.generator)
    if oracle is None:
        from relattr_studio.modeling.oracle import load_oracle

        oracle = load_oracle(cfg.oracle)
    annotator = make_annotator(oracle, cfg)
    ds = DatasetFile(cfg.dataset)
    attributes = experiment_attributes(cfg, ds, generator)
    size = (int(generator.image_size), int(generator.image_size))
    check_budget(cfg, ds, attributes, size[0])
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[ExperimentRow] = []
    discarded = judged = 0
    total, done = len(cfg.seeds) * len(cfg.conditions), 0
    order = sorted(cfg.conditions, key=lambda c: c in IMAGINED)  # Real's ranker first: ATTIC fights it
    for seed in cfg.seeds:
        ctx.check()
        ctx.report(done, total, "making pools", f"seed {seed}")
        built = build_pools(cfg, ds, attributes, generator, oracle, annotator, seed, size)
        imagined: dict[str, Pool] = {}
        real_run: tuple[Path, str] | None = None  # Real's pool file and checkpoint, while ATTIC needs them
        for condition in order:
            ctx.check()
            if condition in IMAGINED and not imagined:
                ctx.report(done, total, "attic round", f"seed {seed}")
                imagined = attic_pools(cfg, ds, attributes, generator, oracle, annotator, seed, built, *real_run,
                                       out_dir / "pools" / f"attic-control-seed{seed}.pt", ctx)
            pool = imagined[condition] if condition in IMAGINED else built.pools[condition]
            path = out_dir / "pools" / f"{condition}-seed{seed}.h5"
            materialise(pool, ds, attributes, path, f"{ds.meta.name} {condition} seed {seed}", size)
            options = {**cfg.backbone_options, **({"image_size": cfg.image_size} if cfg.image_size else {})}
            base = TrainConfig(dataset=str(path), ranker=cfg.ranker, backbone=cfg.backbone, backbone_options=options)
            tc = replace(base.with_preset(cfg.preset), steps=cfg.steps, batch_size=cfg.batch_size, seed=seed,
                         val_fraction=0.0, device=cfg.device, out_dir=str(out_dir / "runs" / f"{condition}-seed{seed}"))
            keep = cfg.keep_datasets or (condition == "real" and bool(set(order) & set(IMAGINED)))
            try:
                result = train_ranker(tc, ctx=ctx)
            finally:  # a run refused or cancelled leaves no pool file behind either
                if not keep:
                    path.unlink(missing_ok=True)
            if condition == "real":
                real_run = (path, str(result.checkpoint))
            for split, per in result.accuracy.items():
                rows += [ExperimentRow(condition, cfg.ranker, cfg.backbone, a, seed, float(acc), split)
                         for a, acc in per.items() if not np.isnan(acc)]
            done += 1
            ctx.report(done, total, "conditions", f"{condition} seed {seed}")
        discarded, judged = discarded + built.discarded, judged + built.judged
        if real_run is not None and not cfg.keep_datasets:
            real_run[0].unlink(missing_ok=True)
    return ExperimentResult(rows, attributes, discarded, judged, time.monotonic() - t0)


def attic_pools(cfg: JitterExperimentConfig, ds: DatasetFile, attributes: list[str], generator, oracle, annotator,
                seed: int, built: SeedPools, real_path: Path, real_checkpoint: str, control_file: Path,
                ctx: JobContext) -> dict[str, Pool]:
    """ATTIC's pools for one seed: an adversarial round against Real's ranker (trained on
    ``real_path``, its budget's real pairs), one control module for every attribute at once (or,
    with ``attic_per_attribute``, one round and module per attribute, as the paper), then per
    attribute the Normal pool (half the budget's real pairs, the other half imagined
    and judged by the annotator) and the Auto one (every real pair and as many imagined ones,
    labeled by the control module's strengths)."""
    from relattr_studio.training.attic_config import AtticConfig
    from relattr_studio.training.attic_job import run_attic_round

    def round_for(targets: tuple[str, ...], out: Path):
        return run_attic_round(AtticConfig(
            dataset=str(real_path), ranker=real_checkpoint, generator=cfg.generator, out=str(out),
            attributes=targets, steps=cfg.attic_steps, eval_every=cfg.attic_steps,
            checkpoint_every=cfg.attic_steps, seed=seed, device=cfg.device), ctx=ctx).control

    if cfg.attic_per_attribute:
        controls = {a: round_for((a,), control_file.with_name(f"{control_file.stem}-{a}.pt")) for a in attributes}
    else:
        shared = round_for(tuple(attributes), control_file)
        controls = {a: shared for a in attributes}
    test = ds.pairs(cfg.protocol).where(split=Split.TEST)
    pools = {c: Pool() for c in cfg.conditions if c in IMAGINED}
    for k, name in enumerate(attributes):
        control = controls[name]
        src, pick, half = ds.attribute_index(name), built.picks[name], cfg.budget // 2
        gen_attr = list(generator.attributes).index(name)
        for condition, pool in pools.items():
            auto = condition == "attic-auto"
            pool.tables.append(_real_pairs(pool, pick if auto else pick.select(np.arange(half))))
            _add_synthetic(built, pool, auto, imagined_pairs(control, generator, gen_attr, [seed, k, int(auto)]), src,
                           cfg.budget if auto else cfg.budget - half, annotator,
                           list(oracle.attribute_names).index(name))
            pool.tables.append(_real_pairs(pool, test.where(attribute=src)))
    return pools


def imagined_pairs(control, generator, gen_attr: int, seed: list[int]):
    """``make(ask)`` for :func:`_add_synthetic`: ``ask`` pairs the control module imagines (fresh
    seeds each call), as SyntheticPairs on the generator's attribute ``gen_attr``."""
    from relattr_studio.analysis.attic_queries import imagine_pairs
    from relattr_studio.analysis.semantic_jitter import INTER, SyntheticPairs

    calls = [0]

    def make(ask: int):
        calls[0] += 1
        out, images_a, images_b = imagine_pairs(control, generator, ask,
                                                int(np.random.default_rng([*seed, calls[0]]).integers(2**31)))
        y, z = np.concatenate([out["y_a"], out["y_b"]]), np.concatenate([out["z_a"], out["z_b"]])
        return SyntheticPairs(gen_attr, np.concatenate([images_a, images_b]), y, z, np.arange(ask),
                              ask + np.arange(ask), np.full(ask, INTER))

    return make


def make_annotator(oracle, cfg: JitterExperimentConfig):
    """The simulated annotator that judges DSynth's generated pairs through the oracle."""
    from relattr_studio.data.annotator import SimulatedAnnotator

    return SimulatedAnnotator(oracle, cfg.annotator, seed=0)
