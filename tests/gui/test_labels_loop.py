"""The labeling-to-training loop in the window: Explore -> Label pairs -> Train on my labels.

20 pairs sent from Explore are the next pairs in Label pairs with no other action (the view
is already open, showing a dataset pair), a queue count says how many wait, and once they are
labeled, training on "My labels" from the Train view trains on those 20 generated pairs.
"""

from __future__ import annotations

from relattr_studio.data.labeling_sources import QUEUE


def test_pairs_from_explore_come_next_and_their_labels_train_a_ranker(qtbot, toy_session, tmp_path, monkeypatch):
    from relattr_studio.gui.explore_view import ExploreView
    from relattr_studio.gui.labeling_view import LabelingView
    from relattr_studio.gui.train_view import MY_LABELS, TrainView, make_config
    from relattr_studio.modeling.procedural_generator import ProceduralGenerator

    monkeypatch.setenv("RELATTR_DATA_DIR", str(tmp_path / "data"))
    session = toy_session
    labeling = LabelingView(session, seed=5)
    qtbot.addWidget(labeling)
    labeling.show()
    qtbot.waitUntil(lambda: labeling.current is not None and len(labeling.upcoming) == 2, timeout=5000)
    first = labeling.current.task
    assert first.origin != QUEUE and labeling.queue_count.text() == "Queue: empty"

    explore = ExploreView(session, autoload=False)
    qtbot.addWidget(explore)
    session.set_generator(ProceduralGenerator("toy-faces", pool=64, seed=1))
    qtbot.waitUntil(lambda: explore.generator is not None, timeout=10_000)
    explore.attribute_box.setCurrentText("smiling")
    assert explore.make_pairs(20, "both")
    qtbot.waitUntil(lambda: session.label_store.pending_count() == 20 and not explore.runner.running, timeout=30_000)
    qtbot.waitUntil(lambda: labeling.queue_count.text() == "Queue: 20 to label", timeout=5000)

    # The pair on screen stays; the 20 queued pairs are the next ones, then the dataset's again.
    assert labeling.current.task is first
    labeling.judge("left-more")
    seen = []
    for k in range(20):
        task = labeling.current.task
        assert task.origin == QUEUE, f"pair {k + 1} after queueing came from {task.origin}"
        seen.append(task.pending.id)
        assert labeling.judge("right-more" if k % 2 else "left-more")
    assert len(set(seen)) == 20
    assert labeling.current.task.origin != QUEUE
    qtbot.waitUntil(lambda: labeling.queue_count.text() == "Queue: empty", timeout=5000)
    (batch,) = session.label_store.batches()
    assert (batch.origin, batch.judged, batch.pending) == ("explore", 20, 0)

    tiny = lambda **f: make_config(**{**f, "steps": 3, "backbone_options": {"width": 4}, "batch_size": 16,  # noqa: E731
                                      "val_fraction": 0.0})
    train = TrainView(session, config_factory=tiny, job=_train_in_thread)
    qtbot.addWidget(train)
    assert "20 of generated pairs" in train.labels_note.text()
    train.train_on.setCurrentIndex(train.train_on.findData(MY_LABELS))
    train.form.set_checked(["smiling"])
    train.form.device.setCurrentText("cpu")
    assert train.start()
    with qtbot.waitSignal(train.runner.ended, timeout=120_000):
        pass
    assert train.training_data is not None
    # my labels only: the 20 generated pairs, and the dataset pair judged before them if it was of smiling
    assert (train.training_data.generated_pairs, train.training_data.real_pairs) == (20, int(first.attribute == "smiling"))
    assert "20 pairs of generated images" in train.log.toPlainText()
    for view in (train, explore, labeling):
        view.shutdown()


def _train_in_thread(*, config, resume_from=None, ctx):
    from relattr_studio.training.job import train_ranker

    return train_ranker(config, ctx=ctx, resume_from=resume_from)
