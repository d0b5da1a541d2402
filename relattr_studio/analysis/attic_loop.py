"""ATTIC's active loop (Yu and Grauman, Sec. IV-C) with the simulated annotator, against the
passive ways of adding pairs.

Per seed, everything goes through a label store, the path a person's labels take:

1. ``budget`` real train pairs of the attribute are labeled (from the dataset's truth, through
   the simulated annotator) into ``real.sqlite``; the ranker trained on them alone is *Real*,
   the pre-trained ranker every batch starts from;
2. per condition, a copy of that store gets ``batches`` batches of ``pairs`` more pairs each
   (the paper adds 25 % of the real pairs per batch), each batch labeled by the simulated
   annotator (generated images read through the oracle, which discards what it cannot read),
   and after each batch a ranker is trained from scratch, with the same recipe and seed, on
   the store's judgements (real and generated): its test accuracy minus Real's is the gain.

Conditions: ``attic`` (an adversarial round against the pre-trained ranker, its control module
carried from batch to batch, then a query batch), ``random`` (a query batch from an untrained
control module: generated pairs with nothing learned), ``semantic-jitter`` (the generator's
pairs that change one attribute by +-2 sigma, Gao et al.), and the pool-based active-learning
baselines over the unlabeled real train pairs: ``uncertainty`` (the pairs whose P(a > b) under
the current ranker is nearest 0.5) and ``ensemble`` (the largest disagreement, the standard
deviation of P, among three rankers trained with different seeds on the same labels).
"""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.paths import write_text_atomically

ACTIVE_CONDITIONS = ("attic", "random", "semantic-jitter", "uncertainty", "ensemble")
ENSEMBLE = 3  # rankers in the committee of the ensemble-disagreement baseline


@dataclass(frozen=True)
class ActiveLoopConfig:
    """``train``: the TrainConfig of every ranker trained (dataset, attribute, recipe); its
    ``labels``, ``seed`` and ``out_dir`` are set per run."""

    train: object  # TrainConfig (kept untyped: this module imports no torch at load)
    generator: str
    oracle: str
    out_dir: str
    attribute: str
    budget: int = 200
    pairs: int = 50  # per batch
    batches: int = 4
    seeds: tuple[int, ...] = (0,)
    conditions: tuple[str, ...] = ACTIVE_CONDITIONS
    round_steps: int = 200
    objective: str = "flipped"
    pairs_per_step: int = 16

    def __post_init__(self) -> None:
        unknown = sorted(set(self.conditions) - set(ACTIVE_CONDITIONS))
        if unknown:
            raise RelAttrError(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(ACTIVE_CONDITIONS)}")
        check_bounds(self, {"budget": bounds.BUDGET, "pairs": bounds.ints(1, 100_000),
                            "batches": bounds.ints(1, 100), "round_steps": bounds.STEPS,
                            "pairs_per_step": bounds.ints(1, 2048)})
        bounds.check_seeds(self.seeds)


@dataclass(frozen=True)
class ActiveRow:
    condition: str
    seed: int
    batch: int  # 0: Real, the pre-trained ranker
    pairs_added: int  # labeled pairs asked for in the batches so far
    judged: int  # of those, with a label (not "can't tell")
    accuracy: float  # test accuracy (%) of the attribute
    seconds: float


@dataclass
class ActiveLoopResult:
    rows: list[ActiveRow] = field(default_factory=list)

    def gains(self) -> dict[str, dict[int, float]]:
        """condition -> batch -> mean (over seeds) accuracy gain over Real in points."""
        real = {r.seed: r.accuracy for r in self.rows if r.batch == 0}
        out: dict[str, dict[int, list[float]]] = {}
        for r in self.rows:
            if r.batch:
                out.setdefault(r.condition, {}).setdefault(r.batch, []).append(r.accuracy - real[r.seed])
        return {c: {b: sum(v) / len(v) for b, v in sorted(per.items())} for c, per in out.items()}

    def write_csv(self, path: str | Path) -> Path:
        """Every row as CSV, written atomically."""
        import io

        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(["condition", "seed", "batch", "pairs_added", "judged", "accuracy", "seconds"])
        for r in self.rows:
            w.writerow([r.condition, r.seed, r.batch, r.pairs_added, r.judged, f"{r.accuracy:.4f}", f"{r.seconds:.1f}"])
        return write_text_atomically(path, text.getvalue())

    def table(self) -> str:
        gains = self.gains()
        batches = sorted({b for per in gains.values() for b in per})
        lines = ["| condition | " + " | ".join(f"batch {b}" for b in batches) + " |",
                 "|---|" + "---:|" * len(batches)]
        for c, per in gains.items():
            lines.append(f"| {c} | " + " | ".join(f"{per.get(b, float('nan')):+.2f}" for b in batches) + " |")
        return "\n".join(lines)


