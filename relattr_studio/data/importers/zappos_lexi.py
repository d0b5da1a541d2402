"""Zappos50K-lexi: UT-Zap50K images with a larger lexicon of relative attributes, saved by
MATLAB as v7.3 (HDF5) files.

The public layout of this release could not be confirmed (no copy was at hand), so this
importer reads the most plausible one, stated in LAYOUT: the attribute names as a cell of
strings and one cell per attribute of 6-column pair rows for train and for test, in the same
row format as UT-Zap50K's mturkOrder. The .mat reader undoes MATLAB 7.3's quirks
(transposed matrices, cells stored as object references, the 512-byte text userblock) and
also reads v5 files, so a re-saved copy works as well.
"""

from __future__ import annotations

from pathlib import Path

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, PairSource, Split
from relattr_studio.data.dataset_file import PairTable
from relattr_studio.data.importers._common import find_file, randomize_order, require_dir, seed_for
from relattr_studio.data.importers._mat import cell_list, load_mat, str_list
from relattr_studio.data.importers.zappos import (DATA_DIRS, DEFAULT_SIZE, read_imagepaths, six_columns,
                                                  write_subset)

LEXI_FILES = ("zappos-lexi.mat", "zappos50k-lexi.mat", "lexi-labels.mat")
NAME_KEYS = ("attributes", "attribute_names", "attrNames")
SPLIT_KEYS = {Split.TRAIN: ("trainPairs", "trainPairsAll"), Split.TEST: ("testPairs", "testPairsAll")}

LAYOUT = """\
SOURCE/  (.mat files may also sit in SOURCE/ut-zap50k-data/ or SOURCE/data/)
  zappos-lexi.mat   MATLAB v7.3 (HDF5; v5 also read). ASSUMED layout, the public one could not
                    be confirmed: attributes (1xA cell of names), trainPairs and testPairs
                    (1xA cells of Mx6 [imgA, imgB, attr, label 1=A more/2=B more/3=equal,
                    confidence, agreement], indices 1-based; attr indexes attributes)
  image-path.mat    imagepath: Nx1 cell of relative image paths (as UT-Zap50K)
  ut-zap50k-images/ the images"""


def _lexi_file(source: Path) -> Path:
    found = find_file(source, LEXI_FILES, DATA_DIRS)
    if found is None:
        cands = sorted(p for d in DATA_DIRS for p in (source / d).glob("*lexi*.mat"))
        found = cands[0] if cands else None
    if found is None:
        raise DataFileError(source / LEXI_FILES[0], "no Zappos50K-lexi label file found",
                            f"put {LEXI_FILES[0]} in {source} (see `relattr import --help`)")
    return found


def import_zappos_lexi(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, seed: int = 0,
                       all_images: bool = False, images_dir: str | None = None, size: object = DEFAULT_SIZE,
                       fit: str = "pad", keep_originals: bool | None = None) -> Path:
    """Zappos50K-lexi pairs (train and test per attribute) with their UT-Zap50K images."""
    source = require_dir(source)
    ctx.report(0, None, "reading labels")
    lexi = _lexi_file(source)
    d = load_mat(lexi)
    name_key = next((k for k in NAME_KEYS if k in d), None)
    if name_key is None:
        raise DataFileError(lexi, f"missing variable attributes; it has {', '.join(sorted(d)) or 'no variables'}",
                            "see `relattr import --help` for the expected layout")
    names = str_list(d[name_key], lexi, name_key)
    if len(set(names)) != len(names) or not names:
        raise DataFileError(lexi, f"{name_key} must list distinct attribute names, found {names}")
    imagepath_file, rel_paths = read_imagepaths(source)
    tables = []
    for split, keys in SPLIT_KEYS.items():
        key = next((k for k in keys if k in d), None)
        if key is None:
            raise DataFileError(lexi, f"missing variable {keys[0]}; it has {', '.join(sorted(d))}",
                                "see `relattr import --help` for the expected layout")
        cells = cell_list(d[key], lexi, key)
        if len(cells) != len(names):
            raise DataFileError(lexi, f"{key} has {len(cells)} cells for {len(names)} attributes")
        for k, cell in enumerate(cells):
            ctx.check()
            a, b, lab, conf, agree = six_columns(cell, lexi, f"{key}{{{k + 1}}}", len(rel_paths), k)
            a, b, lab = randomize_order(a, b, lab, seed_for(seed, int(split), k))
            tables.append(PairTable.build(a, b, k, lab, confidence=conf, agreement=agree, source=PairSource.REAL,
                                          split=split, group=PairGroup.NONE))
    pairs = PairTable.concat(tables)
    if len(pairs) == 0:
        raise DataFileError(lexi, "holds no pairs")
    meta_kwargs = dict(
        name="zappos50k-lexi", attribute_names=names,
        provenance=f"Zappos50K-lexi (UT-Zap50K images), imported from {lexi}; a/b order randomized (seed {seed})",
        licence="research use only; cite Yu & Grauman, CVPR 2014 and the lexicon's authors",
        default_protocol_description="the file's own trainPairs / testPairs",
    )
    return write_subset(Path(out), source, imagepath_file, rel_paths, pairs, {}, meta_kwargs,
                        all_images=all_images, images_dir=images_dir, size=size, fit=fit,
                        keep_originals=keep_originals, ctx=ctx)

