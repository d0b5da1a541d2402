"""Ranker checkpoints: ranker model files (kind "ranker"), written and read for training and scoring.

A checkpoint is a ``relattr-model`` file (see :mod:`relattr_studio.modeling.model_file` for the
header and its checksum, :mod:`relattr_studio.modeling.ranker_file` for the ranker's fields);
older ``relattr-checkpoint`` v1 files load as they are. Loading uses
``torch.load(weights_only=True)`` and nothing else: a file that needs pickle is refused, and so
is a damaged one (its tensors no longer match their checksum). :func:`load_checkpoint`
rebuilds the model from the file alone via the registries.
"""

from __future__ import annotations

from pathlib import Path

import torch

from relattr_studio.modeling.model_file import read_model_file
from relattr_studio.modeling.ranker_file import (
    CheckpointInfo,
    build_ranker,
    checkpoint_view,
    neural_ranker,
    ranker_info,
    save_ranker_file,
)

__all__ = ["CheckpointInfo", "build_ranker", "load_checkpoint", "read_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, model, **kwargs) -> Path:
    """Write ``model`` (+ training state) to ``path`` atomically (temp file, then rename)."""
    return save_ranker_file(path, model, **kwargs)


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Any ranker file (checksum verified where it has one) as a dict in the version-1 layout:
    ranker {name, kind, config}, backbone, attributes, preprocess, state_dict (on ``device``),
    train_state, results, dataset."""
    view = checkpoint_view(read_model_file(path, kind="ranker"))
    if torch.device(device).type != "cpu":
        view["state_dict"] = {k: v.to(device) for k, v in view["state_dict"].items()}
    return view


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """``(model, CheckpointInfo)``: the neural ranker rebuilt from the file alone, in eval mode."""
    model_file = read_model_file(path, kind="ranker")
    return neural_ranker(model_file, device), ranker_info(model_file)
