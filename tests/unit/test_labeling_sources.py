"""Labeling sources and batches: the queue is asked afresh, batches are labeled to the end."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.label_schema import SCHEMA_V1, SCHEMA_VERSION, APPLICATION_ID
from relattr_studio.data.label_store import DatasetPair, DatasetRef, GeneratedImage, GeneratedPair, Judgement, LabelStore
from relattr_studio.data.labeling_sources import (
    QUEUE, BatchSource, JudgedPairs, QueueFirst, QueueSource, labeling_source, record_task,
)


def _generated_pair(rng, k: int) -> GeneratedPair:
    def img(i):
        return GeneratedImage("gen-test", [float(k), float(i)], [0.0, 1.0],
                              pixels=rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    return GeneratedPair(img(0), img(1))


@pytest.fixture
def ds(toy240):
    with DatasetFile(toy240) as d:
        yield d


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite", annotator="tester") as s:
        yield s


def test_pairs_queued_while_labeling_come_next(ds, store):
    """The queue is not latched: a pair queued after the queue ran dry is the next one served."""
    source = labeling_source(ds, store, seed=1)
    assert isinstance(source, QueueFirst)
    first = source.next()
    assert first.origin != QUEUE  # nothing queued yet: a dataset train pair
    rng = np.random.default_rng(0)
    store.enqueue_many([_generated_pair(rng, k) for k in range(3)], ds.attribute_names[0], origin="explore")
    served = [source.next() for _ in range(4)]
    assert [t.origin for t in served] == [QUEUE, QUEUE, QUEUE, "dataset"]
    assert source.queue.count() == 3  # handed out, not yet judged
    for t in served[:3]:
        record_task(store, t, Judgement.LEFT_MORE)
    assert source.queue.count() == 0


def test_a_batch_is_labeled_to_the_end_and_counts_judged_discarded_pending(ds, store):
    rng = np.random.default_rng(1)
    pairs = [_generated_pair(rng, k) for k in range(5)]
    info = store.create_batch("attic round 3", origin="attic", details={"round": 3}, pairs=pairs,
                              attributes=ds.attribute_names[0])
    assert (info.total, info.judged, info.discarded, info.pending) == (5, 0, 0, 5)
    assert info.details == {"round": 3}
    # Something else in the queue does not enter the batch.
    store.enqueue(_generated_pair(rng, 99), ds.attribute_names[0])
    source = BatchSource(store, info.id, ds, seed=0)
    seen = []
    while (task := source.next()) is not None:
        seen.append(task)
        record_task(store, task, Judgement.DISCARD if len(seen) == 2 else Judgement.RIGHT_MORE, confidence=1.0)
    assert len(seen) == 5 and [t.pending.id for t in seen] == sorted(t.pending.id for t in seen)
    done = store.batch(info.id)
    assert (done.judged, done.discarded, done.pending, done.done) == (4, 1, 0, True)
    assert done.describe() == "attic round 3: 5 of 5 judged (1 can't tell)"
    store.undo()  # the last judgement: that pair is pending again
    assert store.batch(info.id).pending == 1
    assert [b.name for b in store.batches()] == ["attic round 3"]


def test_queue_serves_only_pairs_this_dataset_can_show(ds, store, tmp_path):
    other = DatasetRef("other", str(tmp_path / "other.h5"), "f" * 64)
    store.enqueue(DatasetPair(other, 0, 1), ds.attribute_names[0])
    ref = DatasetRef.of(ds)
    store.enqueue(DatasetPair(ref, 0, 1), "no-such-attribute")
    store.enqueue(DatasetPair(ref, 2, 3), ds.attribute_names[1])
    q = QueueSource(store, ds)
    task = q.next()
    assert (task.pair.a, task.pair.b, task.attribute) == (2, 3, ds.attribute_names[1])
    assert q.next() is None
    # Without a dataset only generated pairs can be shown.
    assert QueueSource(store, None).next() is None


def test_undo_gives_a_dataset_pair_back_to_the_not_yet_labeled_pairs(ds, store):
    labeled = JudgedPairs(ds, store)
    source = labeling_source(ds, store, attribute=ds.attribute_names[0], labeled=labeled, seed=3)
    task = source.next()
    before = labeled.train_progress()[task.attribute][0]
    record_task(store, task, Judgement.EQUAL)
    source.mark_labeled(task)
    assert labeled.train_progress()[task.attribute][0] == before + 1
    assert task.key() in labeled
    store.undo()
    source.forget_labeled(task)
    assert task.key() not in labeled and labeled.train_progress()[task.attribute][0] == before
    # A fresh source sees the store: the pair is not labeled there either.
    assert task.key() not in JudgedPairs(ds, store)


def test_a_version_1_store_is_migrated_and_keeps_its_queue(tmp_path):
    path = tmp_path / "old.sqlite"
    c = sqlite3.connect(path, isolation_level=None)
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            c.execute(statement)
    c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    c.execute("PRAGMA user_version = 1")
    c.execute("INSERT INTO datasets (fingerprint, name, path) VALUES ('fp', 'old', '/x.h5')")
    c.execute("INSERT INTO pending (created_utc, attribute, kind, dataset_id, a, b) VALUES ('t', 'smiling', 'dataset', 1, 0, 1)")
    c.close()
    with LabelStore(path) as s:
        assert s.pending_count() == 1 and s.batches() == []
        assert s.pending()[0].batch_id is None
        b = s.create_batch("new", pairs=[DatasetPair(DatasetRef("old", "/x.h5", "fp"), 2, 3)], attributes="smiling")
        assert b.total == 1 and s.pending_count() == 2
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_batch_arguments_are_checked(store):
    with pytest.raises(ValueError, match="needs a name"):
        store.create_batch("")
    with pytest.raises(ValueError, match="one attribute name"):
        store.create_batch("x", pairs=[_generated_pair(np.random.default_rng(0), 0)], attributes=["a", "b"])
    with pytest.raises(ValueError, match="no batch 42"):
        store.enqueue(_generated_pair(np.random.default_rng(0), 0), "a", batch=42)
    with pytest.raises(KeyError):
        BatchSource(store, 42)
