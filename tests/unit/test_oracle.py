"""The attribute oracle: training job, model file, legibility, CLI, and the shipped oracles' quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import Cancelled, DataFileError, RelAttrError
from relattr_studio.core.jobs import JobContext
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
from relattr_studio.modeling.oracle import AttributeOracle, FeatureGaussian, load_oracle
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


def test_cancel_stops_between_steps_and_writes_nothing(toy240, tmp_path):
    seen = []

    def on_event(event):
        seen.append(event)

    ctx = JobContext(on_event=on_event, should_stop=lambda: any(getattr(e, "stage", "") == "training" for e in seen))
    with pytest.raises(Cancelled):
        train_oracle(OracleConfig(dataset=str(toy240), out=str(tmp_path / "o.pt"), **TINY), ctx=ctx)
    assert not (tmp_path / "o.pt").exists()


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
