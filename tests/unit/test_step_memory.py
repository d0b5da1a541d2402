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
