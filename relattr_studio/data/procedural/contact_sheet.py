"""Contact sheets of the procedural datasets (the README figures), reproducible from code.

Rows: one spectrum per attribute (strength 0 -> 1 left to right, everything else fixed at a
mid value), then random samples from the prior, then fine-grained pairs (each pair differs
only a little in one attribute, the stronger image on the right).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from relattr_studio.data.procedural.faces import FACE_ATTRIBUTES, render_faces, sample_faces
from relattr_studio.data.procedural.shoes import SHOE_ATTRIBUTES, render_shoes, sample_shoes

_KINDS = {
    "toy-faces": (FACE_ATTRIBUTES, sample_faces, render_faces, 3),
    "toy-shoes": (SHOE_ATTRIBUTES, sample_shoes, render_shoes, 1),
}
_STILL = {"angle": 0.0, "dx": 0.0, "dy": 0.0, "light_amount": 0.0, "flip": 0.0}


def spectrum(kind: str, attribute: int, steps: int = 9, *, base: int | None = None, size: int = 64,
             seed: int = 0) -> np.ndarray:
    """``steps`` images of one identity with one attribute swept over [0, 1]: steps x H x W x 3."""
    names, sample, render, default_base = _KINDS[kind]
    s, nz, _ = sample(16, seed)
    b = default_base if base is None else base
    strengths = np.full((steps, len(names)), 0.5, np.float32)
    strengths[:, attribute] = np.linspace(0.0, 1.0, steps)
    fixed = {k: np.full(steps, _STILL.get(k, v[b]), np.float32) for k, v in nz.items()}
    return render(strengths, fixed, size)


def contact_sheet(kind: str, out_png: str | Path, *, steps: int = 9, size: int = 64, zoom: int = 2,
                  seed: int = 0, random_rows: int = 2, fine_delta: float = 0.12) -> Path:
    """Write the contact sheet of ``kind`` ("toy-faces" or "toy-shoes") to ``out_png``."""
    names, sample, render, base = _KINDS[kind]
    rows, labels = [], []
    for ai, name in enumerate(names):
        rows.append(spectrum(kind, ai, steps, size=size, seed=seed))
        labels.append(name)
    s, nz, _ = sample(steps * random_rows + steps, seed + 1)
    for r in range(random_rows):
        part = slice(r * steps, (r + 1) * steps)
        rows.append(render(s[part], {k: v[part] for k, v in nz.items()}, size))
        labels.append("random" if r == 0 else "")
    # Fine pairs: same image, one attribute raised by fine_delta (the stronger on the right).
    n_pairs = steps // 2
    rng = np.random.default_rng(seed)
    pick = slice(steps * random_rows, steps * random_rows + n_pairs)
    lo = np.clip(s[pick], 0.0, 1.0 - fine_delta)
    attr = rng.integers(0, len(names), n_pairs)
    hi = lo.copy()
    hi[np.arange(n_pairs), attr] += fine_delta
    part = {k: np.repeat(v[pick], 2) for k, v in nz.items()}
    both = np.empty((2 * n_pairs, len(names)), np.float32)
    both[0::2], both[1::2] = lo, hi
    pair_imgs = render(both, part, size)
    pad = np.full((steps - 2 * n_pairs, size, size, 3), 255, np.uint8)
    rows.append(np.concatenate([pair_imgs, pad]))
    labels.append(f"fine +{fine_delta:g}")
    return _save(rows, labels, out_png, size, zoom, [names[a] for a in attr])


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
    y = len(rows) * (cell + gap) - gap
    for k, name in enumerate(pair_names):
        draw.text((label_w + 2 * k * (cell + gap) + 4, y - 14), name, fill=(255, 255, 255), font=font)
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
