"""Tiny sources in the public datasets' original layouts, for the importer tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image

OSR_CLASSES = ["coast", "forest", "highway", "insidecity", "mountain", "opencountry", "street", "tallbuilding"]
OSR_ATTRS = ["natural", "open", "perspective", "large-objects", "diagonal-plane", "close-depth"]


def cell(items) -> np.ndarray:
    """A MATLAB cell row (savemat writes numpy object arrays as cells)."""
    arr = np.empty((1, len(items)), dtype=object)
    for i, v in enumerate(items):
        arr[0, i] = v
    return arr


def write_image(path: Path, size=(32, 32), seed: int = 0, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, format=fmt)


def assert_import_fails_cleanly(kind: str, root: Path, out: Path) -> str:
    """Importing ``root`` as ``kind`` raises one DataFileError naming the source, writes nothing."""
    import pytest

    from relattr_studio.core.errors import DataFileError
    from relattr_studio.data.importers import IMPORTERS

    with pytest.raises(DataFileError) as info:
        IMPORTERS[kind](root, out)
    assert str(root) in str(info.value)
    assert no_output_left(out)
    return str(info.value)


def no_output_left(out: Path) -> bool:
    """Neither the output nor a temporary file beside it exists."""
    leftovers = [p for p in out.parent.glob(f".{out.name}*")] if out.parent.exists() else []
    return not out.exists() and not leftovers


# --------------------------------------------------------------------------- OSR / PubFig


def make_category_source(root: Path, *, per_class: int = 4, n_classes: int = 8, n_attr: int = 6,
                         image_size=(32, 32), seed: int = 0) -> dict:
    """An OSR-like data.mat + images/; returns what was written."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    classes = np.repeat(np.arange(n_classes), per_class)
    n = len(classes)
    names = [f"{OSR_CLASSES[c % 8]}_{i}.jpg" for i, c in enumerate(classes)]
    ranks = np.stack([rng.permutation(n_classes) + 1 for _ in range(n_attr)]).astype(np.uint8)
    ranks[0, 1] = ranks[0, 0]  # one tie: classes 0 and 1 are equal on attribute 0
    train = np.zeros(n, np.uint8)
    train[::2] = 1
    feat = rng.normal(size=(n, 16))
    pred = ranks[:, classes].T + rng.normal(scale=0.5, size=(n, n_attr))
    data = {
        "im_names": cell(names),
        "class_labels": (classes + 1).reshape(-1, 1).astype(np.uint8),
        "class_names": cell(OSR_CLASSES[:n_classes]),
        "attribute_names": cell(OSR_ATTRS[:n_attr]),
        "relative_ordering": ranks,
        "used_for_training": train.reshape(-1, 1),
        "feat": feat,
        "relative_att_predictions": pred,
        "relative_att_predictor": rng.normal(size=(16, n_attr)),
    }
    scipy.io.savemat(root / "data.mat", data)
    for i, nm in enumerate(names):
        write_image(root / "images" / nm, image_size, seed=i)
    return dict(data, classes=classes, names=names, ranks=ranks, train=train.astype(bool))


# --------------------------------------------------------------------------- UT-Zap50K

ZAPPOS_REL = [
    "Shoes/Oxfords/Bostonian/100627.72.jpg",
    "Shoes/Sneakers and Athletic Shoes/Nike/7716996.255.jpg",
    "Boots/Ankle/Aquatalia by Marvin K./8000001.3.jpg",  # on disk: "Aquatalia by Marvin K%2E"
    "Sandals/Flat/Levi's/8000002.4.jpg",  # on disk: "Levi's&#174;"
    "Slippers/Slipper Heels/Daniel Green/7000003.5.jpg",
    "Shoes/Loafers/Sperry/7000004.6.jpg",
    "Boots/Knee High/UGG/7000005.7.jpg",
    "Shoes/Heels/Nine West/7000006.8.jpg",
]
ZAPPOS_ON_DISK = [r.replace("Marvin K.", "Marvin K%2E").replace("Levi's", "Levi's&#174;") for r in ZAPPOS_REL]
# quirks as found in image-path.mat: separators, case, whitespace, leading ./
ZAPPOS_IN_MAT = [
    ZAPPOS_REL[0],
    "./" + ZAPPOS_REL[1],
    ZAPPOS_REL[2].replace("/", "\\"),
    ZAPPOS_REL[3] + "  ",
    ZAPPOS_REL[4].lower(),
    ZAPPOS_REL[5], ZAPPOS_REL[6], ZAPPOS_REL[7],
    "Shoes/Unused/Nobody/9999999.9.jpg",  # referenced by no pair: never looked up
]


def zappos_rows(rng, n_rows: int, attr: int, n_images: int, labels=(1, 2)) -> np.ndarray:
    a = rng.integers(1, n_images + 1, n_rows)
    b = (a % n_images) + 1  # never equal to a
    lab = rng.choice(labels, n_rows)
    conf = rng.uniform(0, 1, n_rows)
    agree = rng.uniform(0.5, 1, n_rows)
    return np.column_stack([a, b, np.full(n_rows, attr + 1), lab, conf, agree]).astype(np.float64)


