"""A checkpoint with the right format field and checksum but missing or mistyped training-state
entries is one DataFileError naming the file, for every trainer (the Recipe base guards every
load_checkpoint), never a KeyError or TypeError."""

from __future__ import annotations

import copy

import pytest

from relattr_studio.core.errors import DataFileError
from relattr_studio.modeling.model_file import read_model_file, save_model_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _edited(src, dst, edit):
    payload = copy.deepcopy(read_model_file(src).payload())
    edit(payload)
    save_model_file(dst, payload)  # a valid checksum: only the state is wrong
    return dst


EDITS = {
    "step missing": lambda p: p["train_state"].pop("step"),
    "step mistyped": lambda p: p["train_state"].__setitem__("step", "ten"),
    "lifecycle mistyped": lambda p: p["train_state"].__setitem__("lifecycle", {"history": 5}),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_a_ranker_checkpoint_with_a_malformed_state_is_refused_naming_it(edit, toy240, tmp_path):
    from relattr_studio.training.config import TrainConfig
    from relattr_studio.training.job import train_ranker

    def config(out, steps):
        return TrainConfig(str(toy240), attributes=("smiling",), backbone_options={"width": 4, "image_size": 32},
                           steps=steps, batch_size=16, out_dir=str(out)).with_preset("scratch")

    good = train_ranker(config(tmp_path / "good", 2)).checkpoint
    bad = _edited(good, tmp_path / "bad" / "ranknet-small-cnn-smiling-seed0.ckpt", EDITS[edit])
    with pytest.raises(DataFileError, match="bad.*training state is incomplete or malformed"):
        train_ranker(config(tmp_path / "bad", 4), resume_from=bad)


@pytest.mark.parametrize("edit", ["step missing", "lifecycle mistyped"])
def test_a_generator_checkpoint_with_a_malformed_state_is_refused_naming_it(edit, toy240, tmp_path):
    from relattr_studio.training.generator_config import GeneratorTrainConfig
    from relattr_studio.training.generator_job import train_generator

    def config(out, steps):
        return GeneratorTrainConfig(str(toy240), str(out), z_dim=4, image_size=32, width=4, hidden=32, steps=steps,
                                    batch_size=16, kl_warmup=0, log_every=2, checkpoint_every=2, device="cpu")

    train_generator(config(tmp_path / "g.pt", 2))
    bad = _edited(tmp_path / "g.pt", tmp_path / "bad.pt", EDITS[edit])
    with pytest.raises(DataFileError, match="bad.pt.*training state is incomplete or malformed"):
        train_generator(config(bad, 4), resume=True)


def test_a_checkpoint_whose_settings_are_mistyped_is_refused_by_train_resume(toy240, tmp_path, capsys):
    from relattr_studio.cli import main
    from relattr_studio.training.config import TrainConfig
    from relattr_studio.training.job import train_ranker

    good = train_ranker(TrainConfig(str(toy240), attributes=("smiling",), steps=2, batch_size=16,
                                    backbone_options={"width": 4, "image_size": 32},
                                    out_dir=str(tmp_path / "good")).with_preset("scratch")).checkpoint
    bad = _edited(good, tmp_path / "bad" / "m.ckpt", lambda p: p["train_state"]["config"].__setitem__("steps", "x"))
    assert main(["train", "--resume", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m.ckpt: its training settings are malformed: training config field 'steps'" in err
    for value in (True, "x", 2.5):  # a bool is not a step count; a float is not one either
        with pytest.raises(Exception, match="field 'steps'"):
            TrainConfig.from_dict({**TrainConfig("d.h5").to_dict(), "steps": value})
