"""The Train view's cancel and resume with the real engine: the same run folder, the same curve."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def toy300(tmp_path_factory):
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("toy300") / "toy-faces.h5", n=300, seed=0, size=32)


def test_cancel_then_resume_continues_the_run_folder_and_curve_and_writes_results(qtbot, toy300, tmp_path,
                                                                                 monkeypatch):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.train_view import TrainView, make_config
    from relattr_studio.training.entry import run_training

    monkeypatch.setenv("RELATTR_DATA_DIR", str(tmp_path / "data"))
    session = Session()
    session.set_dataset(DatasetFile(toy300))
    tiny = lambda **f: make_config(**{**f, "steps": 60, "backbone_options": {"width": 4, "image_size": 32},  # noqa: E731
                                      "log_every": 2, "batch_size": 16, "eval_every": 30})
    view = TrainView(session, config_factory=tiny, job=run_training)  # the engine's entry point, on a thread
    qtbot.addWidget(view)
    view.form.set_checked(["smiling"])
    view.form.device.setCurrentText("cpu")
    assert view.start()
    qtbot.waitUntil(lambda: view.curves.points("loss") >= 4, timeout=60_000)
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        view.cancel()
    log = view.log.toPlainText()
    assert "cancelled ranknet-small-cnn-smiling-seed0 at step" in log and "checkpoint kept:" in log
    assert "failed" not in log
    checkpoint = Path(view.last_checkpoint)
    before = view.curves.points("loss")
    assert checkpoint.is_file() and before >= 4

    assert view.start(resume_from=checkpoint)
    # the resumed job replays the run's curve before it goes on
    with qtbot.waitSignal(view.runner.ended, timeout=120_000):
        pass
    assert view.curves.points("loss") == 30  # steps 2, 4, ..., 60: one curve, no gap, no restart
    assert Path(view.last_checkpoint) == checkpoint  # the same run folder and file
    rows = list(csv.DictReader(open(checkpoint.parent / "results.csv")))
    assert {r["attribute"] for r in rows} == {"smiling"} and len(rows) == 3
    assert f"resuming {checkpoint}" in view.log.toPlainText()
    view.shutdown()
    session.close()
