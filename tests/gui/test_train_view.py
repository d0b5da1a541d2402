"""Train view with a fake training job that emits the engine's documented events."""

from __future__ import annotations

import time

import pytest

from relattr_studio.core.jobs import Progress
from relattr_studio.training.events import CheckpointSaved, DeviceInfo, Finished, Metrics


def fake_train(*, ctx, config, resume_from=None, steps=40, delay=0.004):
    """What train_ranker emits, without torch: device, metrics, a checkpoint, the result."""
    ctx.emit(DeviceInfo(device="cpu", amp="off", weights_source="random initialisation"))
    for step in range(1, steps + 1):
        ctx.check()
        time.sleep(delay)
        ctx.report(step, steps, "training")
        values = {"loss": 0.7 / step, "train_acc": 0.5 + 0.4 * step / steps, "pairs_per_s": 1000.0}
        if step % 10 == 0:
            values["val_acc"] = 0.5 + 0.35 * step / steps
        ctx.emit(Metrics(step=step, epoch=step / 20, values=values, model="fake"))
    ctx.emit(CheckpointSaved(path="/tmp/fake.ckpt", step=steps))
    acc = {}
    for a in config.attributes:
        acc[a], acc[f"{a}/coarse"], acc[f"{a}/fine"] = 80.0, 90.0, 60.0
    done = Finished(model="fake", accuracy=acc, checkpoint="/tmp/fake.ckpt", steps=steps, seconds=0.2)
    ctx.emit(done)
    return done


@pytest.fixture
def view(qtbot, session):
    from relattr_studio.gui.train_view import TrainView

    v = TrainView(session, job=fake_train)
    qtbot.addWidget(v)
    v.resize(1200, 760)
    yield v
    v.shutdown()


def test_form_lists_registries_and_dataset_attributes(view, session):
    from relattr_studio.modeling.backbones import BACKBONES
    from relattr_studio.modeling.rankers import RANKERS

    rankers = [view.form.ranker.itemText(i) for i in range(view.form.ranker.count())]
    backbones = [view.form.backbone.itemText(i) for i in range(view.form.backbone.count())]
    assert rankers == RANKERS.names() and "ranknet" in rankers
    assert backbones == BACKBONES.names() and "small-cnn" in backbones
    assert view.form.checked_attributes() == list(session.dataset.attribute_names)


def test_fake_job_fills_curves_device_and_results(view, qtbot):
    view.form.set_checked(view.form.checked_attributes()[:2])
    assert view.start()
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    assert view.curves.points("loss") == 40 and view.curves.points("val_acc") == 4
    assert view.curves.drawn_points("loss") == 40  # flushed when the job ended
    assert view.curves.limiter.count < 40  # rate-limited: not one redraw per metric
    assert "cpu" in view.device_label.text()
    assert "random initialisation" in view.weights_label.text()
    header = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert header[1].startswith("test") and any("coarse" in h for h in header) and any("fine" in h for h in header)
    assert view.table.rowCount() == 3  # two attributes + mean
    assert view.table.item(0, 1).text() == "80.00"
    assert view.last_checkpoint == "/tmp/fake.ckpt"
    assert view.start_button.isEnabled() and not view.cancel_button.isEnabled()


def test_cancel_stops_the_job(view, qtbot):
    from relattr_studio.gui import train_view

    view.job = lambda **kw: fake_train(**kw, steps=10_000, delay=0.002)
    assert view.start()
    qtbot.waitUntil(lambda: view.curves.points("loss") > 3, timeout=5000)
    with qtbot.waitSignal(view.runner.cancelled, timeout=5000):
        view.cancel()
    assert "cancelled" in view.log.toPlainText()
    assert view.table.rowCount() == 0
    assert train_view.split_accuracy_key("bald/fine") == ("bald", "fine")


def test_redraws_at_most_20_per_second(view, qtbot):
    view.job = lambda **kw: fake_train(**kw, steps=300, delay=0.001)
    t0 = time.monotonic()
    view.start()
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    elapsed = time.monotonic() - t0
    assert view.curves.limiter.count <= 20 * elapsed + 2


@pytest.fixture(scope="module")
def toy300(tmp_path_factory):
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("toy300") / "toy-faces.h5", n=300, seed=0)


def test_real_engine_trains_a_tiny_ranknet_from_the_view(qtbot, toy300):
    pytest.importorskip("relattr_studio.training.job")
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.train_view import TrainView, make_config

    session = Session()
    session.set_dataset(DatasetFile(toy300))
    tiny = lambda **f: make_config(**{**f, "steps": 6, "backbone_options": {"width": 8}, "log_every": 1,
                                      "batch_size": 16})
    view = TrainView(session, config_factory=tiny)
    qtbot.addWidget(view)
    view.form.set_checked(["smiling"])
    view.form.device.setCurrentText("cpu")
    assert view.form.ranker.currentText() == "ranknet" and view.form.backbone.currentText() == "small-cnn"
    assert view.start()
    with qtbot.waitSignal(view.runner.ended, timeout=120_000):
        pass
    assert "cpu" in view.device_label.text()
    assert "random initialisation" in view.weights_label.text()
    assert view.curves.points("loss") >= 3
    assert view.table.rowCount() == 2 and view.table.item(0, 0).text() == "smiling"
    assert view.last_checkpoint and view.last_checkpoint.endswith(".ckpt")
    view.shutdown()
    session.close()


def test_main_window_builds_train_and_inspect_tabs_lazily(qtbot, session):
    from relattr_studio.gui.main_window import MainWindow
    from relattr_studio.gui.train_view import TrainView

    window = MainWindow(session)
    qtbot.addWidget(window)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Train" in titles and "Inspect" in titles
    assert not window.views["train"].built and not window.views["inspect"].built
    window.show()
    window.tabs.setCurrentIndex(titles.index("Train"))
    qtbot.waitUntil(lambda: window.views["train"].built, timeout=5000)
    assert isinstance(window.views["train"].view(), TrainView)
    window.close()


def test_the_train_view_builds_and_makes_a_config_without_importing_torch(tmp_path):
    """Importing torch on the GUI thread froze the window 4-8 s when the Train tab first showed."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from relattr_studio.core.session import Session
        from relattr_studio.gui.train_view import TrainView, make_config
        view = TrainView(Session())
        view.show(); app.processEvents()
        make_config(dataset="x.h5", ranker=view.form.ranker.currentText())
        assert view.form.ranker.count() >= 3 and view.form.backbone.count() >= 5
        print("torch" in sys.modules)
    """)
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "RELATTR_DATA_DIR": str(tmp_path),
           "RELATTR_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
