"""Which attribute does each head of a ranker follow? Spearman correlations on the test images.

    python benchmarks/head_correlations.py RUN/ranknet-small-cnn-all-seed0.ckpt toy-faces.h5

For a dataset with exact strengths (the procedural ones): scores every image that appears in a
test pair with the checkpoint (no test flip), then prints, per head, the Spearman correlation
of its scores with each attribute's true strength, and below it the true strengths'
correlations with each other. A head that follows a companion attribute more than its own
(smiling ranking open mouths) shows it in its row. Exits with a message for a dataset without
strengths.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _table(title: str, rows: list[str], columns: list[str], values: np.ndarray) -> str:
    head = f"{title:<18}" + " ".join(f"{c[:9]:>9}" for c in columns)
    return "\n".join([head] + [f"{r[:18]:<18}" + " ".join(f"{v:9.2f}" for v in row) for r, row in zip(rows, values)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("dataset")
    p.add_argument("--protocol", default="default")
    args = p.parse_args(argv)
    import torch
    from scipy.stats import spearmanr

    from relattr_studio.core.types import Split
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.training.checkpoint import load_checkpoint
    from relattr_studio.training.dataset_scores import score_dataset

    torch.set_num_threads(1)
    ds = DatasetFile(args.dataset)
    if ds.meta.strengths is None:
        print(f"{args.dataset} has no attribute strengths: nothing to correlate with", file=sys.stderr)
        return 2
    pairs = ds.pairs(args.protocol)
    test = pairs.split == Split.TEST
    images = np.unique(np.concatenate([pairs.a[test], pairs.b[test]]))

    class TestImages:  # what score_dataset reads: len() and images(indices)
        def __len__(self):
            return len(images)

        def images(self, indices):
            return ds.images(images[np.asarray(indices)])

    model, _ = load_checkpoint(args.checkpoint)
    scores = score_dataset(model, TestImages())
    truth = ds.meta.strengths[images]
    names = list(ds.attribute_names)
    heads = np.array([[spearmanr(scores[:, h], truth[:, a])[0] for a in range(len(names))]
                      for h in range(len(model.attributes))])
    print(f"{len(images)} test images of {args.dataset}")
    print(_table("head \\ truth", list(model.attributes), names, heads))
    print()
    print(_table("truth \\ truth", names, names, spearmanr(truth).correlation.reshape(len(names), len(names))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
