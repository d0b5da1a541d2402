"""Training the generator: the loss falls, resume continues exactly, cancel and NaN keep the last
good file, strengths come from a ranker where a dataset has none."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import Cancelled, DataFileError
from relattr_studio.core.jobs import JobContext
from relattr_studio.modeling.generator import (
    AttributeGenerator,
    load_generator,
    load_generator_with_info,
    read_generator,
)
from relattr_studio.training import generator_job
from relattr_studio.training.events import (
    CheckpointSaved,
    Failed,
    Metrics,
    RunCancelled,
)
from relattr_studio.training.generator_job import (
    GeneratorTrainConfig,
    GeneratorTrainingFailed,
    train_generator,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(dataset, out, **kw) -> GeneratorTrainConfig:
    base = {"z_dim": 4, "image_size": 32, "width": 4, "hidden": 32, "steps": 10, "batch_size": 16, "lr": 3e-3,
            "kl_warmup": 0, "kl_weight": 0.5, "log_every": 2, "checkpoint_every": 4, "holdout_fraction": 0.1,
            "device": "cpu"}
    return GeneratorTrainConfig(str(dataset), str(out), **{**base, **kw})


def collect(events: list, **kw) -> JobContext:
    return JobContext(on_event=events.append, min_interval=0, **kw)


def test_training_lowers_the_loss_and_writes_a_shippable_file(toy240, tmp_path):
    config = tiny(toy240, tmp_path / "g.pt", steps=30, log_every=1, lr=1e-2)
    data = generator_job.prepare_data(config, torch.device("cpu"), JobContext())
    untrained = AttributeGenerator(data.attributes, **config.architecture())
    untrained.set_strength_statistics(data.strengths[data.train])
    before = generator_job.reconstruction_error(untrained, data.images[data.holdout], data.strengths[data.holdout],
                                                "cpu")
    events: list = []
    result = train_generator(config, ctx=collect(events))
    recon = [e.values["recon_mse"] for e in events if isinstance(e, Metrics) and e.model == "generator"]
    assert len(recon) == 30 and np.mean(recon[-10:]) < 0.9 * np.mean(recon[:3])
    assert result.metrics["recon_mse"] < 0.85 * before["recon_mse"]
    g, info = load_generator_with_info(result.path)
    assert info.generator_id == result.generator_id == g.generator_id and info.step == 30
    assert 0 < result.metrics["recon_mse"] < 0.2 and result.metrics["psnr"] > 7
    assert result.metrics["holdout_images"] == 24 and info.dataset["images"] == 240
    payload = read_generator(result.path)
    assert payload["train_state"]["finished"] and "optimizer" not in payload["train_state"]
    from relattr_studio.data.dataset_file import DatasetFile

    with DatasetFile(toy240) as ds:  # the prior is that of the training images' strengths
        s = ds.strengths.astype(np.float64)
    assert np.allclose(g.prior_mean, s.mean(0), atol=0.03) and g.attributes == ds.attribute_names
    assert g.generate(g.prior_mean[None], np.zeros((1, 4))).shape == (1, 32, 32, 3)


def test_same_seed_same_weights_and_a_resumed_run_matches_one_run(toy240, tmp_path):
    straight = train_generator(tiny(toy240, tmp_path / "a.pt"))
    again = train_generator(tiny(toy240, tmp_path / "b.pt"))
    assert straight.generator_id == again.generator_id

    steps: list = []
    ctx = JobContext(on_event=lambda e: steps.append(e.step) if isinstance(e, Metrics) else None,
                     should_stop=lambda: bool(steps) and steps[-1] >= 6, min_interval=0)
    with pytest.raises(Cancelled):
        train_generator(tiny(toy240, tmp_path / "c.pt"), ctx=ctx)
    assert read_generator(tmp_path / "c.pt")["train_state"]["step"] == 6  # saved on cancel
    resumed = train_generator(tiny(toy240, tmp_path / "c.pt"), resume=True)
    assert resumed.steps == 10 and resumed.generator_id == straight.generator_id


def test_cancel_stops_within_a_step_and_keeps_the_state(toy240, tmp_path):
    events: list = []
    ctx = JobContext(on_event=events.append, min_interval=0,
                     should_stop=lambda: any(isinstance(e, Metrics) for e in events))
    with pytest.raises(Cancelled) as stop:
        train_generator(tiny(toy240, tmp_path / "g.pt", steps=100), ctx=ctx)
    assert str(stop.value) == "cancelled at step 2 of 100" and stop.value.checkpoint == str(tmp_path / "g.pt")
    cancelled = [e for e in events if isinstance(e, RunCancelled)]
    assert cancelled == [RunCancelled("generator", 2, str(tmp_path / "g.pt"))]
    assert not [e for e in events if isinstance(e, Failed)]  # a cancel is not a failure
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [2]


def test_resume_refuses_other_settings(toy240, tmp_path):
    train_generator(tiny(toy240, tmp_path / "g.pt", steps=4))
    with pytest.raises(DataFileError, match="z_dim"):
        train_generator(tiny(toy240, tmp_path / "g.pt", steps=8, z_dim=6), resume=True)


def test_nan_loss_fails_with_a_message_and_leaves_the_last_good_file(toy240, tmp_path, monkeypatch):
    real = generator_job.elbo_terms
    calls = {"n": 0}

    def poisoned(model, x, y):
        if x.device.type == "meta":  # the setup's trace of a step's memory, not a training step
            return real(model, x, y)
        calls["n"] += 1
        recon, kl = real(model, x, y)
        return (recon * float("nan"), kl) if calls["n"] == 7 else (recon, kl)

    monkeypatch.setattr(generator_job, "elbo_terms", poisoned)
    events: list = []
    with pytest.raises(GeneratorTrainingFailed, match="nan at step 7.*g.pt"):
        train_generator(tiny(toy240, tmp_path / "g.pt"), ctx=collect(events))
    assert read_generator(tmp_path / "g.pt")["train_state"]["step"] == 4
    assert load_generator(tmp_path / "g.pt").z_dim == 4
    assert isinstance(events[-1], Failed) and "nan" in events[-1].reason


def test_images_are_resized_to_the_generator_size(toy240, tmp_path):
    result = train_generator(tiny(toy240, tmp_path / "g.pt", image_size=16, steps=2))
    assert load_generator(result.path).generate(np.zeros((1, 8)), np.zeros((1, 4))).shape == (1, 16, 16, 3)


def test_a_dataset_without_strengths_needs_a_ranker(toy240, tmp_path):
    from relattr_studio.data.dataset_file import DatasetFile, write_dataset

    with DatasetFile(toy240) as ds:
        meta, images = ds.meta, ds.images(np.arange(len(ds)))
    meta.strengths = None
    bare = write_dataset(tmp_path / "bare.h5", images, meta)
    with pytest.raises(DataFileError, match="no attribute strengths.*--strengths-from"):
        train_generator(tiny(bare, tmp_path / "g.pt"))
    with pytest.raises(DataFileError, match="no attribute 'grumpy'"):
        train_generator(tiny(toy240, tmp_path / "g.pt", attributes=("grumpy",)))


def test_strengths_from_a_ranker_checkpoint(toy240, tmp_path):
    from relattr_studio.training.config import TrainConfig
    from relattr_studio.training.job import train_ranker

    ranker = train_ranker(TrainConfig(str(toy240), attributes=("smiling", "young"), ranker="ranknet",
                                      backbone="small-cnn", backbone_options={"width": 4}, steps=3, batch_size=16,
                                      val_fraction=0.0, device="cpu", out_dir=str(tmp_path / "r"))
                          .with_preset("scratch"))
    result = train_generator(tiny(toy240, tmp_path / "g.pt", attributes=("young",),
                                  strengths_from=ranker.checkpoint, steps=3))
    g, info = load_generator_with_info(result.path)
    assert g.attributes == ["young"] and info.dataset["strengths_from"] == ranker.checkpoint
    # standardised scores: the prior is N(0, 1) up to the held-out share
    assert abs(g.prior_mean[0]) < 0.2 and abs(g.prior_cov[0, 0] - 1.0) < 0.2
    with pytest.raises(DataFileError, match="no head for bald"):
        train_generator(tiny(toy240, tmp_path / "h.pt", attributes=("bald",), strengths_from=ranker.checkpoint))


def test_config_round_trips_and_checks_values():
    c = GeneratorTrainConfig("d.h5", "g.pt", attributes=["a"], z_dim=8)
    assert GeneratorTrainConfig.from_dict(c.to_dict()) == c
    before = {k: v for k, v in c.to_dict().items() if k != "reader_pool"}  # a file from before the option
    assert c.reader_pool == 1 and GeneratorTrainConfig.from_dict(before) == c
    for bad in ({"steps": 0}, {"lr": 0}, {"holdout_fraction": 0.6}, {"device": "tpu"}):
        with pytest.raises(Exception, match="must"):
            c.replace(**bad)
    assert torch.get_num_threads() == 1


def test_attribute_consistency_term_ramps_with_the_warmup_and_can_be_off(toy240, tmp_path):
    events: list = []
    train_generator(tiny(toy240, tmp_path / "a.pt", steps=6, kl_warmup=4, consistency_weight=2.0),
                    ctx=collect(events))
    m = [e.values for e in events if isinstance(e, Metrics) and e.model == "generator"]
    assert [round(v["lambda"], 3) for v in m] == [0.5, 1.5, 2.0]  # at steps 1, 3, 5 (logged every 2)
    assert all(v["consistency"] > 0 and v["reader_mse"] > 0 for v in m)
    events.clear()
    train_generator(tiny(toy240, tmp_path / "b.pt", steps=4, consistency_weight=0.0), ctx=collect(events))
    m = [e.values for e in events if isinstance(e, Metrics) and e.model == "generator"]
    assert all(v["consistency"] == 0 and v["reader_mse"] == 0 for v in m)


def test_the_reader_view_averages_pixel_scale_patterns_away():
    from relattr_studio.training.generator_job import reader_view

    torch.manual_seed(0)
    x = torch.rand(3, 3, 64, 64)
    checker = 0.2 * ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float()  # period 2
    stripes = 0.2 * (torch.arange(64) % 2).float().expand(64, 64)
    for pattern in (checker, stripes):
        torch.manual_seed(1)
        plain = reader_view(x, 2)
        torch.manual_seed(1)
        speckled = reader_view(x + pattern, 2)
        assert plain.shape == (3, 3, 32, 32)
        assert torch.allclose(speckled - plain, torch.full_like(plain, 0.1), atol=1e-6)  # only its mean stays
    assert reader_view(x, 1) is x
    with pytest.raises(Exception, match="reader_pool"):
        GeneratorTrainConfig(dataset="d", out="o", reader_pool=3)
    assert GeneratorTrainConfig(dataset="d", out="o", image_size=32, reader_pool=4).reader_scale == 2  # >= 16 px
    assert GeneratorTrainConfig(dataset="d", out="o", image_size=16, reader_pool=2).reader_scale == 1


def test_reader_degrade_trains_through_random_degradations_and_resumes_exactly(toy240, tmp_path):
    config = tiny(toy240, tmp_path / "a.pt", steps=4, consistency_weight=2.0, kl_warmup=0, reader_degrade=True)
    assert "--reader-degrade" in config.command().split()
    events: list = []
    train_generator(config, ctx=collect(events))
    m = [e.values for e in events if isinstance(e, Metrics) and e.model == "generator"]
    assert m and all(v["consistency"] > 0 for v in m)
    one = read_generator(tmp_path / "a.pt")["state_dict"]
    steps: list = []  # the same run stopped after step 2, then resumed: the same weights
    ctx = JobContext(on_event=lambda e: steps.append(e.step) if isinstance(e, Metrics) else None,
                     should_stop=lambda: bool(steps) and steps[-1] >= 2, min_interval=0)
    with pytest.raises(Cancelled):
        train_generator(config.replace(out=str(tmp_path / "b.pt")), ctx=ctx)
    train_generator(config.replace(out=str(tmp_path / "b.pt")), resume=True)
    two = read_generator(tmp_path / "b.pt")["state_dict"]
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_cli_ctrl_c_names_the_file_kept_and_resume_finishes_it(toy240, tmp_path, capsys, monkeypatch):
    import os
    import signal

    from relattr_studio.cli import main

    out = tmp_path / "g.pt"
    args = ["generator", "train", "--dataset", str(toy240), "--out", str(out), "--steps", "6", "--batch-size", "16",
            "--z-dim", "3", "--width", "4", "--checkpoint-every", "4", "--device", "cpu", "--quiet"]
    real = generator_job.GeneratorTrainer.train_step

    def step_then_ctrl_c(self):
        values = real(self)
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C during the second step
        return values

    monkeypatch.setattr(generator_job.GeneratorTrainer, "train_step", step_then_ctrl_c)
    assert main(args) == 130
    said = capsys.readouterr().err
    assert f"cancelled at step 2 of 6; checkpoint kept: {out}" in said
    assert "continue with: relattr generator train --dataset" in said and said.rstrip().endswith("--resume)")
    assert read_generator(out)["train_state"]["step"] == 2
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    assert read_generator(out)["train_state"]["step"] == 6


def test_metrics_jsonl_holds_one_curve_and_the_final_figures(toy240, tmp_path):
    import json

    out = tmp_path / "g.pt"
    steps: list = []
    ctx = JobContext(on_event=lambda e: steps.append(e.step) if isinstance(e, Metrics) else None,
                     should_stop=lambda: bool(steps) and steps[-1] >= 6, min_interval=0)
    with pytest.raises(Cancelled):
        train_generator(tiny(toy240, out), ctx=ctx)
    train_generator(tiny(toy240, out), resume=True)
    records = [json.loads(line) for line in (tmp_path / "g.metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "Metrics" and r["model"] == "generator"] == [2, 4, 6, 8, 10]
    assert [r["step"] for r in records if r["event"] == "CheckpointSaved"] == [4, 6, 8, 10]
    assert [r["event"] for r in records if r["event"] in ("RunCancelled", "Finished")] == ["RunCancelled", "Finished"]
    final = [r for r in records if r["model"] == "generator/holdout"]
    assert len(final) == 1 and final[0]["values"]["recon_mse"] > 0
    assert load_generator_with_info(out)[1].history[-1]["step"] == 10
    train_generator(tiny(toy240, out, steps=4))  # a fresh run into the same file replaces the curve
    records = [json.loads(line) for line in (tmp_path / "g.metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "Metrics" and r["model"] == "generator"] == [2, 4]


def test_the_logged_loss_after_a_resume_averages_the_whole_window(toy240, tmp_path):
    """Cancelled mid-window (step 5 of a 4-step window) and resumed, the values logged at steps 8
    and 12 are the uninterrupted run's: the window's sums travel in the checkpoint."""
    import itertools
    import json

    def losses(path):
        return [(r["step"], r["values"]["loss"]) for r in map(json.loads, path.read_text().splitlines())
                if r["event"] == "Metrics" and r["model"] == "generator"]

    train_generator(tiny(toy240, tmp_path / "a.pt", steps=12, log_every=4, checkpoint_every=1))
    calls = itertools.count()
    with pytest.raises(Cancelled):
        train_generator(tiny(toy240, tmp_path / "b.pt", steps=12, log_every=4, checkpoint_every=1),
                        ctx=JobContext(should_stop=lambda: next(calls) >= 6, min_interval=0))
    train_generator(tiny(toy240, tmp_path / "b.pt", steps=12, log_every=4, checkpoint_every=1), resume=True)
    resumed, straight = losses(tmp_path / "b.metrics.jsonl"), losses(tmp_path / "a.metrics.jsonl")
    assert [s for s, _ in resumed] == [s for s, _ in straight] == [4, 8, 12]
    assert [v for _, v in resumed] == pytest.approx([v for _, v in straight], rel=1e-6)
