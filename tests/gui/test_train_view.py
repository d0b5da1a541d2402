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
    from relattr_studio.modeling.catalog import RANKSVM_RANKERS
    from relattr_studio.modeling.rankers import RANKERS

    rankers = [view.form.ranker.itemText(i) for i in range(view.form.ranker.count())]
    backbones = [view.form.backbone.itemText(i) for i in range(view.form.backbone.count())]
    assert rankers == RANKERS.names() and "ranknet" in rankers and rankers[-2:] == list(RANKSVM_RANKERS)
    assert RANKSVM_RANKERS == ("ranksvm", "ranksvm-ll")  # the names the CLI and results.csv use
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
    assert view.running_work() == []
    assert view.start()
    qtbot.waitUntil(lambda: view.curves.points("loss") > 3, timeout=5000)
    assert view.running_work() and "training run" in view.running_work()[0]  # the window asks before quitting
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
        view.form.ranker.setCurrentText("ranksvm-ll"); app.processEvents()
        view.form.ranksvm_kwargs()
        assert view.form.ranker.count() >= 3 and view.form.backbone.count() >= 5
        print("torch" in sys.modules)
    """)
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "RELATTR_DATA_DIR": str(tmp_path),
           "RELATTR_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


# -- RankSVM ---------------------------------------------------------------------------------


def _row_shown(form, widget) -> bool:
    """A form row is shown when neither its field nor its label is hidden."""
    from PySide6.QtWidgets import QFormLayout

    layout = widget.parentWidget().layout()
    label = layout.labelForField(widget) if isinstance(layout, QFormLayout) else None
    return not widget.isHidden() and (label is None or not label.isHidden())


def test_choosing_ranksvm_shows_only_its_settings_and_switching_back_restores_them(view):
    form = view.form
    neural = [form.backbone, form.weights, form.epochs, form.batch_size, form.optimizer, form.lr,
              form.backbone_lr_scale, form.batching, form.max_pairs,
              form.max_test_pairs, form.schedule, form.val_fraction, form.augment, form.augment_zoom,
              form.augment_color, form.test_flip, form.ema, form.device]
    svm = [form.features, form.seeds, form.svm_c]
    local = [form.k, form.test_sample]
    form.lr.setValue(0.0005)
    assert all(_row_shown(form, w) for w in neural) and not any(_row_shown(form, w) for w in svm + local)
    assert view.resume_button.isEnabled()

    form.ranker.setCurrentText("ranksvm")
    assert not any(_row_shown(form, w) for w in neural + local)
    assert all(_row_shown(form, w) for w in [*svm, form.seed, form.attributes])
    assert view.resume_button.isEnabled()  # a RankSVM run resumes from its state file

    form.ranker.setCurrentText("ranksvm-ll")
    assert all(_row_shown(form, w) for w in svm + local) and not any(_row_shown(form, w) for w in neural)
    form.seed.setValue(3)
    form.seeds.setValue(2)
    form.k.setValue(40)
    form.test_sample.setValue(250)
    form.svm_c.setText("0.01")
    first = form.checked_attributes()[0]
    form.set_checked([first])
    assert form.ranksvm_kwargs() == dict(ranker="ranksvm-ll", attributes=(first,), seeds=(3, 4), c=0.01, k=40,
                                         test_sample=250)
    form.svm_c.setText("-1")
    assert not view.start() and "C must be a positive number" in view.log.toPlainText()
    assert not view.runner.running

    form.ranker.setCurrentText("ranknet")
    assert all(_row_shown(form, w) for w in neural) and not any(_row_shown(form, w) for w in svm + local)
    assert form.lr.value() == 0.0005 and view.resume_button.isEnabled()


def test_a_pairwise_ranker_gets_caps_on_its_pairs_suggested_and_the_config_carries_them(view):
    from relattr_studio.gui.train_form import PAIRWISE_MAX_PAIRS, PAIRWISE_MAX_TEST_PAIRS

    form = view.form
    assert form.config_kwargs()["max_pairs"] is None and form.config_kwargs()["max_test_pairs"] is None
    assert form.max_pairs.text() == "all"
    form.ranker.setCurrentText("dacrl")
    assert (form.max_pairs.value(), form.max_test_pairs.value()) == (PAIRWISE_MAX_PAIRS, PAIRWISE_MAX_TEST_PAIRS)
    form.max_pairs.setValue(8)
    kwargs = form.config_kwargs()
    assert kwargs["max_pairs"] == 8 and kwargs["max_test_pairs"] == PAIRWISE_MAX_TEST_PAIRS
    config = view.config_factory(dataset="d.h5", out_dir="o", **kwargs)
    assert (config.max_pairs, config.max_test_pairs) == (8, PAIRWISE_MAX_TEST_PAIRS)
    form.ranker.setCurrentText("ranksvm")  # not a pairwise ranker, but its settings hide these: keep them
    form.ranker.setCurrentText("dacrl")
    assert form.max_pairs.value() == 8
    form.ranker.setCurrentText("ranknet")
    assert form.config_kwargs()["max_pairs"] is None and form.config_kwargs()["max_test_pairs"] is None


def test_schedule_validation_share_augmentation_test_flip_and_weight_average_reach_the_config(view):
    from relattr_studio.gui.train_form import SMALL_CNN_RUN

    form = view.form
    kwargs = form.config_kwargs()
    run = SMALL_CNN_RUN  # the small CNN's first run (the default backbone)
    assert (kwargs["schedule"], kwargs["val_fraction"], kwargs["augment"], kwargs["test_flip"], kwargs["ema"]) == \
        (run["schedule"], 0.1, run["augment"], run["test_flip"], run["ema"])
    form.augment.setChecked(False)
    form.ema.setValue(0.0)
    assert form.config_kwargs()["ema"] == 0.0 and form.ema.text() == "off"
    assert not form.augment_zoom.isEnabled() and form.augment_zoom.text() == "off"
    form.augment_zoom.setValue(0.15)  # kept aside while augmentation is off
    assert form.config_kwargs()["augment_zoom"] == 0.0
    form.augment.setChecked(True)
    assert form.augment_zoom.isEnabled() and form.augment_color.isEnabled()
    form.augment_color.setValue(0.2)
    form.schedule.setCurrentText("cosine")
    form.val_fraction.setValue(0.0)
    form.test_flip.setChecked(True)
    form.ema.setValue(0.98)
    config = view.config_factory(dataset="d.h5", out_dir="o", **form.config_kwargs())
    assert (config.schedule, config.val_fraction, config.augment, config.augment_zoom, config.augment_color,
            config.test_flip, config.ema) == ("cosine", 0.0, True, 0.15, 0.2, True, 0.98)


def fake_ranksvm(*, ctx, dataset, ranker, attributes=(), seeds=(0,), out_dir=None, **settings):
    """What run_ranksvm emits, without the solve: progress per attribute and seed, ResultRows."""
    from relattr_studio.training.results import ResultRow

    rows, total, step = [], len(seeds) * len(attributes), 0
    for seed in seeds:
        for attr in attributes:
            ctx.check()
            ctx.report(step, total, ranker, f"seed {seed}: {attr}")
            for split, acc in (("test", 70.0 + 10 * seed), ("test/fine", 60.0)):
                rows.append(ResultRow(ranker, "gist+lab", attr, seed, acc, split))
                ctx.emit(rows[-1])
            step += 1
    ctx.report(total, total, ranker)
    return rows


def test_ranksvm_results_fill_the_table_with_the_mean_over_seeds(qtbot, session):
    from relattr_studio.gui.train_view import TrainView

    view = TrainView(session, job=fake_train, ranksvm_job=fake_ranksvm)
    qtbot.addWidget(view)
    view.form.ranker.setCurrentText("ranksvm")
    view.form.set_checked(view.form.checked_attributes()[:2])
    view.form.seeds.setValue(2)
    assert view.start()
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    header = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert header == ["attribute", "test accuracy (%, mean of 2 seeds)", "fine accuracy (%, mean of 2 seeds)"]
    assert view.table.rowCount() == 3
    assert [view.table.item(r, 1).text() for r in range(3)] == ["75.00", "75.00", "75.00"]  # seeds 0, 1: 70, 80
    assert view.table.item(2, 0).text() == "mean over attributes" and view.table.item(0, 2).text() == "60.00"
    assert view.curves.points("loss") == 0 and "no curves" in view.log.toPlainText()
    assert view.progress.value() == 1000
    view.shutdown()


@pytest.fixture(scope="module")
def toy120(tmp_path_factory):
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("toy120") / "toy-faces.h5", n=120, seed=0)


@pytest.fixture
def toy120_view(qtbot, toy120):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.train_view import TrainView

    session = Session()
    session.set_dataset(DatasetFile(toy120))
    view = TrainView(session)  # the real runner: run_ranksvm in a spawned process
    qtbot.addWidget(view)
    yield view
    view.shutdown()
    session.close()


def test_real_ranksvm_run_from_the_view_fills_the_results_table(qtbot, toy120_view):
    view = toy120_view
    assert view.runner.in_process
    view.form.ranker.setCurrentText("ranksvm")
    view.form.set_checked(["bald", "dark_hair", "young"])
    progress = []
    view.runner.progress.connect(progress.append)
    assert view.start()
    with qtbot.waitSignal(view.runner.finished, timeout=60_000):
        pass
    assert [view.table.item(r, 0).text() for r in range(4)] == ["bald", "dark_hair", "young", "mean over attributes"]
    header = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert header == ["attribute", "test accuracy (%)", "coarse accuracy (%)", "fine accuracy (%)"]
    mean = float(view.table.item(3, 1).text())
    assert mean > 65, mean  # chance is 50; measured 89.4 (bald 95, dark_hair 83, young 90)
    assert {p.stage for p in progress} >= {"features", "ranksvm"}
    assert view.progress.value() == 1000
    assert (view._ranksvm_out / "results.csv").is_file() and (view._ranksvm_out / "ranksvm-seed0.ckpt").is_file()
    assert view.start_button.isEnabled() and not view.cancel_button.isEnabled()


def test_cancelling_a_real_local_ranksvm_run_stops_it_promptly(qtbot, toy120_view):
    view = toy120_view
    view.form.ranker.setCurrentText("ranksvm-ll")
    view.form.seeds.setValue(20)  # 8 attributes x 20 seeds: over a minute if it were not cancelled
    view.form.test_sample.setValue(100_000)
    view.form.k.setValue(20)
    assert view.start()
    qtbot.waitUntil(lambda: view.table.rowCount() > 0, timeout=60_000)  # one attribute done
    t0 = time.monotonic()
    with qtbot.waitSignal(view.runner.cancelled, timeout=10_000):
        view.cancel()
    took = time.monotonic() - t0
    assert took < 3.0, took
    assert "cancelled" in view.log.toPlainText()
    measured = view.table.rowCount()
    assert 0 < measured < 9  # the attributes measured before the cancel stay
    assert view.start_button.isEnabled() and view.resume_button.isEnabled()
    assert view.runner.wait(10.0)  # the child process exits

    # Resume from the run's state file: its settings and folder; the rows measured come back first
    state = view._ranksvm_out / "ranksvm-ll.state.ckpt"
    assert state.is_file()
    assert view.start(resume_from=state)
    assert f"resuming the RankSVM run of {state.parent}" in view.log.toPlainText()
    qtbot.waitUntil(lambda: view.table.rowCount() >= measured, timeout=60_000)
    with qtbot.waitSignal(view.runner.ended, timeout=30_000):
        view.cancel()
    assert view._ranksvm_out == state.parent


# -- what the screenshots showed wrong --------------------------------------------------------


def test_scoring_for_a_validation_keeps_the_bar_on_the_runs_steps(view):
    """A validation's "scoring: 134 / 134" filled the bar mid-run, as if training had ended."""
    view._clear_run(ranksvm=False)
    view._on_progress(Progress(63, 134, "training ranknet-small-cnn-smiling-seed0", "loss 0.41"))
    assert view.progress.value() == int(1000 * 63 / 134)
    view._on_progress(Progress(134, 134, "scoring"))
    assert view.progress.value() == int(1000 * 63 / 134)
    text = view.progress.format()
    assert text.startswith("training ranknet-small-cnn-smiling-seed0: 63 / 134") and "scoring 134 / 134" in text
    view._on_progress(Progress(64, 134, "training ranknet-small-cnn-smiling-seed0"))
    assert view.progress.format() == "training ranknet-small-cnn-smiling-seed0: 64 / 134"
    # a job with no training stage (RankSVM) shows its own stages as they come
    view._clear_run(ranksvm=True)
    view._on_progress(Progress(3, 5, "features"))
    assert view.progress.format() == "features: 3 / 5" and view.progress.value() == 600


