"""Check a PubFig checkpoint's test accuracy without the engine's pair tables or image bank.

    python benchmarks/check_pubfig_accuracy.py RUN/ranknet-efficientnet-lite0-all-seed0.ckpt

Reads ``data.mat`` straight from ``../shared/data/pubfig-relative-attributes`` (or ``--data``):
the test images are those not ``used_for_training``; every pair of them whose classes differ
in ``relative_ordering`` is a test pair; the images are decoded with PIL and resized here
and scored by the checkpoint in this process (no test flip). Prints per-attribute accuracy and
the mean, to set beside ``relattr train``'s table. Exits with a message when the data is absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pubfig-relative-attributes"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args(argv)
    if not (args.data / "data.mat").is_file():
        print(f"no PubFig data at {args.data} (data.mat and images/): nothing to check", file=sys.stderr)
        return 2
    import scipy.io
    import torch
    from PIL import Image

    from relattr_studio.training.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    mat = scipy.io.loadmat(args.data / "data.mat")
    names = [str(x[0]) for x in mat["im_names"].ravel()]
    classes = mat["class_labels"].ravel().astype(np.int64) - 1
    test = np.flatnonzero(~mat["used_for_training"].ravel().astype(bool))
    ranks = mat["relative_ordering"].astype(np.int64)  # attributes x classes; uint8 in the file
    attributes = [str(x[0]) for x in mat["attribute_names"].ravel()]
    model, info = load_checkpoint(args.checkpoint)
    size = info.preprocess.size
    images = np.stack([np.asarray(Image.open(args.data / "images" / names[i]).convert("RGB")) for i in test])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(info.preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.preprocess.std).view(1, 3, 1, 1)
    x = (x - mean) / std
    with torch.no_grad():
        scores = torch.cat([model(x[k:k + 64]) for k in range(0, len(x), 64)]).numpy()
    upper = np.triu_indices(len(test), 1)
    accuracies = []
    for a, name in enumerate(attributes):
        if name not in info.attributes:
            continue
        r = ranks[a][classes[test]]
        s = scores[:, info.attributes.index(name)]
        truth = np.sign(r[:, None] - r[None, :])[upper]
        said = np.sign(s[:, None] - s[None, :])[upper]
        keep = truth != 0
        accuracies.append(100.0 * float((truth[keep] == said[keep]).mean()))
        print(f"{name:16s} {accuracies[-1]:6.2f}  ({int(keep.sum()):,} test pairs)")
    print(f"{'mean':16s} {np.mean(accuracies):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
