"""The one model file: every kind round-trips with a verified checksum; damaged files are refused.

The checksum exists because torch's zip container does not protect tensor data: a byte flipped
inside a tensor's storage record loads with ``torch.load`` and silently changes the weights
(test_torch_load_misses_a_flip_inside_tensor_data_that_the_checksum_catches).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from relattr_studio.core.errors import DataFileError
from relattr_studio.modeling.generator import AttributeGenerator, load_generator, save_generator
from relattr_studio.modeling.model_file import (
    DAMAGED_HINT,
    FORMAT_NAME,
    ModelKind,
    kind_names,
    load_model,
    model_kind,
    read_model_file,
    register_kind,
    tensor_checksum,
)
from relattr_studio.modeling.oracle import AttributeOracle, FeatureGaussian, Legibility, load_oracle
from relattr_studio.modeling.rankers.ranknet import ranknet
from relattr_studio.modeling.ranksvm import RankSVMModel, Standardizer, load_ranksvm
from relattr_studio.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"width": 2, "image_size": 16}


def tiny_ranker():
    torch.manual_seed(0)
    return ranknet(attributes=["smiling", "young"], backbone_options=TINY).eval()


def tiny_generator() -> AttributeGenerator:
    torch.manual_seed(0)
    g = AttributeGenerator(["smiling", "young"], z_dim=2, image_size=16, width=1, hidden=4)
    g.set_strength_statistics(np.random.default_rng(0).uniform(0, 1, (20, 2)))
    return g.eval()


def tiny_oracle() -> AttributeOracle:
    torch.manual_seed(0)
    oracle = AttributeOracle.new(["smiling", "young"], target_mean=[0.5, 0.4], target_std=[0.2, 0.3], width=1,
                                 image_size=16)
    features = np.random.default_rng(0).normal(size=(50, 32))
    oracle.legibility = Legibility(FeatureGaussian.fit(features), threshold=40.0, quantile=0.99, n_calibration=50)
    return oracle


def tiny_ranksvm(local: bool) -> RankSVMModel:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(12, 6))
    pairs = {"smiling": (np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7]), np.array([1, -1, 1, 0])),
             "young": (np.array([0, 2, 4]), np.array([1, 3, 5]), np.array([1, 1, -1]))}
    return RankSVMModel(["smiling", "young"], rng.normal(size=(2, 6)), Standardizer.fit(feats), "gist+lab", [0.1, 1.0],
                        info={"seed": 0},
                        local={"k": 3, "c": {"smiling": 1.0, "young": 0.5},
                               # the file keeps the local training features in float32, as the .npz did
                               "x": feats[:8].astype(np.float32).astype(np.float64), "pairs": pairs} if local else None)


def images(n=3, size=16):
    return np.random.default_rng(1).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# -- every kind, one format -------------------------------------------------------------------

def test_a_ranker_checkpoint_round_trips_with_a_verified_checksum(tmp_path):
    model = tiny_ranker()
    path = save_checkpoint(tmp_path / "r.ckpt", model, train_state={"step": 7, "history": []},
                           results={"test": {"smiling": 80.0}}, dataset={"name": "toy"})
    mf = read_model_file(path)
    assert (mf.format, mf.kind, mf.builder, mf.step) == (FORMAT_NAME, "ranker", "ranknet", 7)
    assert mf.checksum == tensor_checksum(torch.load(path, weights_only=True))
    assert mf.checksum_status.startswith("verified (sha256 ")
    loaded, info = load_checkpoint(path)
    x = model.preprocess(images())
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert info.step == 7 and info.results == {"test": {"smiling": 80.0}} and info.backbone == "small-cnn"
    view = read_checkpoint(path)  # the version-1 layout the resuming code reads
    assert view["ranker"]["name"] == "ranknet" and view["train_state"]["step"] == 7
    again, _ = load_model(path)
    assert type(again) is type(model)


def test_a_generator_and_an_oracle_round_trip_with_a_verified_checksum(tmp_path):
    g = tiny_generator()
    path = save_generator(tmp_path / "g.pt", g, card={"command": "relattr generator train ..."})
    mf = read_model_file(path, kind="generator")
    assert mf.builder == "attribute-cvae" and mf.checksum and mf.extra["generator_id"] == g.generator_id
    y, z = np.full((2, 2), 0.5), np.zeros((2, 2))
    assert np.array_equal(load_generator(path).generate(y, z), g.generate(y, z))

    oracle = tiny_oracle()
    path = oracle.save(tmp_path / "o.pt")
    mf = read_model_file(path, kind="oracle")
    assert mf.builder == "oracle-cnn" and mf.checksum and mf.step is None
    back = load_oracle(path)
    s0, d0 = oracle.scores(images())
    s1, d1 = back.scores(images())
    assert np.array_equal(s0, s1) and np.array_equal(d0, d1) and back.legibility.threshold == 40.0


@pytest.mark.parametrize("local", [False, True], ids=["ranksvm", "ranksvm-ll"])
def test_ranksvm_is_a_ranker_file_in_the_same_container(tmp_path, local):
    model = tiny_ranksvm(local)
    path = model.save(tmp_path / "m.ckpt")
    assert zipfile.ZipFile(path).namelist()[0].endswith("data.pkl")  # torch's container, not an .npz
    mf = read_model_file(path, kind="ranker")
    assert mf.builder == ("ranksvm-ll" if local else "ranksvm") and mf.checksum
    back, _ = load_model(path)
    feats = np.random.default_rng(3).normal(size=(4, 6))
    np.testing.assert_array_equal(back.scores(feats), model.scores(feats))
    if local:
        np.testing.assert_array_equal(back.compare_local(feats[:2], feats[2:], "young"),
                                      model.compare_local(feats[:2], feats[2:], "young"))
    assert load_ranksvm(path).c == [0.1, 1.0]
    with pytest.raises(DataFileError, match="not a neural ranker"):
        load_checkpoint(path)


# -- damaged files ----------------------------------------------------------------------------

def record_data_offset(path: Path, member: str) -> tuple[int, int]:
    """(offset, length) of a stored zip member's bytes: past its local header, not the directory."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = path.read_bytes()
    assert raw[info.header_offset:info.header_offset + 4] == b"PK\x03\x04" and info.compress_type == zipfile.ZIP_STORED
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def flip_inside_largest_tensor(path: Path) -> str:
    """Invert 8 bytes in the middle of the largest tensor storage record; the member's name."""
    with zipfile.ZipFile(path) as z:
        member = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size).filename
    start, length = record_data_offset(path, member)
    raw = bytearray(path.read_bytes())
    for i in range(start + length // 2, start + length // 2 + 8):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    return member


def assert_refused_as_damaged(err: pytest.ExceptionInfo, path: Path) -> None:
    assert err.value.path == path and str(path) in str(err.value)
    assert err.value.hint == DAMAGED_HINT and "damaged" in str(err.value)


def test_torch_load_misses_a_flip_inside_tensor_data_that_the_checksum_catches(tmp_path):
    model = tiny_ranker()
    path = save_checkpoint(tmp_path / "flipped.ckpt", model)
    before = torch.load(path, weights_only=True)["weights"]
    member = flip_inside_largest_tensor(path)
    # The zip directory is intact and torch.load reads the file without a word, weights changed:
    # it does not check the record's CRC, which zipfile's own test does notice.
    after = torch.load(path, weights_only=True)["weights"]
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == 1
    assert zipfile.ZipFile(path).testzip() == member
    with pytest.raises(DataFileError, match="do not match the checksum") as err:
        load_checkpoint(path)
    assert_refused_as_damaged(err, path)


def test_flipped_weights_are_refused_for_every_kind(tmp_path):
    files = {"generator": (save_generator(tmp_path / "g.pt", tiny_generator()), load_generator),
             "oracle": (tiny_oracle().save(tmp_path / "o.pt"), load_oracle),
             "ranksvm": (tiny_ranksvm(True).save(tmp_path / "s.ckpt"), load_ranksvm)}
    for path, load in files.values():
        flip_inside_largest_tensor(path)
        with pytest.raises(DataFileError, match="checksum") as err:
            load(path)
        assert_refused_as_damaged(err, path)


def test_a_zero_byte_or_truncated_file_is_refused_with_the_same_advice(tmp_path):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    for load in (load_checkpoint, load_generator, load_oracle, load_ranksvm, read_model_file):
        with pytest.raises(DataFileError, match=r"empty \(0 bytes\)") as err:
            load(empty)
        assert_refused_as_damaged(err, empty)
    whole = save_checkpoint(tmp_path / "whole.ckpt", tiny_ranker()).read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataFileError) as err:
        load_checkpoint(cut)
    assert err.value.path == cut and err.value.hint == DAMAGED_HINT