def test_ranksvm_shows_no_empty_curves_and_says_why(view, qtbot):
    view.show()
    assert view.curves.isVisible() and not view.no_curves_note.isVisible()
    view.form.ranker.setCurrentText("ranksvm")
    assert not view.curves.isVisible() and view.no_curves_note.isVisible()
    assert "no loss or accuracy curves" in view.no_curves_note.text()
    view.form.ranker.setCurrentText("ranknet")
    assert view.curves.isVisible() and not view.no_curves_note.isVisible()
    # a neural run keeps its curves even if the ranker is changed while it runs
    view.job = lambda **kw: fake_train(**kw, steps=10_000, delay=0.002)
    assert view.start()
    view.form.ranker.setCurrentText("ranksvm-ll")
    assert view.curves.isVisible()
    with qtbot.waitSignal(view.runner.ended, timeout=5000):
        view.cancel()
    assert not view.curves.isVisible()  # idle again: the chosen ranker decides


def test_the_log_shows_during_a_run_and_the_results_after_it(view, qtbot):
    view.form.set_checked(view.form.checked_attributes()[:2])
    view.bottom_tabs.setCurrentWidget(view.table)
    assert view.start()
    assert view.bottom_tabs.currentWidget() is view.log  # not an empty results table
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    assert view.bottom_tabs.currentWidget() is view.table
    assert not view.table.verticalHeader().isVisible() or view.table.verticalHeader().isHidden()
    mean = view.table.item(view.table.rowCount() - 1, 0)
    assert mean.text() == "mean over attributes" and mean.font().bold()
    assert not view.table.item(0, 0).font().bold()


