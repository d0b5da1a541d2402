"""make_toy_faces / make_toy_shoes: files, determinism, pair protocols, progress and cancel."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from relattr_studio.core.errors import Cancelled
from relattr_studio.core.jobs import JobContext, Progress
from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.procedural import PROCEDURAL_DATASETS, make_toy_faces, make_toy_shoes

SMALL = dict(n=300, train_pairs=120, val_pairs=20, test_coarse=40, test_fine=40, sparse_budget=50)


def _make(fn, path, seed=0, **kw):
    opts = {**SMALL, **kw}
    return fn(path, seed=seed, **opts)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return DatasetFile(_make(make_toy_faces, tmp_path_factory.mktemp("f") / "faces.h5"))


@pytest.fixture(scope="module")
def shoes(tmp_path_factory):
    return DatasetFile(_make(make_toy_shoes, tmp_path_factory.mktemp("s") / "shoes.h5"))


def test_registry():
    assert PROCEDURAL_DATASETS == {"toy-faces": make_toy_faces, "toy-shoes": make_toy_shoes}


def test_faces_file_content(faces):
    assert len(faces) == 300 and faces.image_shape == (64, 64)
    assert faces.strengths.shape == (300, 8)
    assert faces.meta.identities is not None and len(faces.meta.identity_names) == 60
    assert "identity_strengths" in faces.meta.arrays and "nuisance_skin" in faces.meta.arrays
    assert faces.image(0).dtype == np.uint8
    assert "sparse-50" in faces.protocol_names()


def test_shoes_have_categorical_attributes(shoes):
    cat = shoes.meta.categorical
    assert set(cat) == {"shape", "colour", "pattern"}
    assert "sandal" in cat["shape"].class_names and (cat["shape"].values >= 0).all()


@pytest.mark.parametrize("which", ["faces", "shoes"])
def test_pair_protocol(which, request):
    ds = request.getfixturevalue(which)
    p, s = ds.pairs(), ds.strengths
    for ai in range(len(ds.attribute_names)):
        assert len(p.where(attribute=ai, split=Split.TRAIN)) == 120
        assert len(p.where(attribute=ai, split=Split.VAL)) == 20
        assert len(p.where(attribute=ai, split=Split.TEST, group=PairGroup.COARSE)) == 40
        assert len(p.where(attribute=ai, split=Split.TEST, group=PairGroup.FINE)) == 40
    train = p.where(split=Split.TRAIN)
    assert (train.source == PairSource.SIMULATED).all()
    test = p.where(split=Split.TEST)
    assert (test.source == PairSource.REAL).all()
    d = s[test.a, test.attribute] - s[test.b, test.attribute]
    # Ground truth orders every test pair, fine ones included: no zero differences.
    assert (test.label == np.sign(d)).all() and (test.label != PairLabel.EQUAL).all()
    fine = test.group == PairGroup.FINE
    assert ((np.abs(d[fine]) >= 0.08) & (np.abs(d[fine]) <= 0.16)).all()
    assert (np.abs(d[~fine]) >= 0.40).all()
    # Both orders occur: the stronger image is not always first.
    assert 0.3 < (test.label == PairLabel.A_MORE).mean() < 0.7
    # Test images (and identities) never appear in training pairs.
    train_imgs = set(np.r_[train.a, train.b]) | set(np.r_[p.where(split=Split.VAL).a, p.where(split=Split.VAL).b])
    test_imgs = set(np.r_[test.a, test.b])
    assert not train_imgs & test_imgs
    ids = ds.meta.identities
    assert not set(ids[list(train_imgs)]) & set(ids[list(test_imgs)])
    # Simulated labels mostly agree with the truth, but not always (they are noisy).
    dt = s[train.a, train.attribute] - s[train.b, train.attribute]
    agree = (train.label == np.sign(dt))[train.label != 0].mean()
    assert 0.8 < agree < 1.0


def test_sparse_protocol_keeps_first_budget(faces):
    p = faces.pairs("sparse-50")
    for ai in range(8):
        assert len(p.where(attribute=ai, split=Split.TRAIN)) == 50
        assert len(p.where(attribute=ai, split=Split.TEST)) == 80


def _contents(path):
    with h5py.File(path, "r") as h5:
        out = {}
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        attrs = {k: v for k, v in h5.attrs.items() if k != "created"}
    return out, attrs


def test_same_seed_same_file_different_seed_differs(tmp_path):
    a = _make(make_toy_faces, tmp_path / "a.h5", n=60)
    b = _make(make_toy_faces, tmp_path / "b.h5", n=60)
    c = _make(make_toy_faces, tmp_path / "c.h5", n=60, seed=1)
    ca, aa = _contents(a)
    cb, ab = _contents(b)
    cc, _ = _contents(c)
    assert ca.keys() == cb.keys() and aa.keys() == ab.keys()
    for k in ca:
        np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
    assert all(str(aa[k]) == str(ab[k]) for k in aa)
    assert not np.array_equal(ca["images"], cc["images"])
    assert not np.array_equal(ca["pairs/a"], cc["pairs/a"])


def test_progress_and_cancel_leave_no_file(tmp_path):
    events = []
    out = tmp_path / "x.h5"
    ctx = JobContext(events.append, should_stop=lambda: any(isinstance(e, Progress) and e.done > 0 for e in events),
                     min_interval=0.0)
    with pytest.raises(Cancelled):
        make_toy_shoes(out, n=600, ctx=ctx)
    assert not out.exists() and not list(tmp_path.iterdir())
    assert any(isinstance(e, Progress) and e.stage == "rendering" for e in events)


def test_progress_reaches_the_end(tmp_path):
    events = []
    _make(make_toy_faces, tmp_path / "y.h5", n=40, ctx=JobContext(events.append, min_interval=0.0))
    rendering = [e for e in events if e.stage == "rendering"]
    assert rendering[-1].done == rendering[-1].total == 40


def test_unknown_option_is_refused(tmp_path):
    with pytest.raises(TypeError, match="unknown protocol option"):
        make_toy_faces(tmp_path / "z.h5", n=20, train_pairz=3)
