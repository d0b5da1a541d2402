"""ATTIC's adversarial round on the one lifecycle: both objectives train, the ranker and the
control module take turns, a cancelled round resumes to the same weights, bad inputs are one
message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from relattr_studio.cli import main
from relattr_studio.core.errors import Cancelled, DataFileError, RelAttrError
from relattr_studio.core.jobs import JobContext
from relattr_studio.modeling.control import load_control
from relattr_studio.modeling.model_file import read_model_file
from relattr_studio.training.attic_config import AtticConfig
from relattr_studio.training.attic_job import run_attic_round
from relattr_studio.training.events import Metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def ranker(toy240, tmp_path_factory):
    out = tmp_path_factory.mktemp("ranker")
    assert main(["train", "--dataset", str(toy240), "--multi-head", "--steps", "60", "--width", "4",
                 "--image-size", "32", "--out", str(out), "--quiet"]) == 0
    return next(out.glob("*.ckpt"))


def _config(toy240, ranker, out, **kw) -> AtticConfig:
    base = dict(dataset=str(toy240), ranker=str(ranker), generator=str(MODELS / "toy-faces-generator.pt"),
                out=str(out), attributes=("smiling",), steps=6, pairs_per_step=4, eval_every=3,
                checkpoint_every=3, log_every=2, eval_pairs=40, device="cpu")
    return AtticConfig(**{**base, **kw})


@pytest.mark.parametrize("objective", ["flipped", "negative"])
def test_a_round_trains_the_control_module_against_the_ranker(toy240, ranker, tmp_path, objective):
    result = run_attic_round(_config(toy240, ranker, tmp_path / "c.pt", objective=objective,
                                     oracle=str(MODELS / "toy-faces-oracle.pt")))
    assert result.targets == ["smiling"] and set(result.figures) >= {"accuracy", "accuracy/smiling",
                                                                      "legible_pairs", "labels_agree"}
    m = read_model_file(tmp_path / "c.pt", kind="control")
    assert m.card["objective"] == objective and m.train_state["step"] == 6 and m.train_state["finished"]
    assert "ranker_optimizer" not in m.train_state  # the finished file keeps what the next batch needs
    records = [json.loads(line) for line in open(tmp_path / "c.metrics.jsonl")]
    logged = [r for r in records if r.get("event") == "metrics" or "values" in r]
    keys = set().union(*(r.get("values", {}).keys() for r in logged))
    assert {"ranker_loss_real", "ranker_loss_imagined", "control_loss", "ranker_wrong"} <= keys
    control = load_control(tmp_path / "c.pt")
    assert control.targets == ["smiling"]
    if objective == "flipped":  # bounded: a cross-entropy
        assert all(v["control_loss"] >= 0 for v in (r["values"] for r in logged if "control_loss" in r.get("values", {})))


def test_the_control_module_learns_to_fool_a_frozen_ranker(toy240, ranker, tmp_path):
    """With the ranker's learning rate tiny, the control steps alone find pairs the ranker
    orders wrong: the control loss falls and the share of pairs ordered wrong rises."""
    run_attic_round(_config(toy240, ranker, tmp_path / "c.pt", steps=40, ranker_lr=1e-9, control_lr=1e-2,
                            log_every=10, eval_every=40, checkpoint_every=40))
    records = [json.loads(line) for line in open(tmp_path / "c.metrics.jsonl")]
    values = [r["values"] for r in records if "control_loss" in r.get("values", {})]
    assert len(values) == 4
    assert values[-1]["control_loss"] < values[0]["control_loss"], values
    assert values[-1]["ranker_wrong"] > values[0]["ranker_wrong"], values


def test_a_cancelled_round_resumes_to_the_same_weights(toy240, ranker, tmp_path):
    straight = run_attic_round(_config(toy240, ranker, tmp_path / "a.pt"))
    steps: list = []
    ctx = JobContext(on_event=lambda e: steps.append(e.step) if isinstance(e, Metrics) else None,
                     should_stop=lambda: bool(steps) and steps[-1] >= 4, min_interval=0)
    with pytest.raises(Cancelled):
        run_attic_round(_config(toy240, ranker, tmp_path / "b.pt"), ctx=ctx)
    assert read_model_file(tmp_path / "b.pt", kind="control").train_state["step"] == 4
    resumed = run_attic_round(_config(toy240, ranker, tmp_path / "b.pt"), resume=True)
    for name, value in straight.control.state_dict().items():
        assert torch.equal(value, resumed.control.state_dict()[name]), name
    for name, value in straight.ranker.state_dict().items():
        assert torch.equal(value, resumed.ranker.state_dict()[name]), name


def test_a_round_continues_a_control_module_and_refuses_what_does_not_fit(toy240, ranker, tmp_path):
    first = run_attic_round(_config(toy240, ranker, tmp_path / "c1.pt", steps=2))
    second = run_attic_round(_config(toy240, ranker, tmp_path / "c2.pt", steps=2, control=str(tmp_path / "c1.pt")))
    assert not torch.equal(first.control.branches[0][0].weight, second.control.branches[0][0].weight)
    with pytest.raises(RelAttrError, match="target attribute"):
        run_attic_round(_config(toy240, ranker, tmp_path / "x.pt", attributes=("sporty",)))
    with pytest.raises(RelAttrError, match="objective"):
        _config(toy240, ranker, tmp_path / "x.pt", objective="maximise")
    with pytest.raises(RelAttrError, match="pairs_per_step"):
        _config(toy240, ranker, tmp_path / "x.pt", pairs_per_step=0)
    with pytest.raises(DataFileError):
        run_attic_round(_config(toy240, ranker, tmp_path / "x.pt", control=str(ranker)))
    with pytest.raises(RelAttrError, match="nothing to resume"):
        run_attic_round(_config(toy240, ranker, tmp_path / "none.pt"), resume=True)
    with pytest.raises(RelAttrError):  # the output is the ranker: refused, the ranker intact
        run_attic_round(_config(toy240, ranker, ranker))
    assert read_model_file(ranker, kind="ranker")


def test_the_command_line_imagines_a_batch_that_is_labeled_and_trained_on(toy240, ranker, tmp_path, capsys):
    from relattr_studio.data.label_store import LabelStore

    store = tmp_path / "labels.sqlite"
    common = ["--dataset", str(toy240), "--ranker", str(ranker), "--generator", "toy-faces", "--store", str(store),
              "--attribute", "smiling", "--steps", "3", "--pairs-per-step", "4", "--quiet"]
    assert main(["attic", "round", *common, "--pairs", "12"]) == 0
    control = tmp_path / "labels.attic-control.pt"
    assert read_model_file(control, kind="control").card["rounds"] == 1
    with LabelStore(store) as s:
        (batch,) = s.batches()
        assert batch.name == "attic round 1: smiling" and batch.total == 12 and batch.pending == 12
        assert batch.details["round"] == 1 and batch.details["targets"] == ["smiling"]
        assert len(batch.details["control_id"]) == 16 and batch.details["generator_id"]
        item = s.pending(batch=batch.id)[0]
        assert item.attribute == "smiling" and item.pair.a.pixels.shape == (64, 64, 3)
        assert len(item.pair.a.y) == 8 and len(item.pair.a.z) > 0
    assert main(["labels", "simulate", "--store", str(store), "--dataset", str(toy240), "--batch",
                 "attic round 1: smiling", "--quiet"]) == 0
    with LabelStore(store) as s:
        (batch,) = s.batches()
        assert batch.pending == 0 and batch.judged + batch.discarded == 12 and batch.judged >= 4
    # the next round continues the control module, and its batch is round 2
    assert main(["attic", "round", *common, "--pairs", "4"]) == 0
    assert read_model_file(control, kind="control").card["rounds"] == 2
    with LabelStore(store) as s:
        assert [b.name for b in s.batches()] == ["attic round 1: smiling", "attic round 2: smiling"]
    capsys.readouterr()
    assert main(["train", "--dataset", str(toy240), "--attribute", "smiling", "--labels", str(store), "--steps", "2",
                 "--width", "4", "--image-size", "32", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["labels", "simulate", "--store", str(store), "--dataset", str(toy240), "--batch", "no such"]) == 2
    assert "no batch named 'no such'" in capsys.readouterr().err


@pytest.mark.parametrize("edit", ["step missing", "step mistyped", "ranker weights missing"])
def test_a_control_checkpoint_with_a_malformed_state_is_refused_naming_it(edit, toy240, ranker, tmp_path):
    import copy

    from relattr_studio.modeling.model_file import save_model_file

    run_attic_round(_config(toy240, ranker, tmp_path / "good.pt", steps=2, checkpoint_every=1))
    payload = copy.deepcopy(read_model_file(tmp_path / "good.pt").payload())
    {"step missing": lambda ts: ts.pop("step"), "step mistyped": lambda ts: ts.__setitem__("step", "ten"),
     "ranker weights missing": lambda ts: ts.pop("ranker")}[edit](payload["train_state"])
    save_model_file(tmp_path / "bad.pt", payload)  # the header's checksum is kept: tensors removed break it
    what = "do not match the checksum" if edit == "ranker weights missing" else "training state is incomplete"
    with pytest.raises(DataFileError, match=f"bad.pt.*{what}"):
        run_attic_round(_config(toy240, ranker, tmp_path / "bad.pt", steps=4), resume=True)


def test_one_control_module_can_fight_several_attributes_at_once(toy240, ranker, tmp_path):
    from relattr_studio.analysis.attic_queries import imagine_query_batch
    from relattr_studio.data.label_store import LabelStore

    result = run_attic_round(_config(toy240, ranker, tmp_path / "c.pt", attributes=("smiling", "young"), steps=3))
    assert result.targets == ["smiling", "young"]
    assert {"accuracy/smiling", "accuracy/young"} <= set(result.figures)
    batch = imagine_query_batch(tmp_path / "s.sqlite", result.control, result.generator, pairs=5, seed=1,
                                round_number=result.round_number)
    assert batch.info.name == "attic round 1: smiling, young"
    with LabelStore(tmp_path / "s.sqlite") as store:
        assert [p.attribute for p in store.pending(batch=batch.info.id, with_pixels=False)] == \
            ["smiling", "young", "smiling", "young", "smiling"]
