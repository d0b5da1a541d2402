"""Batching: dense category labels, sparse all-pairs, siamese, sharding, phases."""

from types import SimpleNamespace

import numpy as np

from relattr_studio.data.pairs import PairTable
from relattr_studio.training.batching import PairSampler, category_strengths
from relattr_studio.training.phases import Phase, phase_steps


def category_data(n=40, classes=5):
    ids = np.arange(n) % classes
    strengths = np.stack([ids, classes - ids], 1).astype(np.float32)
    i, j = np.triu_indices(n, 1)
    tables = [PairTable.build(i, j, a, np.sign(strengths[i, a] - strengths[j, a])) for a in range(2)]
    return SimpleNamespace(identities=ids, strengths=strengths), PairTable.concat(tables)


def test_category_level_labels_are_detected_and_dense():
    meta, pairs = category_data()
    dense = category_strengths(meta, pairs, [0, 1])
    assert dense is not None
    s = PairSampler(pairs, batch_size=16, batching="all-pairs", dense=dense, seed=0)
    b = s.next()
    assert len(b.images) == 16 and b.n_pairs == 16 * 15 // 2 * 2
    truth = np.sign(dense[b.images[b.i], b.head] - dense[b.images[b.j], b.head])
    assert np.array_equal(b.target, (truth + 1) / 2)


def test_noisy_or_within_class_varying_labels_are_not_dense():
    meta, pairs = category_data()
    pairs.label[0] = -pairs.label[0] if pairs.label[0] else 1
    assert category_strengths(meta, pairs, [0, 1]) is None
    meta2 = SimpleNamespace(identities=np.arange(40), strengths=np.random.rand(40, 2).astype(np.float32))
    assert category_strengths(meta2, pairs, [0, 1]) is None


def test_sparse_all_pairs_adds_pairs_among_batch_images():
    # a chain 0-1, 1-2, 2-3, ... and a triangle closing 0-2
    a, b = np.array([0, 1, 2, 0]), np.array([1, 2, 3, 2])
    pairs = PairTable.build(a, b, 0, [1, -1, 1, 0])
    s = PairSampler(pairs, batch_size=4, batching="all-pairs", seed=1)
    batch = s.next()
    inside = set(batch.images.tolist())
    expected = sum(1 for x, y in zip(a, b) if x in inside and y in inside)
    assert batch.n_pairs == expected >= 2


def test_siamese_forwards_each_pair_image():
    pairs = PairTable.build(np.arange(10), np.arange(10) + 10, 0, 1)
    b = PairSampler(pairs, batch_size=8, batching="siamese", seed=0).next()
    assert b.separate and b.n_pairs == 4 and len(b.images) == 8
    assert np.array_equal(b.images[b.j] - b.images[b.i], np.full(4, 10))


def test_ranks_shard_a_global_batch_without_overlap():
    pairs = PairTable.build(np.arange(100), np.arange(100) + 100, 0, 1)
    shards = [PairSampler(pairs, batch_size=8, batching="siamese", seed=3, rank=r, world=2).next() for r in (0, 1)]
    first = [set(s.images[s.i].tolist()) for s in shards]
    assert not first[0] & first[1]


def test_sampler_state_round_trip_gives_the_same_batches():
    pairs = PairTable.build(np.arange(50), np.arange(50) + 50, 0, 1)
    s = PairSampler(pairs, batch_size=8, batching="all-pairs", seed=0)
    s.next()
    state = s.state()
    want = s.next()
    t = PairSampler(pairs, batch_size=8, batching="all-pairs", seed=99)
    t.load_state(state)
    assert np.array_equal(t.next().images, want.images)


def test_phase_steps_split_the_budget():
    assert phase_steps([Phase("stn", {"stn": 1.0}, fraction=0.25), Phase("all", fraction=0.75)], 100, 10) == [25, 75]
    assert phase_steps([Phase("warm", epochs=2), Phase("rest")], 100, 10) == [20, 80]
    assert Phase("x", {"head": 2.0}).multiplier("backbone") is None


def test_max_pairs_caps_image_pairs_and_keeps_all_their_labels():
    meta, pairs = category_data()
    dense = category_strengths(meta, pairs, [0, 1])
    s = PairSampler(pairs, batch_size=16, batching="all-pairs", dense=dense, seed=0, max_pairs=10)
    b = s.next()
    key = b.i * len(b.images) + b.j
    assert len(b.images) == 16 and len(np.unique(key)) == 10
    assert b.n_pairs == 20  # both attributes' labels of each kept image pair
    truth = np.sign(dense[b.images[b.i], b.head] - dense[b.images[b.j], b.head])
    assert np.array_equal(b.target, (truth + 1) / 2)
    uncapped = PairSampler(pairs, batch_size=16, batching="all-pairs", dense=dense, seed=0)
    assert s.steps_per_epoch == -(-uncapped.labelled_pairs // 20) > uncapped.steps_per_epoch
    assert np.array_equal(uncapped.next().images, b.images)  # the cap draws from its own stream


def test_max_pairs_state_round_trip_and_both_orders():
    meta, pairs = category_data()
    dense = category_strengths(meta, pairs, [0, 1])
    s = PairSampler(pairs, batch_size=16, batching="all-pairs", dense=dense, seed=0, max_pairs=6, both_orders=True)
    s.next()
    state = s.state()
    want = s.next()
    t = PairSampler(pairs, batch_size=16, batching="all-pairs", dense=dense, seed=5, max_pairs=6, both_orders=True)
    t.load_state(state)
    got = t.next()
    assert np.array_equal(got.i, want.i) and np.array_equal(got.j, want.j) and np.array_equal(got.images, want.images)
    half = len(got.i) // 2
    assert np.array_equal(got.i[:half], got.j[half:]) and len(np.unique(got.i[:half] * 16 + got.j[:half])) == 6
