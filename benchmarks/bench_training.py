"""Labelled pairs per second: all-pairs batching vs the per-pair Siamese loop, same data, model
and machine; and images per second when scoring. Prints figures, never fails.

    .venv/bin/python benchmarks/bench_training.py [--pubfig /tmp/pubfig.h5] [--toy /tmp/toyfaces.h5]
        [--steps 8] [--threads 1] [--effnet]
"""

from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from relattr_studio.training.config import TrainConfig
from relattr_studio.training.evaluation import score_images
from relattr_studio.training.job import RankerTrainer


def pairs_per_second(config: TrainConfig, steps: int) -> tuple[float, float, int]:
    tr = RankerTrainer(config)
    tr.setup()
    tr.train_step()  # warm-up
    t0, pairs = time.perf_counter(), 0
    for _ in range(steps):
        pairs += tr.train_step()["pairs"]
    dt = time.perf_counter() - t0
    images = float(np.mean([len(tr.sampler.next().images) for _ in range(3)]))
    t1 = time.perf_counter()
    idx = tr.bank.indices[:128]
    score_images(tr.model, tr.bank, idx, tr.device, batch_size=64)
    ips = len(idx) / (time.perf_counter() - t1)
    tr.cleanup()
    return pairs / dt, ips, int(images)


def compare(label: str, base: TrainConfig, steps: int) -> None:
    out = {}
    for batching in ("all-pairs", "siamese"):
        pps, ips, imgs = pairs_per_second(base.replace(batching=batching), steps)
        out[batching] = pps
        print(f"{label:34s} {batching:9s} {pps:9.1f} labelled pairs/s  ({imgs} images/step)  scoring {ips:7.1f} images/s")
    print(f"{label:34s} ratio all-pairs / siamese: {out['all-pairs'] / out['siamese']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pubfig", default="/tmp/pubfig.h5")
    ap.add_argument("--toy", default="/tmp/toyfaces.h5")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--effnet", action="store_true", help="also efficientnet-lite0 at 224 px (slow on CPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 32 images (siamese: 16 pairs)")
    runs = []
    small = {"backbone": "small-cnn", "backbone_options": {"width": 16, "image_size": 64}}
    if Path(args.pubfig).is_file():
        runs.append(("PubFig small-cnn 64px (category)", TrainConfig(args.pubfig, attributes=("Smiling",), **small)))
        if args.effnet:
            runs.append(("PubFig effnet-lite0 224px (category)",
                         TrainConfig(args.pubfig, attributes=("Smiling",), backbone="efficientnet-lite0", weights="auto")))
    else:
        print(f"(no PubFig file at {args.pubfig}: relattr import pubfig ... first)")
    if Path(args.toy).is_file():
        runs.append(("toy-faces small-cnn 64px (sparse)", TrainConfig(args.toy, attributes=("smiling",), **small)))
        runs.append(("toy-faces multi-head (sparse, 8 attr)", TrainConfig(args.toy, **small)))
    for label, config in runs:
        try:
            compare(label, config.replace(device="cpu", val_fraction=0.0), args.steps)
        except Exception:  # a benchmark reports, it never fails
            print(f"{label}: failed\n{traceback.format_exc(limit=3)}")


if __name__ == "__main__":
    main()
