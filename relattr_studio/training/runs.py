"""Several models in one job: per attribute (the paper's one model per attribute) and per seed,
and evaluation of saved checkpoints. Both return :class:`ResultRow` lists for ``results.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import Split
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.training.checkpoint import load_checkpoint
from relattr_studio.training.config import TrainConfig, resolve_amp, resolve_device
from relattr_studio.training.evaluation import ImageBank, evaluate_pairs
from relattr_studio.training.job import TrainResult, train_ranker
from relattr_studio.training import distributed as D
from relattr_studio.training.results import ResultRow, record_results


def result_rows(ranker: str, backbone: str, seed: int, accuracy: dict[str, dict[str, float]], *,
                train_pairs: dict | None = None) -> list[ResultRow]:
    """``results.csv`` rows; ``train_pairs`` ({"real": n, "generated": m}) says what the model trained on."""
    real, generated = (train_pairs or {}).get("real"), (train_pairs or {}).get("generated")
    return [ResultRow(ranker, backbone, attr, seed, float(acc), split, real, generated)
            for split, per in accuracy.items() for attr, acc in per.items() if not np.isnan(acc)]


def train_rankers(config: TrainConfig, *, seeds: list[int], per_attribute: bool = True,
                  ctx: JobContext = NULL_CONTEXT) -> tuple[list[TrainResult], list[ResultRow]]:
    """Train one model per attribute (or one multi-head model) for every seed."""
    if per_attribute:
        attributes = list(config.attributes) or DatasetFile(config.dataset).attribute_names
        configs = [config.replace(attributes=(a,), seed=s) for s in seeds for a in attributes]
    else:
        configs = [config.replace(seed=s) for s in seeds]
    results, rows = [], []
    for c in configs:
        r = train_ranker(c, ctx=ctx)
        results.append(r)
        rows += record_run(r)
    return results, rows


def record_run(result: TrainResult, *, write: bool = True) -> list[ResultRow]:
    """A trained model's results.csv rows, merged into its run folder's results.csv (when it has one).

    The CLI and the window both record each model as it finishes, so ``relattr results``
    reads any run, and a cancelled multi-seed run keeps the seeds it finished.
    """
    c = result.config
    rows = result_rows(c.ranker, c.backbone, c.seed, result.accuracy, train_pairs=result.train_pairs)
    if write and c.out_dir and D.dist_env().is_main:
        record_results(Path(c.out_dir) / "results.csv", rows)
    return rows


def resume_config(checkpoint: str | Path, **changes) -> TrainConfig:
    """The configuration a checkpoint was trained with, writing into the checkpoint's own folder.

    ``changes`` override fields (a longer ``steps``, a moved ``dataset``). A checkpoint without
    a training state (weights only) cannot be resumed: DataFileError.
    """
    from relattr_studio.core.errors import DataFileError, RelAttrError
    from relattr_studio.training.checkpoint import read_checkpoint

    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint).get("train_state") or {}
    if not isinstance(state.get("config"), dict):
        raise DataFileError(checkpoint, "has no training state to resume from (it holds weights only)",
                            "start a new run, or pass it as --weights to fine-tune from it")
    try:
        config = TrainConfig.from_dict(state["config"]).replace(out_dir=str(checkpoint.parent))
        return config.replace(**{k: v for k, v in changes.items() if v is not None})
    except RelAttrError as err:
        raise DataFileError(checkpoint, f"its training settings are malformed: {err}",
                            "resume from another checkpoint of this run, or start a new run") from None


def evaluate_checkpoint(checkpoint: str | Path, dataset: str | Path, *, protocol: str = "default",
                        device: str = "auto", max_pairs: int | None = None, test_flip: bool = False,
                        ctx: JobContext = NULL_CONTEXT) -> list[ResultRow]:
    """Test accuracy of a saved model on ``dataset``; attributes matched by name. ``max_pairs``:
    a seeded sample of that many test image pairs, as ``relattr train --max-test-pairs``;
    ``test_flip``: margins averaged over the images and their mirror images."""
    dev = resolve_device(device)
    model, info = load_checkpoint(checkpoint, device=dev)
    ds = DatasetFile(dataset)
    try:
        missing = [a for a in info.attributes if a not in ds.attribute_names]
        if missing:
            raise RelAttrError(f"{dataset}: has no attribute {', '.join(missing)} that {checkpoint} ranks")
        ids = [ds.attribute_index(a) for a in info.attributes]
        pairs = ds.pairs(protocol)
        test = pairs.where(split=Split.TEST)
        bank = ImageBank(ds, np.concatenate([test.a, test.b]))
        acc = evaluate_pairs(model, bank, pairs, dev, attribute_ids=ids, amp=resolve_amp("auto", dev), ctx=ctx,
                             max_pairs=max_pairs, test_flip=test_flip)
    finally:
        ds.close()
    named = {k: {ds.attribute_names[a]: v for a, v in per.items()} for k, per in acc.items()}
    seed = int((info.train_config or {}).get("seed", 0))
    return result_rows(info.ranker, info.backbone, seed, named)
