"""Rankers in model files: the "ranker" kind, for neural rankers and RankSVM alike.

A ranker file is a ``relattr-model`` file (see :mod:`relattr_studio.modeling.model_file`) of
kind "ranker" whose builder names the ranker in ``RANKERS``: "ranknet", "deepstn", "dacrl"
(neural) or "ranksvm", "ranksvm-ll" (RankSVM). Every one is rebuilt the same way
(:func:`load_ranker`: the builder with the file's config and attributes, then its weights)::

    config:        the builder's keyword arguments (neural: model.config())
    preprocessing: Preprocess.to_dict() (neural) or the feature kind (RankSVM)
    extra:         {ranker_kind: "pointwise" | "pairwise", backbone: {name, weights_source}} (neural)
    card:          {results: {split: {attribute: accuracy %}}, dataset: {path, name, protocol}}
    train_state:   {step, phase, config, history, optimizer, scheduler, sampler, rng, best...} or None

Older ``relattr-checkpoint`` v1 files map into the same fields. :func:`checkpoint_view` gives
any ranker file in the version-1 layout, for callers that resume from a payload dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.modeling.backbones import Preprocess
from relattr_studio.modeling.catalog import NEURAL, RANKERS, ranker_family
from relattr_studio.modeling.model_file import (
    ModelFile,
    ModelKind,
    model_file_payload,
    register_kind,
    save_model_file,
)


@dataclass(frozen=True)
class CheckpointInfo:
    """What a ranker checkpoint says about its model (everything but the weights)."""

    path: str
    ranker: str
    kind: str
    ranker_config: dict
    backbone: str
    weights_source: str
    attributes: list[str]
    preprocess: Preprocess
    results: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    step: int = 0
    train_config: dict | None = None
    history: list = field(default_factory=list)
    created: str = ""


def build_ranker(name: str, **config):
    """A ranker from its registry name and builder keyword arguments (a neural ranker's
    ``model.config()``; a RankSVM's config and ``attributes``)."""
    return RANKERS.build(name, **config)


def ranker_file_payload(model, *, train_state: dict | None = None, results: dict | None = None,
                        dataset: dict | None = None) -> dict:
    """The ``relattr-model`` payload of a neural ranker (+ training state for resume)."""
    return model_file_payload(
        kind="ranker", builder=model.registry_name, config=model.config(), attributes=list(model.attributes),
        preprocessing=model.preprocess.to_dict(), weights=model.state_dict(),
        extra={"ranker_kind": model.kind,
               "backbone": {"name": getattr(model, "backbone_name", ""),
                            "weights_source": getattr(getattr(model, "backbone", None), "weights_source", "")}},
        train_state=train_state, card={"results": dict(results or {}), "dataset": dict(dataset or {})})


def save_ranker_file(path: str | Path, model, **kwargs) -> Path:
    """Write a neural ranker to ``path`` atomically; see :func:`ranker_file_payload` for ``kwargs``."""
    return save_model_file(path, ranker_file_payload(model, **kwargs))


def checkpoint_view(model_file: ModelFile) -> dict:
    """A ranker file in the ``relattr-checkpoint`` version-1 layout (the dict resuming code reads)."""
    backbone = dict(model_file.extra.get("backbone") or {})
    return {
        "format": "relattr-checkpoint", "format_version": 1, "created": model_file.created,
        "ranker": {"name": model_file.builder, "kind": str(model_file.extra.get("ranker_kind", "")),
                   "config": dict(model_file.config)},
        "backbone": {"name": backbone.get("name", ""), "weights_source": backbone.get("weights_source", "")},
        "attributes": list(model_file.attributes), "preprocess": dict(model_file.preprocessing),
        "state_dict": model_file.weights, "train_state": model_file.train_state,
        "results": dict(model_file.card.get("results") or {}), "dataset": dict(model_file.card.get("dataset") or {}),
    }


def ranker_info(model_file: ModelFile) -> CheckpointInfo:
    """The :class:`CheckpointInfo` of a neural ranker's file."""
    ts = model_file.train_state or {}
    backbone = model_file.extra.get("backbone") or {}
    return CheckpointInfo(
        path=str(model_file.path), ranker=model_file.builder, kind=str(model_file.extra.get("ranker_kind", "")),
        ranker_config=dict(model_file.config), backbone=str(backbone.get("name", "")),
        weights_source=str(backbone.get("weights_source", "")), attributes=list(model_file.attributes),
        preprocess=Preprocess.from_dict(model_file.preprocessing),
        results=dict(model_file.card.get("results") or {}), dataset=dict(model_file.card.get("dataset") or {}),
        step=int(ts.get("step", 0)), train_config=ts.get("config"), history=model_file.history,
        created=model_file.created,
    )


def load_ranker(model_file: ModelFile, device: str | torch.device = "cpu"):
    """The ranker of a ranker file, rebuilt from the file alone through ``RANKERS`` (its builder
    with the file's config and attributes, then the file's weights): a neural ranker module in
    eval mode on ``device``, or a ``RankSVMModel``."""
    path, name = model_file.path, model_file.builder
    try:
        model = build_ranker(name, **{**model_file.config, "attributes": list(model_file.attributes)})
    except (TypeError, KeyError, ValueError, RelAttrError) as err:
        raise DataFileError(path, f"cannot rebuild its {name!r} model: {err}",
                            "the checkpoint was written by an incompatible version") from None
    try:
        model.load_state_dict(model_file.weights, strict=True)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()][1:3]
        on = (model_file.extra.get("backbone") or {}).get("name") or model_file.config.get("feature_kind")
        raise DataFileError(path, "its weights do not fit the architecture it names "
                            f"({name} on {on}): " + "; ".join(lines)[:300],
                            "a checkpoint from another architecture") from None
    return model.to(device).eval() if isinstance(model, torch.nn.Module) else model


def neural_ranker(model_file: ModelFile, device: str | torch.device = "cpu"):
    """The neural ranker of a ranker file, rebuilt from the file alone, in eval mode."""
    if ranker_family(model_file.builder) != NEURAL:
        raise DataFileError(model_file.path, f"it is a {model_file.builder} model (linear, on "
                            f"{model_file.config.get('feature_kind')} features), not a neural ranker",
                            "RankSVM files are scored with their features (relattr_studio.modeling.ranksvm.load_ranksvm)")
    return load_ranker(model_file, device)


def describe_ranker(model_file: ModelFile) -> dict[str, Any]:
    """What ``relattr model info`` says about a ranker besides the header and the card."""
    if ranker_family(model_file.builder) != NEURAL:
        local = model_file.config.get("local")
        return {"features": model_file.config.get("feature_kind"), "C": model_file.config.get("c"),
                "local learning": {"K": local["k"], "C_local": local["c"]} if local else "no"}
    backbone = model_file.extra.get("backbone") or {}
    return {"ranker type": model_file.extra.get("ranker_kind"), "backbone": backbone.get("name"),
            "backbone weights": backbone.get("weights_source")}


RANKER_KIND = register_kind(ModelKind("ranker", builders=RANKERS.names,
                                      load=load_ranker, describe=describe_ranker))
