"""The session as the window's workspace, seen from the views.

- Opening another dataset resets every view that shows one: importing PubFig once showed
  "0 of 1,621,940 pairs" (the old filters) beside a toy-faces pair (the old preview).
- A ranker just trained in the Train view is the session's, and the Inspect view loads it.
"""

from __future__ import annotations

import pytest

from relattr_studio.core.session import SessionEvents
from relattr_studio.training.events import Finished


def _open(window, qtbot, path) -> None:
    with qtbot.waitSignal(window.session.events.dataset, timeout=20_000):
        window.open_dataset(path)


def test_opening_another_dataset_resets_every_views_filters_and_previews(qtbot, tmp_path, toy_faces_path,
                                                                         fake_dataset_path, tiny_checkpoint):
    from relattr_studio.core.types import PairGroup, Split
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1300, 860)
    window.show()
    assert window.open_label_store(tmp_path / "labels.sqlite", quiet=True)
    _open(window, qtbot, toy_faces_path)
    a = window.session.dataset
    images, pairs, labeling = window.views["dataset"], window.views["pairs"], window.views["labeling"]
    train, inspect = window.views["train"].view(), window.views["inspect"].view()
    explore = window.views["explore"].view()
    # every event of the session has a listener once every view is built
    assert [name for name in SessionEvents.PAYLOADS if not len(getattr(window.session.events, name))] == []

    # dataset A, with a filter and a preview in every view
    window.tabs.setCurrentWidget(images)
    images.range_attribute.setCurrentIndex(2)
    images.range_min.setValue(0.6)
    images.descending.setChecked(False)
    images.apply_filters()
    images.grid.setCurrentIndex(images.model.index(0))
    assert images.details.image_index is not None and images.details.canvas.pixmap() is not None
    assert window.session.selected_image is not None
    assert images.model.rowCount() < len(a)

    window.tabs.setCurrentWidget(pairs)
    pairs.split.setCurrentIndex(pairs.split.findData(int(Split.TEST)))
    pairs.group.setCurrentIndex(pairs.group.findData(int(PairGroup.FINE)))
    pairs.table.selectRow(0)
    assert pairs.preview.left.pixmap() is not None
    pairs._on_double_click(pairs.model.index(0, 0))
    dialog = pairs.pair_dialog
    assert dialog.isVisible() and pairs.model.rowCount() < len(a.pairs())

    window.tabs.setCurrentWidget(window.views["inspect"])
    with qtbot.waitSignal(inspect.runner.ended, timeout=60_000):
        assert inspect.load_checkpoint(tiny_checkpoint, device="cpu")
    with qtbot.waitSignal(inspect.pair_runner.finished, timeout=30_000):
        inspect.pick(3)
        inspect.pick(7)
    assert inspect.pair_panel.shown == (3, 7) and inspect.test_pairs.count() > 0
    assert window.session.ranker.same_file(tiny_checkpoint)

    gen_dialog = explore.open_train_dialog()
    assert gen_dialog.dataset.text() == str(toy_faces_path)
    gen_dialog.hide()

    # dataset B: every view shows B's counts, its own filters at their defaults, no stale preview
    window.tabs.setCurrentWidget(images)
    _open(window, qtbot, fake_dataset_path)
    with DatasetFile(fake_dataset_path) as b:
        n_images, n_pairs, names = len(b), len(b.pairs()), list(b.attribute_names)
    assert window.session.selected_image is None and window.session.ranker.same_file(tiny_checkpoint)
    assert f"{n_images:,} images" in window.dataset_label.text() and f"{n_pairs:,} pairs" in window.dataset_label.text()

    assert images.count_label.text() == f"{n_images:,} of {n_images:,} images"
    assert images.model.rowCount() == n_images
    assert images.range_attribute.currentData() is None and images.sort_attribute.currentData() is None
    assert images.identity.currentData() is None and images.descending.isChecked()
    assert images.details.image_index is None and images.details.canvas.pixmap() is None
    assert [images.range_attribute.itemText(i) for i in range(1, images.range_attribute.count())] == names

    assert pairs.count_label.text() == f"{n_pairs:,} of {n_pairs:,} pairs"
    assert all(box.currentData() is None for box in pairs.filter_boxes)
    assert pairs.preview.left.pixmap() is None and pairs.preview.title.text() == "No pair selected"
    assert pairs.pair_dialog is None and not dialog.isVisible()

    assert inspect.analysis is None and inspect.thumbs.rowCount() == 0 and inspect.thumbs.scores is None
    assert inspect.pair_panel.shown is None and inspect.pair_panel.canvas_a.pixmap() is None
    assert inspect.test_pairs.count() == 0 and inspect.histogram.counts.size == 0
    assert len(inspect.scatter.scatter.data) == 0 and inspect.model_label.text() == "No model loaded"
    # the toy-faces ranker ranks none of B's attributes: offered, not scored
    assert inspect.offer.isVisibleTo(inspect) and "none of which" in inspect.offer_label.text()

    assert gen_dialog.dataset.text() == str(fake_dataset_path)
    assert f"{n_images:,} images" in train.dataset_label.text() and f"{n_pairs:,} pairs" in train.dataset_label.text()
    assert [labeling.attribute_box.itemText(i) for i in range(1, labeling.attribute_box.count())] == names

    # back to A: Inspect scores the session's ranker on it again, when it is shown
    _open(window, qtbot, toy_faces_path)
    assert not inspect.runner.running and inspect.analysis is None
    with qtbot.waitSignal(inspect.runner.ended, timeout=60_000):
        window.tabs.setCurrentWidget(window.views["inspect"])
    assert inspect.analysis is not None and inspect.analysis.scores.shape[0] == len(window.session.dataset)
    window.close()


