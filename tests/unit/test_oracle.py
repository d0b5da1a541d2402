"""The attribute oracle: training job, model file, legibility, CLI, and the shipped oracles' quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import Cancelled, DataFileError, RelAttrError
from relattr_studio.core.jobs import JobContext, Progress
from relattr_studio.data.annotator import (
    AnnotatorConfig,
    ReadingOracle,
    SimulatedAnnotator,
)
from relattr_studio.data.procedural import (
    render_faces,
    render_shoes,
    sample_faces,
    sample_shoes,
)
from relattr_studio.modeling.model_file import read_model_file
from relattr_studio.modeling.oracle import AttributeOracle, FeatureGaussian, load_oracle
from relattr_studio.training.events import (
    CheckpointSaved,
    Failed,
    Metrics,
    RunCancelled,
)
from relattr_studio.training.lifecycle import TrainingFailed
from relattr_studio.training.oracle_job import (
    Degrade,
    OracleConfig,
    gaussian_blur,
    score_dataset,
    train_oracle,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = Path(__file__).resolve().parents[2] / "models"
TINY = {"steps": 12, "batch_size": 16, "width": 4, "holdout_fraction": 0.2}


@pytest.fixture(scope="module")
def tiny_oracle(toy240, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("oracle") / "tiny.pt"
    return train_oracle(OracleConfig(dataset=str(toy240), out=str(out), **TINY)), out


# -- pieces -------------------------------------------------------------------------------------

def test_gaussian_blur_keeps_mass_and_spreads_an_impulse():
    x = torch.zeros(2, 3, 17, 17)
    x[:, :, 8, 8] = 1.0
    y = gaussian_blur(x, torch.tensor([0.0, 1.5]))
    torch.testing.assert_close(y[0], x[0], atol=1e-6, rtol=0)  # sigma ~0: unchanged
    assert abs(y[1].sum().item() - 3.0) < 1e-4
    assert y[1, 0, 8, 8] < 0.2 and y[1, 0, 8, 10] > 0.01


def test_degrade_is_seeded_and_stays_an_image():
    x = torch.rand(8, 3, 32, 32)
    a = Degrade()(x, torch.Generator().manual_seed(3))
    b = Degrade()(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)


def test_feature_gaussian_distance_is_a_mahalanobis_distance():
    rng = np.random.default_rng(0)
    cov = np.diag([1.0, 4.0, 9.0])
    f = rng.multivariate_normal([1, 2, 3], cov, size=20_000)
    g = FeatureGaussian.fit(f, shrinkage=0.0)
    assert abs(g.distance(f).mean() - 3.0) < 0.1  # chi-square with 3 degrees of freedom
    np.testing.assert_allclose(g.distance(np.array([[1.0, 2.0 + 2.0, 3.0]])), [1.0], atol=0.05)


# -- training job and model file ----------------------------------------------------------------

def test_training_writes_a_calibrated_oracle_that_reads_back_identically(tiny_oracle, toy240):
    oracle, path = tiny_oracle
    assert isinstance(oracle, ReadingOracle)
    assert oracle.legibility is not None and oracle.legibility.quantile == 0.99
    assert set(oracle.metrics["attributes"]) == set(oracle.attribute_names)
    assert oracle.training["train_images"] > 150
    loaded = load_oracle(path)
    images = render_faces(*sample_faces(6, 9)[:2], size=32)
    s1, ok1 = oracle.read(images)
    s2, ok2 = loaded.read(images)
    np.testing.assert_allclose(s1, s2, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(ok1, ok2)
    assert s1.shape == (6, 8) and loaded.attribute_names == oracle.attribute_names
    np.testing.assert_allclose(loaded.ood_score(images), oracle.ood_score(images))
    assert oracle.strengths(images[0]).shape == (1, 8)  # one H x W x 3 image is a batch of one


def test_training_is_seeded(tiny_oracle, toy240):
    again = train_oracle(OracleConfig(dataset=str(toy240), **TINY))
    first = tiny_oracle[0].net.state_dict()
    for k, v in again.net.state_dict().items():
        torch.testing.assert_close(v, first[k])


def test_cancel_before_any_step_writes_nothing(toy240, tmp_path):
    seen = []

    def on_event(event):
        seen.append(event)

    ctx = JobContext(on_event=on_event, should_stop=lambda: any(getattr(e, "stage", "") == "training" for e in seen))
    with pytest.raises(Cancelled) as stop:
        train_oracle(OracleConfig(dataset=str(toy240), out=str(tmp_path / "o.pt"), **TINY), ctx=ctx)
    assert not (tmp_path / "o.pt").exists() and stop.value.checkpoint is None
    assert [e for e in seen if isinstance(e, RunCancelled)] == [RunCancelled("oracle", 0, None)]


def _same_oracle(a: AttributeOracle, b: AttributeOracle) -> None:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.legibility.threshold == b.legibility.threshold
    np.testing.assert_array_equal(a.legibility.gaussian.precision, b.legibility.gaussian.precision)


def test_cancel_keeps_a_resumable_file_and_resume_ends_with_the_same_weights(tiny_oracle, toy240, tmp_path):
    out = tmp_path / "o.pt"
    config = OracleConfig(dataset=str(toy240), out=str(out), checkpoint_every=4, log_every=2, **TINY)
    events: list = []

    def done() -> bool:
        return any(isinstance(e, Progress) and e.stage == "training" and e.done >= 5 for e in events)

    with pytest.raises(Cancelled) as stop:
        train_oracle(config, ctx=JobContext(on_event=events.append, should_stop=done, min_interval=0))
    assert str(stop.value) == "cancelled at step 5 of 12" and stop.value.checkpoint == str(out)
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [4, 5]
    assert [e for e in events if isinstance(e, RunCancelled)] == [RunCancelled("oracle", 5, str(out))]
    state = read_model_file(out, kind="oracle").train_state
    assert state["step"] == 5 and not state["finished"] and state["optimizer"]
    assert load_oracle(out).legibility is None  # not calibrated yet: the file says it is unfinished

    events.clear()
    resumed = train_oracle(config, ctx=JobContext(on_event=events.append, min_interval=0), resume=True)
    _same_oracle(resumed, tiny_oracle[0])  # tiny_oracle: the same settings, never stopped
    _same_oracle(load_oracle(out), tiny_oracle[0])
    final = read_model_file(out, kind="oracle").train_state
    assert final["step"] == 12 and final["finished"] and "optimizer" not in final
    # the curve so far is replayed to the context (a plot goes on with it), then the new steps
    assert [e.step for e in events if isinstance(e, Metrics) and e.model == "oracle"] == [2, 4, 6, 8, 10, 12]
    records = [json.loads(line) for line in (tmp_path / "o.metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["event"] == "Metrics" and r["model"] == "oracle"]
    assert steps == [2, 4, 6, 8, 10, 12]  # one curve across the cancel
    assert any(r["event"] == "Metrics" and r["model"] == "oracle/heldout" for r in records)


def test_resume_refuses_other_settings_and_needs_a_file(tiny_oracle, toy240):
    config = OracleConfig(dataset=str(toy240), out=str(tiny_oracle[1]), **{**TINY, "width": 8})
    with pytest.raises(DataFileError, match="other settings.*width 4"):
        train_oracle(config, resume=True)
    with pytest.raises(RelAttrError, match="output file"):
        train_oracle(OracleConfig(dataset=str(toy240), **TINY), resume=True)


def test_nan_loss_fails_with_a_message_and_keeps_the_last_good_file(toy240, tmp_path, monkeypatch):
    from relattr_studio.training import oracle_job

    real, calls = oracle_job.normalise, {"n": 0}

    def poisoned(x):
        calls["n"] += 1
        return real(x) * float("nan") if calls["n"] == 7 else real(x)

    monkeypatch.setattr(oracle_job, "normalise", poisoned)
    out = tmp_path / "o.pt"
    events: list = []
    with pytest.raises(TrainingFailed, match="nan at step 7 of oracle.*o.pt.*lower --lr"):
        train_oracle(OracleConfig(dataset=str(toy240), out=str(out), checkpoint_every=4, **TINY),
                     ctx=JobContext(on_event=events.append))
    assert read_model_file(out, kind="oracle").train_state["step"] == 4
    assert isinstance(events[-1], Failed) and events[-1].checkpoint == str(out)


def test_user_errors_are_messages(tmp_path, tiny_oracle):
    with pytest.raises(RelAttrError):
        OracleConfig(dataset="x.h5", steps=0)
    with pytest.raises(DataFileError, match="no such"):
        train_oracle(OracleConfig(dataset=str(tmp_path / "missing.h5"), **TINY))
    with pytest.raises(RelAttrError, match="uint8"):
        tiny_oracle[0].strengths(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(RelAttrError, match="uint8"):
        tiny_oracle[0].strengths(np.zeros((2, 32, 32), np.uint8))
    other = tmp_path / "other.pt"
    torch.save({"format": "relattr-checkpoint", "format_version": 1}, other)
    with pytest.raises(DataFileError, match="relattr-oracle"):
        load_oracle(other)
    payload = tiny_oracle[0].to_payload()
    payload["config"]["width"] = 8  # weights of another architecture
    torch.save(payload, other)
    with pytest.raises(DataFileError, match="architecture"):
        load_oracle(other)


def test_cli_train_resume_and_cancel(toy240, tmp_path, capsys, monkeypatch):
    import os
    import signal

    from relattr_studio.cli import main
    from relattr_studio.training.oracle_job import OracleTrainer

    out = tmp_path / "cli.pt"
    base = ["oracle", "train", "--dataset", str(toy240), "--out", str(out), "--batch-size", "16", "--width", "4",
            "--checkpoint-every", "2", "--quiet"]
    real = OracleTrainer.train_step

    def step_then_ctrl_c(self):
        values = real(self)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C during the third step
        return values

    monkeypatch.setattr(OracleTrainer, "train_step", step_then_ctrl_c)
    assert main([*base, "--steps", "6"]) == 130
    said = capsys.readouterr().err
    assert f"checkpoint kept: {out}" in said and "relattr oracle train" in said and "--resume" in said
    assert "cancelled at step 3 of 6" in said and read_model_file(out, kind="oracle").step == 3
    monkeypatch.undo()
    assert main([*base, "--steps", "6", "--resume"]) == 0
    assert read_model_file(out, kind="oracle").step == 6 and "young" in capsys.readouterr().out


def test_cli_train_and_score(toy240, tmp_path, capsys):
    from relattr_studio.cli import build_parser, main

    parser = build_parser()  # the relattr command itself
    out = tmp_path / "cli.pt"
    args = parser.parse_args(["oracle", "train", "--dataset", str(toy240), "--out", str(out), "--steps", "3",
                              "--batch-size", "16", "--width", "4", "--quiet"])
    assert args.func(args) == 0 and out.is_file()
    assert "young" in capsys.readouterr().out
    args = parser.parse_args(["oracle", "score", "--model", str(out), "--dataset", str(toy240),
                              "--max-images", "40", "--quiet"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "(40 images)" in printed
    assert main(["oracle", "score", "--model", str(tmp_path / "none.pt"),
                 "--dataset", str(toy240), "--quiet"]) == 2


def test_score_dataset_matches_attributes_by_name(tiny_oracle, toy240):
    oracle = tiny_oracle[0]
    m = score_dataset(oracle, str(toy240), max_images=30)
    assert m["n"] == 30 and 0 <= m["legible"] <= 1
    renamed = AttributeOracle(oracle.net, ["nope", *oracle.attribute_names[1:]], target_mean=oracle.target_mean,
                              target_std=oracle.target_std, width=oracle.width, image_size=oracle.image_size)
    with pytest.raises(RelAttrError, match="nope"):
        score_dataset(renamed, str(toy240), max_images=30)


# -- the shipped oracles ------------------------------------------------------------------------

def _unreadable(real: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(real)
    return {
        "noise": rng.integers(0, 256, real.shape, dtype=np.uint8),
        "blank": np.broadcast_to(rng.integers(0, 256, (n, 1, 1, 3), dtype=np.uint8), real.shape).copy(),
        "scrambled": real.reshape(n, -1, 3)[:, rng.permutation(real.shape[1] * real.shape[2])].reshape(real.shape),
    }


SHIPPED = [
    ("toy-faces-oracle.pt", sample_faces, render_faces, "toy-shoes"),
    ("toy-shoes-oracle.pt", sample_shoes, render_shoes, "toy-faces"),
]


@pytest.mark.parametrize("name, sample, render, other", SHIPPED, ids=["faces", "shoes"])
def test_shipped_oracle_reads_fresh_renderings_and_refuses_garbage(name, sample, render, other):
    oracle = load_oracle(MODELS / name)
    truth, nuisance, _ = sample(300, 7_000)  # a seed no oracle or test set was made from
    real = render(truth, nuisance, 64)
    read, legible = oracle.read(real)
    for a, attribute in enumerate(oracle.attribute_names):
        rho = np.corrcoef(np.argsort(np.argsort(read[:, a])), np.argsort(np.argsort(truth[:, a])))[0, 1]
        assert rho > 0.93, (attribute, rho)
        assert np.abs(read[:, a] - truth[:, a]).mean() < 0.08, attribute
    assert legible.mean() >= 0.96
    for kind, images in _unreadable(real[:100], np.random.default_rng(1)).items():
        assert oracle.legible(images).mean() <= 0.05, kind
    other_sample, other_render = (sample_shoes, render_shoes) if other == "toy-shoes" else (sample_faces, render_faces)
    s, nz, _ = other_sample(100, 7_001)
    assert oracle.legible(other_render(s, nz, 64)).mean() <= 0.2  # the other procedural kind


def test_annotator_with_the_shipped_oracle_discards_pairs_showing_noise():
    oracle = load_oracle(MODELS / "toy-faces-oracle.pt")
    truth, nuisance, _ = sample_faces(120, 7_002)
    real = render_faces(truth, nuisance, 64)
    b = real[60:].copy()
    b[:20] = np.random.default_rng(0).integers(0, 256, b[:20].shape, dtype=np.uint8)
    j = SimulatedAnnotator(oracle, AnnotatorConfig(noise=0.02), seed=0).annotate(real[:60], b, 5)
    assert j.discarded[:20].all() and j.illegible[:20].all()
    assert j.discarded[20:].mean() < 0.1
    kept = np.flatnonzero(~j.discarded)
    agree = j.label[kept] == np.sign(truth[kept, 5] - truth[60 + kept, 5])
    assert agree.mean() > 0.85
