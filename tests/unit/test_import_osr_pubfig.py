"""OSR / PubFig ``data.mat`` importer: synthetic round trips, bad input, and the real PubFig."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.io

from relattr_studio.core.errors import Cancelled, DataFileError
from relattr_studio.core.jobs import JobContext
from relattr_studio.core.types import PairLabel, Split
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.importers import IMPORTER_HELP, IMPORTER_LAYOUT, IMPORTERS
from tests.unit.fixtures_mat import (
    assert_import_fails_cleanly,
    make_category_source,
    no_output_left,
)


def test_registry_keys():
    keys = {"pubfig", "osr", "zappos", "zappos-lexi", "lfw10", "folder"}
    assert set(IMPORTERS) == keys and set(IMPORTER_HELP) == keys and set(IMPORTER_LAYOUT) == keys


def test_osr_round_trip(tmp_path):
    src = make_category_source(tmp_path / "osr")
    out = IMPORTERS["osr"](tmp_path / "osr", tmp_path / "osr.h5", max_equal_pairs_per_attribute=None)
    assert out == tmp_path / "osr.h5"
    ds = DatasetFile(out)
    n = len(src["names"])
    assert len(ds) == n and ds.image_names == src["names"] and ds.image_shape == (32, 32)
    assert ds.attribute_names == [str(s) for s in src["attribute_names"].ravel()]
    assert list(ds.meta.identities) == list(src["classes"])  # 1-based in the file, 0-based here
    assert ds.meta.identity_names[:2] == ["coast", "forest"]
    np.testing.assert_allclose(ds.meta.arrays["relative_att_predictions"], src["relative_att_predictions"], rtol=1e-6)
    assert ds.meta.arrays["feat"].shape == (n, 16)
    p = ds.pairs()
    n_train, n_test = src["train"].sum(), (~src["train"]).sum()
    per_attr = n_train * (n_train - 1) // 2 + n_test * (n_test - 1) // 2
    assert len(p) == 6 * per_attr
    # split: both images of a pair are on the pair's side
    tr = src["train"]
    assert tr[p.a[p.split == Split.TRAIN]].all() and tr[p.b[p.split == Split.TRAIN]].all()
    assert not tr[p.a[p.split == Split.TEST]].any() and not tr[p.b[p.split == Split.TEST]].any()
    # orientation: label = sign(rank(class a) - rank(class b)), higher rank = more
    ranks, cls = src["ranks"].astype(int), src["classes"]
    expected = np.sign(ranks[p.attribute, cls[p.a]] - ranks[p.attribute, cls[p.b]])
    assert np.array_equal(p.label, expected)
    assert (p.label[cls[p.a] == cls[p.b]] == PairLabel.EQUAL).all()
    # the tie of classes 0 and 1 on attribute 0 is equal
    tie = (p.attribute == 0) & (cls[p.a] <= 1) & (cls[p.b] <= 1)
    assert tie.any() and (p.label[tie] == 0).all()
    # a/b order is randomized: not always the lower index first
    assert 0.2 < np.mean(p.a < p.b) < 0.8
    np.testing.assert_array_equal(ds.strengths[:, 0], ranks[0, cls])


def test_pair_caps_and_seed(tmp_path):
    make_category_source(tmp_path / "osr")
    kw = dict(max_pairs_per_attribute=10, max_equal_pairs_per_attribute=3, seed=5)
    a = DatasetFile(IMPORTERS["osr"](tmp_path / "osr", tmp_path / "a.h5", **kw)).pairs()
    b = DatasetFile(IMPORTERS["osr"](tmp_path / "osr", tmp_path / "b.h5", **kw)).pairs()
    for col in ("a", "b", "label", "split"):
        assert np.array_equal(getattr(a, col), getattr(b, col))
    for m in range(6):
        for s in (Split.TRAIN, Split.TEST):
            rows = a.where(attribute=m, split=s)
            assert (rows.label != 0).sum() == 10 and (rows.label == 0).sum() == 3


def test_resizes_mixed_sizes_and_keeps_originals(tmp_path):
    make_category_source(tmp_path / "osr")
    from tests.unit.fixtures_mat import write_image
    write_image(tmp_path / "osr" / "images" / "coast_0.jpg", (48, 24))
    ds = DatasetFile(IMPORTERS["osr"](tmp_path / "osr", tmp_path / "o.h5", size="40x30"))
    assert ds.image_shape == (30, 40) and ds.has_originals and ds.original(0)[:2] == b"\xff\xd8"


def _rewrite(root, **changes):
    d = scipy.io.loadmat(root / "data.mat")
    d = {k: v for k, v in d.items() if not k.startswith("__")}
    for k, v in changes.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v(d[k]) if callable(v) else v
    scipy.io.savemat(root / "data.mat", d)


def _zero_based(v):
    return v - 1


def _out_of_range(v):
    v = v.copy()
    v[3] = 99
    return v


def _nan_rank(v):
    v = v.astype(float)
    v[2, 3] = np.nan
    return v


CORRUPTIONS = {
    "truncated": lambda root: (root / "data.mat").write_bytes((root / "data.mat").read_bytes()[:300]),
    "garbage": lambda root: (root / "data.mat").write_bytes(b"not a mat file" * 50),
    "missing key": lambda root: _rewrite(root, relative_ordering=None),
    "0-based class labels": lambda root: _rewrite(root, class_labels=_zero_based),
    "class label out of range": lambda root: _rewrite(root, class_labels=_out_of_range),
    "NaN rank": lambda root: _rewrite(root, relative_ordering=_nan_rank),
    "transposed ordering": lambda root: _rewrite(root, relative_ordering=lambda v: v.T),
    "short predictions": lambda root: _rewrite(root, relative_att_predictions=lambda v: v[:-1]),
    "bad split flag": lambda root: _rewrite(root, used_for_training=lambda v: v * 2),
    "missing image": lambda root: (root / "images" / "forest_5.jpg").unlink(),
    "corrupt image": lambda root: (root / "images" / "forest_5.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage"),
    "truncated image": lambda root: (root / "images" / "forest_5.jpg").write_bytes(
        (root / "images" / "forest_5.jpg").read_bytes()[:200]),
    "no images folder": lambda root: [p.unlink() for p in (root / "images").iterdir()] and (root / "images").rmdir(),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_bad_input_raises_data_file_error_and_leaves_nothing(tmp_path, corruption):
    root = tmp_path / "osr"
    make_category_source(root)
    CORRUPTIONS[corruption](root)
    out = tmp_path / "out" / "osr.h5"
    assert_import_fails_cleanly("osr", root, out)


def test_missing_source_folder(tmp_path):
    with pytest.raises(DataFileError, match="no such folder"):
        IMPORTERS["pubfig"](tmp_path / "nope", tmp_path / "x.h5")


def test_cancel_leaves_nothing(tmp_path):
    make_category_source(tmp_path / "osr")
    calls = []
    ctx = JobContext(on_event=calls.append, should_stop=lambda: len(calls) > 2)
    out = tmp_path / "c.h5"
    with pytest.raises(Cancelled):
        IMPORTERS["osr"](tmp_path / "osr", out, ctx=ctx)
    assert calls and no_output_left(out)


@pytest.mark.slow
def test_real_pubfig_shipped_predictions_score_81_5(pubfig_dir, tmp_path):
    """Orientation and split are right iff the authors' own RankSVM scores give their 81.5 %."""
    start = time.perf_counter()
    ds = DatasetFile(IMPORTERS["pubfig"](pubfig_dir, tmp_path / "pubfig.h5"))
    seconds = time.perf_counter() - start
    assert len(ds) == 772 and ds.image_shape == (256, 256) and len(ds.attribute_names) == 11
    assert ds.attribute_names[0] == "Male" and len(ds.meta.identity_names) == 8
    p, pred = ds.pairs(), ds.meta.arrays["relative_att_predictions"]
    accs = []
    for m in range(11):
        t = p.where(attribute=m, split=Split.TEST, non_equal=True)
        accs.append(np.mean(np.sign(pred[t.a, m] - pred[t.b, m]) == t.label))
    mean = 100 * float(np.mean(accs))
    train = p.where(split=Split.TRAIN)
    print(f"\nPubFig: {len(p)} pairs ({len(train)} train, {len(p) - len(train)} test), "
          f"import {seconds:.1f} s, shipped-predictor test accuracy {mean:.3f} %")
    assert abs(mean - 81.5) <= 0.1
    # every non-equal test pair among the 531 test images is there
    assert (ds.meta.arrays["used_for_training"] == 0).sum() == 531
