"""Models that ship with RelAttr Studio (the repository's ``models/``, packaged as
``relattr_studio/resources/models``): a generator and an oracle per procedural dataset, so a
new user slides attributes and runs the semantic-jitter experiment without training first."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from relattr_studio.core.errors import RelAttrError

KINDS = ("generator", "oracle")


def shipped_model(kind: str, dataset: str) -> Path | None:
    """The shipped ``kind`` model for dataset ``dataset`` (e.g. "toy-faces"), or None."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = importlib.resources.files("relattr_studio.resources").joinpath(f"models/{dataset}-{kind}.pt")
    return Path(str(path)) if path.is_file() else None


def shipped_models() -> dict[str, Path]:
    """Every shipped model file by name ("toy-faces-generator", ...), in name order."""
    folder = importlib.resources.files("relattr_studio.resources").joinpath("models")
    if not folder.is_dir():
        return {}
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".pt") and p.is_file()), key=lambda p: p.name)
    return {p.name.removesuffix(".pt"): Path(str(p)) for p in files}


def model_argument(value: str | None, kind: str, dataset: str) -> Path:
    """A model path from a command-line value: a file, or "shipped" / None for the shipped one."""
    if value and value != "shipped":
        return Path(value)
    found = shipped_model(kind, dataset)
    if found is None:
        raise RelAttrError(f"no shipped {kind} for a dataset named {dataset!r} (there are toy-faces and "
                           f"toy-shoes); give a {kind} model file")
    return found


def model_path(value: str, kind: str) -> Path:
    """A model path from a command-line value: an existing file (or any name with a suffix, left
    for the reader to refuse), or a shipped model named by its dataset (toy-faces, toy-shoes)."""
    path = Path(value)
    if path.exists() or path.suffix:
        return path
    found = shipped_model(kind, value)
    if found is None:
        raise RelAttrError(f"{value}: no such {kind} file, and no shipped {kind} for a dataset of that name "
                           "(there are toy-faces and toy-shoes)")
    return found
