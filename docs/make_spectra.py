"""Make the spectra contact sheets in docs/ again: ``.venv/bin/python docs/make_spectra.py``.

For each shipped generator (or the ``--model`` files given), one block per attribute: the same
``--rows`` identities drawn from the generator's prior (seed ``--seed``), each swept along the
attribute from y_A - 2 sigma_A to y_A + 2 sigma_A in ``--steps`` images, as ``relattr spectrum``
makes them. Writes docs/spectra-<dataset>.png; prints what it wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

DOCS = Path(__file__).resolve().parent
LABEL_W = 150


def contact_sheet(model, *, rows: int, steps: int, seed: int, zoom: int, columns: int = 2) -> Image.Image:
    from relattr_studio.cli.generator_commands import spectrum_grid, tile

    blocks = []
    for name in model.attributes:
        images, _ = spectrum_grid(model, name, steps=steps, seed=seed, rows=rows)
        grid = tile(images, rows, steps, zoom=zoom)
        block = Image.new("RGB", (LABEL_W + grid.shape[1], grid.shape[0] + 8), "white")
        block.paste(Image.fromarray(grid), (LABEL_W, 4))
        draw = ImageDraw.Draw(block)
        draw.text((8, block.height // 2 - 14), name, fill="black")
        draw.text((8, block.height // 2 + 2), "-2 sigma ... +2 sigma", fill=(90, 90, 90))
        blocks.append(block)
    w, h = blocks[0].size
    down = -(-len(blocks) // columns)
    sheet = Image.new("RGB", (columns * w, down * h), "white")
    for k, b in enumerate(blocks):  # attributes run down the first column, then the next
        sheet.paste(b, ((k // down) * w, (k % down) * h))
    return sheet


def main() -> None:
    from relattr_studio.modeling.generator import load_generator_with_info
    from relattr_studio.modeling.shipped import shipped_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="generator file (default: the shipped ones)")
    ap.add_argument("--rows", type=int, default=2, help="identities per attribute")
    ap.add_argument("--columns", type=int, default=2, help="attribute blocks side by side")
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--zoom", type=int, default=2)
    args = ap.parse_args()
    paths = [Path(m) for m in args.model] or [p for p in (shipped_model("generator", d) for d in
                                                           ("toy-faces", "toy-shoes")) if p]
    if not paths:
        raise SystemExit("no generator given and none shipped")
    for path in paths:
        model, info = load_generator_with_info(path)
        name = (info.dataset or {}).get("name") or path.stem
        out = DOCS / f"spectra-{name}.png"
        contact_sheet(model, rows=args.rows, steps=args.steps, seed=args.seed, zoom=args.zoom,
                      columns=args.columns).save(out)
        sigma = np.sqrt(np.diag(model.prior_cov))
        print(f"{out}: {len(model.attributes)} attributes x {args.rows} identities x {args.steps} steps; sigma "
              + ", ".join(f"{a} {s:.3f}" for a, s in zip(model.attributes, sigma)))


if __name__ == "__main__":
    main()
