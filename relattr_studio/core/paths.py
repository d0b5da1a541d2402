"""Where the product keeps user data and settings (platform directories, overridable)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

APP_NAME = "RelAttrStudio"


def data_dir() -> Path:
    """User data directory; ``RELATTR_DATA_DIR`` overrides it (tests, portable installs)."""
    override = os.environ.get("RELATTR_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    override = os.environ.get("RELATTR_CONFIG_DIR")
    path = Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_dataset_path() -> Path:
    """The embedded toy-faces dataset, made on first run."""
    return data_dir() / "datasets" / "toy-faces.h5"


def default_label_store_path() -> Path:
    return data_dir() / "labels.sqlite"


@contextmanager
def atomic_output(out: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``out`` (``.<name>.<pid>.tmp``); rename it over ``out`` only on success.

    On any exception (a Cancelled job included) the temporary file is removed, so a crash
    never leaves a half-written file where a reader would find it (every writer of the product's
    files goes through here: datasets, model files, exports, results, metrics rewrites).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)
