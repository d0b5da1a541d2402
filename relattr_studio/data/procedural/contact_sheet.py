"""Contact sheets of the procedural datasets (the README figures), reproducible from code.

Rows: one spectrum per attribute (strength 0 -> 1 left to right, everything else fixed at a
mid value), then random samples from the prior, then fine-grained pairs (each pair differs
only a little in one attribute, the stronger image on the right; the attributes take turns).
Shoe spectra use a closed shoe of the shape that shows the attribute best (plain pattern,
neutral backdrop), named in the row label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from relattr_studio.data.procedural.faces import FACE_ATTRIBUTES, render_faces, sample_faces
from relattr_studio.data.procedural.shoes import COLOURS, PATTERNS, SHAPES, SHOE_ATTRIBUTES, render_shoes, sample_shoes

_KINDS = {
    "toy-faces": (FACE_ATTRIBUTES, sample_faces, render_faces, 3),
    "toy-shoes": (SHOE_ATTRIBUTES, sample_shoes, render_shoes, 1),
}
_STILL = {"angle": 0.0, "dx": 0.0, "dy": 0.0, "light_amount": 0.0, "flip": 0.0}
# Shoe spectra: (shape, colour) per attribute, closed shoes where the attribute shows best.
_SHOE_SPECTRUM = {
    "open": ("loafer", "tan"), "pointy": ("pump", "red"), "sporty": ("sneaker", "blue"),
    "comfort": ("sneaker", "navy"), "colorful": ("sneaker", "green"), "sleek": ("loafer", "black"),
}


def _shoe_look(name: str) -> dict[str, float]:
    shape, colour = _SHOE_SPECTRUM[name]
    return {"shape": SHAPES.index(shape), "colour": list(COLOURS).index(colour),
            "pattern": PATTERNS.index("plain"), "bg_sat": 0.0, "bg_val": 0.96, "scale": 1.1, "brightness": 1.0}


def spectrum(kind: str, attribute: int, steps: int = 9, *, base: int | None = None, size: int = 64,
             seed: int = 0, look: dict[str, float] | None = None) -> np.ndarray:
    """``steps`` images of one identity with one attribute swept over [0, 1]: steps x H x W x 3.

    ``look`` overrides nuisance values (e.g. ``{"shape": 0}`` for a sneaker); without ``base``
    and ``look``, toy-shoes spectra use the attribute's showcase shoe (``_SHOE_SPECTRUM``).
    """
    names, sample, render, default_base = _KINDS[kind]
    s, nz, _ = sample(16, seed)
    b = default_base if base is None else base
    if look is None and base is None and kind == "toy-shoes":
        look = _shoe_look(names[attribute])
    still = {**_STILL, **(look or {})}
    strengths = np.full((steps, len(names)), 0.5, np.float32)
    strengths[:, attribute] = np.linspace(0.0, 1.0, steps)
    fixed = {k: np.full(steps, still.get(k, v[b]), np.float32) for k, v in nz.items()}
    return render(strengths, fixed, size)


def _fine_attribute(kind: str, names, k: int) -> int:
    """The attribute of the k-th fine pair: each in turn, then the subtle ones of toy-shoes again."""
    extra = ("comfort", "sleek") if kind == "toy-shoes" else tuple(names)
    return k if k < len(names) else names.index(extra[(k - len(names)) % len(extra)])


_STRIDE = 7


def contact_sheet(kind: str, out_png: str | Path, *, steps: int = 9, size: int = 64, zoom: int = 2,
                  seed: int = 0, random_rows: int = 2, fine_delta: float = 0.12) -> Path:
    """Write the contact sheet of ``kind`` ("toy-faces" or "toy-shoes") to ``out_png``."""
    names, sample, render, base = _KINDS[kind]
    rows, labels = [], []
    for ai, name in enumerate(names):
        rows.append(spectrum(kind, ai, steps, size=size, seed=seed))
        labels.append(f"{name} ({_SHOE_SPECTRUM[name][0]})" if kind == "toy-shoes" else name)
    n_pairs = steps // 2
    fine_rows = max(1, -(-len(names) // n_pairs))  # enough pair rows for every attribute
    # Consecutive images share an identity: draw many and take a stride, so the samples show
    # the prior's spread rather than a handful of people.
    wanted = steps * random_rows + n_pairs * fine_rows
    s, nz, _ = sample(wanted * _STRIDE, seed + 1)
    s, nz = s[::_STRIDE], {k: v[::_STRIDE] for k, v in nz.items()}
    for r in range(random_rows):
        part = slice(r * steps, (r + 1) * steps)
        rows.append(render(s[part], {k: v[part] for k, v in nz.items()}, size))
        labels.append("random" if r == 0 else "")
    # Fine pairs: same image, one attribute raised by fine_delta (the stronger on the right);
    # the attributes take turns so that each shows at least once.
    pair_names = []
    for r in range(fine_rows):
        start = steps * random_rows + r * n_pairs
        pick = slice(start, start + n_pairs)
        lo = np.clip(s[pick], 0.0, 1.0 - fine_delta)
        attr = np.array([_fine_attribute(kind, names, r * n_pairs + k) for k in range(n_pairs)])
        hi = lo.copy()
        hi[np.arange(n_pairs), attr] += fine_delta
        part = {k: np.repeat(v[pick], 2) for k, v in nz.items()}
        both = np.empty((2 * n_pairs, len(names)), np.float32)
        both[0::2], both[1::2] = lo, hi
        pair_imgs = render(both, part, size)
        pad = np.full((steps - 2 * n_pairs, size, size, 3), 255, np.uint8)
        rows.append(np.concatenate([pair_imgs, pad]))
        labels.append(f"fine +{fine_delta:g}" if r == 0 else "")
        pair_names.append([names[a] for a in attr])
    return _save(rows, labels, out_png, size, zoom, pair_names)


def _save(rows, labels, out_png, size, zoom, pair_names) -> Path:
    label_w, gap = 120, 2
    cell = size * zoom
    steps = len(rows[0])
    h = len(rows) * (cell + gap) + 14
    w = label_w + steps * (cell + gap)
    sheet = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        y = r * (cell + gap)
        draw.text((6, y + cell // 2 - 6), label, fill=(0, 0, 0), font=font)
        for c, img in enumerate(imgs):
            tile = Image.fromarray(img).resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (label_w + c * (cell + gap), y))
    first = len(rows) - len(pair_names)
    for r, row_names in enumerate(pair_names):
        yr = (first + r + 1) * (cell + gap) - gap
        for k, name in enumerate(row_names):
            draw.text((label_w + 2 * k * (cell + gap) + 4, yr - 14), name, fill=(0, 0, 0), font=font)
    y = len(rows) * (cell + gap) - gap
    draw.text((label_w, y + 2), "spectra: strength 0 -> 1 left to right; fine pairs: the right image has more",
              fill=(90, 90, 90), font=font)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png)
    return out_png


if __name__ == "__main__":  # python -m relattr_studio.data.procedural.contact_sheet docs/
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    for kind in _KINDS:
        print(contact_sheet(kind, folder / f"contact-sheet-{kind}.png"))
