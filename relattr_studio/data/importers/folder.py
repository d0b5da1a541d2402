"""A plain folder of images plus ``pairs.csv`` (and optionally ``strengths.csv``).

``pairs.csv`` columns (header required, order free, names case-insensitive):
``image_a, image_b, attribute, label`` and optionally ``confidence, agreement, split, group``.
Images are named by their path relative to the folder (``/`` or ``\\``), or by bare file
name when that is unique. ``label``: ``a`` (image_a shows more), ``b`` (image_b shows more)
or ``equal``; the numbers ``1``, ``-1``, ``0`` mean the same (sign of a - b). ``split``:
train, test, val or unused (default train). ``group``: none, coarse or fine (default none).
``strengths.csv``: ``image`` then one column per attribute, real values, empty = unknown.
Every image found (recursively) is imported, labelled or not, so the app can label it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split
from relattr_studio.data.dataset_file import DatasetMeta, PairTable
from relattr_studio.data.importers._common import require_dir
from relattr_studio.data.importers._images import IMAGE_SUFFIXES, write_image_dataset
from relattr_studio.data.importers._paths import ImageIndex

LAYOUT = """\
SOURCE/
  pairs.csv       header image_a,image_b,attribute,label[,confidence,agreement,split,group];
                  label a|b|equal (or 1|-1|0: 1 = image_a shows more); split train|test|val|unused;
                  group none|coarse|fine; images by path relative to SOURCE or unique file name
  strengths.csv   optional: image,<attr1>,<attr2>,... real values, empty = unknown
  **/*.png|jpg|jpeg|bmp|webp   the images (any sub-folders); all are imported"""

LABELS = {"a": PairLabel.A_MORE, "1": PairLabel.A_MORE, "+1": PairLabel.A_MORE, "a-more": PairLabel.A_MORE,
          "b": PairLabel.B_MORE, "-1": PairLabel.B_MORE, "b-more": PairLabel.B_MORE,
          "equal": PairLabel.EQUAL, "0": PairLabel.EQUAL, "=": PairLabel.EQUAL, "eq": PairLabel.EQUAL}
SPLITS = {"train": Split.TRAIN, "test": Split.TEST, "val": Split.VAL, "unused": Split.UNUSED, "": Split.TRAIN}
GROUPS = {"none": PairGroup.NONE, "coarse": PairGroup.COARSE, "fine": PairGroup.FINE, "": PairGroup.NONE}
REQUIRED = ("image_a", "image_b", "attribute", "label")


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            rows = []
            for row in reader:
                rows.append({(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else ""
                             for k, v in row.items()})
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataFileError(path, f"cannot read it as UTF-8 CSV ({err})", "save it as UTF-8 comma-separated text") from err
    return header, rows


def _number(text: str, path: Path, line: int, col: str) -> float:
    if text == "" or text.lower() in ("nan", "na"):
        return math.nan
    try:
        v = float(text)
    except ValueError:
        raise DataFileError(path, f"line {line}: {col} {text!r} is not a number") from None
    if math.isinf(v):
        raise DataFileError(path, f"line {line}: {col} is infinite")
    return v


def import_folder(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, size: object = None,
                  fit: str = "pad", keep_originals: bool | None = None, name: str | None = None) -> Path:
    """Every image under ``source`` and the pairs of ``pairs.csv``."""
    source = require_dir(source)
    pairs_csv = source / "pairs.csv"
    if not pairs_csv.is_file():
        raise DataFileError(pairs_csv, "pairs.csv not found", "see `relattr import --help` for its columns")
    ctx.report(0, None, "indexing images")
    index = ImageIndex(source, IMAGE_SUFFIXES)
    paths = sorted(index.by_key.values())
    if not paths:
        raise DataFileError(source, "holds no images (png, jpg, jpeg, bmp, webp)")
    ids = {p: i for i, p in enumerate(paths)}
    header, rows = _read_csv(pairs_csv)
    missing_cols = [c for c in REQUIRED if c not in header]
    if missing_cols:
        raise DataFileError(pairs_csv, f"missing column(s) {', '.join(missing_cols)}; header is {header}",
                            "the header must be image_a,image_b,attribute,label[,confidence,agreement,split,group]")
    attrs: list[str] = []
    cols = {c: [] for c in ("a", "b", "attribute", "label", "confidence", "agreement", "split", "group")}
    missing: list[tuple[int, str]] = []
    for line, row in enumerate(rows, start=2):
        ref = []
        for key in ("image_a", "image_b"):
            p = index.find(row[key], loose=False) if row[key] else None
            if p is None:
                missing.append((line, row[key]))
            ref.append(ids.get(p, -1))
        attr = row["attribute"]
        if not attr:
            raise DataFileError(pairs_csv, f"line {line}: empty attribute")
        if attr not in attrs:
            attrs.append(attr)
        label = LABELS.get(row["label"].lower())
        if label is None:
            raise DataFileError(pairs_csv, f"line {line}: label {row['label']!r} is not a, b or equal (1, -1, 0)")
        split = SPLITS.get(row.get("split", "").lower())
        group = GROUPS.get(row.get("group", "").lower())
        if split is None or group is None:
            raise DataFileError(pairs_csv, f"line {line}: split must be train/test/val/unused and group none/coarse/fine")
        cols["a"].append(ref[0])
        cols["b"].append(ref[1])
        cols["attribute"].append(attrs.index(attr))
        cols["label"].append(int(label))
        cols["confidence"].append(_number(row.get("confidence", ""), pairs_csv, line, "confidence"))
        cols["agreement"].append(_number(row.get("agreement", ""), pairs_csv, line, "agreement"))
        cols["split"].append(int(split))
        cols["group"].append(int(group))
    if missing:
        shown = ", ".join(f"line {ln}: {nm!r}" for ln, nm in missing[:5])
        raise DataFileError(pairs_csv, f"{len(missing)} image reference(s) not found in {source}: {shown}",
                            "name images by their path relative to the folder")
    strengths = None
    strengths_csv = source / "strengths.csv"
    if strengths_csv.is_file():
        s_header, s_rows = _read_csv(strengths_csv)
        if "image" not in s_header:
            raise DataFileError(strengths_csv, f"needs an 'image' column; header is {s_header}")
        with open(strengths_csv, newline="", encoding="utf-8-sig") as fh:
            raw_header = [h.strip() for h in next(csv.reader(fh), [])]
        s_attrs = [h for h in raw_header if h.lower() != "image" and h]
        # attributes are matched by name, case-insensitively, to those of pairs.csv
        lower = {a.lower(): a for a in attrs}
        for a in s_attrs:
            if a.lower() not in lower:
                attrs.append(a)
                lower[a.lower()] = a
        strengths = np.full((len(paths), len(attrs)), np.nan, np.float32)
        for line, row in enumerate(s_rows, start=2):
            p = index.find(row["image"], loose=False)
            if p is None:
                raise DataFileError(strengths_csv, f"line {line}: image {row['image']!r} not found in {source}")
            for a in s_attrs:
                strengths[ids[p], attrs.index(lower[a.lower()])] = _number(row.get(a.lower(), ""), strengths_csv, line, a)
    ctx.check()
    pairs = PairTable.build(cols["a"], cols["b"], cols["attribute"], cols["label"], confidence=cols["confidence"],
                            agreement=cols["agreement"], source=PairSource.REAL, split=cols["split"], group=cols["group"])
    meta = DatasetMeta(
        name=name or source.name, attribute_names=attrs,
        image_names=[p.relative_to(source).as_posix() for p in paths], strengths=strengths, pairs=pairs,
        provenance=f"imported from the folder {source} (pairs.csv{', strengths.csv' if strengths is not None else ''})",
        default_protocol_description="the split column of pairs.csv",
    )
    return write_image_dataset(Path(out), paths, meta, source=pairs_csv, size=size, fit=fit,
                               keep_originals=keep_originals, ctx=ctx)

