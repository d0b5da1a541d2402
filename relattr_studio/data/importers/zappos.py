"""UT-Zap50K relative attributes (Yu & Grauman, CVPR 2014): Zappos50K-1 and Zappos50K-2.

Pairs table rows: every row of ``mturkOrder`` (coarse, group COARSE), of ``mturkEqual``
(label equal) and of ``mturkHard`` (fine-grained, group FINE: the Zappos50K-2 test set).
Protocols: ``split-1`` .. ``split-10`` from ``train-test-splits.mat`` (rows of mturkOrder
train/test, others UNUSED for coarse rows outside the split; equal pairs TRAIN; fine pairs
TEST); the default protocol is split 1; ``zappos50k-2`` trains on all coarse and equal pairs
and tests on the fine ones. The 6-column rows are [imgA, imgB, attribute, label 1/2/3,
confidence, agreement] with 1-based image indices into ``image-path.mat``. The source puts
pairs in no meaningful order, but a and b are still swapped for a seeded half of the rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, PairSource, Split
from relattr_studio.data.dataset_file import CategoricalAttribute, DatasetMeta, PairTable, Protocol
from relattr_studio.data.importers._common import (find_dir, find_file, labels_from_123, need_file,
                                                   randomize_order, require_dir, seed_for)
from relattr_studio.data.importers._images import write_image_dataset
from relattr_studio.data.importers._mat import cell_list, load_mat, matlab_index, numeric, str_list
from relattr_studio.data.importers._paths import ImageIndex

ZAPPOS_ATTRIBUTES = ["open", "pointy", "sporty", "comfort"]
IMAGE_DIRS = ("ut-zap50k-images", "ut-zap50k-images-square", "images")
DEFAULT_SIZE = 136  # 136x102 images padded to a square with their own (white) background

LAYOUT = """\
SOURCE/  (the .mat files may also sit in SOURCE/ut-zap50k-data/ or SOURCE/data/)
  zappos-labels.mat            mturkOrder, mturkEqual: 1x4 cells (open, pointy, sporty,
                               comfort) of Mx6 [imgA, imgB, attr, label 1=A more/2=B more/
                               3=equal, confidence, agreement], image indices 1-based
  zappos-labels-fg.mat         optional: mturkHard, same layout (Zappos50K-2, fine-grained)
  train-test-splits.mat        trainIndexAll, testIndexAll: 1x4 cells of 1x10 cells of row
                               indices into mturkOrder{attr} (1-based)
  train-test-splits-pairs.mat  used only when train-test-splits.mat is absent:
                               trainPairsAll, testPairsAll: 1x4 cells of 1x10 cells of Mx6 rows
  image-path.mat               imagepath: Nx1 cell of paths such as
                               'Shoes/Oxfords/Bostonian/100627.72.jpg'
  ut-zap50k-images/            the images (path quirks are tolerated: slashes, case,
                               whitespace, './', '%2E', '&#174;')"""

DATA_DIRS = ("", "ut-zap50k-data", "data")


def six_columns(value, path: Path, what: str, n_images: int, attr: int | None):
    """Rows [imgA, imgB, attr, label, confidence, agreement] checked; returns columns."""
    mat = numeric(value, path, what, ndim=2, finite=False)
    if mat.shape[0] and mat.shape[1] < 4:
        raise DataFileError(path, f"{what} has {mat.shape[1]} columns, expected 6 "
                                  "[imgA, imgB, attribute, label, confidence, agreement]")
    if mat.shape[0] == 0:
        mat = np.zeros((0, 6))
    if not np.isfinite(mat[:, :4]).all():
        raise DataFileError(path, f"{what}: NaN or infinite values in the image, attribute or label columns")
    a = matlab_index(mat[:, 0], n_images, path, f"{what} column 1 (imgA)")
    b = matlab_index(mat[:, 1], n_images, path, f"{what} column 2 (imgB)")
    if attr is not None and len(mat) and not (mat[:, 2] == attr + 1).all():
        found = [f"{v:g}" for v in sorted(set(mat[:, 2].tolist()))[:5]]
        raise DataFileError(path, f"{what}: attribute column holds {found}, expected {attr + 1} for its cell",
                            "the cells must follow the attribute order " + ", ".join(ZAPPOS_ATTRIBUTES))
    label = labels_from_123(mat[:, 3], path, f"{what} column 4 (label)")
    conf = mat[:, 4] if mat.shape[1] > 4 else np.full(len(mat), np.nan)
    agree = mat[:, 5] if mat.shape[1] > 5 else np.full(len(mat), np.nan)
    for col, v in (("confidence", conf), ("agreement", agree)):
        if (np.abs(v[~np.isnan(v)]) > 1e6).any():
            raise DataFileError(path, f"{what}: {col} column holds values beyond any plausible range")
    return a, b, label, conf, agree


def per_attribute_cells(data: dict, key: str, path: Path, n_attr: int) -> list:
    cells = cell_list(data[key], path, key)
    if len(cells) != n_attr:
        raise DataFileError(path, f"{key} has {len(cells)} cells, expected one per attribute ({n_attr})")
    return cells


def read_imagepaths(source: Path) -> tuple[Path, list[str]]:
    path = need_file(source, ["image-path.mat"], DATA_DIRS)
    d = load_mat(path, ["imagepath"])
    return path, [p.strip().replace("\\", "/").removeprefix("./") for p in str_list(d["imagepath"], path, "imagepath")]


def resolve_images(source: Path, imagepath_file: Path, rel_paths: list[str], needed: np.ndarray,
                   images_dir: str | None, ctx: JobContext) -> tuple[Path, list[Path]]:
    """Files on disk for the image indices ``needed``; one clear error lists missing ones."""
    root = source / images_dir if images_dir else find_dir(source, IMAGE_DIRS)
    if root is None or not root.is_dir():
        raise DataFileError(source / IMAGE_DIRS[0], "images folder not found",
                            f"unpack the images into {source / IMAGE_DIRS[0]} or pass images_dir")
    ctx.report(0, None, "indexing images")
    index = ImageIndex(root)
    found, missing = [], []
    for i in needed:
        p = index.find(rel_paths[i])
        (missing.append(rel_paths[i]) if p is None else found.append(p))
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise DataFileError(imagepath_file, f"{len(missing)} of {len(needed)} needed images not found under "
                                            f"{root}: {shown}{' ...' if len(missing) > 5 else ''}",
                            "unpack the complete image archive there")
    return root, found


def write_subset(out: Path, source: Path, imagepath_file: Path, rel_paths: list[str], pairs: PairTable,
                 protocols: dict, meta_kwargs: dict, *, all_images: bool, images_dir: str | None,
                 size, fit: str, keep_originals, ctx: JobContext) -> Path:
    """Keep the images the pairs use (or all), renumber the pairs, write the file."""
    n = len(rel_paths)
    needed = np.arange(n) if all_images else np.unique(np.concatenate([pairs.a, pairs.b]))
    remap = np.full(n, -1, np.int64)
    remap[needed] = np.arange(len(needed))
    pairs.a, pairs.b = remap[pairs.a].astype(np.int32), remap[pairs.b].astype(np.int32)
    root, files = resolve_images(source, imagepath_file, rel_paths, needed, images_dir, ctx)
    names = [f.relative_to(root).as_posix() for f in files]  # as on disk, quirks of the .mat undone
    tops = [nm.split("/")[0] if "/" in nm else "" for nm in names]
    classes = sorted(set(tops))
    categorical = {}
    if len(classes) > 1 or classes != [""]:
        categorical["category"] = CategoricalAttribute(np.array([classes.index(t) for t in tops], np.int16), classes)
    meta = DatasetMeta(image_names=names, pairs=pairs, protocols=protocols, categorical=categorical,
                       arrays={"source_index": (needed + 1).astype(np.int32)}, **meta_kwargs)
    return write_image_dataset(out, files, meta, source=imagepath_file, size=size, fit=fit,
                               keep_originals=keep_originals, ctx=ctx)


def _split_indices(source: Path, n_rows: list[int], n_attr: int, order_rows: list[tuple], n_images: int):
    """Per attribute, per split: (train rows, test rows), 0-based rows of mturkOrder{attr}."""
    path = find_file(source, ["train-test-splits.mat"], DATA_DIRS)
    if path is not None:
        d = load_mat(path)
        keys = [k for k in (("trainIndexAll", "testIndexAll"), ("trainIndex", "testIndex")) if k[0] in d and k[1] in d]
        if not keys:
            raise DataFileError(path, f"missing variables trainIndexAll and testIndexAll; it has {', '.join(sorted(d))}")
        tr_key, te_key = keys[0]
        out = []
        for k in range(n_attr):
            trs = cell_list(per_attribute_cells(d, tr_key, path, n_attr)[k], path, tr_key)
            tes = cell_list(per_attribute_cells(d, te_key, path, n_attr)[k], path, te_key)
            if len(trs) != len(tes):
                raise DataFileError(path, f"{tr_key} and {te_key} have different numbers of splits for attribute {k + 1}")
            out.append([(matlab_index(tr, n_rows[k], path, f"{tr_key}{{{k + 1}}}{{{s + 1}}}"),
                         matlab_index(te, n_rows[k], path, f"{te_key}{{{k + 1}}}{{{s + 1}}}"))
                        for s, (tr, te) in enumerate(zip(trs, tes))])
        return path, out
    path = find_file(source, ["train-test-splits-pairs.mat"], DATA_DIRS)
    if path is None:
        raise DataFileError(source / "train-test-splits.mat", "no train/test split file found",
                            "put train-test-splits.mat (or train-test-splits-pairs.mat) beside zappos-labels.mat")
    d = load_mat(path, ["trainPairsAll", "testPairsAll"])
    out = []
    for k in range(n_attr):
        # the same image pair can occur in several rows: each occurrence takes the next row
        lookup: dict[tuple[int, int], list[int]] = {}
        for i, (a, b) in enumerate(zip(order_rows[k][0], order_rows[k][1])):
            lookup.setdefault((min(int(a), int(b)), max(int(a), int(b))), []).append(i)
        cells = {key: [six_columns(c, path, f"{key}{{{k + 1}}}{{{s + 1}}}", n_images, None)[:2]
                       for s, c in enumerate(cell_list(per_attribute_cells(d, key, path, n_attr)[k], path, key))]
                 for key in ("trainPairsAll", "testPairsAll")}
        if len(cells["trainPairsAll"]) != len(cells["testPairsAll"]):
            raise DataFileError(path, f"trainPairsAll and testPairsAll have different numbers of splits for attribute {k + 1}")
        per_split = []
        for s in range(len(cells["trainPairsAll"])):
            used: dict[tuple[int, int], int] = {}  # shared by train and test of one split
            both = []
            for key in ("trainPairsAll", "testPairsAll"):
                rows = []
                for x, y in zip(*(v.tolist() for v in cells[key][s])):
                    pk = (min(x, y), max(x, y))
                    cands, n_used = lookup.get(pk, []), used.get(pk, 0)
                    if n_used < len(cands):
                        rows.append(cands[n_used])
                        used[pk] = n_used + 1
                both.append(np.asarray(rows, np.int64))
            per_split.append(tuple(both))
        out.append(per_split)
    return path, out


def import_zappos(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, seed: int = 0,
                  all_images: bool = False, images_dir: str | None = None, size: object = DEFAULT_SIZE,
                  fit: str = "pad", keep_originals: bool | None = None) -> Path:
    """UT-Zap50K relative attributes: coarse pairs with 10 splits, equal pairs, fine-grained pairs."""
    source = require_dir(source)
    ctx.report(0, None, "reading labels")
    imagepath_file, rel_paths = read_imagepaths(source)
    n_images, n_attr = len(rel_paths), len(ZAPPOS_ATTRIBUTES)
    labels_file = need_file(source, ["zappos-labels.mat"], DATA_DIRS)
    labels = load_mat(labels_file, ["mturkOrder"])
    orders = [six_columns(c, labels_file, f"mturkOrder{{{k + 1}}}", n_images, k)
              for k, c in enumerate(per_attribute_cells(labels, "mturkOrder", labels_file, n_attr))]
    blocks = [(orders, PairGroup.COARSE, "order")]
    if "mturkEqual" in labels:
        blocks.append(([six_columns(c, labels_file, f"mturkEqual{{{k + 1}}}", n_images, k)
                        for k, c in enumerate(per_attribute_cells(labels, "mturkEqual", labels_file, n_attr))],
                       PairGroup.COARSE, "equal"))
    fg_file = find_file(source, ["zappos-labels-fg.mat"], DATA_DIRS)
    if fg_file is not None:
        fg = load_mat(fg_file, ["mturkHard"])
        blocks.append(([six_columns(c, fg_file, f"mturkHard{{{k + 1}}}", n_images, k)
                        for k, c in enumerate(per_attribute_cells(fg, "mturkHard", fg_file, n_attr))],
                       PairGroup.FINE, "hard"))
    ctx.check()
    split_file, splits = _split_indices(source, [len(o[0]) for o in orders], n_attr, orders, n_images)
    n_splits = len(splits[0]) if splits else 0
    if n_splits == 0 or any(len(s) != n_splits for s in splits):
        raise DataFileError(split_file, "every attribute needs the same number (at least 1) of splits")
    tables, split_cols = [], {s: [] for s in range(n_splits)}
    z2 = []
    for bi, (rows, group, kind) in enumerate(blocks):
        for k, (a, b, lab, conf, agree) in enumerate(rows):
            a, b, lab = randomize_order(a, b, lab, seed_for(seed, bi, k))
            tables.append(PairTable.build(a, b, k, lab, confidence=conf, agreement=agree,
                                          source=PairSource.REAL, group=group))
            for s in range(n_splits):
                if kind == "order":
                    col = np.full(len(a), Split.UNUSED, np.int8)
                    tr, te = splits[k][s]
                    col[tr] = Split.TRAIN
                    if np.isin(te, tr).any():
                        raise DataFileError(split_file, f"split {s + 1} of attribute {ZAPPOS_ATTRIBUTES[k]} "
                                                        "puts the same row in train and test")
                    col[te] = Split.TEST
                else:
                    col = np.full(len(a), Split.TRAIN if kind == "equal" else Split.TEST, np.int8)
                split_cols[s].append(col)
            z2.append(np.full(len(a), Split.TEST if kind == "hard" else Split.TRAIN, np.int8))
    pairs = PairTable.concat(tables)
    pairs.split = np.concatenate(split_cols[0]).astype(np.int8)
    protocols = {f"split-{s + 1}": Protocol(f"UT-Zap50K train/test split {s + 1} of {n_splits} "
                                            "(equal pairs train, fine-grained pairs test)",
                                            np.concatenate(split_cols[s])) for s in range(n_splits)}
    if fg_file is not None:
        protocols["zappos50k-2"] = Protocol("Zappos50K-2: train on all coarse and equal pairs, test on the "
                                            "fine-grained mturkHard pairs", np.concatenate(z2))
    ctx.check()
    meta_kwargs = dict(
        name="ut-zap50k", attribute_names=list(ZAPPOS_ATTRIBUTES),
        provenance=(f"UT-Zap50K relative attributes (Yu & Grauman, CVPR 2014), imported from {source}; "
                    f"splits from {split_file.name}; a/b order randomized (seed {seed})"),
        licence="research use only; cite Yu & Grauman, \"Fine-Grained Visual Comparisons with Local Learning\", CVPR 2014",
        default_protocol_description="split 1 of train-test-splits.mat (equal pairs train, fine-grained pairs test)",
    )
    return write_subset(Path(out), source, imagepath_file, rel_paths, pairs, protocols, meta_kwargs,
                        all_images=all_images, images_dir=images_dir, size=size, fit=fit,
                        keep_originals=keep_originals, ctx=ctx)
