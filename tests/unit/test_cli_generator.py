"""``relattr generator train|info`` and ``relattr spectrum`` end to end on a tiny generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from relattr_studio.cli import main
from relattr_studio.modeling.generator import load_generator_with_info

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model(toy240, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "g.pt"
    assert main(["generator", "train", "--dataset", str(toy240), "--out", str(out), "--steps", "4", "--z-dim", "3",
                 "--width", "4", "--batch-size", "16", "--seed", "1", "--device", "cpu", "--threads", "1",
                 "--quiet"]) == 0
    return out


def test_train_writes_a_generator_with_its_command(model, capsys):
    g, info = load_generator_with_info(model)
    assert g.z_dim == 3 and g.width == 4 and info.step == 4 and len(g.attributes) == 8
    command = info.card["command"]
    assert command.startswith("relattr generator train --dataset ") and "--z-dim 3" in command
    assert "--threads 1" in command and "--steps 4" in command and info.card["threads"] == 1


def test_train_resume_continues_to_more_steps(model, tmp_path, toy240, capsys):
    out = tmp_path / "g.pt"
    out.write_bytes(model.read_bytes())
    common = ["generator", "train", "--dataset", str(toy240), "--out", str(out), "--z-dim", "3", "--width", "4",
              "--batch-size", "16", "--seed", "1", "--device", "cpu", "--quiet"]
    assert main([*common, "--steps", "6", "--resume"]) == 0
    assert "6 steps" in capsys.readouterr().out
    assert main([*common, "--steps", "6", "--z-dim", "5", "--resume"]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_info_prints_attributes_prior_metrics_and_id(model, capsys):
    g, info = load_generator_with_info(model)
    assert main(["generator", "info", str(model)]) == 0
    text = capsys.readouterr().out
    assert info.generator_id in text and "smiling" in text and "held-out reconstruction" in text
    assert main(["generator", "info", str(model), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["generator_id"] == info.generator_id and d["attributes"] == g.attributes
    assert np.allclose(d["prior_mean"], g.prior_mean, atol=1e-5) and len(d["prior_sigma"]) == 8
    assert d["metrics"]["recon_mse"] > 0


def test_spectrum_writes_a_strip_that_follows_the_seed(model, tmp_path, capsys):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    args = ["spectrum", "--model", str(model), "--attribute", "smiling", "--steps", "5"]
    assert main([*args, "--seed", "3", "--rows", "2", "--zoom", "2", str(a)]) == 0
    assert "2 x 5 images" in capsys.readouterr().out
    strip = np.asarray(Image.open(a))
    assert strip.shape == (2 * 128 + 3 * 2, 5 * 128 + 6 * 2, 3)
    assert main([*args, "--seed", "3", "--rows", "2", "--zoom", "2", str(b)]) == 0
    assert main([*args, "--seed", "4", "--rows", "2", "--zoom", "2", str(c)]) == 0
    assert np.array_equal(strip, np.asarray(Image.open(b)))
    assert not np.array_equal(strip, np.asarray(Image.open(c)))
    # along a row only smiling changes: the ends differ from each other
    first, last = strip[2:130, 2:130].astype(int), strip[2:130, -130:-2].astype(int)
    assert np.abs(first - last).sum() > 0


def test_spectrum_errors_are_one_line_messages(model, tmp_path, capsys):
    assert main(["spectrum", "--model", str(model), "--attribute", "grumpy", str(tmp_path / "x.png")]) == 2
    assert "no attribute 'grumpy'" in capsys.readouterr().err
    assert main(["spectrum", "--model", str(tmp_path / "none.pt"), "--attribute", "smiling",
                 str(tmp_path / "x.png")]) == 2
    assert "no such generator" in capsys.readouterr().err
    assert main(["spectrum", "--model", "toy-cats", "--attribute", "smiling", str(tmp_path / "x.png")]) == 2
    assert "no shipped generator" in capsys.readouterr().err
    assert main(["spectrum", "--model", str(model), "--attribute", "smiling", "--steps", "1",
                 str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_consistency_weight_reaches_the_training_config(model, tmp_path, toy240):
    from relattr_studio.training.generator_job import GeneratorTrainConfig

    out = tmp_path / "plain.pt"
    assert main(["generator", "train", "--dataset", str(toy240), "--out", str(out), "--steps", "2", "--z-dim", "3",
                 "--width", "4", "--batch-size", "16", "--consistency-weight", "0", "--device", "cpu",
                 "--quiet"]) == 0
    _, info = load_generator_with_info(out)
    config = GeneratorTrainConfig.from_dict(info.train_config)
    assert config.consistency_weight == 0 and "--consistency-weight 0" in info.card["command"]
    assert info.metrics["consistency"] == 0  # the term was off: nothing was added to the loss


def test_experiment_semantic_jitter_end_to_end(model, toy240, tmp_path, capsys):
    from relattr_studio.training.checkpoint import load_checkpoint

    out = tmp_path / "exp"
    assert main(["experiment", "semantic-jitter", "--dataset", str(toy240), "--generator", str(model),
                 "--oracle", "shipped", "--budget", "8", "--seeds", "1", "--steps", "2", "--batch-size", "8",
                 "--attribute", "smiling", "--condition", "real", "--condition", "dsynth-auto",
                 "--image-size", "32", "--threads", "1", "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "test/fine" in printed.out and "dsynth-auto" in printed.out and "scratch preset" in printed.err
    (ckpt,) = (out / "runs" / "dsynth-auto-seed0").glob("*.ckpt")
    _, info = load_checkpoint(ckpt)
    assert info.train_config["backbone_options"] == {"image_size": 32} and info.train_config["steps"] == 2
    joined = tmp_path / "joined"
    assert main(["experiment", "report", str(out), "--note", "one seed", "--out", str(joined)]) == 0
    assert (joined / "results.csv").read_text() == (out / "results.csv").read_text()
    assert "one seed" in (joined / "table.md").read_text() and (joined / "plot-test-fine.png").is_file()
    capsys.readouterr()
    assert main(["experiment", "report", str(out), str(out / "results.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "seed 0 of real" in capsys.readouterr().err  # a seed twice would count twice
    assert main(["experiment", "report", str(out), "--out", str(out)]) == 2
    other = tmp_path / "other" / "results.csv"  # another ranker's run: its rows must not be averaged in
    other.parent.mkdir()
    other.write_text((out / "results.csv").read_text().replace(",ranknet,", ",deepstn,"))
    capsys.readouterr()
    assert main(["experiment", "report", str(out), str(other), "--out", str(tmp_path / "y")]) == 2
    assert "different rankers or backbones" in capsys.readouterr().err
    assert main(["experiment", "semantic-jitter", "--dataset", str(toy240), "--image-size", "0",
                 "--out", str(tmp_path / "z"), "--quiet"]) == 2
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("condition,") and len(rows) == 1 + 2 * 3  # 2 conditions x test, coarse, fine
    assert main(["experiment", "semantic-jitter", "--dataset", str(toy240), "--generator", str(tmp_path / "no.pt"),
                 "--out", str(out), "--quiet"]) == 2
    assert "no.pt" in capsys.readouterr().err