def make_zappos_source(root: Path, *, n_rows: int = 12, n_splits: int = 3, seed: int = 0,
                       with_fg: bool = True, splits_file: str = "train-test-splits.mat") -> dict:
    rng = np.random.default_rng(seed)
    data_dir = root / "ut-zap50k-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    n_img = len(ZAPPOS_REL)  # pairs use the first 8 only
    order = [zappos_rows(rng, n_rows, k, n_img) for k in range(4)]
    equal = [zappos_rows(rng, 3, k, n_img, labels=(3,)) for k in range(4)]
    hard = [zappos_rows(rng, 4, k, n_img) for k in range(4)]
    scipy.io.savemat(data_dir / "zappos-labels.mat", {"mturkOrder": cell(order), "mturkEqual": cell(equal)})
    if with_fg:
        scipy.io.savemat(data_dir / "zappos-labels-fg.mat", {"mturkHard": cell(hard)})
    train_idx, test_idx = [], []
    for k in range(4):
        tr_s, te_s = [], []
        for s in range(n_splits):
            perm = rng.permutation(n_rows) + 1
            tr_s.append(perm[: n_rows // 2].reshape(-1, 1).astype(np.float64))
            te_s.append(perm[n_rows // 2:].reshape(-1, 1).astype(np.float64))
        train_idx.append(cell(tr_s))
        test_idx.append(cell(te_s))
    if splits_file == "train-test-splits.mat":
        scipy.io.savemat(data_dir / splits_file, {"trainIndexAll": cell(train_idx), "testIndexAll": cell(test_idx)})
    else:
        tr_pairs = [cell([order[k][(train_idx[k][0, s].ravel() - 1).astype(int)] for s in range(n_splits)]) for k in range(4)]
        te_pairs = [cell([order[k][(test_idx[k][0, s].ravel() - 1).astype(int)] for s in range(n_splits)]) for k in range(4)]
        scipy.io.savemat(data_dir / splits_file, {"trainPairsAll": cell(tr_pairs), "testPairsAll": cell(te_pairs)})
    ip = np.empty((len(ZAPPOS_IN_MAT), 1), dtype=object)
    for i, p in enumerate(ZAPPOS_IN_MAT):
        ip[i, 0] = p
    scipy.io.savemat(data_dir / "image-path.mat", {"imagepath": ip})
    for i, rel in enumerate(ZAPPOS_ON_DISK):
        write_image(root / "ut-zap50k-images" / rel, (136, 102), seed=i)
    return dict(order=order, equal=equal, hard=hard, train_idx=train_idx, test_idx=test_idx)


# --------------------------------------------------------------------------- MATLAB v7.3


def write_v73(path: Path, variables: dict) -> None:
    """Write ``variables`` the way MATLAB's ``save -v7.3`` does (userblock, transposes, refs)."""
    with h5py.File(path, "w", userblock_size=512) as h5:
        refs = h5.create_group("#refs#")
        counter = [0]

        def put(group, name, value):
            if isinstance(value, str):
                codes = np.array([[ord(c) for c in value]], np.uint16)
                d = group.create_dataset(name, data=codes.T)
                d.attrs["MATLAB_class"] = np.bytes_("char")
                return d
            if isinstance(value, np.ndarray) and value.dtype == object:
                ref_arr = np.empty(value.shape, dtype=h5py.ref_dtype)
                for idx in np.ndindex(value.shape):
                    counter[0] += 1
                    ref_arr[idx] = put(refs, f"r{counter[0]}", value[idx]).ref
                d = group.create_dataset(name, data=ref_arr.T)
                d.attrs["MATLAB_class"] = np.bytes_("cell")
                return d
            arr = np.atleast_2d(np.asarray(value, np.float64))
            d = group.create_dataset(name, data=arr.T)
            d.attrs["MATLAB_class"] = np.bytes_("double")
            return d

        for k, v in variables.items():
            put(h5, k, v)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def make_lexi_source(root: Path, *, attrs=("open", "pointy", "sporty", "comfort", "shiny", "formal"),
                     n_rows: int = 6, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    data_dir = root / "ut-zap50k-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    n_img = len(ZAPPOS_REL)
    train = [zappos_rows(rng, n_rows, k, n_img, labels=(1, 2, 3)) for k in range(len(attrs))]
    test = [zappos_rows(rng, n_rows, k, n_img) for k in range(len(attrs))]
    write_v73(data_dir / "zappos-lexi.mat", {"attributes": cell(list(attrs)), "trainPairs": cell(train),
                                             "testPairs": cell(test)})
    ip = np.empty((len(ZAPPOS_IN_MAT), 1), dtype=object)
    for i, p in enumerate(ZAPPOS_IN_MAT):
        ip[i, 0] = p
    write_v73(data_dir / "image-path.mat", {"imagepath": ip})
    for i, rel in enumerate(ZAPPOS_ON_DISK):
        write_image(root / "ut-zap50k-images" / rel, (136, 102), seed=i)
    return dict(attrs=list(attrs), train=train, test=test)


# --------------------------------------------------------------------------- LFW-10


def make_lfw10_source(root: Path, *, attrs=("baldhead", "smile", "v_teeth"), n_rows: int = 8, n_images: int = 10,
                      seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        write_image(root / "images" / f"{i + 1}.jpg", (40, 40), seed=100 + i)
    written = {}
    for attr in attrs:
        for split in ("train", "test"):
            a = rng.integers(1, n_images + 1, n_rows)
            b = a % n_images + 1
            names = np.empty((n_rows, 3), dtype=object)
            for r in range(n_rows):
                names[r] = [np.array([[r + 1]], np.float64), f"{a[r]}.jpg", f"{b[r]}.jpg"]
            votes = rng.integers(0, 6, (n_rows, 3)).astype(np.float64)
            votes[0] = [5, 1, 0]
            votes[1] = [0, 4, 1]
            votes[2] = [2, 2, 1]  # left and right tie: equal
            strengths = np.column_stack([np.arange(1, n_rows + 1), votes])
            scipy.io.savemat(root / "annotations" / f"{attr}{split}.mat",
                             {"images_compare": names, "attribute_strengths": strengths})
            written[(attr, split)] = (a, b, votes)
    return written
