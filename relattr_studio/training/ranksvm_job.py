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

The run goes through the one trainer lifecycle (:class:`~relattr_studio.training.ranksvm_recipe.RankSVMTrainer`
driven by :func:`~relattr_studio.training.lifecycle.run_recipe`): one step per attribute and
seed, a resumable checkpoint ``<ranker>.state.ckpt`` after each, metrics through the run's sinks.
"""

from __future__ import annotations

import numbers
from pathlib import Path

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.data.dataset_file import DEFAULT_PROTOCOL
from relattr_studio.modeling.catalog import RANKSVM, RANKSVM_LL
from relattr_studio.training.lifecycle import JsonlSink, run_recipe
from relattr_studio.training.ranksvm_recipe import (
    DEFAULT_LL_SAMPLE,
    LL_C_GRID,
    LL_VAL_SAMPLE,
    RankSVMSettings,
    RankSVMTrainer,
    read_settings,
    state_path,
)
from relattr_studio.training.results import ResultRow

__all__ = ["DEFAULT_LL_SAMPLE", "LL_C_GRID", "LL_VAL_SAMPLE", "is_ranksvm_state", "resume_ranksvm", "run_ranksvm",
           "state_path"]


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
    resume_from: str | Path | None = None,
    labels: str | Path | None = None,
    labels_only: bool = False,
    min_confidence: float | None = None,
) -> list[ResultRow]:
    """Train and test RankSVM ("ranksvm") or local-learning RankSVM ("ranksvm-ll") per attribute.

    - ``attributes``: names (default: all of the dataset's).
    - ``local``/``k``: local learning with the K nearest training pairs per test pair.
    - ``c``: the RankSVM C; None chooses it per attribute on a validation split (see
      module doc) from ``DEFAULT_C_GRID`` (global) and ``LL_C_GRID`` (local).
    - ``test_sample``: rank only a seeded sample of this many non-equal test pairs per
      attribute; None means all for the global model and 1000 for local learning (it fits one
      model per test pair). Group rows (test/coarse, test/fine) use the sample's members.
    - ``out_dir``: writes ``ranksvm[-ll]-seed<s>.ckpt`` per seed as the seed completes (a ranker
      model file; load with :func:`~relattr_studio.modeling.ranksvm.load_ranksvm`), the
      resumable ``ranksvm[-ll].state.ckpt`` after every attribute, ``metrics.jsonl`` (each
      attribute's figures and rows) and, at the end, ``results.csv`` and ``summary.json``
      (chosen C, validation accuracies, test-pair counts / sample sizes). A fresh run refuses a
      folder whose state file holds an unfinished run.
    - ``labels``: a label store whose effective judgements of this dataset's pairs and of
      generated pairs join the train pairs (``labels_only``: replace them; ``min_confidence``:
      leave out judgements made with less), generated images with their GIST + Lab features,
      as ``relattr train --labels`` does for neural rankers.
    - ``resume_from``: that state file; the run goes on at the next attribute and ends with the
      same rows, summary and model weights as a run that never stopped. The settings must be
      the file's (:func:`resume_ranksvm` reads them from it); ``out_dir`` defaults to its folder.

    Reports progress through ``ctx`` (stage ``ranksvm`` or ``ranksvm-ll``: one unit per
    attribute and seed) and emits each :class:`ResultRow` through ``ctx.emit`` as soon as it is
    measured (a resumed run first emits the rows of the units before it). Stops when asked
    between feature batches, between attributes, before each fit of the C search and after the
    final fit, and between chunks of 128 pairs of local learning (about a second each on
    PubFig); with ``out_dir`` it raises ``Cancelled`` naming the state file kept (the run's
    state after the last whole attribute).
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
    if resume_from is not None and out_dir is None:
        out_dir = Path(resume_from).parent
    if labels_only and not labels:
        raise RelAttrError("labels_only needs a label store (labels)")
    settings = RankSVMSettings(dataset=str(dataset_path), ranker=RANKSVM_LL if local else RANKSVM,
                               attributes=tuple(attributes) if attributes else None, k=int(k),
                               c=None if c is None else float(c), seeds=tuple(int(s) for s in seeds),
                               protocol=protocol, test_sample=test_sample,
                               out_dir=None if out_dir is None else str(out_dir),
                               labels=None if labels is None else str(labels), labels_only=bool(labels_only),
                               min_confidence=min_confidence)
    trainer = RankSVMTrainer(settings, ctx)
    sinks = [JsonlSink(Path(out_dir) / "metrics.jsonl")] if out_dir is not None else []
    run_recipe(trainer, ctx=ctx, sinks=sinks, resume_from=resume_from, checkpoint_every=1, log_every=1,
               stage=settings.ranker)
    return trainer.rows


def resume_ranksvm(state: str | Path, *, dataset: str | Path | None = None,
                   ctx: JobContext = NULL_CONTEXT) -> list[ResultRow]:
    """Continue the RankSVM run whose state file is ``state`` (``<ranker>.state.ckpt``), with the
    settings stored in it, in its folder; ``dataset`` where its dataset file has moved (the
    same file name). Returns all of the run's rows, as :func:`run_ranksvm` does."""
    s = read_settings(state)
    return run_ranksvm(dataset if dataset is not None else s.dataset, attributes=list(s.attributes or ()) or None,
                       local=s.local, k=s.k, c=s.c, seeds=list(s.seeds), protocol=s.protocol,
                       test_sample=s.test_sample, out_dir=Path(state).parent, ctx=ctx, resume_from=state,
                       labels=s.labels, labels_only=s.labels_only, min_confidence=s.min_confidence)


def is_ranksvm_state(path: str | Path) -> bool:
    """Whether ``path`` is a RankSVM run's state file (what :func:`resume_ranksvm` takes); False
    for any other file, a damaged one included (its own reader says what is wrong with it)."""
    try:
        read_settings(path)
    except DataFileError:
        return False
    return True
