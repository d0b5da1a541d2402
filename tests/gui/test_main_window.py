"""The main window: default dataset, first run, bad files, export."""

from __future__ import annotations

import subprocess
import sys

import pytest

from relattr_studio.core.paths import default_dataset_path


@pytest.fixture
def captured_errors(monkeypatch):
    from relattr_studio.gui import dialogs

    shown = []
    monkeypatch.setattr(dialogs.QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append((title, text)))
    return shown


def make_window(qtbot, **kwargs):
    from relattr_studio.gui.main_window import MainWindow

    w = MainWindow(**kwargs)
    qtbot.addWidget(w)
    w.show()
    return w


def test_window_opens_default_dataset(qtbot, installed_toy_faces):
    w = make_window(qtbot)
    w.start()
    qtbot.waitUntil(lambda: w.session.dataset is not None, timeout=10_000)
    assert w.session.dataset.path == installed_toy_faces
    assert "120 images" in w.dataset_label.text()
    assert w.session.label_store is not None
    assert w.views["dataset"].model.rowCount() == 120


def test_first_run_makes_the_default_dataset_with_progress(qtbot):
    assert not default_dataset_path().exists()
    w = make_window(qtbot, toy_faces_n=40)
    progress = []
    w.runner.progress.connect(progress.append)
    w.start()
    assert w.progress_dialog is not None and w.progress_dialog.isVisible()
    qtbot.waitUntil(lambda: w.session.dataset is not None, timeout=60_000)
    assert default_dataset_path().exists()
    assert len(w.session.dataset) == 40
    assert progress, "the making job reported no progress"
    assert w.progress_dialog is None


def test_first_run_can_be_cancelled(qtbot):
    w = make_window(qtbot, toy_faces_n=3000)
    with qtbot.waitSignal(w.runner.cancelled, timeout=30_000):
        w.start()
        w.progress_dialog.reject()  # Escape / close = cancel
    assert not default_dataset_path().exists()
    assert w.session.dataset is None


def test_bad_file_gives_a_message_not_a_traceback(qtbot, tmp_path, captured_errors):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"this is not HDF5" * 10)
    w = make_window(qtbot)
    with qtbot.waitSignal(w.runner.ended, timeout=10_000):
        w.open_dataset(bad)
    assert len(captured_errors) == 1
    title, text = captured_errors[0]
    assert "broken.h5" in text and "not an HDF5 file" in text
    assert "Traceback" not in text
    assert w.session.dataset is None


def test_export_labels_csv(qtbot, installed_toy_faces, tmp_path):
    w = make_window(qtbot)
    w.start()
    qtbot.waitUntil(lambda: w.session.dataset is not None, timeout=10_000)
    view = w.views["labeling"]
    for _ in range(3):
        assert view.judge("left-more")
    n = w.export_labels(tmp_path / "out.csv")
    assert n == 3
    assert (tmp_path / "out.csv").read_text().count("\n") >= 4


def test_session_model_imports_no_qt():
    code = ("import sys, relattr_studio.core.session, relattr_studio.data.labeling_sources; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_file_import_dialog_imports_a_folder_and_opens_it(qtbot, tmp_path):
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from relattr_studio.data.importers import IMPORTER_LAYOUT
    from relattr_studio.gui.dialogs import ImportDialog

    assert "pairs.csv" in IMPORTER_LAYOUT["folder"]
    src = tmp_path / "shots"
    (src / "sub").mkdir(parents=True)
    names = ["a.png", "b.png", "sub/c.png", "d.png"]
    for k, name in enumerate(names):
        Image.fromarray(np.full((32, 32, 3), 40 * k, np.uint8)).save(src / name)
    (src / "pairs.csv").write_text("image_a,image_b,attribute,label,split\n"
                                   "a.png,b.png,bright,b,train\nsub/c.png,d.png,bright,b,train\n"
                                   "a.png,d.png,bright,equal,test\n")
    out = tmp_path / "imported.h5"
    w = make_window(qtbot)
    seen = []

    def drive():
        dialog = QApplication.activeModalWidget()
        seen.append(type(dialog))
        dialog.kind.setCurrentIndex(dialog.kind.findData("folder"))
        assert "pairs.csv" in dialog.description.text()
        dialog.source.setText(str(src))
        dialog.out.setText(str(out))
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, drive)
    file_menu = w.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text() == "&Import dataset…").trigger()  # returns after exec()
    assert seen == [ImportDialog]
    qtbot.waitUntil(lambda: w.session.dataset is not None, timeout=20_000)
    ds = w.session.dataset
    assert ds.path == out and len(ds) == 4 and ds.attribute_names == ["bright"]
    assert len(ds.pairs()) == 3 and "4 images" in w.dataset_label.text()
    assert w.views["dataset"].model.rowCount() == 4


def test_a_session_with_a_dataset_open_shows_it_in_the_status_bar(qtbot, session):
    """The screenshots' window was given an open session and said "No dataset"."""
    from relattr_studio.gui.main_window import MainWindow

    w = MainWindow(session)
    qtbot.addWidget(w)
    ds = session.dataset
    assert "No dataset" not in w.dataset_label.text()
    assert ds.name in w.dataset_label.text() and f"{len(ds):,} images" in w.dataset_label.text()
    assert ds.name in w.windowTitle()
    assert "labels.sqlite" in w.store_label.text()
    session.set_dataset(None)
    assert w.dataset_label.text() == "No dataset"


def test_closing_while_work_runs_asks_first_and_no_keeps_the_window(qtbot, installed_toy_faces, monkeypatch):
    w = make_window(qtbot)
    asked = []
    answer = {"quit": False}
    monkeypatch.setattr(w, "confirm_quit", lambda work: asked.append(list(work)) or answer["quit"])
    assert w.running_work() == []  # never-built tabs run nothing
    assert w.close() and asked == []  # nothing running: no question
    w.show()
    monkeypatch.setattr(w.views["train"], "running_work", lambda: ["a training run"])
    assert not w.close() and w.isVisible()
    assert asked == [["a training run"]]
    answer["quit"] = True
    assert w.close() and not w.isVisible()
