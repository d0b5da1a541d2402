"""The generators in models/ load, are what their cards say, and follow the y they are asked for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relattr_studio.analysis.faithfulness import faithfulness_report
from relattr_studio.data.procedural import FACE_ATTRIBUTES, SHOE_ATTRIBUTES
from relattr_studio.modeling.generator import load_generator_with_info
from relattr_studio.modeling.oracle import load_oracle
from relattr_studio.modeling.shipped import shipped_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize("dataset, attributes", [("toy-faces", FACE_ATTRIBUTES), ("toy-shoes", SHOE_ATTRIBUTES)])
def test_shipped_generator_matches_its_card(dataset, attributes):
    path = shipped_model("generator", dataset)
    assert path is not None and path.stat().st_size <= 25 * 2**20
    generator, info = load_generator_with_info(path)
    assert generator.attributes == list(attributes) and generator.image_size == 64 and info.step >= 6000
    card = (MODELS / f"{dataset}-generator.md").read_text()
    assert re.search(r"generator id `([0-9a-f]{16})`", card).group(1) == info.generator_id
    assert info.card["command"].startswith("relattr generator train --dataset ")


@pytest.mark.parametrize("dataset, least", [("toy-faces", 0.85), ("toy-shoes", 0.8)])
def test_shipped_generators_are_faithful(dataset, least):
    """The cards, on 2,000 identities: toy-faces 0.948-0.993, toy-shoes 0.866-0.986."""
    generator, _ = load_generator_with_info(shipped_model("generator", dataset))
    oracle = load_oracle(shipped_model("oracle", dataset))
    report = faithfulness_report(generator, oracle, n=300, seed=1, tweaks=100)
    assert min(report.spearman.values()) > least, report.table()
    assert min(report.tweak_order.values()) > 0.85 and report.legible_share > 0.95
