"""LFW-10 (Sandeep, Verma & Jawahar, ICVGIP 2014): 10 face attributes, 500 train and 500 test
pairs each, labelled by several annotators.

Per attribute ``{attr}train.mat`` / ``{attr}test.mat`` hold ``images_compare`` (M x 3 cell:
pair id, left image name, right image name; M x 2 without the id is read too; numbers
instead of names name the files ``<number>.<ext>``) and ``attribute_strengths`` (M x 4:
pair id, votes "left more", votes "right more", votes "equal"; M x 3 without the id; M x 2
is read as two real-valued strengths). Label: the option most annotators chose, "equal"
when left and right tie; agreement = that option's share of the votes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split
from relattr_studio.data.dataset_file import DatasetMeta, PairTable
from relattr_studio.data.importers._common import find_dir, randomize_order, require_dir, seed_for
from relattr_studio.data.importers._images import write_image_dataset
from relattr_studio.data.importers._mat import as_str, load_mat, numeric
from relattr_studio.data.importers._paths import ImageIndex

LFW10_ATTRIBUTES = ["baldhead", "darkhair", "eyesopen", "goodlooking", "masculinelooking", "mouthopen",
                    "smile", "vforehead", "v_teeth", "young"]
ANNOTATION_DIRS = ("annotations", "annotation", "")

LAYOUT = """\
SOURCE/
  annotations/   (or SOURCE/ itself) per attribute {attr}train.mat and {attr}test.mat, attributes
                 baldhead, darkhair, eyesopen, goodlooking, masculinelooking, mouthopen, smile,
                 vforehead, v_teeth, young (others found the same way are imported too), each with
                 images_compare (Mx3 cell: id, left image, right image) and
                 attribute_strengths (Mx4: id, votes left more, votes right more, votes equal)
  images/        the face images named in images_compare"""


def _annotation_files(source: Path) -> dict[str, dict[Split, Path]]:
    found: dict[str, dict[Split, Path]] = {}
    for sub in ANNOTATION_DIRS:
        folder = source / sub if sub else source
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.mat")):
            stem = p.stem
            for suffix, split in (("train", Split.TRAIN), ("test", Split.TEST)):
                if stem.lower().endswith(suffix) and len(stem) > len(suffix):
                    found.setdefault(stem[: -len(suffix)], {}).setdefault(split, p)
        if found:
            break
    order = {n: i for i, n in enumerate(LFW10_ATTRIBUTES)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _names(value, path: Path) -> list[tuple[str, str]]:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise DataFileError(path, f"images_compare has shape {arr.shape}, expected M x 3 (id, left, right)")
    cols = (1, 2) if arr.shape[1] == 3 else (0, 1)

    def name(v, i, c):
        if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" or isinstance(v, (int, float, np.number)):
            x = np.asarray(v, np.float64).ravel()
            if x.size != 1 or not np.isfinite(x[0]) or x[0] != round(x[0]):
                raise DataFileError(path, f"images_compare row {i + 1} column {c + 1} is not an image name or number")
            return str(int(x[0]))
        return as_str(v, path, f"images_compare row {i + 1} column {c + 1}").strip()

    return [(name(arr[i, cols[0]], i, cols[0]), name(arr[i, cols[1]], i, cols[1])) for i in range(arr.shape[0])]


def _labels(value, path: Path, m: int) -> tuple[np.ndarray, np.ndarray]:
    s = numeric(value, path, "attribute_strengths", ndim=2)
    if s.shape[0] != m:
        raise DataFileError(path, f"attribute_strengths has {s.shape[0]} rows but images_compare has {m}",
                            "the two variables must describe the same pairs")
    if s.shape[1] == 2:
        label = np.sign(s[:, 0] - s[:, 1]).astype(np.int8)
        return label, np.full(m, np.nan)
    if s.shape[1] not in (3, 4):
        raise DataFileError(path, f"attribute_strengths has {s.shape[1]} columns, expected 4 "
                                  "(id, votes left more, votes right more, votes equal)")
    votes = s[:, -3:]
    if (votes < 0).any():
        raise DataFileError(path, "attribute_strengths holds negative vote counts")
    va, vb, ve = votes.T
    label = np.full(m, int(PairLabel.EQUAL), np.int8)
    label[(va > vb) & (va >= ve)] = PairLabel.A_MORE
    label[(vb > va) & (vb >= ve)] = PairLabel.B_MORE
    total = votes.sum(axis=1)
    # agreement: the share of votes for the option the label took (a tie between "left" and
    # "right" becomes equal, with the share of the "equal" votes)
    chosen = np.select([label == PairLabel.A_MORE, label == PairLabel.B_MORE], [va, vb], ve)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(total > 0, chosen / total, np.nan)
    return label, agree


def import_lfw10(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, seed: int = 0,
                 images_dir: str | None = None, size: object = None, fit: str = "pad",
                 keep_originals: bool | None = None) -> Path:
    """LFW-10 train and test pairs of every attribute found, with the images they use."""
    source = require_dir(source)
    files = _annotation_files(source)
    if not files:
        raise DataFileError(source, "no {attr}train.mat / {attr}test.mat files found",
                            "expected e.g. annotations/smiletrain.mat (see `relattr import --help`)")
    root = source / images_dir if images_dir else find_dir(source, ("images", "Images", "lfw10", "LFW10"))
    if root is None or not root.is_dir():
        raise DataFileError(source / "images", "images folder not found", "put the LFW-10 images in SOURCE/images")
    index = ImageIndex(root)
    by_stem: dict[str, list[Path]] = {}
    for p in index.by_key.values():
        by_stem.setdefault(p.stem.casefold(), []).append(p)
    attr_names = list(files)
    image_ids: dict[Path, int] = {}
    tables, missing = [], []
    for k, (attr, splits) in enumerate(files.items()):
        for split, path in sorted(splits.items()):
            ctx.check()
            ctx.report(k, len(attr_names), "reading annotations")
            d = load_mat(path, ["images_compare", "attribute_strengths"])
            names = _names(d["images_compare"], path)
            label, agree = _labels(d["attribute_strengths"], path, len(names))
            ab = []
            for pair in names:
                row = []
                for nm in pair:
                    p = index.find(nm)
                    if p is None:
                        same = by_stem.get(Path(nm).stem.casefold() if "." in nm else nm.casefold(), [])
                        p = same[0] if len(same) == 1 else None
                    if p is None:
                        missing.append((path, nm))
                        row.append(-1)
                    else:
                        row.append(image_ids.setdefault(p, len(image_ids)))
                ab.append(row)
            ab_arr = np.asarray(ab, np.int64).reshape(-1, 2)
            a, b, lab = randomize_order(ab_arr[:, 0], ab_arr[:, 1], label, seed_for(seed, k, int(split)))
            tables.append(PairTable.build(a, b, k, lab, agreement=agree, source=PairSource.REAL,
                                          split=split, group=PairGroup.NONE))
    if missing:
        shown = ", ".join(repr(n) for _, n in missing[:5])
        raise DataFileError(missing[0][0], f"{len(missing)} image(s) it names are not in {root}: {shown}"
                                           f"{' ...' if len(missing) > 5 else ''}", "copy the complete LFW-10 images folder")
    paths = list(image_ids)
    meta = DatasetMeta(
        name="lfw-10", attribute_names=attr_names,
        image_names=[p.relative_to(root).as_posix() for p in paths], pairs=PairTable.concat(tables),
        provenance=f"LFW-10 (Sandeep, Verma & Jawahar, ICVGIP 2014), imported from {source}; "
                   f"label = majority vote, a/b order randomized (seed {seed})",
        licence="research use only; cite Sandeep et al., ICVGIP 2014 and Huang et al., LFW 2007",
        default_protocol_description="the files' own train / test pairs",
    )
    return write_image_dataset(Path(out), paths, meta, source=source, size=size, fit=fit,
                               keep_originals=keep_originals, ctx=ctx)