def _accuracy(result, attribute: str) -> float:
    return float(result.accuracy.get("test", {}).get(attribute, float("nan")))


def run_active_loop(cfg: ActiveLoopConfig, *, ctx: JobContext = NULL_CONTEXT) -> ActiveLoopResult:
    """Run every condition for every seed (see the module docstring); results.csv in ``out_dir``."""
    from relattr_studio.analysis.label_simulation import simulate_batch_labels, simulate_labels
    from relattr_studio.modeling.control import control_for_generator
    from relattr_studio.modeling.generator import load_generator
    from relattr_studio.modeling.oracle import load_oracle
    from relattr_studio.training.attic_config import AtticConfig
    from relattr_studio.training.attic_job import run_attic_round
    from relattr_studio.training.job import train_ranker

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator, oracle = load_generator(cfg.generator), load_oracle(cfg.oracle)
    # a few hundred labeled pairs make an epoch of a few steps: checkpoint (and validate) four
    # times a run, not every epoch
    base = replace(cfg.train, attributes=(cfg.attribute,),
                   eval_every=cfg.train.eval_every or max(1, (cfg.train.steps or 400) // 4))
    dataset = base.dataset
    result = ActiveLoopResult()
    members = (ENSEMBLE - 1) * cfg.batches if "ensemble" in cfg.conditions else 0  # the committee's other rankers
    total = len(cfg.seeds) * (1 + len(cfg.conditions) * cfg.batches + members)
    done = 0

    def train(store: Path, seed: int, name: str):
        nonlocal done
        ctx.check()
        ctx.report(done, total, "active loop", name)
        t0 = time.monotonic()
        trained = train_ranker(replace(base, labels=str(store), labels_only=True, seed=seed,
                                       out_dir=str(out / f"seed{seed}" / name)), ctx=ctx)  # a cancel stops it
        done += 1
        return trained, time.monotonic() - t0

    for seed in cfg.seeds:
        folder = out / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        real_store = folder / "real.sqlite"
        for stale in folder.glob("*.sqlite*"):  # a run starts its stores afresh
            stale.unlink()
        simulate_labels(str(real_store), dataset, pairs=cfg.budget, attributes=[cfg.attribute], seed=seed,
                        protocol=base.protocol)
        real, seconds = train(real_store, seed, "real")
        result.rows.append(ActiveRow("real", seed, 0, 0, cfg.budget, _accuracy(real, cfg.attribute), seconds))
        for condition in cfg.conditions:
            store = folder / f"{condition}.sqlite"
            shutil.copyfile(real_store, store)
            control_file = folder / f"{condition}.control.pt"
            judged, current = 0, [real.checkpoint]  # the rankers trained on the store so far
            if condition == "ensemble":
                current += [train(real_store, seed + 10_000 * j, f"real-member{j}")[0].checkpoint
                            for j in range(1, ENSEMBLE)]
            for k in range(1, cfg.batches + 1):
                ctx.check()
                batch_seed = seed * 1000 + k
                if condition == "attic":
                    ctx.report(done, total, "active loop", f"attic round {k}, seed {seed}")
                    control = run_attic_round(AtticConfig(
                        dataset=dataset, ranker=str(real.checkpoint), generator=cfg.generator, out=str(control_file),
                        control=str(control_file) if k > 1 else None, labels=str(real_store),
                        attributes=(cfg.attribute,), protocol=base.protocol, objective=cfg.objective,
                        steps=cfg.round_steps, pairs_per_step=cfg.pairs_per_step,
                        eval_every=cfg.round_steps, checkpoint_every=cfg.round_steps, seed=batch_seed,
                        device=base.device), ctx=ctx).control
                    labeled = _query(store, control, generator, oracle, cfg, k, batch_seed, seed, control_file)
                elif condition == "random":
                    import torch

                    torch.manual_seed(batch_seed)
                    control = control_for_generator(generator, [cfg.attribute])
                    labeled = _query(store, control, generator, oracle, cfg, k, batch_seed, seed, control_file)
                elif condition == "semantic-jitter":  # the generator's one-attribute tweaks, labeled the same way
                    labeled = simulate_labels(str(store), dataset, pairs=cfg.pairs, generator=generator,
                                              oracle=oracle, attributes=[cfg.attribute], seed=batch_seed)
                else:  # pool-based: the unlabeled real train pairs the current ranker(s) are least sure of
                    batch_id = pool_batch(store, dataset, cfg.attribute, current, cfg.pairs, kind=condition,
                                          number=k, seed=batch_seed, protocol=base.protocol, device=base.device)
                    labeled = simulate_batch_labels(str(store), dataset, str(batch_id), oracle=oracle, seed=seed)
                judged += labeled.judged
                trained, seconds = train(store, seed, f"{condition}-batch{k}")
                result.rows.append(ActiveRow(condition, seed, k, k * cfg.pairs, judged,
                                             _accuracy(trained, cfg.attribute), seconds))
                result.write_csv(out / "results.csv")
                if condition == "ensemble" and k < cfg.batches:
                    current = [trained.checkpoint] + [
                        train(store, seed + 10_000 * j, f"{condition}-batch{k}-member{j}")[0].checkpoint
                        for j in range(1, ENSEMBLE)]
                else:
                    current = [trained.checkpoint]
    result.write_csv(out / "results.csv")
    ctx.report(total, total, "active loop", "done")
    return result


def _query(store, control, generator, oracle, cfg: ActiveLoopConfig, k: int, batch_seed: int, seed: int,
           control_file: Path):
    """Imagine a batch with ``control`` and have the simulated annotator judge it."""
    from relattr_studio.analysis.attic_queries import imagine_query_batch
    from relattr_studio.analysis.label_simulation import simulate_batch_labels

    batch = imagine_query_batch(store, control, generator, pairs=cfg.pairs, seed=batch_seed, round_number=k,
                                control_file=str(control_file))
    return simulate_batch_labels(str(store), cfg.train.dataset, str(batch.info.id), oracle=oracle, seed=seed)


def pool_batch(store_path: str | Path, dataset_path: str, attribute: str, rankers: list, n: int, *, kind: str,
               number: int, seed: int, protocol: str = "default", device: str = "auto", candidates: int = 5000) -> int:
    """Queue, as one batch, the ``n`` unlabeled real train pairs of ``attribute`` (none judged in
    the store yet; a seeded sample of ``candidates`` of them) that pool-based active learning
    picks: ``uncertainty``, P(a > b) of the first ranker nearest 0.5; ``ensemble``, the largest
    standard deviation of P over the rankers (query by committee). Returns the batch's id."""
    import numpy as np
    import torch

    from relattr_studio.core.types import Split
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_records import DatasetPair, DatasetRef
    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.data.labeling_sources import JudgedPairs
    from relattr_studio.training.checkpoint import load_checkpoint
    from relattr_studio.training.config import resolve_device
    from relattr_studio.training.evaluation import ImageBank, pair_margins

    with DatasetFile(dataset_path) as ds, LabelStore(store_path) as store:
        ref = DatasetRef.of(ds)
        judged = JudgedPairs(ds, store)  # the pairs with an effective judgement, by (attribute, a, b)
        rows = ds.pairs(protocol).where(split=Split.TRAIN, attribute=ds.attribute_index(attribute))
        keys = [(attribute, min(a, b), max(a, b)) for a, b in zip(rows.a.tolist(), rows.b.tolist())]
        first = {key: i for i, key in reversed(list(enumerate(keys)))}  # a pair listed twice is offered once
        rows = rows.select(np.array(sorted(i for key, i in first.items() if key not in judged), np.int64))
        if len(rows) < n:
            raise RelAttrError(f"{ds.path}: only {len(rows)} unlabeled train pairs of {attribute!r} left for "
                               f"{kind} to pick {n} from")
        if len(rows) > candidates:
            rows = rows.select(np.sort(np.random.default_rng(seed).choice(len(rows), candidates, replace=False)))
        dev = resolve_device(device)
        bank = ImageBank(ds, np.concatenate([rows.a, rows.b]))
        probs = []
        for path in rankers if kind == "ensemble" else rankers[:1]:
            model, _ = load_checkpoint(path, dev)
            head = model.attributes.index(attribute)
            margins = pair_margins(model, bank, rows, dev, heads=np.full(len(rows), head, np.int64))
            probs.append(torch.sigmoid(torch.as_tensor(margins, dtype=torch.float64)).numpy())
        p = np.stack(probs)
        score = np.abs(p[0] - 0.5) if kind == "uncertainty" else -p.std(axis=0)
        pick = np.argsort(score, kind="stable")[:n]
        pairs = [DatasetPair(ref, int(rows.a[i]), int(rows.b[i])) for i in pick]
        details = {"kind": kind, "batch": number, "rankers": [str(r) for r in rankers], "seed": seed,
                   "candidates": int(len(rows))}
        info = store.create_batch(f"{kind} batch {number}: {attribute}", origin=kind, details=details, pairs=pairs,
                                  attributes=attribute)
    return info.id
