"""Where the product keeps user data and settings (platform directories, overridable)."""

from __future__ import annotations

import os
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