@pytest.mark.parametrize("ranker", ["ranknet", "ranksvm", "ranksvm-ll"])
def test_the_form_fits_its_column_without_a_horizontal_scrollbar(qtbot, session, ranker):
    """The form was wider than its column: a horizontal scrollbar and clipped fields."""
    from relattr_studio.gui.main_window import MainWindow

    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1360, 860)
    window.show()
    window.tabs.setCurrentIndex([window.tabs.tabText(i) for i in range(window.tabs.count())].index("Train"))
    view = window.views["train"].view()
    view.form.ranker.setCurrentText(ranker)
    qtbot.waitUntil(lambda: view.form_scroll.viewport().width() > 0, timeout=2000)
    qtbot.wait(50)
    scroll = view.form_scroll
    assert not scroll.horizontalScrollBar().isVisible()
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    assert scroll.widget().width() <= scroll.viewport().width()
    for field in (view.form.ranker, view.form.seed, view.form.device, view.start_button, view.cancel_button):
        if field.isVisible():  # every visible field ends inside the viewport: nothing clipped
            right = field.mapTo(scroll.viewport(), field.rect().topRight()).x()
            assert right <= scroll.viewport().width(), (field, right)
    window.close()


def test_a_new_run_does_not_show_the_previous_runs_speed(qtbot, session):
    from relattr_studio.gui.train_view import TrainView

    view = TrainView(session, job=fake_train, ranksvm_job=fake_ranksvm)
    qtbot.addWidget(view)
    assert view.start()
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    assert "pairs/s" in view.speed_label.text()
    view.form.ranker.setCurrentText("ranksvm")
    assert view.start()
    assert view.speed_label.text() == ""  # RankSVM has no pairs/s: "CPU (NumPy) · 1,000 pairs/s" misled
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    assert view.speed_label.text() == ""
    view.shutdown()


