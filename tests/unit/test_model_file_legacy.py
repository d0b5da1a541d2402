"""Every model file of the formats before ``relattr-model`` still loads: a tiny file of each older
format (written as those versions wrote it, see tests/fixtures/model_files) and the shipped models."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import DataFileError
from relattr_studio.modeling.generator import load_generator_with_info, weights_digest
from relattr_studio.modeling.model_file import FORMAT_NAME, load_model, read_model_file, save_model_file
from relattr_studio.modeling.oracle import load_oracle
from relattr_studio.modeling.ranksvm import load_ranksvm
from relattr_studio.modeling.shipped import shipped_models
from relattr_studio.training.checkpoint import load_checkpoint, read_checkpoint
from tests.fixtures.model_files.make_v1_fixtures import write_all

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    torch.set_num_threads(1)
    return write_all(tmp_path_factory.mktemp("v1"))


def raw_tensors(path) -> dict:
    """The file's own tensors, read without RelAttr Studio (torch.load or np.load)."""
    if zipfile.ZipFile(path).namelist()[0].endswith(".npy"):
        with np.load(path, allow_pickle=False) as z:
            return {k: torch.from_numpy(z[k]) for k in ("weights", "mean", "scale")}
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("fmt, kind, builder", [
    ("relattr-checkpoint", "ranker", "ranknet"), ("relattr-generator", "generator", "attribute-cvae"),
    ("relattr-oracle", "oracle", "oracle-cnn"), ("relattr-ranksvm", "ranker", "ranksvm-ll")])
def test_each_older_format_maps_into_the_one_header(v1, fmt, kind, builder):
    mf = read_model_file(v1[fmt])
    assert (mf.format, mf.format_version, mf.kind, mf.builder) == (fmt, 1, kind, builder)
    assert mf.attributes == ["smiling", "young"] and mf.checksum is None
    assert mf.checksum_status == f"no checksum (older format {fmt} v1)"
    for name, tensor in raw_tensors(v1[fmt]).items():
        assert torch.equal(mf.weights[name], tensor), name
    model, again = load_model(v1[fmt])
    assert again.kind == kind and model is not None


def test_an_older_ranker_checkpoint_loads_with_its_training_state(v1):
    model, info = load_checkpoint(v1["relattr-checkpoint"])
    assert info.ranker == "ranknet" and info.step == 3 and info.backbone == "small-cnn"
    assert info.results == {"test": {"smiling": 62.5, "young": 55.0}} and info.dataset["name"] == "toy-faces"
    raw = torch.load(v1["relattr-checkpoint"], weights_only=True)
    view = read_checkpoint(v1["relattr-checkpoint"])  # the version-1 layout, as the file has it
    weights = view.pop("state_dict")
    assert view == {k: v for k, v in raw.items() if k != "state_dict"}
    assert all(torch.equal(weights[k], v) for k, v in raw["state_dict"].items())
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (2, 2)


def test_an_older_generator_oracle_and_ranksvm_load(v1):
    g, info = load_generator_with_info(v1["relattr-generator"])
    assert info.generator_id == weights_digest(g.state_dict()) == g.generator_id  # ids stay what they were
    assert info.card["command"].startswith("relattr generator train") and info.metrics["recon_mse"] == 0.05
    assert g.generate(np.full((1, 2), 0.5), np.zeros((1, 2))).shape == (1, 16, 16, 3)
    oracle = load_oracle(v1["relattr-oracle"])
    assert oracle.legibility.threshold == 12.5 and oracle.target_std.tolist() == [0.2, 0.3]
    strengths, legible = oracle.read(np.zeros((2, 16, 16, 3), np.uint8))
    assert strengths.shape == (2, 2) and legible.shape == (2,)
    svm = load_ranksvm(v1["relattr-ranksvm"])
    assert svm.c == [0.1, 1.0] and svm.local["k"] == 3 and svm.info["dataset"] == "toy-faces"
    feats = np.random.default_rng(0).normal(size=(3, 6))
    np.testing.assert_allclose(svm.scores(feats), ((feats - svm.standardizer.mean) / svm.standardizer.scale)
                               @ svm.weights.T, rtol=1e-6)
    assert np.isfinite(svm.compare_local(feats[:1], feats[1:2], "young")).all()


def test_an_older_file_rewritten_gets_a_checksum_and_the_same_weights(v1, tmp_path):
    for fmt, path in v1.items():
        old = read_model_file(path)
        new = read_model_file(save_model_file(tmp_path / f"{fmt}.pt", old.payload()))
        assert new.format == FORMAT_NAME and new.checksum and (new.kind, new.builder) == (old.kind, old.builder)
        assert all(torch.equal(new.weights[k], v) for k, v in old.weights.items()), fmt
        load_model(new.path)


def test_older_files_of_another_kind_are_refused_by_name(v1):
    with pytest.raises(DataFileError, match=r"it is a ranker checkpoint \(format relattr-checkpoint\), not an attribute oracle"):
        load_oracle(v1["relattr-checkpoint"])
    with pytest.raises(DataFileError, match="not a neural ranker"):
        load_checkpoint(v1["relattr-ranksvm"])
    with pytest.raises(DataFileError, match="not a RankSVM model"):
        load_ranksvm(v1["relattr-checkpoint"])


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_every_shipped_model_loads_as_it_is(name):
    path = shipped_models()[name]
    model, mf = load_model(path)
    assert type(model).__name__ == {"generator": "AttributeGenerator", "oracle": "AttributeOracle"}[mf.kind]
    assert mf.kind == name.rsplit("-", 1)[1] and mf.older_format and mf.checksum is None
    assert mf.size == path.stat().st_size > 2**20 and len(mf.attributes) >= 6
