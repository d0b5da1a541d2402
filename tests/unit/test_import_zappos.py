"""UT-Zap50K and Zappos50K-lexi importers: round trips, path quirks, splits, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.types import PairGroup, PairLabel, Split
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.importers import IMPORTERS
from relattr_studio.data.importers._mat import load_mat
from relattr_studio.data.importers._paths import canonical
from tests.unit.fixtures_mat import (assert_import_fails_cleanly, ZAPPOS_IN_MAT, ZAPPOS_ON_DISK, ZAPPOS_REL, cell, make_lexi_source,
                                     make_zappos_source, no_output_left, write_v73)

LABEL_123 = {1: PairLabel.A_MORE, 2: PairLabel.B_MORE, 3: PairLabel.EQUAL}


def _source_rows(ds: DatasetFile, p, rows: slice) -> set[tuple]:
    """(imagepath index a, index b, label) of table rows, put back in a canonical orientation."""
    idx = ds.meta.arrays["source_index"]  # 1-based index into image-path.mat
    out = set()
    for a, b, lab, attr in zip(p.a[rows], p.b[rows], p.label[rows], p.attribute[rows]):
        ia, ib = int(idx[a]), int(idx[b])
        out.add((int(attr), ia, ib, int(lab)) if ia < ib else (int(attr), ib, ia, -int(lab)))
    return out


def _expected(rows_per_attr) -> set[tuple]:
    out = set()
    for k, rows in enumerate(rows_per_attr):
        for r in rows:
            ia, ib, lab = int(r[0]), int(r[1]), int(LABEL_123[int(r[3])])
            out.add((k, ia, ib, lab) if ia < ib else (k, ib, ia, -lab))
    return out


def test_zappos_round_trip(tmp_path):
    src = make_zappos_source(tmp_path / "z")
    ds = DatasetFile(IMPORTERS["zappos"](tmp_path / "z", tmp_path / "z.h5"))
    assert ds.attribute_names == ["open", "pointy", "sporty", "comfort"]
    assert len(ds) == 8  # only images used by pairs; the unused 9th path is never looked up
    assert ds.image_shape == (136, 136) and ds.has_originals
    assert ds.original(0)[:2] == b"\xff\xd8"
    p = ds.pairs()
    coarse = p.group == PairGroup.COARSE
    fine = p.group == PairGroup.FINE
    assert coarse.sum() == 4 * (12 + 3) and fine.sum() == 4 * 4
    got = _source_rows(ds, p, slice(None))
    assert got == _expected(src["order"]) | _expected(src["equal"]) | _expected(src["hard"])
    # equal pairs are label 0 and train; fine pairs test
    assert (p.label[coarse & (p.label == 0)] == 0).all()
    assert (p.split[fine] == Split.TEST).all()
    assert (p.split[coarse & (p.label == PairLabel.EQUAL)] == Split.TRAIN).all()
    assert set(ds.protocol_names()) == {"default", "split-1", "split-2", "split-3", "zappos50k-2"}
    assert np.array_equal(ds.pairs("split-1").split, p.split)
    z2 = ds.pairs("zappos50k-2")
    assert (z2.split[fine] == Split.TEST).all() and (z2.split[~fine] == Split.TRAIN).all()
    # split s of attribute k: test rows are exactly testIndexAll{k}{s}
    order_rows = [np.flatnonzero((p.attribute == k) & coarse)[:12] for k in range(4)]
    for s in range(3):
        sp = ds.pairs(f"split-{s + 1}").split
        for k in range(4):
            te = (src["test_idx"][k][0, s].ravel() - 1).astype(int)
            assert set(np.flatnonzero(sp[order_rows[k]] == Split.TEST)) == set(te)
    assert 0.2 < np.mean(p.a < p.b) < 0.8
    assert set(ds.meta.categorical["category"].class_names) <= {"Boots", "Sandals", "Shoes", "Slippers"}


def test_zappos_splits_from_pairs_file(tmp_path):
    src = make_zappos_source(tmp_path / "z", splits_file="train-test-splits-pairs.mat", with_fg=False)
    ds = DatasetFile(IMPORTERS["zappos"](tmp_path / "z", tmp_path / "z.h5"))
    assert "zappos50k-2" not in ds.protocol_names()
    p = ds.pairs("split-2")
    coarse_order = np.flatnonzero((p.attribute == 1) & (p.group == PairGroup.COARSE))[:12]
    te = (src["test_idx"][1][0, 1].ravel() - 1).astype(int)
    idx = ds.meta.arrays["source_index"]
    got = sorted(tuple(sorted((int(idx[p.a[r]]), int(idx[p.b[r]])))) for r in coarse_order[p.split[coarse_order] == Split.TEST])
    want = sorted(tuple(sorted(map(int, src["order"][1][r, :2]))) for r in te)
    assert got == want  # a pair repeated in mturkOrder is matched to some row of the same pair


def test_path_quirks_are_matched():
    for mat, disk in zip(ZAPPOS_IN_MAT, ZAPPOS_ON_DISK):
        assert canonical(mat) == canonical(disk), (mat, disk)
    assert canonical(ZAPPOS_REL[0]) != canonical(ZAPPOS_REL[1])


def test_all_images_option_reports_missing(tmp_path):
    make_zappos_source(tmp_path / "z")
    out = tmp_path / "z.h5"
    with pytest.raises(DataFileError, match="9999999.9.jpg") as info:
        IMPORTERS["zappos"](tmp_path / "z", out, all_images=True)
    assert "image-path.mat" in str(info.value) and no_output_left(out)


def _labels_file(root):
    return root / "ut-zap50k-data" / "zappos-labels.mat"


def _edit_order(root, fn):
    d = scipy.io.loadmat(_labels_file(root))
    order = [np.array(c, np.float64) for c in d["mturkOrder"].ravel()]
    fn(order)
    scipy.io.savemat(_labels_file(root), {"mturkOrder": cell(order), "mturkEqual": d["mturkEqual"]})


def _set(col, value, row=0):
    def fn(order):
        order[1][row, col] = value
    return fn


ZAPPOS_CORRUPTIONS = {
    "truncated labels": lambda r: _labels_file(r).write_bytes(_labels_file(r).read_bytes()[:200]),
    "wrong key": lambda r: scipy.io.savemat(_labels_file(r), {"mturkOrdr": cell([np.zeros((1, 6))] * 4)}),
    "three attributes": lambda r: _edit_order(r, lambda o: o.pop()),
    "0-based image index": lambda r: _edit_order(r, _set(0, 0)),
    "image index out of range": lambda r: _edit_order(r, _set(1, 50)),
    "label 0": lambda r: _edit_order(r, _set(3, 0)),
    "NaN label": lambda r: _edit_order(r, _set(3, np.nan)),
    "wrong attribute column": lambda r: _edit_order(r, _set(2, 4)),
    "too few columns": lambda r: _edit_order(r, lambda o: o.__setitem__(2, o[2][:, :3])),
    "0-based split index": lambda r: scipy.io.savemat(
        r / "ut-zap50k-data" / "train-test-splits.mat",
        {"trainIndexAll": cell([cell([np.arange(0, 6.0)])] * 4), "testIndexAll": cell([cell([np.arange(6, 12.0)])] * 4)}),
    "no split file": lambda r: (r / "ut-zap50k-data" / "train-test-splits.mat").unlink(),
    "missing image-path": lambda r: (r / "ut-zap50k-data" / "image-path.mat").unlink(),
    "missing image": lambda r: (r / "ut-zap50k-images" / ZAPPOS_ON_DISK[0]).unlink(),
    "corrupt image": lambda r: (r / "ut-zap50k-images" / ZAPPOS_ON_DISK[1]).write_bytes(b"\x89PNG\r\n\x1a\nxx"),
}


@pytest.mark.parametrize("corruption", list(ZAPPOS_CORRUPTIONS))
def test_zappos_bad_input(tmp_path, corruption):
    root = tmp_path / "z"
    make_zappos_source(root)
    ZAPPOS_CORRUPTIONS[corruption](root)
    out = tmp_path / "z.h5"
    assert_import_fails_cleanly("zappos", root, out)


# --------------------------------------------------------------------------- v7.3 / lexi


def test_v73_reader_undoes_matlab_quirks(tmp_path):
    m = np.arange(6.0).reshape(2, 3)
    write_v73(tmp_path / "x.mat", {"m": m, "s": "hello", "c": cell(["ab", np.arange(4.0).reshape(4, 1)])})
    assert (tmp_path / "x.mat").read_bytes().startswith(b"MATLAB 7.3 MAT-file")
    d = load_mat(tmp_path / "x.mat", ["m", "s", "c"])
    assert np.array_equal(d["m"], m) and d["s"] == "hello"
    assert d["c"].shape == (1, 2) and d["c"][0, 0] == "ab" and d["c"][0, 1].shape == (4, 1)


def test_lexi_round_trip(tmp_path):
    src = make_lexi_source(tmp_path / "lexi")
    ds = DatasetFile(IMPORTERS["zappos-lexi"](tmp_path / "lexi", tmp_path / "l.h5"))
    assert ds.attribute_names == src["attrs"]
    p = ds.pairs()
    train = slice(0, 6 * 6)
    assert (p.split[train] == Split.TRAIN).all() and (p.split[36:] == Split.TEST).all()
    assert _source_rows(ds, p, train) == _expected(src["train"])
    assert _source_rows(ds, p, slice(36, None)) == _expected(src["test"])
    assert ds.image_shape == (136, 136)


def _lexi_file(root):
    return root / "ut-zap50k-data" / "zappos-lexi.mat"


def _rewrite_lexi(root, **over):
    src = load_mat(_lexi_file(root))
    src.update(over)
    write_v73(_lexi_file(root), {k: v for k, v in src.items() if v is not None})


def _lexi_rows(root, col, value):
    d = load_mat(_lexi_file(root))
    rows = [np.array(c) for c in d["trainPairs"].ravel()]
    rows[0][0, col] = value
    _rewrite_lexi(root, trainPairs=cell(rows))


LEXI_CORRUPTIONS = {
    "truncated": lambda r: _lexi_file(r).write_bytes(_lexi_file(r).read_bytes()[:1500]),
    "no attributes": lambda r: _rewrite_lexi(r, attributes=None),
    "cells differ from attributes": lambda r: _rewrite_lexi(r, attributes=cell(["open", "pointy"])),
    "0-based index": lambda r: _lexi_rows(r, 1, 0),
    "index out of range": lambda r: _lexi_rows(r, 0, 100),
    "NaN label": lambda r: _lexi_rows(r, 3, np.nan),
    "hdf5 without MATLAB layout": lambda r: h5py.File(_lexi_file(r), "w").close(),
    "missing image": lambda r: (r / "ut-zap50k-images" / ZAPPOS_ON_DISK[2]).unlink(),
}


@pytest.mark.parametrize("corruption", list(LEXI_CORRUPTIONS))
def test_lexi_bad_input(tmp_path, corruption):
    root = tmp_path / "lexi"
    make_lexi_source(root)
    LEXI_CORRUPTIONS[corruption](root)
    out = tmp_path / "l.h5"
    assert_import_fails_cleanly("zappos-lexi", root, out)