def test_the_backbone_suggests_its_preset_and_the_optimiser_settings_reach_the_config(view):
    form = view.form
    form.backbone.setCurrentText("small-cnn")
    kwargs = form.config_kwargs()
    assert (kwargs["optimizer"], kwargs["lr"], kwargs["backbone_lr_scale"]) == ("adam", 1e-3, 1.0)
    form.backbone.setCurrentText("efficientnet-lite0")
    kwargs = form.config_kwargs()
    assert (kwargs["optimizer"], kwargs["lr"], kwargs["backbone_lr_scale"]) == ("rmsprop", 1e-4, 0.1)
    form.optimizer.setCurrentText("adam")  # the README's PubFig recipe
    form.lr.setValue(1e-3)
    form.backbone_lr_scale.setValue(0.3)
    config = view.config_factory(dataset="d.h5", out_dir="o", **form.config_kwargs())
    assert (config.optimizer, config.lr, config.backbone_lr_scale) == ("adam", 1e-3, 0.3)


def test_a_run_that_ends_near_chance_says_so_in_the_log_with_what_to_change(qtbot, session):
    from relattr_studio.gui.train_view import TrainView
    from relattr_studio.training.job import TrainResult

    def chance_job(*, ctx, config, resume_from=None):  # the paper's RMSProp rate on a small CNN from scratch
        ran = config.replace(optimizer="rmsprop", lr=1e-4, steps=300)
        return TrainResult("fake", ran, {"test": {a: 50.0 + (-1) ** k for k, a in enumerate(config.attributes)}},
                           None, 300, 1.0, "cpu")

    view = TrainView(session, job=fake_train)
    qtbot.addWidget(view)
    view.form.set_checked(view.form.checked_attributes()[:2])
    assert view.start()  # fake_train ends at 80 %: nothing to say
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    assert "Warning" not in view.log.toPlainText() and view.bottom_tabs.currentWidget() is view.table
    view.job = chance_job
    assert view.start()
    with qtbot.waitSignal(view.runner.ended, timeout=10_000):
        pass
    last = view.log.toPlainText().splitlines()[-1]
    assert "mean test accuracy 50.0 % is near chance" in last and "the scratch preset (Adam, lr 1e-3)" in last
    assert "300 steps" in last and view.bottom_tabs.currentWidget() is view.log
    view.shutdown()


