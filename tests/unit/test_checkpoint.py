"""Checkpoints: rebuilt from the file alone in a fresh process, pickle refused, resume exact."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import RelAttrError
from relattr_studio.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from relattr_studio.training.config import TrainConfig
from relattr_studio.training.job import train_ranker
from relattr_studio.modeling.rankers.ranknet import ranknet

TINY = {"width": 4, "image_size": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def toy(toy240):
    return toy240


def test_fresh_process_scores_bitwise_identical(tmp_path):
    model = ranknet(attributes=["smiling", "young"], backbone_options=TINY).eval()
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    path = save_checkpoint(tmp_path / "m.ckpt", model)
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, torch; from relattr_studio.training.checkpoint import load_checkpoint\n"
        "m, info = load_checkpoint(sys.argv[1]); x = torch.load(sys.argv[2], weights_only=True)\n"
        "assert info.attributes == ['smiling', 'young'] and info.ranker == 'ranknet'\n"
        "torch.save(m(x).detach(), sys.argv[3])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "x.pt"), str(tmp_path / "s.pt")],
                   check=True, timeout=60)
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "s.pt", weights_only=True), model(x))


class Payload:  # a custom class: loading it would need pickle
    pass


def test_pickled_payload_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"format": "relattr-checkpoint", "format_version": 1, "thing": Payload()}, path)
    with pytest.raises(RelAttrError, match="needs pickle to load") as err:
        load_checkpoint(path)
    assert "evil.ckpt" in str(err.value)


def test_other_architecture_is_a_clear_message(tmp_path):
    model = ranknet(attributes=["a"], backbone_options=TINY)
    path = save_checkpoint(tmp_path / "m.ckpt", model)
    payload = read_checkpoint(path)
    payload["ranker"]["config"]["backbone_options"] = {"width": 8, "image_size": 32}
    torch.save(payload, path)
    with pytest.raises(RelAttrError, match="do not fit the architecture"):
        load_checkpoint(path)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(RelAttrError, match="junk.ckpt"):
        load_checkpoint(tmp_path / "junk.ckpt")


@pytest.mark.parametrize("extra", [{}, {"ema": 0.8, "ranker_options": {"dropout": 0.3}}], ids=["plain", "ema-dropout"])
def test_resume_continues_the_same_curve(toy, tmp_path, extra):
    base = TrainConfig(str(toy), attributes=("smiling",), batch_size=16, log_every=3, eval_every=6,
                       backbone_options=TINY, **extra).with_preset("scratch")
    full = train_ranker(base.replace(steps=12, out_dir=str(tmp_path / "full")))
    half = train_ranker(base.replace(steps=6, out_dir=str(tmp_path / "half")))
    resumed = train_ranker(base.replace(steps=12, out_dir=str(tmp_path / "resumed")), resume_from=half.checkpoint)
    curve = lambda r: [(h["step"], h.get("loss"), h.get("val_acc")) for h in r.history]  # noqa: E731
    assert curve(resumed) == curve(full)
    m1, _ = load_checkpoint(full.checkpoint)
    m2, info = load_checkpoint(resumed.checkpoint)
    assert info.step == 12 and info.train_config["steps"] == 12
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    assert np.isclose(full.accuracy["test"]["smiling"], resumed.accuracy["test"]["smiling"])


def test_a_weight_averaged_run_saves_the_average_and_scores_it(toy, tmp_path):
    config = TrainConfig(str(toy), attributes=("smiling",), batch_size=16, steps=10, eval_every=10, ema=0.7,
                         backbone_options=TINY, out_dir=str(tmp_path)).with_preset("scratch")
    result = train_ranker(config)
    payload = read_checkpoint(result.checkpoint)
    raw = payload["train_state"]["raw_state_dict"]
    assert payload["train_state"]["average_updates"] == 10
    moved = [k for k, v in payload["state_dict"].items() if v.is_floating_point() and not torch.equal(v, raw[k])]
    assert moved  # the file holds the average, not the last weights
    from relattr_studio.training.runs import evaluate_checkpoint

    rows = evaluate_checkpoint(result.checkpoint, str(toy))
    test = [r for r in rows if r.test_split == "test"]
    assert np.isclose(test[0].accuracy, result.accuracy["test"]["smiling"])
