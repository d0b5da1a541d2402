"""Checkpoints: one self-describing file per model, loaded without executing code.

Format ``relattr-checkpoint`` version 1, a ``torch.save`` of plain containers only (tensors,
numbers, strings, lists, dicts)::

    format, format_version, created
    ranker:      {name, kind, config}            registry name + builder kwargs
    backbone:    {name, weights_source}
    attributes:  [str]                           head order
    preprocess:  Preprocess.to_dict()
    state_dict:  {name: tensor}                  model weights (CPU)
    train_state: {step, phase, config, history, optimizer, scheduler, sampler, rng, best...}
                 or None for a weights-only export
    results:     {split: {attribute: accuracy %}}
    dataset:     {path, name, protocol}

Loading uses ``torch.load(weights_only=True)`` and nothing else: a file that needs pickle is
refused. :func:`load_checkpoint` rebuilds the model from the file alone via the registries.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import torch

from relattr_studio.core.errors import DataFileError
from relattr_studio.modeling.backbones import Preprocess
from relattr_studio.modeling.model_file import read_model_file, save_model_file

FORMAT_NAME = "relattr-checkpoint"
FORMAT_VERSION = 1


def build_ranker(name: str, **config):
    from relattr_studio.modeling.rankers import RANKERS  # the package registers every ranker

    return RANKERS.build(name, **config)


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about its model (everything but the weights)."""

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


def _plain_state_dict(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}


def checkpoint_payload(model, *, train_state: dict | None = None, results: dict | None = None,
                       dataset: dict | None = None) -> dict:
    """The plain-data dict :func:`save_checkpoint` writes."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "ranker": {"name": model.registry_name, "kind": model.kind, "config": model.config()},
        "backbone": {"name": getattr(model, "backbone_name", ""),
                     "weights_source": getattr(getattr(model, "backbone", None), "weights_source", "")},
        "attributes": list(model.attributes),
        "preprocess": model.preprocess.to_dict(),
        "state_dict": _plain_state_dict(model),
        "train_state": train_state,
        "results": results or {},
        "dataset": dataset or {},
    }


def save_checkpoint(path: str | Path, model, **kwargs) -> Path:
    """Write ``model`` (+ training state) to ``path`` atomically (temp file, then rename)."""
    return save_model_file(path, checkpoint_payload(model, **kwargs))


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """The raw payload, loaded with ``weights_only=True``; refuses anything else."""
    return read_model_file(path, format_name=FORMAT_NAME, format_version=FORMAT_VERSION, what="checkpoint",
                           device=device)


def checkpoint_info(payload: dict, path: str | Path = "") -> CheckpointInfo:
    ts = payload.get("train_state") or {}
    return CheckpointInfo(
        path=str(path), ranker=payload["ranker"]["name"], kind=payload["ranker"].get("kind", ""),
        ranker_config=dict(payload["ranker"]["config"]), backbone=payload["backbone"].get("name", ""),
        weights_source=payload["backbone"].get("weights_source", ""), attributes=list(payload["attributes"]),
        preprocess=Preprocess.from_dict(payload["preprocess"]), results=payload.get("results", {}),
        dataset=payload.get("dataset", {}), step=int(ts.get("step", 0)), train_config=ts.get("config"),
        history=list(ts.get("history", [])), created=payload.get("created", ""),
    )


def model_from_payload(payload: dict, path: str | Path, device: str | torch.device = "cpu"):
    try:
        model = build_ranker(payload["ranker"]["name"], **payload["ranker"]["config"])
    except (TypeError, KeyError) as err:
        raise DataFileError(path, f"cannot rebuild its {payload['ranker'].get('name')!r} model: {err}",
                            "the checkpoint was written by an incompatible version") from None
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()][1:3]
        raise DataFileError(path, "its weights do not fit the architecture it names "
                            f"({payload['ranker']['name']} on {payload['backbone'].get('name')}): "
                            + "; ".join(lines)[:300], "a checkpoint from another architecture") from None
    return model.to(device).eval()


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """``(model, CheckpointInfo)``: the model rebuilt from the file alone, in eval mode."""
    payload = read_checkpoint(path, device="cpu")
    return model_from_payload(payload, path, device), checkpoint_info(payload, path)