def test_a_changed_training_state_tensor_is_refused_too(tmp_path):
    path = save_checkpoint(tmp_path / "r.ckpt", tiny_ranker(), train_state={"step": 1, "rng": torch.arange(4)})
    payload = torch.load(path, weights_only=True)
    payload["train_state"]["rng"][0] = 9
    torch.save(payload, path)
    with pytest.raises(DataFileError, match="checksum"):
        read_checkpoint(path)


class Payload:  # loading it would need pickle
    pass


def test_pickle_kind_and_version_are_refused_with_messages(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT_NAME, "format_version": 1, "thing": Payload()}, evil)
    with pytest.raises(DataFileError, match="needs pickle to load"):
        read_model_file(evil)
    ranker = save_checkpoint(tmp_path / "r.ckpt", tiny_ranker())
    with pytest.raises(DataFileError, match="it is a ranker checkpoint .*not a generator") as err:
        load_generator(ranker)
    assert "relattr-generator" in err.value.hint  # the older format it may also be
    payload = torch.load(ranker, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "new.ckpt")
    with pytest.raises(DataFileError, match="update RelAttr Studio"):
        load_checkpoint(tmp_path / "new.ckpt")
    del payload["attributes"]
    payload["format_version"] = 1
    torch.save(payload, tmp_path / "incomplete.ckpt")
    with pytest.raises(DataFileError, match="attributes"):
        load_checkpoint(tmp_path / "incomplete.ckpt")


