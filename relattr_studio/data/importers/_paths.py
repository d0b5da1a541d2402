"""Matching image paths written in annotation files to files on disk, despite their quirks.

UT-Zap50K's ``image-path.mat`` is known to differ from the unpacked image folder: back- vs
forward slashes, letter case, trailing whitespace, a leading ``./``, folder names ending in a
dot that the archive stores as ``%2E`` (``Aquatalia by Marvin K.``) and HTML entities such as
``Levi's&#174;``. Both sides are reduced to one canonical key and matched on it.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from relattr_studio.data.importers._images import IMAGE_SUFFIXES

_ENTITY = re.compile(r"&#?\w+;")


def canonical(rel: str) -> str:
    """A key that equal paths share whatever their spelling quirks."""
    s = str(rel).strip().replace("\\", "/")
    s = urllib.parse.unquote(s)
    s = html.unescape(s)
    s = _ENTITY.sub("", s)
    s = s.replace("\u00ae", "")  # (R) as produced by &#174;
    parts = [p.strip().rstrip(". ").strip() for p in s.split("/")]
    parts = [p for p in parts if p not in ("", ".")]
    if parts:  # the file name keeps its own dots
        last = str(rel).strip().replace("\\", "/").split("/")[-1].strip()
        parts[-1] = html.unescape(urllib.parse.unquote(last)).strip()
    return "/".join(parts).casefold()


class ImageIndex:
    """Every image file under a folder, found by canonical relative path or by bare name."""

    def __init__(self, root: Path, suffixes: Iterable[str] = IMAGE_SUFFIXES):
        self.root = root
        suffixes = tuple(s.lower() for s in suffixes)
        self.by_key: dict[str, Path] = {}
        self.by_name: dict[str, list[Path]] = {}
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in suffixes and p.is_file():
                rel = p.relative_to(root).as_posix()
                self.by_key.setdefault(canonical(rel), p)
                self.by_name.setdefault(p.name.casefold(), []).append(p)

    def __len__(self) -> int:
        return len(self.by_key)

    def find(self, rel: str, *, loose: bool = True) -> Path | None:
        """The file ``rel`` names. ``loose`` also tries dropping leading folders and, last, a
        unique file name anywhere (published annotations' path quirks); without it only a
        bare file name may match by name, so a wrong folder is never silently replaced."""
        key = canonical(rel)
        hit = self.by_key.get(key)
        if hit is not None:
            return hit
        if not loose:
            same = self.by_name.get(key, []) if "/" not in key else []
            return same[0] if len(same) == 1 else None
        # the annotation may carry a prefix folder the user's copy lacks, or the reverse
        parts = key.split("/")
        for k in range(1, len(parts)):
            hit = self.by_key.get("/".join(parts[k:]))
            if hit is not None:
                return hit
        same = self.by_name.get(parts[-1], [])
        return same[0] if len(same) == 1 else None
