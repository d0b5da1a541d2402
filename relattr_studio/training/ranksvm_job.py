"""The RankSVM job: train and evaluate RankSVM (or its local-learning variant) on a dataset.

``run_ranksvm`` is what ``relattr train --ranker ranksvm|ranksvm-ll`` calls; its signature is
stable. Per attribute it fits one linear RankSVM on the protocol's TRAIN pairs over the
project's own GIST + Lab features (cached in the dataset file), chooses C on a validation
split (never on test), scores the TEST pairs and returns one :class:`ResultRow` per attribute,
seed and test split ("test", plus "test/coarse" and "test/fine" where the dataset has such
groups).

What the seed changes: the validation split used to choose C when the protocol has no VAL
pairs (a seeded 20 % of the training images is held out; C is then refitted on all TRAIN
pairs), and, for ``local=True``, the seeded sample of test pairs that local learning ranks.
Features are a pure function of the images, and the solve is convex and deterministic, so with
a VAL split and ``local=False`` the seeds give identical rows.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, PairLabel, Split
from relattr_studio.data.dataset_file import DEFAULT_PROTOCOL, DatasetFile
from relattr_studio.data.features import compute_features
from relattr_studio.data.metrics import pairwise_accuracy
from relattr_studio.modeling.catalog import RANKSVM, RANKSVM_LL
from relattr_studio.modeling.ranksvm import (
    DEFAULT_C_GRID, RankSVMModel, Standardizer, choose_c, fit_ranksvm, local_ranksvm_scores,
)
from relattr_studio.training.results import ResultRow, write_results_csv

DEFAULT_LL_SAMPLE = 1000
LL_C_GRID = tuple(float(c) for c in 10.0 ** np.arange(-4.0, 1.01, 1.0))
LL_VAL_SAMPLE = 300


def _validation(train, val_rows, seed: int, n_images: int, fraction: float = 0.2):
    """(inner train, val) as (a, b, y) triples. Uses the protocol's VAL pairs when there are
    any; otherwise holds out a seeded ``fraction`` of the training images: val = pairs among
    held-out images (pairs touching one of them when that leaves fewer than 50 ordered pairs),
    inner train = pairs among the remaining images."""
    def t(rows):
        return rows.a.astype(np.int64), rows.b.astype(np.int64), rows.label.astype(np.int64)

    if len(val_rows) and (val_rows.label != PairLabel.EQUAL).any():
        return t(train), t(val_rows), "protocol VAL pairs"
    imgs = np.unique(np.concatenate([train.a, train.b]))
    rng = np.random.default_rng(seed)
    held = np.zeros(n_images, bool)
    held[rng.choice(imgs, max(2, int(round(fraction * len(imgs)))), replace=False)] = True
    ha, hb = held[train.a], held[train.b]
    inner = train.select(~ha & ~hb)
    val = train.select(ha & hb)
    how = "pairs among a held-out 20 % of the training images"
    if int((val.label != PairLabel.EQUAL).sum()) < 50:
        val = train.select(ha | hb)
        how = "pairs touching a held-out 20 % of the training images"
    return t(inner), t(val), how


def run_ranksvm(
    dataset_path: str | Path,
    *,
    attributes: list[str] | None = None,
    local: bool = False,
    k: int = 100,
    c: float | None = None,
    seeds: list[int] = [0],  # noqa: B006  (never mutated; the documented default)
    protocol: str = DEFAULT_PROTOCOL,
    test_sample: int | None = None,
    out_dir: Path | None = None,
    ctx: JobContext = NULL_CONTEXT,
) -> list[ResultRow]:
    """Train and test RankSVM ("ranksvm") or local-learning RankSVM ("ranksvm-ll") per attribute.

    - ``attributes``: names (default: all of the dataset's).
    - ``local``/``k``: local learning with the K nearest training pairs per test pair.
    - ``c``: the RankSVM C; None chooses it per attribute on a validation split (see
      module doc) from ``DEFAULT_C_GRID`` (global) and ``LL_C_GRID`` (local).
    - ``test_sample``: rank only a seeded sample of this many non-equal test pairs per
      attribute; None means all for the global model and 1000 for local learning (it fits one
      model per test pair). Group rows (test/coarse, test/fine) use the sample's members.
    - ``out_dir``: writes ``ranksvm[-ll]-seed<s>.ckpt`` per seed (a ranker model file; load with
      :func:`~relattr_studio.modeling.ranksvm.load_ranksvm`), ``results.csv`` and
      ``summary.json`` (chosen C, validation accuracies, test-pair counts / sample sizes).

    Reports progress through ``ctx`` (stage ``ranker``: one unit per attribute and seed, plus
    one per C_local tried when local learning chooses C) and emits each :class:`ResultRow`
    through ``ctx.emit`` as soon as it is measured. Stops when asked between feature batches,
    between attributes, before each fit of the C search and after the final fit, and between chunks of 128 pairs of local
    learning (about a second each on PubFig).
    Features are the dataset's ``gist+lab`` descriptors, computed once and cached in the file.
    A C that is not a positive number, K below 2 or a test sample below 1 is a RelAttrError.
    """
    if c is not None and (isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0 < c < float("inf")):
        raise RelAttrError(f"the RankSVM C must be a positive number, not {c!r}")
    if local and k < 2:
        raise RelAttrError(f"local learning needs K of at least 2 nearest training pairs, not {k}")
    if test_sample is not None and test_sample < 1:
        raise RelAttrError(f"the test sample must be at least 1 pair, not {test_sample}")
    if not seeds:
        raise RelAttrError("give at least one seed")
    dataset = DatasetFile(dataset_path)
    try:
        ranker = RANKSVM_LL if local else RANKSVM
        names = list(attributes) if attributes else list(dataset.attribute_names)
        attr_idx = [dataset.attribute_index(a) for a in names]
        feats = compute_features(dataset, "gist+lab", ctx=ctx)
        pairs = dataset.pairs(protocol)
        groups = [g for g in (PairGroup.COARSE, PairGroup.FINE) if (pairs.group == g).any()]
        sample_size = test_sample if test_sample is not None else (DEFAULT_LL_SAMPLE if local else None)
        rows: list[ResultRow] = []
        summary: dict = {"dataset": str(dataset_path), "ranker": ranker, "protocol": protocol,
                         "k": k if local else None, "seeds": {}}
        ll_search = local and c is None
        per_attribute = 1 + (len(LL_C_GRID) if ll_search else 0)
        total = len(seeds) * len(names) * per_attribute
        step = 0
        for seed in seeds:
            train_all = pairs.where(split=Split.TRAIN)
            train_imgs = np.unique(np.concatenate([train_all.a, train_all.b]))
            std = Standardizer.fit(feats[train_imgs])
            x = std(feats)
            weights = np.zeros((len(names), x.shape[1]))
            cs, c_local, local_pairs, seed_info = [], {}, {}, {}
            for j, (name, ai) in enumerate(zip(names, attr_idx)):
                ctx.check()
                ctx.report(step, total, ranker, f"seed {seed}: {name}")
                train = pairs.where(attribute=ai, split=Split.TRAIN)
                inner, val, how = _validation(train, pairs.where(attribute=ai, split=Split.VAL), seed, len(dataset))
                info: dict = {"train_pairs": len(train), "validation": how}
                if c is None:
                    c_attr, accs = choose_c(x, inner, val, DEFAULT_C_GRID, ctx=ctx)
                    info["val_accuracy"] = {f"{cc:g}": round(100 * v, 2) for cc, v in accs.items()}
                else:
                    c_attr = float(c)
                cs.append(c_attr)
                info["c"] = c_attr
                full = (train.a.astype(np.int64), train.b.astype(np.int64), train.label.astype(np.int64))
                weights[j] = fit_ranksvm(x, *full, c_attr)
                ctx.check()
                new_rows: list[ResultRow] = []
                test = pairs.where(attribute=ai, split=Split.TEST, non_equal=True)
                rng = np.random.default_rng(seed)
                if sample_size is not None and len(test) > sample_size:
                    test = test.select(np.sort(rng.choice(len(test), sample_size, replace=False)))
                info["test_pairs"] = len(test)
                if local:
                    if c is None:
                        va, vb, vy = val
                        keep = np.flatnonzero(vy != 0)
                        keep = rng.choice(keep, min(LL_VAL_SAMPLE, len(keep)), replace=False)
                        ll_acc = {}
                        for i, cc in enumerate(LL_C_GRID):
                            ctx.report(step, total, ranker, f"seed {seed}: {name}, C_local {i + 1} of {len(LL_C_GRID)}")
                            m = local_ranksvm_scores(x, inner, va[keep], vb[keep], k=k, c=cc, ctx=ctx)
                            step += 1
                            ll_acc[cc] = pairwise_accuracy(m, vy[keep])
                        c_ll = max(sorted(ll_acc), key=lambda cc: (ll_acc[cc], -cc))
                        info["ll_val_accuracy"] = {f"{cc:g}": round(100 * v, 2) for cc, v in ll_acc.items()}
                    else:
                        c_ll = float(c)
                    c_local[name] = c_ll
                    info["c_local"] = c_ll
                    local_pairs[name] = full
                    ctx.report(step, total, ranker, f"seed {seed}: {name}, ranking {len(test):,} test pairs")
                    margin = local_ranksvm_scores(x, full, test.a, test.b, k=k, c=c_ll, ctx=ctx)
                else:
                    s = x @ weights[j]
                    margin = s[test.a] - s[test.b]
                splits = [("test", np.ones(len(test), bool))] + [
                    (f"test/{g.name.lower()}", test.group == g) for g in groups]
                for split_name, mask in splits:
                    if mask.any():
                        acc = pairwise_accuracy(margin[mask], test.label[mask])
                        new_rows.append(ResultRow(ranker, "gist+lab", name, seed, 100 * acc, split_name))
                for row in new_rows:
                    ctx.emit(row)
                rows += new_rows
                seed_info[name] = info
                step += 1
            summary["seeds"][str(seed)] = seed_info
            model = RankSVMModel(names, weights, std, "gist+lab", cs,
                                 info={"dataset": dataset.name, "protocol": protocol, "seed": seed, "ranker": ranker},
                                 local={"k": k, "c": c_local, "x": x, "pairs": local_pairs} if local else None)
            if out_dir is not None:
                model.save(Path(out_dir) / f"{ranker}-seed{seed}.ckpt")
        ctx.report(total, total, ranker)
        if out_dir is not None:
            write_results_csv(Path(out_dir) / "results.csv", rows)
            (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=1))
    finally:
        dataset.close()
    return rows
