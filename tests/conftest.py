"""Fixtures shared by unit and GUI tests. Nothing here reads the network or the user's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBFIG_DIR = Path(os.environ.get("RELATTR_PUBFIG_DIR", REPO.parent / "shared" / "data" / "pubfig-relative-attributes"))


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own data and config directories, never the user's home."""
    root = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("RELATTR_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("RELATTR_CONFIG_DIR", str(root / "config"))


@pytest.fixture
def pubfig_dir() -> Path:
    """The real PubFig relative-attributes folder beside the project, or a skip saying why."""
    if not (PUBFIG_DIR / "data.mat").is_file() or not (PUBFIG_DIR / "images").is_dir():
        pytest.skip(f"real PubFig data not found at {PUBFIG_DIR} (it lives in ../shared/data; "
                    "set RELATTR_PUBFIG_DIR to point elsewhere)")
    return PUBFIG_DIR
