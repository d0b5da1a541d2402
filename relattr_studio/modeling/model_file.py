"""Model files: plain containers written atomically and read without executing code.

Every model the product saves (ranker checkpoints, generators, oracles) is a ``torch.save``
of plain containers only (tensors, numbers, strings, lists, dicts) whose top level names its
``format`` and ``format_version``. Reading uses ``torch.load(weights_only=True)`` and nothing
else: a file that needs pickle is refused with a message that says so.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from relattr_studio.core.errors import DataFileError


def save_model_file(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_model_file(path: str | Path, *, format_name: str, format_version: int, what: str = "model file",
                    device: str | torch.device = "cpu") -> dict:
    """The payload of a ``format_name`` file of at most ``format_version``; refuses anything else.

    ``what`` names the kind of file in messages ("checkpoint", "generator").
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, f"no such {what}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        raise DataFileError(path, "needs pickle to load; RelAttr Studio does not execute code from model files",
                            f"only plain tensors and containers are accepted ({str(err).splitlines()[0][:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise DataFileError(path, f"not a readable {what}: {str(err).splitlines()[0][:200]}",
                            f"the file may be truncated; use another {what}") from None
    if not isinstance(payload, dict) or payload.get("format") != format_name:
        found = payload.get("format") if isinstance(payload, dict) else None
        hint = f"it is a {found!r} file" if isinstance(found, str) else ""
        raise DataFileError(path, f"not a RelAttr Studio {what} (no {format_name} format field)", hint)
    if int(payload.get("format_version", -1)) > format_version:
        raise DataFileError(path, f"{what} format version {payload['format_version']} is newer than this "
                            f"program reads ({format_version})", "update RelAttr Studio")
    return payload
