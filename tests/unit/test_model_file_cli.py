"""``relattr model info``: any model file described, checksum status included; a damaged one refused."""

from __future__ import annotations

import json
import re

import pytest
import torch

from relattr_studio.cli import main
from relattr_studio.modeling.model_file import DAMAGED_HINT
from relattr_studio.modeling.rankers.ranknet import ranknet
from relattr_studio.modeling.shipped import shipped_models
from relattr_studio.training.checkpoint import save_checkpoint
from tests.fixtures.model_files.make_v1_fixtures import write_all
from tests.unit.test_model_file import flip_inside_largest_tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def row(label: str, text: str) -> str:
    """The pattern of one ``label  value`` row of the text form."""
    return rf"\n  {re.escape(label)} +{re.escape(text)}"


def info(capsys, *args) -> tuple[int, str, str]:
    code = main(["model", "info", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = ranknet(attributes=["smiling", "young"], backbone_options={"width": 2, "image_size": 16})
    return save_checkpoint(tmp_path / "r.ckpt", model, train_state={"step": 12, "optimizer": {"state": {}}},
                           results={"test": {"smiling": 81.25}}, dataset={"name": "toy-faces"})


def test_a_new_checkpoint_is_described_with_its_verified_checksum(checkpoint, capsys):
    code, out, _ = info(capsys, checkpoint)
    assert code == 0 and out.splitlines()[0] == str(checkpoint)
    assert re.search(row("kind", "ranker (builder ranknet)"), out) and re.search(row("format", "relattr-model v1\n"), out)
    assert re.search(row("checksum", "verified (sha256 "), out)
    assert re.search(row("training state", "step 12; optimizer state kept (resumable)"), out)
    assert re.search(row("backbone", "small-cnn"), out) and "results: test {smiling 81.25}" in out
    code, out, _ = info(capsys, checkpoint, "--json")
    d = json.loads(out)
    assert d["checksum"]["status"] == "verified" and len(d["checksum"]["sha256"]) == 64
    assert d["train_state"]["step"] == 12 and d["attributes"] == ["smiling", "young"]
    assert d["preprocessing"]["size"] == 16 and d["config"]["backbone"] == "small-cnn"
    assert d["size_bytes"] == checkpoint.stat().st_size and d["card"]["dataset"] == {"name": "toy-faces"}


def test_every_older_format_is_described_as_such(tmp_path, capsys):
    torch.set_num_threads(1)
    for fmt, path in write_all(tmp_path).items():
        code, out, _ = info(capsys, path)
        assert code == 0 and re.search(row("format", f"{fmt} v1 (older format)"), out)
        assert re.search(row("checksum", f"no checksum (older format {fmt} v1)"), out)
    assert re.search(row("training state", "step 3\n"), info(capsys, tmp_path / "ranker-v1.ckpt")[1])
    svm = info(capsys, tmp_path / "ranksvm-v1.npz")[1]
    assert re.search(row("local learning", "K 3, C_local {smiling 1, young 0.5}"), svm)


def test_a_shipped_model_by_name(capsys):
    name = min(shipped_models())
    code, out, _ = info(capsys, name, "--json")
    d = json.loads(out)
    assert code == 0 and d["path"] == str(shipped_models()[name]) and d["older_format"]
    assert d["checksum"] == {"status": "absent", "sha256": None, "text": d["checksum"]["text"]}


def test_damaged_and_empty_files_are_one_line_each(checkpoint, tmp_path, capsys):
    flip_inside_largest_tensor(checkpoint)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in (checkpoint, empty):
        code, out, err = info(capsys, path)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert err.startswith(f"relattr: error: {path}: damaged ") and DAMAGED_HINT in err
    code, _, err = info(capsys, tmp_path / "missing.ckpt")
    assert code == 2 and "no such model file" in err
