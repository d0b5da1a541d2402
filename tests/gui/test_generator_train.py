"""Train a generator from the window: the dialog runs the real job in a process, cancels,
resumes, and hands the file to the Explore view."""

from __future__ import annotations

from pathlib import Path

import pytest

from relattr_studio.gui.generator_train import GeneratorTrainDialog, default_output


def _tiny(dialog: GeneratorTrainDialog, out: Path, steps: int) -> None:
    dialog.out.setText(str(out))
    dialog.steps.setValue(steps)
    dialog.batch_size.setValue(16)
    dialog.z_dim.setValue(3)
    dialog.decoder_width.setValue(4)


@pytest.fixture
def dialog(qtbot, toy_faces_path):
    d = GeneratorTrainDialog(toy_faces_path)
    qtbot.addWidget(d)
    d.show()
    yield d
    d.shutdown()


def test_the_form_suggests_an_output_and_refuses_what_cannot_run(dialog, tmp_path):
    assert Path(dialog.out.text()) == default_output(dialog.dataset.text())
    assert dialog.out.text().endswith("toy-faces-generator.pt")
    taken = Path(dialog.out.text())
    taken.parent.mkdir(parents=True, exist_ok=True)
    taken.write_bytes(b"a generator made earlier")
    assert default_output(dialog.dataset.text()).name == "toy-faces-generator-2.pt"  # the first free name
    assert not dialog.start() and "exists: tick Continue" in dialog.note.text()  # never replaced unasked
    assert taken.read_bytes() == b"a generator made earlier"
    dialog.dataset.setText(str(tmp_path / "other.h5"))
    assert dialog.out.text().endswith("other-generator.pt")  # follows the dataset until edited
    assert not dialog.start()
    assert "no dataset file" in dialog.note.text() and not dialog.runner.running
    dialog.dataset.setText("")
    assert not dialog.start() and "choose a dataset" in dialog.note.text()


def test_a_real_run_writes_a_generator_that_explore_can_open(qtbot, dialog, tmp_path):
    from relattr_studio.modeling.generator import load_generator_with_info

    out = tmp_path / "g.pt"
    _tiny(dialog, out, 3)
    assert dialog.start()
    assert not dialog.start_button.isEnabled() and not dialog.steps.isEnabled()
    with qtbot.waitSignal(dialog.runner.ended, timeout=120_000):
        pass
    assert "Written" in dialog.note.text() and out.is_file(), dialog.note.text()
    assert "step 3" in dialog.metrics.text() and "reconstruction MSE" in dialog.metrics.text()
    g, info = load_generator_with_info(out)
    assert info.step == 3 and g.z_dim == 3 and info.generator_id in dialog.note.text()
    command = info.card["command"]  # the CLI command that trains the same configuration
    assert command.startswith("relattr generator train --dataset ") and "--steps 3" in command
    assert "--width 4" in command and "--z-dim 3" in command and "--seed" not in command  # 0 is the default
    assert info.card["made_in"] == "the RelAttr Studio window" and info.card["threads"] >= 1
    assert "nan" not in dialog.metrics.text()  # the held-out figures are not a training step
    with qtbot.waitSignal(dialog.ready, timeout=1000) as ready:
        dialog.open_button.click()
    assert ready.args == [str(out)]


def test_cancel_keeps_a_resumable_file_and_resume_finishes_it(qtbot, dialog, tmp_path):
    from relattr_studio.modeling.generator import load_generator_with_info

    out = tmp_path / "g.pt"
    _tiny(dialog, out, 100_000)
    steps = []
    dialog.runner.progress.connect(lambda p: p.stage == "training" and p.done > 0 and steps.append(p.done))
    assert dialog.start()
    qtbot.waitUntil(lambda: len(steps) > 0, timeout=120_000)
    assert "left" in dialog.panel.bar.format()  # the time left once steps have been timed
    dialog.reject()  # closing the dialog (Escape) only hides it: the run goes on
    assert not dialog.isVisible() and dialog.runner.running
    dialog.show()
    with qtbot.waitSignal(dialog.runner.cancelled, timeout=60_000):
        dialog.panel.cancel_button.click()
    assert "Cancelled" in dialog.note.text() and dialog.resume.isChecked()
    _, info = load_generator_with_info(out)
    assert 0 < info.step < 100_000 and info.train_config["steps"] == 100_000
    dialog.steps.setValue(info.step + 2)
    assert dialog.start()
    with qtbot.waitSignal(dialog.runner.ended, timeout=120_000):
        pass
    assert "Written" in dialog.note.text(), dialog.note.text()
    assert load_generator_with_info(out)[1].step == info.step + 2


def test_resume_without_a_file_is_a_message(dialog, tmp_path):
    _tiny(dialog, tmp_path / "none.pt", 3)
    dialog.resume.setChecked(True)
    assert not dialog.start() and "nothing to resume" in dialog.note.text()


def test_explore_opens_the_dialog_on_the_session_dataset_and_loads_what_it_made(qtbot, session, tmp_path):
    from relattr_studio.gui.explore_view import ExploreView
    from relattr_studio.modeling.generator import AttributeGenerator, save_generator

    view = ExploreView(session, autoload=False)
    qtbot.addWidget(view)
    dialog = view.open_train_dialog()
    assert dialog.isVisible() and dialog.dataset.text() == str(session.dataset_path)
    assert view.open_train_dialog() is dialog  # one per view
    assert view.running_work() == []  # an idle dialog does not hold the window open
    path = save_generator(tmp_path / "made.pt", AttributeGenerator(["smiling", "young"], z_dim=2, width=4, hidden=8))
    dialog.result_path = str(path)
    dialog.open_button.setEnabled(True)
    dialog.open_button.click()
    qtbot.waitUntil(lambda: session.generator is not None, timeout=30_000)
    assert list(session.generator.attributes) == ["smiling", "young"]
    view.shutdown()


def test_the_dialog_checks_its_settings_without_importing_torch(tmp_path, toy_faces_path):
    """The settings are built on the GUI thread: importing torch there froze the window for seconds."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from relattr_studio.gui.generator_train import GeneratorTrainDialog
        d = GeneratorTrainDialog({str(toy_faces_path)!r})
        d.show(); app.processEvents()
        assert d.config().steps == 6000
        print("torch" in sys.modules)
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RELATTR_DATA_DIR": str(tmp_path),
           "RELATTR_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
