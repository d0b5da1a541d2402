"""OSR and PubFig from Parikh & Grauman's ``data.mat`` (Relative Attributes, ICCV 2011).

Supervision is category level: ``relative_ordering`` (attributes x classes) ranks the classes,
higher meaning more. Image pairs are made per attribute within one split (train images with
train images, test images with test images, ``used_for_training`` deciding which):

* every pair of images of differently ranked classes is kept (``max_pairs_per_attribute``
  caps them per attribute and split with a seeded uniform sample; default: no cap, so the
  test set is the full set the papers score on);
* pairs of one class, or of equally ranked classes, are "equal"; there are many and they
  carry no order, so a seeded uniform sample of at most ``max_equal_pairs_per_attribute``
  per attribute and split is kept (default 2000; 0 drops them, None keeps all);
* which image is ``a`` is randomized (seeded): the source has no order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, PairSource, Split
from relattr_studio.data.dataset_file import DatasetMeta, PairTable
from relattr_studio.data.importers._common import randomize_order, require_dir, seed_for
from relattr_studio.data.importers._images import write_image_dataset
from relattr_studio.data.importers._mat import load_mat, matlab_index, numeric, str_list

REQUIRED_KEYS = ("im_names", "class_labels", "class_names", "attribute_names", "relative_ordering",
                 "used_for_training")
PER_IMAGE_ARRAYS = ("feat", "relative_att_predictions")

LAYOUT = """\
SOURCE/
  data.mat      MATLAB v5 (or 7.3) file from relative_attributes_v2 ({dataset}/data.mat) with
                im_names (1xN cell), class_labels (Nx1, 1-based), class_names (1xC cell),
                attribute_names (1xA cell), relative_ordering (AxC, higher = more),
                used_for_training (Nx1, 1 = train); optional feat (NxD),
                relative_att_predictions (NxA), relative_att_predictor (DxA)
  images/       the N images named in im_names"""

_PAPER = "Parikh & Grauman, \"Relative Attributes\", ICCV 2011"
_INFO = {
    "pubfig": ("pubfig", f"PubFig relative attributes ({_PAPER}; images from Kumar et al., ICCV 2009)",
               "research use only; cite Parikh & Grauman, ICCV 2011 and Kumar et al., ICCV 2009"),
    "osr": ("osr", f"OSR scenes relative attributes ({_PAPER}; images from Oliva & Torralba, IJCV 2001)",
            "research use only; cite Parikh & Grauman, ICCV 2011 and Oliva & Torralba, IJCV 2001"),
}


def read_category_data(mat_path: Path) -> dict:
    """data.mat checked and converted: 0-based class labels, split per image, ranks."""
    d = load_mat(mat_path, REQUIRED_KEYS)
    names = str_list(d["im_names"], mat_path, "im_names")
    n = len(names)
    class_names = str_list(d["class_names"], mat_path, "class_names")
    attr_names = str_list(d["attribute_names"], mat_path, "attribute_names")
    if len(set(attr_names)) != len(attr_names):
        raise DataFileError(mat_path, f"attribute_names repeat: {attr_names}")
    n_cls, n_attr = len(class_names), len(attr_names)
    classes = matlab_index(numeric(d["class_labels"], mat_path, "class_labels", ndim=1, shape=(n,)),
                           n_cls, mat_path, "class_labels")
    ranks = numeric(d["relative_ordering"], mat_path, "relative_ordering", ndim=2, shape=(n_attr, n_cls))
    train = numeric(d["used_for_training"], mat_path, "used_for_training", ndim=1, shape=(n,))
    if not np.isin(train, [0, 1]).all():
        raise DataFileError(mat_path, "used_for_training must hold only 1 (train) and 0 (test)")
    arrays = {}
    for key in PER_IMAGE_ARRAYS:
        if key in d:
            cols = n_attr if key == "relative_att_predictions" else None
            values = numeric(d[key], mat_path, key, ndim=2, shape=(n, cols))
            if values.size and np.abs(values).max() > np.finfo(np.float32).max:
                raise DataFileError(mat_path, f"{key} holds values too large to be features or scores")
            arrays[key] = values.astype(np.float32)
    arrays["used_for_training"] = train.astype(np.int8)
    arrays["class_labels"] = (classes + 1).astype(np.int16)  # as in data.mat: 1-based
    return dict(names=names, class_names=class_names, attr_names=attr_names, classes=classes,
                ranks=ranks, train=train.astype(bool), arrays=arrays)


def category_pairs(classes: np.ndarray, ranks: np.ndarray, members: np.ndarray, split: Split, *,
                   max_pairs: int | None, max_equal: int | None, seed: int) -> PairTable:
    """Image pairs among ``members`` for every attribute, labelled from the class ranks."""
    i, j = np.triu_indices(len(members), 1)
    a_all, b_all = members[i], members[j]
    tables = []
    for m in range(ranks.shape[0]):
        label = np.sign(ranks[m, classes[a_all]] - ranks[m, classes[b_all]]).astype(np.int8)
        rng = np.random.default_rng(seed_for(seed, m, int(split)))
        keep = []
        for mask, cap in ((label != 0, max_pairs), (label == 0, max_equal)):
            idx = np.flatnonzero(mask)
            if cap is not None and len(idx) > cap:
                idx = np.sort(rng.choice(idx, size=int(cap), replace=False))
            keep.append(idx)
        idx = np.sort(np.concatenate(keep))
        a, b, lab = randomize_order(a_all[idx], b_all[idx], label[idx], seed_for(seed, 1000 + m, int(split)))
        tables.append(PairTable.build(a, b, m, lab, source=PairSource.REAL, split=split, group=PairGroup.NONE))
    return PairTable.concat(tables)


def _cap(value, name: str) -> int | None:
    if value is None or value == "" or (isinstance(value, str) and value.lower() == "none"):
        return None
    v = int(value)
    if v < 0:
        raise ValueError(f"{name} must be 0 or more")
    return v


def import_category_level(source: Path, out: Path, *, dataset: str, ctx: JobContext = NULL_CONTEXT,
                          max_pairs_per_attribute: int | None = None,
                          max_equal_pairs_per_attribute: int | None = 2000, seed: int = 0,
                          size: object = None, fit: str = "pad", keep_originals: bool | None = None,
                          images_dir: str = "images") -> Path:
    source = require_dir(source)
    name, provenance, licence = _INFO[dataset]
    max_pairs = _cap(max_pairs_per_attribute, "max_pairs_per_attribute")
    max_equal = _cap(max_equal_pairs_per_attribute, "max_equal_pairs_per_attribute")
    ctx.report(0, None, "reading data.mat")
    data = read_category_data(source / "data.mat")
    ctx.check()
    ctx.report(0, None, "making pairs")
    idx = np.arange(len(data["names"]))
    pairs = PairTable.concat([
        category_pairs(data["classes"], data["ranks"], idx[data["train"]], Split.TRAIN,
                       max_pairs=max_pairs, max_equal=max_equal, seed=int(seed)),
        category_pairs(data["classes"], data["ranks"], idx[~data["train"]], Split.TEST,
                       max_pairs=max_pairs, max_equal=max_equal, seed=int(seed)),
    ])
    ctx.check()
    # The class rank is the image's category-level strength (NaN never occurs: ranks are checked).
    strengths = data["ranks"][:, data["classes"]].T.astype(np.float32)
    cap_text = "all" if max_pairs is None else f"at most {max_pairs}"
    eq_text = "all" if max_equal is None else f"at most {max_equal}"
    meta = DatasetMeta(
        name=name, attribute_names=data["attr_names"], image_names=data["names"], strengths=strengths,
        identities=data["classes"].astype(np.int32), identity_names=data["class_names"],
        arrays=data["arrays"], pairs=pairs,
        provenance=(f"{provenance}; imported from {source / 'data.mat'}. Pairs: per attribute and split, "
                    f"{cap_text} pairs of differently ranked classes and {eq_text} equal pairs "
                    f"(seed {seed}); strengths = the class rank from relative_ordering."),
        licence=licence,
        default_protocol_description="used_for_training: train pairs among train images, test pairs among test images",
    )
    images = source / images_dir
    if not images.is_dir():
        raise DataFileError(images, "images folder not found", f"{dataset} needs data.mat and images/ side by side")
    paths = [images / n for n in data["names"]]
    return write_image_dataset(Path(out), paths, meta, source=source / "data.mat", size=size, fit=fit,
                               keep_originals=keep_originals, default_mixed=(256, 256), ctx=ctx)


def import_pubfig(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, **options) -> Path:
    """PubFig (8 people, 11 attributes) from relative_attributes_v2's pubfig/data.mat + images/."""
    return import_category_level(source, out, dataset="pubfig", ctx=ctx, **options)


def import_osr(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, **options) -> Path:
    """OSR (8 scene categories, 6 attributes) from relative_attributes_v2's osr/data.mat + images/."""
    return import_category_level(source, out, dataset="osr", ctx=ctx, **options)
