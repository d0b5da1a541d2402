"""The training job: reproducible with a seed, events, cancel within a step, NaN failure."""

from pathlib import Path

import pytest
import torch

from relattr_studio.core.errors import Cancelled
from relattr_studio.core.jobs import JobContext
from relattr_studio.training import step as step_module
from relattr_studio.training.config import TrainConfig
from relattr_studio.training.events import CheckpointSaved, DeviceInfo, Failed, Finished, Metrics, RunCancelled
from relattr_studio.training.job import TrainingFailed, train_ranker


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def toy(toy240):
    return toy240


def tiny(toy, out, **kw):
    base = dict(attributes=("smiling",), steps=12, batch_size=16, log_every=4, eval_every=6,
                backbone_options={"width": 4, "image_size": 32}, out_dir=str(out))
    return TrainConfig(str(toy), **{**base, **kw}).with_preset("scratch")


def test_same_seed_same_curve_and_events(toy, tmp_path):
    events = []
    a = train_ranker(tiny(toy, tmp_path / "a"), ctx=JobContext(on_event=events.append))
    b = train_ranker(tiny(toy, tmp_path / "b"))
    losses = lambda r: [h["loss"] for h in r.history if "loss" in h]  # noqa: E731
    assert losses(a) == losses(b) and len(losses(a)) == 3
    assert a.accuracy["test"].keys() == {"smiling"} and {"test/coarse", "test/fine"} <= a.accuracy.keys()
    kinds = {type(e) for e in events}
    assert {DeviceInfo, Metrics, CheckpointSaved, Finished} <= kinds
    assert Path(a.checkpoint).is_file() and (tmp_path / "a" / "metrics.jsonl").is_file()
    c = train_ranker(tiny(toy, tmp_path / "c", seed=1))
    assert losses(c) != losses(a)


def test_cancel_returns_within_one_step_and_keeps_a_checkpoint(toy, tmp_path):
    events, steps = [], []

    def on_event(e):
        events.append(e)
        if isinstance(e, Metrics) and "loss" in e.values:
            steps.append(e.step)

    ctx = JobContext(on_event=on_event, should_stop=lambda: bool(steps), min_interval=0)
    with pytest.raises(Cancelled) as stop:
        train_ranker(tiny(toy, tmp_path, steps=40), ctx=ctx)
    cancelled = [e for e in events if isinstance(e, RunCancelled)]
    assert cancelled and Path(cancelled[0].checkpoint).is_file() and not [e for e in events if isinstance(e, Failed)]
    assert stop.value.checkpoint == cancelled[0].checkpoint and str(stop.value) == f"cancelled at step {steps[0]} of 40"
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert saved[-1].step == steps[0]  # stopped right after the step that logged


def test_nan_loss_fails_with_reason_and_last_good_checkpoint(toy, tmp_path, monkeypatch):
    real = step_module.PairLoss.forward
    calls = {"n": 0}

    def poisoned(self, *args):
        calls["n"] += 1
        loss, margin = real(self, *args)
        return (loss * float("nan") if calls["n"] > 7 else loss), margin

    monkeypatch.setattr(step_module.PairLoss, "forward", poisoned)
    events = []
    with pytest.raises(TrainingFailed, match="loss became nan"):
        train_ranker(tiny(toy, tmp_path), ctx=JobContext(on_event=events.append))
    failed = [e for e in events if isinstance(e, Failed)][0]
    assert failed.checkpoint and Path(failed.checkpoint).is_file()


def test_config_round_trips_through_json():
    c = TrainConfig("x.h5", attributes=["a"], backbone_options={"width": 4})
    assert TrainConfig.from_dict(__import__("json").loads(c.to_json())) == c


@pytest.mark.parametrize("freeze, frozen", [("on", True), ("off", False), ("auto", False)])
def test_freeze_bn_keeps_running_statistics(toy, tmp_path, freeze, frozen):
    from relattr_studio.training.job import RankerTrainer

    trainer = RankerTrainer(tiny(toy, tmp_path, steps=3, freeze_bn=freeze))
    trainer.setup()
    bns = [m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in bns]
    for _ in range(3):
        trainer.train_step()
    unchanged = all(torch.equal(a, m.running_mean) for a, m in zip(before, bns))
    assert unchanged == frozen  # "auto": small-cnn starts from random weights, so it learns them


def test_validation_carved_from_train_is_scored_as_validation(toy, tmp_path):
    from relattr_studio.core.types import Split
    from relattr_studio.data.pairs import PairTable
    from relattr_studio.training.job import RankerTrainer

    trainer = RankerTrainer(tiny(toy, tmp_path, val_fraction=0.25))
    train = PairTable.build(range(40), range(1, 41), 0, [1] * 40, split=Split.TRAIN)
    for dense in (False, True):
        kept, val = trainer._carve_val(train, PairTable.empty(), dense)
        assert len(val) and (val.split == Split.VAL).all()  # evaluation keeps VAL rows only
        assert len(kept) + len(val) <= len(train) and (kept.split == Split.TRAIN).all()


def test_resume_refuses_a_checkpoint_of_other_attributes(toy, tmp_path):
    from relattr_studio.core.errors import DataFileError

    first = train_ranker(tiny(toy, tmp_path / "a", steps=4))
    with pytest.raises(DataFileError, match="cannot resume"):
        train_ranker(tiny(toy, tmp_path / "b", attributes=("young",)), resume_from=first.checkpoint)


def test_resume_into_a_longer_run_follows_the_new_schedule(toy, tmp_path):
    first = train_ranker(tiny(toy, tmp_path / "a", steps=8, schedule="cosine"))
    longer = train_ranker(tiny(toy, tmp_path / "b", steps=16, schedule="cosine"), resume_from=first.checkpoint)
    resumed = [h["lr"] for h in longer.history if "lr" in h and h["step"] > 8]
    assert resumed and all(lr > 0 for lr in resumed[:-1])  # the old 8-step cosine had reached 0


def test_weight_average_follows_the_bias_corrected_decay():
    from torch import nn

    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.zero_()
    average = step_module.WeightAverage(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(model)  # d = min(0.9, 2 / 11)
    assert torch.allclose(average.model.weight, torch.full((1, 2), 1 - 2 / 11))
    for _ in range(100):
        average.update(model)
    assert torch.allclose(average.model.weight, torch.ones(1, 2), atol=1e-4)
    assert not average.model.weight.requires_grad and not average.model.training
    with pytest.raises(ValueError):
        step_module.WeightAverage(model, decay=1.0)


def test_early_stopping_with_a_weight_average_keeps_the_best_steps_batchnorm_statistics(toy, tmp_path):
    from relattr_studio.training.checkpoint import read_checkpoint
    from relattr_studio.training.job import RankerTrainer
    from relattr_studio.training.lifecycle import run_recipe

    trainer = RankerTrainer(tiny(toy, tmp_path, steps=16, eval_every=2, ema=0.8, patience=100, freeze_bn="off",
                                 val_fraction=0.3))
    outcome = run_recipe(trainer)
    assert trainer.best is not None
    best = trainer.best_state
    saved = read_checkpoint(outcome.checkpoint)["state_dict"]
    stats = [k for k in best if k.endswith("running_mean")]
    assert stats and all(torch.equal(saved[k], best[k]) for k in stats)
    assert all(torch.equal(saved[k], best[k]) for k in best)
