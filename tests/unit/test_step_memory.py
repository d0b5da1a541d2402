"""A training step whose memory is known from its arguments is refused before it starts."""

from __future__ import annotations

import pytest

from relattr_studio.modeling.rankers import RANKERS
from relattr_studio.training.memory import step_activation_bytes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_estimate_grows_with_the_batch_and_the_image_area():
    model = RANKERS.build("ranknet", attributes=["a"], backbone="small-cnn", backbone_options={"width": 8})
    one = step_activation_bytes(model, batch=1, image_size=32)
    assert one > 0
    assert step_activation_bytes(model, batch=8, image_size=32) == 8 * one
    assert 3.5 * one < step_activation_bytes(model, batch=1, image_size=64) < 4.5 * one


def test_the_largest_batch_and_image_the_options_allow_is_one_message(toy240, tmp_path, capsys):
    from relattr_studio.cli import main

    code = main(["train", "--dataset", str(toy240), "--out", str(tmp_path / "run"), "--batch-size", "4096",
                 "--image-size", "1024", "--steps", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "a training step of 4096 images of 1024 px needs about" in err and "use a smaller --batch-size" in err
    assert not (tmp_path / "run" / "ranknet-small-cnn-all-seed0.ckpt").exists()


@pytest.fixture(scope="module")
def big_toy(tmp_path_factory):
    """Enough training images for a batch of 4,096, small enough to make in seconds."""
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("big") / "toy.h5", n=4700, seed=0, size=32)


@pytest.mark.parametrize("argv", [
    ["generator", "train", "--batch-size", "4096", "--width", "512", "--steps", "1"],
    ["oracle", "train", "--batch-size", "4096", "--width", "256", "--steps", "1"],
])
def test_the_generator_and_the_oracle_check_their_step_too_and_leave_nothing(argv, tmp_path, capsys, monkeypatch,
                                                                           big_toy):
    from relattr_studio.cli import main

    # the same answer on any machine: 8 GB free (the steps need tens of GB at 32 px)
    monkeypatch.setattr("relattr_studio.core.resources.available_memory", lambda: 8 * 2**30)
    dataset = big_toy
    code = main([*argv, "--dataset", str(dataset), "--out", str(tmp_path / "out" / "m.pt"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "a training step of 4096 images" in err, err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