def test_the_small_cnn_suggests_its_first_run_and_an_imagenet_net_its_own_settings(view):
    """The default backbone's settings are the first training that learns on the default
    dataset (README, "Rankers"); an ImageNet net gets its input size and the earlier length."""
    from relattr_studio.gui.train_form import IMAGENET_RUN, SMALL_CNN_RUN

    form = view.form
    assert form.backbone.currentText() == "small-cnn" and _row_shown(form, form.width)
    config = view.config_factory(dataset="d.h5", out_dir="o", **form.config_kwargs())
    run = SMALL_CNN_RUN
    assert config.backbone_options == {"image_size": run["image_size"], "width": run["width"],
                                       "stem_stride": run["stem_stride"]}
    assert (config.epochs, config.batch_size, config.schedule, config.augment, config.ema, config.test_flip) == \
        (run["epochs"], run["batch_size"], run["schedule"], run["augment"], run["ema"], run["test_flip"])
    assert (config.optimizer, config.lr, config.weights) == ("adam", 1e-3, None)
    form.backbone.setCurrentText("efficientnet-lite0")
    assert not _row_shown(form, form.width) and not _row_shown(form, form.stem_stride)
    assert _row_shown(form, form.image_size)
    config = view.config_factory(dataset="d.h5", out_dir="o", **form.config_kwargs())
    run = IMAGENET_RUN
    assert config.backbone_options == {"image_size": run["image_size"]}
    assert (config.epochs, config.batch_size, config.augment, config.ema, config.test_flip) == \
        (run["epochs"], run["batch_size"], run["augment"], run["ema"], run["test_flip"])
    form.ranker.setCurrentText("ranksvm")
    assert not _row_shown(form, form.image_size) and not _row_shown(form, form.width)
    form.ranker.setCurrentText("ranknet")
    form.backbone.setCurrentText("small-cnn")
    assert _row_shown(form, form.width) and form.config_kwargs()["backbone_options"]["width"] == SMALL_CNN_RUN["width"]
    form.stem_stride.setChecked(False)  # a plain first convolution: the option is left out (files stay as before)
    assert "stem_stride" not in form.config_kwargs()["backbone_options"]
