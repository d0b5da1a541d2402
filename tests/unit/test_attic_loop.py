"""ATTIC's active loop with the simulated annotator: every condition's batches are imagined,
labeled and trained on through label stores, with Real as batch 0."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from relattr_studio.analysis.attic_loop import ActiveLoopConfig, run_active_loop
from relattr_studio.core.errors import RelAttrError
from relattr_studio.data.label_store import LabelStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = Path(__file__).resolve().parents[2] / "models"


def _train(toy240):
    from relattr_studio.training.config import TrainConfig

    return TrainConfig(str(toy240), backbone_options={"width": 4, "image_size": 32}, steps=3, batch_size=16,
                       device="cpu").with_preset("scratch")


def test_every_condition_adds_labeled_batches_and_is_compared_with_real(toy240, tmp_path):
    cfg = ActiveLoopConfig(train=_train(toy240), generator=str(MODELS / "toy-faces-generator.pt"),
                           oracle=str(MODELS / "toy-faces-oracle.pt"), out_dir=str(tmp_path), attribute="smiling",
                           budget=12, pairs=6, batches=2, round_steps=2, pairs_per_step=4)
    result = run_active_loop(cfg)
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    conditions = ("attic", "random", "semantic-jitter", "uncertainty", "ensemble")
    assert [(r["condition"], r["batch"]) for r in rows] == [("real", "0")] + [
        (c, str(k)) for c in conditions for k in (1, 2)]
    assert set(result.gains()) == set(conditions)
    assert "| attic |" in result.table()
    with LabelStore(tmp_path / "seed0" / "attic.sqlite") as store:
        names = [b.name for b in store.batches()]
        assert names[1:] == ["attic round 1: smiling", "attic round 2: smiling"]  # after the real pairs' batch
        assert store.batches()[2].details["round"] == 2 and store.batches()[2].pending == 0
    with LabelStore(tmp_path / "seed0" / "real.sqlite") as store:
        assert len(store.batches()) == 1 and store.batches()[0].total == 12  # Real's store is left alone
    with LabelStore(tmp_path / "seed0" / "uncertainty.sqlite") as store:
        first = store.batches()[1]
        assert first.name == "uncertainty batch 1: smiling" and first.total == 6 and first.pending == 0
        keys = [(min(r.pair.a, r.pair.b), max(r.pair.a, r.pair.b)) for r in store.judgements()]
        assert len(keys) == 12 + 2 * 6 and len(set(keys)) == len(keys)  # the pool never offers a judged pair
    with LabelStore(tmp_path / "seed0" / "ensemble.sqlite") as store:
        assert len(store.batches()[2].details["rankers"]) == 3  # a committee of three, retrained on batch 1
    trained = [r for r in result.rows if r.condition == "attic"]
    assert all(0 <= r.accuracy <= 100 for r in trained) and trained[-1].pairs_added == 12


def test_settings_are_checked():
    with pytest.raises(RelAttrError, match="unknown condition"):
        ActiveLoopConfig(train=None, generator="", oracle="", out_dir="", attribute="a", conditions=("magic",))
    with pytest.raises(RelAttrError, match="batches"):
        ActiveLoopConfig(train=None, generator="", oracle="", out_dir="", attribute="a", batches=0)
