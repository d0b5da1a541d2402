"""Inspect view on a tiny RankNet checkpoint: sorted strip, histogram, pair saliency, scatter."""

from __future__ import annotations

import numpy as np
import pytest


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


# -- what the screenshots showed wrong --------------------------------------------------------


def _tiny(tmp_path_factory, toy_faces_path, ranker):
    pytest.importorskip("relattr_studio.training.checkpoint")
    import torch

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.rankers import RANKERS
    from relattr_studio.training.checkpoint import save_checkpoint

    with DatasetFile(toy_faces_path) as ds:
        names = list(ds.attribute_names)
    torch.manual_seed(0)
    model = RANKERS.build(ranker, attributes=names, backbone="small-cnn", backbone_options={"width": 8})
    return save_checkpoint(tmp_path_factory.mktemp(ranker) / f"tiny-{ranker}.ckpt", model)


@pytest.fixture(scope="module")
def tiny_deepstn(tmp_path_factory, toy_faces_path):
    return _tiny(tmp_path_factory, toy_faces_path, "deepstn")


@pytest.fixture(scope="module")
def tiny_dacrl(tmp_path_factory, toy_faces_path):
    return _tiny(tmp_path_factory, toy_faces_path, "dacrl")


def test_no_done_button_when_idle(view, qtbot, tiny_checkpoint):
    """A full progress bar reading "done" beside Cancel looked like a button."""
    view.show()
    assert not view.progress.isVisible() and not view.cancel_button.isVisible()
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        assert view.load_checkpoint(tiny_checkpoint, device="cpu")
        assert view.progress.isVisible() and view.cancel_button.isVisible()
    assert not view.progress.isVisible() and not view.cancel_button.isVisible()


def test_a_failed_load_keeps_the_model_shown_and_says_so(view, qtbot, tiny_checkpoint, tmp_path):
    """A failed load said "Could not load the model" over the previous model's strip and pair."""
    _load(view, qtbot, tiny_checkpoint)
    shown = view.analysis
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with qtbot.waitSignal(view.runner.ended, timeout=30_000):
        view.load_checkpoint(bad, device="cpu")
    assert view.analysis is shown
    text = view.model_label.text()
    assert "Could not load bad.ckpt" in text and "still showing" in text and "tiny.ckpt" in text
    assert "bad.ckpt" in view.model_label.toolTip()
    assert view.session.ranker.path == str(tiny_checkpoint)  # a new dataset reloads the model shown, not the bad file


def test_a_new_model_clears_the_previous_models_pair(view, qtbot, tiny_checkpoint, tiny_deepstn):
    _load(view, qtbot, tiny_checkpoint)
    first, last = int(view.thumbs.order[0]), int(view.thumbs.order[-1])
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view.pick(first)
        view.pick(last)
    assert view.pair_panel.shown == (first, last)
    _load(view, qtbot, tiny_deepstn)
    assert view.pair_panel.shown is None and view.picked == []
    assert view.pair_panel.verdict.text() == "" and view.pair_panel.canvas_a.pixmap() is None


def test_changing_the_attribute_judges_the_pair_again(view, qtbot, tiny_checkpoint):
    _load(view, qtbot, tiny_checkpoint)
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view.pick(3)
        view.pick(7)
    name = view.attribute.itemText(2)
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view.attribute.setCurrentIndex(2)
    qtbot.waitUntil(lambda: f"P(i more {name} than j)" in view.pair_panel.verdict.text(), timeout=5000)
    assert view.pair_panel.shown == (3, 7)


def test_deepstn_loads_with_crop_boxes_and_says_it_has_no_embedding(view, qtbot, tiny_deepstn):
    """extract_features has no features for DeepSTN: the whole load failed with a ValueError."""
    view.show()
    _load(view, qtbot, tiny_deepstn)
    assert view.analysis.features is None
    assert not view.scatter.isVisible() and not view.tsne_button.isVisible()
    assert "No embedding" in view.embedding_label.text()
    assert not view.compute_tsne()
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000) as done:
        view.pick(int(view.thumbs.order[0]))
        view.pick(int(view.thumbs.order[-1]))
    result = done.args[0]
    assert result.box_a is not None and result.box_b is not None and result.box_a.shape == (4,)
    assert view.pair_panel.shown == (result.a, result.b)


