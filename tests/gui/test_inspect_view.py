"""Inspect view on a tiny RankNet checkpoint: sorted strip, histogram, pair saliency, scatter."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, toy_faces_path):
    pytest.importorskip("relattr_studio.training.checkpoint")
    import torch

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.rankers import RANKERS
    from relattr_studio.modeling.rankers import ranknet  # noqa: F401  (registers)
    from relattr_studio.training.checkpoint import save_checkpoint

    with DatasetFile(toy_faces_path) as ds:
        names = list(ds.attribute_names)
    torch.manual_seed(0)
    model = RANKERS.build("ranknet", attributes=names, backbone="small-cnn", backbone_options={"width": 8})
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", model)


@pytest.fixture
def view(qtbot, toy_faces_path):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.inspect_view import InspectView

    session = Session()
    session.set_dataset(DatasetFile(toy_faces_path))
    v = InspectView(session)
    qtbot.addWidget(v)
    v.resize(1300, 860)
    yield v
    v.shutdown()
    session.close()


def _load(view, qtbot, path):
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        assert view.load_checkpoint(path, device="cpu")
    assert view.analysis is not None, view.progress.format()


def test_strip_is_sorted_by_score_and_scatter_has_every_image(view, qtbot, tiny_checkpoint):
    _load(view, qtbot, tiny_checkpoint)
    n = len(view.session.dataset)
    scores = view.analysis.scores
    assert scores.shape == (n, len(view.session.dataset.attribute_names))
    for ai in (0, 2):
        view.attribute.setCurrentIndex(ai)
        shown = scores[view.thumbs.order, ai]
        assert view.thumbs.rowCount() == n and np.all(np.diff(shown) <= 0)
        assert view.thumbs.caption(int(view.thumbs.order[0])) == f"{shown[0]:.2f}"
    assert view.histogram.counts.sum() == n
    assert len(view.scatter.scatter.data) == n
    assert view.test_pairs.count() > 0


def test_picking_a_pair_shows_saliency(view, qtbot, tiny_checkpoint):
    _load(view, qtbot, tiny_checkpoint)
    first, last = int(view.thumbs.order[0]), int(view.thumbs.order[-1])
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view.pick(first)
        view.pick(last)
    panel = view.pair_panel
    assert panel.shown == (first, last)
    assert panel.canvas_a.pixmap() is not None and not panel.canvas_a.pixmap().isNull()
    assert panel.canvas_b.pixmap() is not None
    assert "P(i more" in panel.verdict.text() and "i shows it more" in panel.verdict.text()
    assert "score r_i" in panel.label_a.text()
    assert view.session.selected_image == last
    # a test pair from the dataset's list
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view._on_test_pair(0)
    assert panel.shown == view.test_pairs.itemData(0)


def test_scatter_click_picks_and_tsne_runs_on_a_worker(view, qtbot, tiny_checkpoint):
    _load(view, qtbot, tiny_checkpoint)
    view.scatter._on_pick(7)
    assert view.picked == [7]
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        assert view.compute_tsne()
    assert len(view.scatter.scatter.data) == len(view.session.dataset)
    assert "t-SNE" in view.scatter.plotItem.titleLabel.text


def test_a_bad_checkpoint_is_a_message(view, qtbot, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with qtbot.waitSignal(view.runner.ended, timeout=30_000):
        view.load_checkpoint(bad, device="cpu")
    assert view.analysis is None and "failed" in view.progress.format()
