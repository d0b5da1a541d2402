"""The thumbnail grid, its filters, the pairs table, and the job runner."""

from __future__ import annotations

import time

import numpy as np
import pytest

from relattr_studio.core.errors import DataFileError
from relattr_studio.gui.dataset_view import DatasetView
from relattr_studio.gui.pairs_view import PairsView
from relattr_studio.gui.workers import JobRunner


@pytest.fixture
def dataset_view(qtbot, session):
    v = DatasetView(session)
    qtbot.addWidget(v)
    v.resize(1100, 700)
    v.show()
    yield v
    v.shutdown()


def test_grid_shows_all_images_and_loads_visible_thumbnails(qtbot, dataset_view, session):
    assert dataset_view.model.rowCount() == len(session.dataset) == 500
    qtbot.waitUntil(lambda: len(dataset_view.model._cache) > 20, timeout=5000)
    assert len(dataset_view.model._cache) < 500  # only what was painted


def test_strength_identity_and_sort_filters(qtbot, dataset_view, session):
    ds, v = session.dataset, dataset_view
    v.range_attribute.setCurrentIndex(v.range_attribute.findData(1))
    v.range_min.setValue(0.5)
    v.range_max.setValue(0.8)
    v.apply_filters()
    s = ds.strengths[:, 1]
    assert v.model.rowCount() == int(((s >= 0.5) & (s <= 0.8)).sum())
    v.identity.setCurrentIndex(v.identity.findData(3))
    v.apply_filters()
    expected = (s >= 0.5) & (s <= 0.8) & (ds.meta.identities == 3)
    assert v.model.rowCount() == int(expected.sum())
    v.reset_filters()
    v.sort_attribute.setCurrentIndex(v.sort_attribute.findData(2))
    v.apply_filters()
    order = v.model.order
    assert np.all(np.diff(ds.strengths[order, 2]) <= 0)
    assert "500 of 500" in v.count_label.text()
    shape = v.category_boxes["shape"]
    shape.setCurrentIndex(shape.findData(1))
    v.apply_filters()
    assert v.model.rowCount() == int((ds.meta.categorical["shape"].values == 1).sum())


def test_selecting_a_thumbnail_shows_details(qtbot, dataset_view, session):
    dataset_view.grid.setCurrentIndex(dataset_view.model.index(4))
    assert session.selected_image == 4
    assert dataset_view.details.title.text() == session.dataset.image_names[4]
    assert dataset_view.details.canvas.pixmap() is not None


def test_pairs_table_counts_and_filters(qtbot, tmp_path):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.preview_data import make_fake_dataset

    ds = DatasetFile(make_fake_dataset(tmp_path / "many.h5", n=300, n_pairs=300_000))
    s = Session()
    s.set_dataset(ds)
    v = PairsView(s)
    qtbot.addWidget(v)
    v.show()
    assert v.model.rowCount() == 300_000
    t0 = time.perf_counter()
    v.attribute.setCurrentIndex(v.attribute.findData(2))
    v.split.setCurrentIndex(v.split.findData(0))
    assert time.perf_counter() - t0 < 0.5
    t = ds.pairs()
    assert v.model.rowCount() == int(((t.attribute == 2) & (t.split == 0)).sum())
    v.table.selectRow(0)
    assert v.preview.left.pixmap() is not None
    v._on_double_click(v.model.index(0, 0))
    assert v.pair_dialog.isVisible()
    v.pair_dialog.close()
    v.shutdown()
    s.close()


def _counting_job(*, ctx, n=20, delay=0.0):
    for i in range(n):
        ctx.check()
        time.sleep(delay)
        ctx.report(i + 1, n, "counting")
    return n * 2


def _bad_job(*, ctx):
    raise DataFileError("/x/y.h5", "is broken", "make it again")


def test_job_runner_progress_and_result(qtbot):
    runner = JobRunner()
    progress = []
    runner.progress.connect(progress.append)
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start(_counting_job, n=5)
    assert blocker.args == [10]
    assert progress[-1].done == 5 and progress[-1].total == 5
    assert not runner.running


def test_job_runner_cancel(qtbot):
    runner = JobRunner()
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.start(_counting_job, n=1000, delay=0.01)
        runner.cancel()
    assert not runner.running


def test_job_runner_failure_is_a_message(qtbot):
    runner = JobRunner()
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(_bad_job)
    assert blocker.args[0] == "/x/y.h5: is broken (make it again)"


def test_thumbnails_are_ready_images_with_the_datasets_pixels(qtbot, dataset_view, session):
    from PySide6.QtGui import QImage

    from relattr_studio.gui.imaging import qimage_view, thumbnail_buffers

    ds = session.dataset
    qtbot.waitUntil(lambda: 0 in dataset_view.model._cache, timeout=5000)
    img = dataset_view.model.thumbnail(0)
    assert img.format() == QImage.Format.Format_RGB32 and img.width() == 64  # painted as is
    px = img.pixelColor(10, 20)
    assert (px.red(), px.green(), px.blue()) == tuple(int(v) for v in ds.image(0)[20, 10])
    wide = np.zeros((1, 40, 80, 3), np.uint8)  # other sizes are fitted, aspect kept
    wide[..., 0] = 200
    (buf,) = thumbnail_buffers(wide, 64)
    assert buf.shape == (32, 64) and qimage_view(buf).pixelColor(5, 5).red() == 200