def test_dacrl_scores_against_references_with_progress_and_draws_its_attention(view, qtbot, tiny_dacrl):
    """DACRL's scores compared every image with every other (N^2: minutes for 300 images) with
    no progress and no cancel; the attention bars' outlines made one black block."""
    import pyqtgraph as pg

    from relattr_studio.analysis import inspect_jobs

    stages = []
    view.runner.progress.connect(lambda p: stages.append(p.stage))
    view.show()
    _load(view, qtbot, tiny_dacrl)
    assert "scoring pairs" in stages
    note = view.analysis.score_note
    assert f"{inspect_jobs.PAIRWISE_REFERENCES} reference images" in note
    assert view.histogram.getAxis("bottom").labelText == note
    assert not view.histogram.getAxis("bottom").autoSIPrefix
    scores = view.analysis.scores
    assert scores.min() >= 0 and scores.max() <= 1
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view.pick(int(view.thumbs.order[0]))
        view.pick(int(view.thumbs.order[-1]))
    panel = view.pair_panel
    assert panel.attention.isVisible() and panel.attention_maps.isVisible()
    bars = [i for i in panel.attention.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert bars and all(b.opts["pen"] is None for b in bars)
    assert panel.label_a.text().startswith("i = #") and panel.label_b.text().startswith("j = #")


def test_reference_scores_are_the_borda_count_when_every_image_is_a_reference(toy_faces_path):
    pytest.importorskip("relattr_studio.training.checkpoint")
    import numpy as np
    import torch

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.rankers import RANKERS
    from relattr_studio.training.dataset_scores import embed_dataset, reference_count, score_dataset

    class First:
        def __init__(self, ds, n):
            self.ds, self.n = ds, n

        def __len__(self):
            return self.n

        def images(self, idx):
            return self.ds.images(idx)

    torch.manual_seed(0)
    with DatasetFile(toy_faces_path) as ds:
        model = RANKERS.build("dacrl", attributes=list(ds.attribute_names), backbone="small-cnn",
                              backbone_options={"width": 8}).eval()
        sub = First(ds, 10)
        with torch.no_grad():
            feats = embed_dataset(model, sub)
            full = model.pairwise_scores(feats).numpy()
        every = score_dataset(model, sub, references=10)
        np.testing.assert_allclose(every, full, atol=1e-5)
        assert reference_count(10, 10) == 9 and reference_count(10, None) == 9 and reference_count(10, 4) == 4
        some = score_dataset(model, sub, references=4, seed=1)
        refs = np.sort(np.random.default_rng(1).choice(10, size=4, replace=False))
        with torch.no_grad():
            for i in range(10):
                others = [r for r in refs if r != i]
                expect = model.pairwise_scores(feats[[i]], reference=feats[others]).numpy()[0]
                np.testing.assert_allclose(some[i], expect, atol=1e-5)


# -- the session's ranker -------------------------------------------------------------------


def test_a_checkpoint_loaded_here_becomes_the_sessions_ranker(view, qtbot, tiny_checkpoint):
    _load(view, qtbot, tiny_checkpoint)
    ref = view.session.ranker
    assert ref is not None and ref.same_file(tiny_checkpoint) and ref.origin == "opened"
    assert ref.ranker == "ranknet" and ref.backbone == "small-cnn"
    assert ref.attributes == tuple(view.session.dataset.attribute_names)
    assert not view.offer.isVisibleTo(view)


def test_a_ranker_set_in_the_session_loads_when_the_view_shows_with_nothing_loaded(view, qtbot, tiny_checkpoint):
    from relattr_studio.core.protocols import RankerRef

    view.session.set_ranker(RankerRef.describe(tiny_checkpoint, ranker="ranknet", origin="trained"))
    assert not view.runner.running  # a hidden view starts no scoring
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        view.show()
    assert view.analysis is not None and view.analysis.info.path == str(tiny_checkpoint)
    assert not view.offer.isVisible()
    assert view.session.ranker.origin == "trained"  # the run's reference (with its accuracy) is kept


def test_a_ranker_just_trained_is_offered_over_the_model_shown(view, qtbot, tiny_checkpoint, tiny_deepstn):
    from relattr_studio.core.protocols import RankerRef

    view.show()
    _load(view, qtbot, tiny_checkpoint)
    view.session.set_ranker(RankerRef.describe(tiny_deepstn, ranker="deepstn", backbone="small-cnn",
                                               test_accuracy={"smiling": 88.0, "young": 84.0}, origin="trained"))
    assert not view.runner.running and view.analysis.info.path == str(tiny_checkpoint)  # nothing replaced unasked
    assert view.offer.isVisible() and view.offer_button.isEnabled()
    text = view.offer_label.text()
    assert "Ranker just trained" in text and "deepstn on small-cnn" in text and "tiny-deepstn.ckpt" in text
    assert "86.0 % mean test accuracy" in text
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        view.offer_button.click()  # one click
    assert view.analysis.info.path == str(tiny_deepstn) and not view.offer.isVisible()


def test_a_session_ranker_that_fails_to_load_is_tried_once_then_offered(view, qtbot, tmp_path):
    from relattr_studio.core.protocols import RankerRef

    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    calls, load = [], view.load_checkpoint
    view.load_checkpoint = lambda path, **kw: calls.append(path) or load(path, **kw)
    with qtbot.waitSignal(view.runner.ended, timeout=30_000):
        view.session.set_ranker(RankerRef(str(bad), origin="trained"))
        view.show()
    qtbot.wait(200)
    assert calls == [str(bad)]  # no second attempt followed the failure
    assert not view.runner.running and view.analysis is None
    assert "Could not load bad.ckpt" in view.model_label.text()
    assert view.offer.isVisible() and view.offer_button.isEnabled()


def test_a_ranker_of_other_attributes_is_offered_not_loaded(view, qtbot):
    from relattr_studio.core.protocols import RankerRef

    view.show()
    view.session.set_ranker(RankerRef("/runs/pubfig.ckpt", "ranknet", "resnet18", ("Chubby", "Male")))
    assert not view.runner.running and view.offer.isVisible()
    assert "none of which" in view.offer_label.text() and "Chubby" in view.offer_label.text()


def test_another_dataset_clears_the_models_scores_and_pair_and_scores_it_again(view, qtbot, tiny_checkpoint,
                                                                             fake_dataset_path, toy_faces_path):
    from relattr_studio.data.dataset_file import DatasetFile

    view.show()
    _load(view, qtbot, tiny_checkpoint)
    with qtbot.waitSignal(view.pair_runner.finished, timeout=30_000):
        view.pick(3)
        view.pick(7)
    assert view.test_pairs.count() > 0 and view.pair_panel.shown == (3, 7)
    view.session.set_dataset(DatasetFile(fake_dataset_path))  # other attributes: nothing to score
    assert view.analysis is None and view.thumbs.rowCount() == 0 and view.thumbs.scores is None
    assert view.histogram.counts.size == 0 and len(view.scatter.scatter.data) == 0
    assert view.pair_panel.shown is None and view.pair_panel.canvas_a.pixmap() is None
    assert view.test_pairs.count() == 0 and view.attribute.count() == 0 and view.picked == []
    assert view.model_label.text() == "No model loaded"
    assert not view.runner.running and view.offer.isVisible()  # the toy-faces ranker, offered
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        view.session.set_dataset(DatasetFile(toy_faces_path))  # its attributes again: scored at once
    assert view.analysis is not None and view.analysis.scores.shape[0] == len(view.session.dataset)


def test_a_load_running_when_the_dataset_changes_is_dropped(view, qtbot, tiny_checkpoint, fake_dataset_path):
    from relattr_studio.data.dataset_file import DatasetFile

    view.show()
    with qtbot.waitSignal(view.runner.ended, timeout=60_000):
        assert view.load_checkpoint(tiny_checkpoint, device="cpu")
        view.session.set_dataset(DatasetFile(fake_dataset_path))
    assert view.analysis is None and view.thumbs.scores is None  # the old dataset's scores never shown
    assert "Cancelled" not in view.model_label.text()
