"""Pretrained weights from files on this machine: never a download, never code from a pickle.

A weights file is a plain state dict (name -> tensor) read with ``torch.load(weights_only=True)``
and loaded with ``strict=True``, so a file for another architecture, or one that needs code to
unpickle, is refused with a message naming the file and the problem.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import torch
from torch import nn

from relattr_studio.core.errors import DataFileError, RelAttrError

log = logging.getLogger(__name__)

WeightsArg = str | os.PathLike | None
"""What a backbone builder accepts as ``weights``: None / "none", "auto", or a file path."""

RANDOM_INIT = "random initialisation"


def is_random(weights: WeightsArg) -> bool:
    return weights is None or (isinstance(weights, str) and weights.lower() == "none")


def is_auto(weights: WeightsArg) -> bool:
    return isinstance(weights, str) and weights.lower() == "auto"


def hub_cache_file(url: str) -> Path:
    """Where torch's hub cache keeps the file that ``url`` would download to (it may not exist)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``path``, read without executing code; DataFileError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "weights file not found", "give the path of a .pth state-dict file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises pickle, zip and runtime errors alike)
        text = str(err)
        needs = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if needs:
            raise DataFileError(
                path, f"the file needs code to load (a pickled {needs.group(1)}), which the product refuses",
                "save a plain state dict: torch.save(model.state_dict(), path)") from None
        detail = "an unsupported pickle" if "Unsupported operand" in text else (
            f"{type(err).__name__}: {text.splitlines()[0]}" if text.strip() else type(err).__name__)
        raise DataFileError(path, f"not a PyTorch state-dict file ({detail})",
                            "give a .pth file written by torch.save(model.state_dict(), path)") from None
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in obj.items()):
        raise DataFileError(path, f"holds a {type(obj).__name__}, not a state dict of named tensors",
                            "save a plain state dict: torch.save(model.state_dict(), path)")
    return dict(obj)


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike,
                arch: str) -> None:
    """``model.load_state_dict(state, strict=True)``, refusing a mismatch with a short message."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} (wants {tuple(v.shape)})"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        parts = []
        for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if items:
                parts.append(f"{len(items)} {what} (e.g. {', '.join(items[:3])})")
        raise DataFileError(path, f"these are not {arch} weights: " + "; ".join(parts),
                            f"give a state dict saved from a {arch} model")
    # assign=True: the file's tensors become the parameters (cast to the model's dtypes), so a
    # model built on the meta device needs no random initialisation first.
    model.load_state_dict({k: state[k].to(v.dtype) for k, v in expected.items()}, strict=True, assign=True)


class ResolvedWeights(NamedTuple):
    """What a builder loads: a checked-readable state dict (or None) and the source sentence."""

    state: dict[str, torch.Tensor] | None
    path: Path | None
    source: str

    def build(self, make: Callable[[], nn.Module], arch: str) -> nn.Module:
        """``make()``, randomly initialised, or filled strictly from the file.

        With a file the model is built on the meta device and takes the file's tensors, which
        skips the random initialisation (seconds for VGG16's 120 M classifier parameters).
        """
        if self.state is None:
            return make()
        with torch.device("meta"):
            model = make()
        load_strict(model, self.state, self.path, arch)
        left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if left:  # a tensor outside the state dict (non-persistent buffer): build it for real
            model = make()
            load_strict(model, self.state, self.path, arch)
        return model


def resolve_weights(weights: WeightsArg, *, arch: str, auto_file: Path | None) -> ResolvedWeights:
    """Find and read the weights a builder was asked for, before it builds anything.

    None: random initialisation. "auto": ``auto_file`` when it exists (a packaged file or the torch
    hub cache), otherwise random initialisation with a WARNING. A path: that file. The source
    sentence is what ``Backbone.weights_source`` shows.
    """
    if is_random(weights):
        return ResolvedWeights(None, None, RANDOM_INIT)
    if is_auto(weights):
        if auto_file is None or not auto_file.is_file():
            where = f" (looked for {auto_file})" if auto_file is not None else ""
            source = f"{RANDOM_INIT}: no ImageNet weights for {arch} found on this machine{where}"
            log.warning("%s; nothing is downloaded. Put the file there or pass its path.", source)
            return ResolvedWeights(None, None, source)
        path = auto_file
    elif isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
    else:
        raise RelAttrError(f"weights must be None, 'auto' or a file path, not {weights!r}")
    return ResolvedWeights(read_state_dict(path), path, f"ImageNet weights from {path}")
