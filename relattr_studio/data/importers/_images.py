"""Loading source images with PIL and streaming them into a dataset file.

Sizing rule shared by all importers: when every image has the same size and no size was
asked for, images are stored at their native size and no originals are kept. Otherwise each
image is fitted to the target size (``fit="pad"``: keep the aspect ratio and pad with the
image's own border colour; ``"stretch"``: resize to fill; ``"crop"``: scale to cover and
centre-crop) and the encoded source file is kept in ``/originals``.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.data.dataset_file import DatasetMeta, DatasetWriter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FITS = ("pad", "stretch", "crop")
_BAD_IMAGE_HINT = "replace the file with a readable copy, or remove it and the pairs that use it"
_PIL_ERRORS = (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError,
               EOFError, IndexError, TypeError, ZeroDivisionError)


def parse_size(size: object) -> tuple[int, int] | None:
    """``None``, an int (square), ``(h, w)``, or text ``"128"`` / ``"136x102"`` (WIDTHxHEIGHT)."""
    if size is None or size == "":
        return None
    try:
        if isinstance(size, str):
            parts = size.lower().replace("*", "x").split("x")
            if len(parts) == 1:
                h = w = int(parts[0])
            elif len(parts) == 2:
                w, h = int(parts[0]), int(parts[1])
            else:
                raise ValueError(size)
        elif isinstance(size, (int, np.integer)):
            h = w = int(size)
        else:
            h, w = (int(v) for v in size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"image size {size!r}: give one number (square) or WIDTHxHEIGHT, e.g. 136x102") from None
    if not (8 <= h <= 4096 and 8 <= w <= 4096):
        raise ValueError(f"image size {size!r}: each side must be between 8 and 4096 pixels")
    return h, w


def check_exist(paths: Sequence[Path], source: Path) -> None:
    """Raise one DataFileError listing the missing images (the first few by name)."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataFileError(missing[0], f"{len(missing)} image(s) referenced by {source} are missing: {shown}{more}",
                            "check the images folder; it must hold every image the annotations name")


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError as err:
        raise DataFileError(path, "image is missing", "check the images folder") from err
    except _PIL_ERRORS as err:
        raise DataFileError(path, f"not a readable image ({err})", _BAD_IMAGE_HINT) from err
    return h, w


def load_rgb(path: Path) -> tuple[Image.Image, bytes]:
    """The decoded image as RGB (transparency over white) and the file's bytes."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataFileError(path, f"cannot read the image ({err})", "check the images folder") from err
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
    except _PIL_ERRORS as err:
        raise DataFileError(path, f"not a readable image ({err})", _BAD_IMAGE_HINT) from err
    return im, data


def fit_image(im: Image.Image, size_hw: tuple[int, int], fit: str = "pad") -> np.ndarray:
    """The image as uint8 H x W x 3 at ``size_hw``."""
    h, w = size_hw
    if im.size == (w, h):
        return np.asarray(im, dtype=np.uint8)
    if fit == "stretch":
        return np.asarray(im.resize((w, h), Image.Resampling.LANCZOS), dtype=np.uint8)
    sw, sh = im.size
    scale = (max if fit == "crop" else min)(w / sw, h / sh)
    nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
    resized = np.asarray(im.resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.uint8)
    if fit == "crop":
        top, left = (nh - h) // 2, (nw - w) // 2
        return np.ascontiguousarray(resized[top:top + h, left:left + w])
    border = np.concatenate([resized[0], resized[-1], resized[:, 0], resized[:, -1]])
    out = np.empty((h, w, 3), np.uint8)
    out[:] = np.median(border, axis=0).astype(np.uint8)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top:top + nh, left:left + nw] = resized
    return out


def choose_size(sizes: Sequence[tuple[int, int]], size: object, default_mixed: tuple[int, int] | None = None
                ) -> tuple[tuple[int, int], bool]:
    """(target (h, w), whether any image gets resized)."""
    target = parse_size(size)
    if target is None:
        counts = Counter(sizes)
        if len(counts) <= 1:
            target = sizes[0] if sizes else (64, 64)
        else:
            target = default_mixed or counts.most_common(1)[0][0]
    return target, any(s != target for s in sizes)


def write_image_dataset(out: Path, paths: Sequence[Path], meta: DatasetMeta, *, source: Path,
                        size: object = None, fit: str = "pad", keep_originals: bool | None = None,
                        default_mixed: tuple[int, int] | None = None,
                        ctx: JobContext = NULL_CONTEXT, batch: int = 64) -> Path:
    """Read ``paths`` (one per image of ``meta``) and write the dataset file atomically."""
    if fit not in FITS:
        raise ValueError(f"fit {fit!r}: choose one of {', '.join(FITS)}")
    check_exist(paths, source)
    sizes = []
    for i, p in enumerate(paths):
        if i % 256 == 0:
            ctx.check()
            ctx.report(i, len(paths), "checking images")
        sizes.append(image_size(p))
    target, resized = choose_size(sizes, size, default_mixed)
    keep = resized if keep_originals is None else bool(keep_originals)
    with DatasetWriter(out, n_images=len(paths), image_shape=target, keep_originals=keep) as writer:
        for start in range(0, len(paths), batch):
            ctx.check()
            ctx.report(start, len(paths), "reading images")
            block = []
            for j, p in enumerate(paths[start:start + batch]):
                im, data = load_rgb(p)
                block.append(fit_image(im, target, fit))
                if keep:
                    writer.write_original(start + j, data)
            writer.write_images(start, np.stack(block))
        ctx.report(len(paths), len(paths), "reading images")
        ctx.check()
        try:
            writer.finish(meta)
        except ValueError as err:
            raise DataFileError(source, f"the imported data is inconsistent: {err}",
                                "please report this with the source files") from err
    return out
