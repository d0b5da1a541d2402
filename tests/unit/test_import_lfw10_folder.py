"""LFW-10 and plain-folder importers: round trips and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from relattr_studio.core.types import PairGroup, PairLabel, Split
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.importers import IMPORTERS
from tests.unit.fixtures_mat import (
    assert_import_fails_cleanly,
    make_lfw10_source,
    write_image,
)


def _canon(a, b, lab):
    return (a, b, lab) if a < b else (b, a, -lab)


def test_lfw10_round_trip(tmp_path):
    written = make_lfw10_source(tmp_path / "lfw")
    ds = DatasetFile(IMPORTERS["lfw10"](tmp_path / "lfw", tmp_path / "l.h5"))
    assert ds.attribute_names == ["baldhead", "smile", "v_teeth"]  # LFW-10's own order
    assert ds.image_shape == (40, 40) and not ds.has_originals
    p = ds.pairs()
    names = ds.image_names
    for k, attr in enumerate(ds.attribute_names):
        for split, s in (("train", Split.TRAIN), ("test", Split.TEST)):
            a, b, votes = written[(attr, split)]
            rows = p.where(attribute=k, split=s)
            assert len(rows) == len(a)
            want = []
            for x, y, v in zip(a, b, votes):
                lab = 1 if v[0] > v[1] and v[0] >= v[2] else -1 if v[1] > v[0] and v[1] >= v[2] else 0
                want.append(_canon(int(x), int(y), lab))
            got = [_canon(int(names[i].split(".")[0]), int(names[j].split(".")[0]), int(lab))
                   for i, j, lab in zip(rows.a, rows.b, rows.label)]
            assert sorted(got) == sorted(want)
    first = p.where(attribute=0, split=Split.TRAIN)
    assert np.isfinite(first.agreement).all() and ((first.agreement > 0) & (first.agreement <= 1)).all()


def test_lfw10_agreement_is_the_share_of_the_chosen_option():
    from relattr_studio.data.importers.lfw10 import _labels

    votes = np.array([[1, 5, 1, 0], [2, 0, 4, 1], [3, 2, 2, 1], [4, 1, 1, 3]], np.float64)
    label, agreement = _labels(votes, "x.mat", len(votes))
    assert list(label) == [1, -1, 0, 0]
    np.testing.assert_allclose(agreement, [5 / 6, 4 / 5, 1 / 5, 3 / 5])


def _annot(root, name="smiletrain.mat"):
    return root / "annotations" / name


def _edit(root, key, fn, name="smiletrain.mat"):
    d = scipy.io.loadmat(_annot(root, name))
    d = {k: v for k, v in d.items() if not k.startswith("__")}
    d[key] = fn(d[key])
    scipy.io.savemat(_annot(root, name), d)


def _nan(v):
    v = v.astype(float)
    v[3, 2] = np.nan
    return v


def _rename(v):
    v = v.copy()
    v[0, 1] = "nobody.jpg"
    return v


LFW_CORRUPTIONS = {
    "truncated": lambda r: _annot(r).write_bytes(_annot(r).read_bytes()[:150]),
    "wrong keys": lambda r: scipy.io.savemat(_annot(r), {"pairs": np.zeros((2, 2))}),
    "NaN strengths": lambda r: _edit(r, "attribute_strengths", _nan),
    "negative votes": lambda r: _edit(r, "attribute_strengths", lambda v: -v),
    "row counts differ": lambda r: _edit(r, "attribute_strengths", lambda v: v[:-2]),
    "bad shape": lambda r: _edit(r, "images_compare", lambda v: v[:, :1]),
    "unknown image": lambda r: _edit(r, "images_compare", _rename),
    "missing image": lambda r: (r / "images" / "3.jpg").unlink(),
    "corrupt image": lambda r: (r / "images" / "4.jpg").write_bytes(b"\xff\xd8\xff garbage"),
    "no annotations": lambda r: [p.unlink() for p in (r / "annotations").iterdir()],
}


@pytest.mark.parametrize("corruption", list(LFW_CORRUPTIONS))
def test_lfw10_bad_input(tmp_path, corruption):
    root = tmp_path / "lfw"
    make_lfw10_source(root, n_images=4)
    LFW_CORRUPTIONS[corruption](root)
    out = tmp_path / "l.h5"
    assert_import_fails_cleanly("lfw10", root, out)


# --------------------------------------------------------------------------- folder


def make_folder(root, mixed=False):
    write_image(root / "x" / "one.png", (20, 20), seed=1, fmt="PNG")
    write_image(root / "x" / "two.jpg", (20, 20), seed=2)
    write_image(root / "three.bmp", (30, 10) if mixed else (20, 20), seed=3, fmt="BMP")
    write_image(root / "y" / "z" / "four.webp", (20, 20), seed=4, fmt="WEBP")
    (root / "pairs.csv").write_text(
        "image_a,image_b,attribute,label,confidence,split,group\n"
        "x/one.png,x/two.jpg,smile,a,0.9,train,\n"
        "x\\two.jpg,three.bmp,smile,-1,,test,fine\n"
        "four.webp,x/one.png,Bald,equal,,val,coarse\n"
        "three.bmp,four.webp,Bald,0,,,\n")
    (root / "strengths.csv").write_text("image,smile,young\nx/one.png,1.5,\nthree.bmp,,0.25\n")


def test_folder_round_trip(tmp_path):
    make_folder(tmp_path / "f")
    ds = DatasetFile(IMPORTERS["folder"](tmp_path / "f", tmp_path / "f.h5"))
    assert ds.image_names == ["three.bmp", "x/one.png", "x/two.jpg", "y/z/four.webp"]
    assert ds.attribute_names == ["smile", "Bald", "young"]
    assert ds.image_shape == (20, 20) and not ds.has_originals
    p = ds.pairs()
    assert list(p.a) == [1, 2, 3, 0] and list(p.b) == [2, 0, 1, 3]
    assert list(p.label) == [PairLabel.A_MORE, PairLabel.B_MORE, PairLabel.EQUAL, PairLabel.EQUAL]
    assert list(p.split) == [Split.TRAIN, Split.TEST, Split.VAL, Split.TRAIN]
    assert list(p.group) == [PairGroup.NONE, PairGroup.FINE, PairGroup.COARSE, PairGroup.NONE]
    assert np.isclose(p.confidence[0], 0.9) and np.isnan(p.confidence[1])
    s = ds.strengths
    assert s[1, 0] == 1.5 and np.isnan(s[1, 2]) and s[0, 2] == 0.25 and np.isnan(s[2]).all()


def test_folder_mixed_sizes_resized_with_originals(tmp_path):
    make_folder(tmp_path / "f", mixed=True)
    ds = DatasetFile(IMPORTERS["folder"](tmp_path / "f", tmp_path / "f.h5"))
    assert ds.image_shape == (20, 20) and ds.has_originals  # the most common size
    assert ds.original(0)[:2] == b"BM"
    ds2 = DatasetFile(IMPORTERS["folder"](tmp_path / "f", tmp_path / "g.h5", size=16, fit="crop"))
    assert ds2.image_shape == (16, 16)


def _pairs_text(root, text):
    (root / "pairs.csv").write_text(text)


FOLDER_CORRUPTIONS = {
    "no pairs.csv": lambda r: (r / "pairs.csv").unlink(),
    "wrong header": lambda r: _pairs_text(r, "a,b,attr,label\nx/one.png,x/two.jpg,smile,a\n"),
    "bad label": lambda r: _pairs_text(r, "image_a,image_b,attribute,label\nx/one.png,x/two.jpg,smile,maybe\n"),
    "unknown image": lambda r: _pairs_text(r, "image_a,image_b,attribute,label\nx/one.png,nope.png,smile,a\n"),
    "bad split": lambda r: _pairs_text(r, "image_a,image_b,attribute,label,split\nx/one.png,x/two.jpg,s,a,later\n"),
    "bad confidence": lambda r: _pairs_text(r, "image_a,image_b,attribute,label,confidence\nx/one.png,x/two.jpg,s,a,high\n"),
    "not utf-8": lambda r: (r / "pairs.csv").write_bytes(b"image_a,image_b\n\xff\xfe\xfa"),
    "bad strengths": lambda r: (r / "strengths.csv").write_text("image,smile\nx/one.png,lots\n"),
    "corrupt image": lambda r: (r / "x" / "two.jpg").write_bytes(b"\xff\xd8\xffnot really"),
    "empty image": lambda r: (r / "three.bmp").write_bytes(b""),
}


@pytest.mark.parametrize("corruption", list(FOLDER_CORRUPTIONS))
def test_folder_bad_input(tmp_path, corruption):
    root = tmp_path / "f"
    make_folder(root)
    FOLDER_CORRUPTIONS[corruption](root)
    out = tmp_path / "f.h5"
    assert_import_fails_cleanly("folder", root, out)


def test_folder_never_swaps_in_a_file_from_another_folder(tmp_path):
    from tests.unit.fixtures_mat import assert_import_fails_cleanly

    root = tmp_path / "f"
    for rel in ("sub/only.png", "sub/other.png"):
        write_image(root / rel, (8, 8))
    (root / "pairs.csv").write_text("image_a,image_b,attribute,label\nmissingdir/only.png,sub/other.png,x,a\n")
    assert "missingdir/only.png" in assert_import_fails_cleanly("folder", root, tmp_path / "o.h5")
    (root / "pairs.csv").write_text("image_a,image_b,attribute,label\nonly.png,sub/other.png,x,a\n")
    assert IMPORTERS["folder"](root, tmp_path / "o.h5").exists()  # a bare unique name is fine