def _finishing_job(checkpoint: str):
    def job(*, ctx, config, resume_from=None):
        acc = {a: 80.0 + i for i, a in enumerate(config.attributes)}
        done = Finished(model="tiny", accuracy=acc, checkpoint=checkpoint, steps=1, seconds=0.1)
        ctx.emit(done)
        return done

    return job


def test_a_ranker_just_trained_is_the_sessions_and_inspect_loads_it(qtbot, toy_faces_path, tiny_checkpoint):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.inspect_view import InspectView
    from relattr_studio.gui.train_view import TrainView

    session = Session()
    session.set_dataset(DatasetFile(toy_faces_path))
    train = TrainView(session, job=_finishing_job(str(tiny_checkpoint)))
    inspect = InspectView(session)
    for v in (train, inspect):
        qtbot.addWidget(v)
    train.form.set_checked(train.form.checked_attributes()[:2])
    with qtbot.waitSignal(train.runner.ended, timeout=10_000):
        assert train.start()
    ref = session.ranker
    assert ref is not None and ref.path == str(tiny_checkpoint) and ref.origin == "trained"
    assert ref.attributes == tuple(train.form.checked_attributes()) and ref.accuracy == pytest.approx(80.5)
    assert not inspect.runner.running  # hidden: nothing scored until the researcher looks
    with qtbot.waitSignal(inspect.runner.ended, timeout=60_000):
        inspect.show()
    assert inspect.analysis is not None and inspect.analysis.info.path == str(tiny_checkpoint)
    assert "ranknet" in inspect.model_label.text() and not inspect.offer.isVisible()
    assert session.ranker is ref  # what the run said of it (its accuracy) stays
    train.shutdown()
    inspect.shutdown()
    session.close()


def test_a_ranksvm_run_sets_no_ranker(qtbot, toy_faces_path):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.train_view import TrainView

    def ranksvm(*, ctx, dataset, ranker, attributes=(), seeds=(0,), out_dir=None, **settings):
        from relattr_studio.training.results import ResultRow

        return [ResultRow(ranker, "gist+lab", a, 0, 75.0, "test") for a in attributes]

    session = Session()
    session.set_dataset(DatasetFile(toy_faces_path))
    train = TrainView(session, job=_finishing_job("/tmp/never.ckpt"), ranksvm_job=ranksvm)
    qtbot.addWidget(train)
    train.last_checkpoint = "/runs/earlier-run.ckpt"  # a previous neural run's
    train.form.ranker.setCurrentText("ranksvm")
    with qtbot.waitSignal(train.runner.ended, timeout=10_000):
        assert train.start()
    assert train.table.rowCount() > 1  # the run finished
    assert session.ranker is None  # no checkpoint Inspect could load, and not the earlier run's
    train.shutdown()
    session.close()
