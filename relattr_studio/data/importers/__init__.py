"""Importers: public relative-attribute datasets -> one dataset file.

``IMPORTERS[name](source, out, *, ctx=NULL_CONTEXT, **options) -> out`` reads the dataset in
its original layout from the folder ``source`` and writes a dataset file at ``out``
atomically (nothing appears at ``out`` unless the import succeeded). Any problem with the
input is raised as :class:`~relattr_studio.core.errors.DataFileError` naming the file.
``IMPORTER_HELP`` has a one-line description per importer, ``IMPORTER_LAYOUT`` the folder
layout it expects and ``IMPORTER_OPTIONS`` its keyword options with their meaning.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.paths import refuse_overwriting_inputs
from relattr_studio.data.importers import folder, lfw10, osr_pubfig, zappos, zappos_lexi


class Importer(Protocol):
    def __call__(self, source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, **options) -> Path: ...


def refuse_output_in_source(source: str | Path, out: str | Path) -> None:
    """A RelAttrError when writing ``out`` would destroy what an import reads: ``out`` is the
    source itself, or an existing file inside the source folder (its data.mat, its pairs.csv,
    an image). A new file inside the source is fine."""
    source, out = Path(source), Path(out)
    refuse_overwriting_inputs(out, source, what="the dataset to write")
    if out.exists() and source.is_dir():
        try:
            inside = out.resolve().is_relative_to(source.resolve())
        except OSError:
            inside = False
        if inside:
            raise RelAttrError(f"{out}: the dataset to write is a file of the source folder {source} (the "
                               "import may read it, and writing would destroy it); choose another output file")


def _guarded(importer: Importer) -> Importer:
    @functools.wraps(importer)
    def run(source: Path, out: Path, *, ctx: JobContext = NULL_CONTEXT, **options) -> Path:
        refuse_output_in_source(source, out)
        return importer(source, out, ctx=ctx, **options)

    return run


IMPORTERS: dict[str, Importer] = {name: _guarded(importer) for name, importer in {
    "pubfig": osr_pubfig.import_pubfig,
    "osr": osr_pubfig.import_osr,
    "zappos": zappos.import_zappos,
    "zappos-lexi": zappos_lexi.import_zappos_lexi,
    "lfw10": lfw10.import_lfw10,
    "folder": folder.import_folder,
}.items()}

IMPORTER_HELP: dict[str, str] = {
    "pubfig": "PubFig faces, 11 attributes, category-level orderings (Parikh & Grauman data.mat + images/)",
    "osr": "OSR scenes, 6 attributes, category-level orderings (Parikh & Grauman data.mat + images/)",
    "zappos": "UT-Zap50K shoes, 4 attributes: coarse pairs with 10 splits, equal and fine-grained pairs",
    "zappos-lexi": "Zappos50K-lexi: UT-Zap50K images with a larger attribute lexicon (MATLAB 7.3 files)",
    "lfw10": "LFW-10 faces, 10 attributes, annotator-voted train and test pairs",
    "folder": "any folder of images plus pairs.csv (and optional strengths.csv)",
}

IMPORTER_LAYOUT: dict[str, str] = {
    "pubfig": osr_pubfig.LAYOUT.format(dataset="pubfig"),
    "osr": osr_pubfig.LAYOUT.format(dataset="osr"),
    "zappos": zappos.LAYOUT,
    "zappos-lexi": zappos_lexi.LAYOUT,
    "lfw10": lfw10.LAYOUT,
    "folder": folder.LAYOUT,
}

_IMAGE_OPTIONS = {
    "size": "store images at this size: one number (square) or WIDTHxHEIGHT; default native when all "
            "images share a size",
    "fit": "how images are fitted to the size: pad (keep aspect, pad with the border colour; default), "
           "stretch or crop",
    "keep_originals": "keep the encoded source files (default: only when images are resized)",
}
_CATEGORY_OPTIONS = {
    "max_pairs_per_attribute": "cap on pairs of differently ranked classes per attribute and split, "
                               "seeded uniform sample (default: all)",
    "max_equal_pairs_per_attribute": "cap on equal pairs per attribute and split, seeded sample (default 2000)",
    "seed": "seed for sampling and for which image is shown as a (default 0)",
}
_ZAPPOS_OPTIONS = {
    "all_images": "import every image of image-path.mat, not only those the pairs use",
    "images_dir": "images folder under SOURCE (default: ut-zap50k-images)",
    "seed": "seed for which image is shown as a (default 0)",
}
IMPORTER_OPTIONS: dict[str, dict[str, str]] = {
    "pubfig": {**_CATEGORY_OPTIONS, **_IMAGE_OPTIONS},
    "osr": {**_CATEGORY_OPTIONS, **_IMAGE_OPTIONS},
    "zappos": {**_ZAPPOS_OPTIONS, **_IMAGE_OPTIONS, "size": "default 136: 136x102 images padded to 136x136"},
    "zappos-lexi": {**_ZAPPOS_OPTIONS, **_IMAGE_OPTIONS, "size": "default 136: 136x102 images padded to 136x136"},
    "lfw10": {"seed": "seed for which image is shown as a (default 0)",
              "images_dir": "images folder under SOURCE (default: images)", **_IMAGE_OPTIONS},
    "folder": {"name": "dataset name (default: the folder's name)", **_IMAGE_OPTIONS,
               "size": "one number or WIDTHxHEIGHT; default: the common size, or the most common one "
                       "when sizes differ (others padded)"},
}

__all__ = ["IMPORTERS", "IMPORTER_HELP", "IMPORTER_LAYOUT", "IMPORTER_OPTIONS", "Importer", "refuse_output_in_source"]