# -- the checksum and the kinds ----------------------------------------------------------------

def test_the_checksum_covers_tensors_by_path_dtype_shape_and_bytes():
    w = {"a": torch.arange(6, dtype=torch.float32), "b": torch.ones(2, dtype=torch.bfloat16)}
    base = tensor_checksum({"weights": w, "card": {"note": 1}})
    assert tensor_checksum({"weights": dict(reversed(list(w.items()))), "card": {"note": 2}}) == base
    assert tensor_checksum({"weights": {**w, "a": w["a"].view(2, 3)}}) != base  # same bytes, other shape
    assert tensor_checksum({"weights": {**w, "a": w["a"].view(torch.int32)}}) != base  # other dtype
    assert tensor_checksum({"weights": {"c": w["a"], "b": w["b"]}}) != base  # other name
    assert tensor_checksum({"weights": w, "extra": {"m": torch.zeros(1)}}) != base


def test_every_kind_is_a_registration():
    assert kind_names() == ["ranker", "generator", "oracle", "control"]
    assert {"ranknet", "deepstn", "dacrl", "ranksvm", "ranksvm-ll"} <= set(model_kind("ranker").builders())
    assert model_kind("generator").builders() == ["attribute-cvae"]
    assert model_kind("oracle").builders() == ["oracle-cnn"]
    assert model_kind("control").builders() == ["attic-control"]
    with pytest.raises(ValueError, match="not declared"):
        register_kind(ModelKind("embedder", builders=list, load=lambda m, d: None, describe=lambda m: {}))
    with pytest.raises(ValueError, match="registered twice"):
        register_kind(model_kind("oracle"))
