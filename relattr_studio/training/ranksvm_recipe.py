"""RankSVM's trainer on the one lifecycle: :class:`RankSVMTrainer`, a
:class:`~relattr_studio.training.lifecycle.Recipe` that :func:`~relattr_studio.training.lifecycle.run_recipe` drives.

A step is one unit of work: one attribute of one seed (seeds outermost, attributes in the
run's order), so ``total_steps`` is seeds x attributes. A unit chooses C on a validation split
when the run does not fix it (never on test), fits the RankSVM on all TRAIN pairs, for
``ranksvm-ll`` chooses C_local and ranks the test pairs by local learning, and measures the
rows of its test splits ("test", and "test/coarse", "test/fine" where the dataset has them).
A unit is computed without touching the run's state and committed at its end, so a cancel
inside one (the C search and local learning check between fits and chunks) leaves the state
of the unit before, the one the last checkpoint holds.

Each unit's rows go out as :class:`ResultRow` events through the run's sinks (the job context,
``metrics.jsonl``), and its figures as one :class:`Metrics` record: ``<attribute>/test_acc``
(and ``/coarse_acc``, ``/fine_acc``), ``<attribute>/log10_c`` (and ``/log10_c_local``) and the
``seed``. When a seed's last attribute is done its model file ``<ranker>-seed<s>.ckpt`` is
written; ``results.csv`` and ``summary.json`` are written with the final checkpoint.

The checkpoint, ``<ranker>.state.ckpt`` in the output folder, is a ranker model file (builder
"ranksvm") of the current seed's attributes fitted so far, whose training state holds the run's
settings, the step, the rows and the summary so far and the lifecycle's state. Every unit is a
pure function of the dataset, the settings, the seed and the attribute (its random generators
are seeded from the seed), so a run resumed from it ends with the same rows, summary and model
weights as one that never stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.paths import write_text_atomically
from relattr_studio.core.types import PairGroup, PairLabel, Split
from relattr_studio.data.dataset_file import DEFAULT_PROTOCOL, DatasetFile, PairTable
from relattr_studio.data.features import compute_features, image_features
from relattr_studio.data.metrics import pairwise_accuracy
from relattr_studio.modeling.catalog import RANKSVM_LL, RANKSVM_RANKERS, RANKSVM_STATE_SUFFIX
from relattr_studio.modeling.model_file import read_model_file, save_model_file
from relattr_studio.modeling.ranksvm import (
    DEFAULT_C_GRID,
    RankSVMModel,
    Standardizer,
    choose_c,
    fit_ranksvm,
    local_ranksvm_scores,
)
from relattr_studio.training.lifecycle import (
    Recipe,
    RunState,
    remove_orphaned_temporaries,
)
from relattr_studio.training.events import TrainingData
from relattr_studio.training.results import ResultRow, write_results_csv

FEATURES = "gist+lab"
DEFAULT_LL_SAMPLE = 1000
LL_C_GRID = tuple(float(c) for c in 10.0 ** np.arange(-4.0, 1.01, 1.0))
LL_VAL_SAMPLE = 300


@dataclass(frozen=True)
class RankSVMSettings:
    """What a RankSVM run is (``run_ranksvm``'s arguments); ``attributes`` None means all of the
    dataset's. Stored in the run's checkpoint, so a resume can refuse other settings and the CLI
    can continue a run from its file alone."""

    dataset: str
    ranker: str = "ranksvm"
    attributes: tuple[str, ...] | None = None
    k: int = 100
    c: float | None = None
    seeds: tuple[int, ...] = (0,)
    protocol: str = DEFAULT_PROTOCOL
    test_sample: int | None = None
    out_dir: str | None = None
    labels: str | None = None  # a label store whose judgements join (or, labels_only, replace) the train pairs
    labels_only: bool = False
    min_confidence: float | None = None

    @property
    def local(self) -> bool:
        return self.ranker == RANKSVM_LL

    def to_dict(self) -> dict:
        d = asdict(self)
        d["attributes"] = None if self.attributes is None else list(self.attributes)
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RankSVMSettings:
        attributes = d.get("attributes")
        return cls(dataset=str(d["dataset"]), ranker=str(d["ranker"]),
                   attributes=None if attributes is None else tuple(str(a) for a in attributes),
                   k=int(d["k"]), c=None if d.get("c") is None else float(d["c"]),
                   seeds=tuple(int(s) for s in d["seeds"]), protocol=str(d["protocol"]),
                   test_sample=None if d.get("test_sample") is None else int(d["test_sample"]),
                   out_dir=None if d.get("out_dir") is None else str(d["out_dir"]),
                   labels=None if d.get("labels") is None else str(d["labels"]),
                   labels_only=bool(d.get("labels_only", False)),
                   min_confidence=None if d.get("min_confidence") is None else float(d["min_confidence"]))


def state_path(out_dir: str | Path, ranker: str) -> Path:
    """The checkpoint of a ``ranker`` run in ``out_dir``: ``<ranker>.state.ckpt``."""
    return Path(out_dir) / f"{ranker}{RANKSVM_STATE_SUFFIX}"


def _validation(train, val_rows, seed: int, n_images: int, fraction: float = 0.2):
    """(inner train, val) as (a, b, y) triples. Uses the protocol's VAL pairs when there are
    any; otherwise holds out a seeded ``fraction`` of the training images: val = pairs among
    held-out images (pairs touching one of them when that leaves fewer than 50 ordered pairs),
    inner train = pairs among the remaining images."""
    if len(val_rows) and (val_rows.label != PairLabel.EQUAL).any():
        return _triples(train), _triples(val_rows), "protocol VAL pairs"
    imgs = np.unique(np.concatenate([train.a, train.b]))
    rng = np.random.default_rng(seed)
    held = np.zeros(n_images, bool)
    held[rng.choice(imgs, max(2, round(fraction * len(imgs))), replace=False)] = True
    ha, hb = held[train.a], held[train.b]
    inner = train.select(~ha & ~hb)
    val = train.select(ha & hb)
    how = "pairs among a held-out 20 % of the training images"
    if int((val.label != PairLabel.EQUAL).sum()) < 50:
        val = train.select(ha | hb)
        how = "pairs touching a held-out 20 % of the training images"
    return _triples(inner), _triples(val), how


def _triples(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rows.a.astype(np.int64), rows.b.astype(np.int64), rows.label.astype(np.int64)


@dataclass(frozen=True)
class _Unit:
    """What one unit measured, before it is committed to the run's state."""

    weights: np.ndarray
    info: dict
    rows: list[ResultRow]


class RankSVMTrainer(Recipe):
    """RankSVM ("ranksvm") or local-learning RankSVM ("ranksvm-ll") as a recipe: see the module
    docstring for what a step is and what the checkpoint holds. After the run, :attr:`rows` are
    its ResultRows and :attr:`summary` its ``summary.json``."""

    final_tag = "test"

    def __init__(self, settings: RankSVMSettings, ctx: JobContext = NULL_CONTEXT):
        self.settings, self.ctx = settings, ctx
        self.name = settings.ranker
        self.step, self.total_steps = 0, 1  # seeds x attributes, once setup read the dataset
        self.run_state = RunState()
        self.out_dir = Path(settings.out_dir) if settings.out_dir else None
        self.dataset: DatasetFile | None = None
        self.rows: list[ResultRow] = []
        self.summary: dict = {}

    # -- setup ---------------------------------------------------------------------------------

    def setup(self, resume_from: Path | None) -> None:
        s = self.settings
        self.dataset = dataset = DatasetFile(s.dataset)
        self.names = list(s.attributes) if s.attributes else list(dataset.attribute_names)
        self.attr_idx = [dataset.attribute_index(a) for a in self.names]
        self.total_steps = len(s.seeds) * len(self.names)
        self.steps_per_epoch = float(len(self.names))  # a Metrics record's epoch: seeds done
        own = self.checkpoint_path()
        if resume_from is None and own is not None and own.is_file():
            _refuse_unfinished(own)
        feats = compute_features(dataset, FEATURES, ctx=self.ctx)
        pairs = dataset.pairs(s.protocol)
        self.n_images = len(dataset)
        if s.labels:  # the store's judgements: real pairs by reference, generated images as extra rows
            extra = self._labeled_pairs(dataset)
            self.ctx.report(0, None, "features", f"{len(extra.images)} generated images")
            feats = np.concatenate([feats, image_features(extra.images, FEATURES).astype(feats.dtype)])
            own = pairs.select(pairs.split != Split.TRAIN) if s.labels_only else pairs
            pairs = PairTable.concat([own, extra.pairs])
            self.n_images += len(extra.images)
        self.pairs = pairs
        self.groups = [g for g in (PairGroup.COARSE, PairGroup.FINE) if (pairs.group == g).any()]
        self.sample_size = s.test_sample if s.test_sample is not None else (DEFAULT_LL_SAMPLE if s.local else None)
        train_all = pairs.where(split=Split.TRAIN)
        self.std = Standardizer.fit(feats[np.unique(np.concatenate([train_all.a, train_all.b]))])
        self.x = self.std(feats)
        self.weights = np.zeros((len(self.names), self.x.shape[1]))  # the current seed's
        self.summary = {"dataset": s.dataset, "ranker": s.ranker, "protocol": s.protocol,
                        "k": s.k if s.local else None, "seeds": {}}
        if self.out_dir is not None:  # files a killed writer left half-written
            for path in [self._model_path(seed) for seed in s.seeds] + [self.out_dir / "summary.json"]:
                remove_orphaned_temporaries(path)
        if resume_from is not None:
            self.load_checkpoint(resume_from)
            for row in self.rows:  # the context sees every row of the run, as the curve is replayed
                self.ctx.emit(row)

    def _labeled_pairs(self, dataset: DatasetFile):
        from relattr_studio.data.label_training import labeled_pairs_from

        extra = labeled_pairs_from(self.settings.labels, dataset, min_confidence=self.settings.min_confidence)
        self.publish(TrainingData(self.name, extra.n_real, extra.n_generated, extra.summary()))
        return extra

    def checkpoint_path(self) -> Path | None:
        return state_path(self.out_dir, self.settings.ranker) if self.out_dir is not None else None

    def _model_path(self, seed: int) -> Path:
        return Path(self.out_dir) / f"{self.settings.ranker}-seed{seed}.ckpt"

    # -- one unit --------------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        seed_i, j = divmod(self.step, len(self.names))
        seed, name = self.settings.seeds[seed_i], self.names[j]
        unit = self._measure(seed, j)
        # commit: nothing below checks for a cancel, so the unit counts whole or not at all
        if j == 0:
            self.weights[:] = 0.0
        self.weights[j] = unit.weights
        self.summary["seeds"].setdefault(str(seed), {})[name] = unit.info
        self.rows += unit.rows
        for row in unit.rows:
            self.publish(row)
        if j == len(self.names) - 1 and self.out_dir is not None:
            self._seed_model(seed, len(self.names)).save(self._model_path(seed))
        values = {f"{name}/{row.test_split.removeprefix('test/')}_acc": row.accuracy for row in unit.rows}
        values[f"{name}/log10_c"] = float(np.log10(unit.info["c"]))
        if "c_local" in unit.info:
            values[f"{name}/log10_c_local"] = float(np.log10(unit.info["c_local"]))
        values["seed"] = float(seed)
        return values

    def _measure(self, seed: int, j: int) -> _Unit:
        """Attribute ``j`` of ``seed``: C, the fit, the test rows; reads the run's state, never writes it."""
        s, ctx, x, pairs = self.settings, self.ctx, self.x, self.pairs
        name, ai = self.names[j], self.attr_idx[j]
        ctx.report(self.step, self.total_steps, self.name, f"seed {seed}: {name}")
        train = pairs.where(attribute=ai, split=Split.TRAIN)
        inner, val, how = _validation(train, pairs.where(attribute=ai, split=Split.VAL), seed, self.n_images)
        generated = int(((train.a >= len(self.dataset)) | (train.b >= len(self.dataset))).sum())
        info: dict = {"train_pairs": len(train), "generated_pairs": generated, "validation": how}
        if s.c is None:
            c_attr, accs = choose_c(x, inner, val, DEFAULT_C_GRID, ctx=ctx)
            info["val_accuracy"] = {f"{cc:g}": round(100 * v, 2) for cc, v in accs.items()}
        else:
            c_attr = float(s.c)
        info["c"] = c_attr
        full = _triples(train)
        w = fit_ranksvm(x, *full, c_attr)
        ctx.check()
        test = pairs.where(attribute=ai, split=Split.TEST, non_equal=True)
        rng = np.random.default_rng(seed)
        if self.sample_size is not None and len(test) > self.sample_size:
            test = test.select(np.sort(rng.choice(len(test), self.sample_size, replace=False)))
        info["test_pairs"] = len(test)
        if s.local:
            margin = self._local_margins(seed, name, inner, val, full, test, rng, info)
        else:
            score = x @ w
            margin = score[test.a] - score[test.b]
        splits = [("test", np.ones(len(test), bool))] + [(f"test/{g.name.lower()}", test.group == g)
                                                          for g in self.groups]
        rows = [ResultRow(s.ranker, FEATURES, name, seed, 100 * pairwise_accuracy(margin[mask], test.label[mask]),
                          split, len(train) - generated, generated) for split, mask in splits if mask.any()]
        return _Unit(w, info, rows)

    def _local_margins(self, seed, name, inner, val, full, test, rng, info: dict) -> np.ndarray:
        """Local learning: C_local chosen on a seeded sample of the validation pairs (unless the
        run fixes C), then the test pairs' margins. Adds ``ll_val_accuracy`` and ``c_local`` to ``info``."""
        s, ctx = self.settings, self.ctx
        if s.c is None:
            va, vb, vy = val
            keep = np.flatnonzero(vy != 0)
            keep = rng.choice(keep, min(LL_VAL_SAMPLE, len(keep)), replace=False)
            ll_acc = {}
            for i, cc in enumerate(LL_C_GRID):
                ctx.report(self.step, self.total_steps, self.name,
                           f"seed {seed}: {name}, C_local {i + 1} of {len(LL_C_GRID)}")
                m = local_ranksvm_scores(self.x, inner, va[keep], vb[keep], k=s.k, c=cc, ctx=ctx)
                ll_acc[cc] = pairwise_accuracy(m, vy[keep])
            c_ll = max(sorted(ll_acc), key=lambda cc: (ll_acc[cc], -cc))
            info["ll_val_accuracy"] = {f"{cc:g}": round(100 * v, 2) for cc, v in ll_acc.items()}
        else:
            c_ll = float(s.c)
        info["c_local"] = c_ll
        ctx.report(self.step, self.total_steps, self.name, f"seed {seed}: {name}, ranking {len(test):,} test pairs")
        return local_ranksvm_scores(self.x, full, test.a, test.b, k=s.k, c=c_ll, ctx=ctx)

    # -- results -------------------------------------------------------------------------------

    def evaluate(self, *, final: bool) -> dict[str, float]:
        """``final``: the mean over attributes and seeds of each test split (the units measured
        the rows already; nothing is scored again)."""
        if not final:
            return {}
        per_split: dict[str, list[float]] = {}
        for row in self.rows:
            per_split.setdefault(row.test_split, []).append(row.accuracy)
        return {split: float(np.mean(v)) for split, v in per_split.items()}

    def accuracy(self) -> dict[str, float]:
        """Attribute -> mean "test" accuracy (%) over the seeds, for the Finished event."""
        per: dict[str, list[float]] = {}
        for row in self.rows:
            if row.test_split == "test":
                per.setdefault(row.attribute, []).append(row.accuracy)
        return {a: float(np.mean(v)) for a, v in per.items()}

    def _seed_model(self, seed: int, fitted: int, *, local: bool = True) -> RankSVMModel:
        """The model of ``seed``'s first ``fitted`` attributes (all of them once the seed is done)."""
        s, names = self.settings, self.names[:fitted]
        info = self.summary["seeds"].get(str(seed), {})
        local_data = None
        if s.local and local:
            local_data = {"k": s.k, "c": {a: info[a]["c_local"] for a in names}, "x": self.x,
                          "pairs": {a: _triples(self.pairs.where(attribute=self.attr_idx[j], split=Split.TRAIN))
                                    for j, a in enumerate(names)}}
        return RankSVMModel(names, self.weights[:fitted].copy(), self.std, FEATURES, [info[a]["c"] for a in names],
                            info={"dataset": self.dataset.name, "protocol": s.protocol, "seed": seed,
                                  "ranker": s.ranker}, local=local_data)

    # -- checkpoints -----------------------------------------------------------------------------

    def _position(self) -> tuple[int, int]:
        """(the current seed, its attributes fitted): after a seed's last unit, that seed, all fitted."""
        n = len(self.names)
        if self.step and self.step % n == 0:
            return self.settings.seeds[self.step // n - 1], n
        return self.settings.seeds[self.step // n], self.step % n

    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        """The run's state (see the module docstring); ``final``: results.csv and summary.json first."""
        if final and self.out_dir is not None:
            write_results_csv(self.out_dir / "results.csv", self.rows)
            write_text_atomically(self.out_dir / "summary.json", json.dumps(self.summary, indent=1))
        seed, fitted = self._position()
        # the global weights only: local learning's training features are the seed's model files' business
        model = self._seed_model(seed, fitted, local=False)
        model.info = {**model.info, "state": (f"the training state of a {self.settings.ranker} run (seed {seed}: "
                                              f"{fitted} of {len(self.names)} attributes fitted); its models are "
                                              f"{self.settings.ranker}-seed<s>.ckpt")}
        train_state = {"step": self.step, "finished": final, "ranksvm": self.settings.to_dict(),
                       "names": list(self.names), "seed": seed, "rows": [asdict(r) for r in self.rows],
                       "summary": self.summary, "lifecycle": self.run_state.to_dict()}
        save_model_file(path, model.to_payload(train_state=train_state))

    def load_checkpoint(self, path: Path) -> None:
        """Restore a state :meth:`save_checkpoint` wrote; a file of other settings is refused."""
        model_file = read_model_file(path, kind="ranker")
        saved = read_settings(path, model_file.train_state)
        ts = model_file.train_state
        wanted, have = self.settings, saved
        mismatch = [k for k in ("ranker", "k", "c", "seeds", "protocol", "test_sample")
                    if getattr(have, k) != getattr(wanted, k) and not (k == "k" and not wanted.local)]
        if Path(have.dataset).name != Path(wanted.dataset).name:
            mismatch.insert(0, "dataset")
        if list(ts.get("names", [])) != self.names:
            mismatch.append("attributes")
        if mismatch:
            raise DataFileError(path, "cannot resume: it was trained with other settings ("
                                + ", ".join(f"{k} {ts['ranksvm'].get(k)!r}" if k != "attributes"
                                            else f"attributes {ts.get('names')!r}" for k in mismatch) + ")",
                                "resume with the settings it was trained with")
        try:
            self.step = int(ts["step"])
            self.rows = [ResultRow(**r) for r in ts["rows"]]
            self.summary = ts["summary"]
            weights = model_file.weights["weights"].numpy()
            self.weights[:len(weights)] = weights
        except (KeyError, TypeError, ValueError) as err:
            raise DataFileError(path, f"cannot resume: its training state is incomplete ({err})",
                                "start the run again into a new folder") from None
        self.run_state = RunState.from_dict(ts.get("lifecycle"))

    def cleanup(self) -> None:
        if self.dataset is not None:
            self.dataset.close()


def read_settings(path: str | Path, train_state: dict | None = None) -> RankSVMSettings:
    """The settings of the RankSVM run whose checkpoint is ``path`` (its ``train_state`` when
    already read); a DataFileError when the file is no RankSVM run's checkpoint."""
    if train_state is None:
        train_state = read_model_file(path, kind="ranker").train_state
    if not isinstance(train_state, dict) or not isinstance(train_state.get("ranksvm"), dict):
        raise DataFileError(path, "not a RankSVM run's checkpoint (it holds no RankSVM training state)",
                            "give the <ranker>.state.ckpt a RankSVM run wrote in its output folder")
    try:
        settings = RankSVMSettings.from_dict(train_state["ranksvm"])
    except (KeyError, TypeError, ValueError) as err:
        raise DataFileError(path, f"cannot resume: its RankSVM settings are incomplete ({err})") from None
    if settings.ranker not in RANKSVM_RANKERS:
        raise DataFileError(path, f"cannot resume: {settings.ranker!r} is not a RankSVM ranker")
    return settings


def _refuse_unfinished(path: Path) -> None:
    """A fresh run would overwrite the resumable state of an unfinished run in the same folder."""
    try:
        ts = read_model_file(path, kind="ranker").train_state or {}
    except DataFileError:
        return  # damaged or foreign: nothing a resume could use
    if isinstance(ts, dict) and "ranksvm" in ts and not ts.get("finished"):
        raise RelAttrError(f"{path} holds an unfinished RankSVM run (step {ts.get('step')}): continue it by resuming "
                           f"from that file (relattr train --resume {path}), or choose another output folder")


