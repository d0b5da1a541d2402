"""ATTIC's two control objectives side by side: which one trains stably?

    python benchmarks/attic_objectives.py --dataset toy-faces.h5 --ranker RUN/ranker.ckpt \
        --attribute smiling --seeds 3 --steps 300 --control-lr 1e-3 1e-2 --out bench-attic

For each objective (``flipped``: RankNet with flipped targets, the authors' code; ``negative``:
-L_rank, the paper's Eq. 4), control learning rate and seed it runs one adversarial round with
the shipped generator and oracle of the dataset's kind, and prints per setting the mean over
seeds of: the control loss and the share of imagined pairs the ranker orders wrong (first and
last logged window), the largest share of strengths beyond 3 sigma in any window, the ranker's
test accuracy after the round, the oracle's label legibility (legible pairs, labels it agrees
with), non-finite failures, and the seconds a round took. Rounds run one after another.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--ranker", required=True)
    p.add_argument("--attribute", action="append", default=[])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--control-lr", type=float, nargs="+", default=[1e-3])
    p.add_argument("--out", type=Path, default=Path("bench-attic"))
    args = p.parse_args(argv)
    import torch

    from relattr_studio.core.errors import RelAttrError
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.shipped import shipped_model
    from relattr_studio.training.attic_config import OBJECTIVES, AtticConfig
    from relattr_studio.training.attic_job import run_attic_round

    torch.set_num_threads(2)
    kind = DatasetFile(args.dataset).meta.name
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for objective in OBJECTIVES:
        for lr in args.control_lr:
            runs = []
            for seed in range(args.seeds):
                out = args.out / f"{objective}-lr{lr:g}-seed{seed}.pt"
                cfg = AtticConfig(dataset=args.dataset, ranker=args.ranker, generator=str(shipped_model("generator", kind)),
                                  oracle=str(shipped_model("oracle", kind)), out=str(out),
                                  attributes=tuple(args.attribute), objective=objective, steps=args.steps,
                                  control_lr=lr, eval_every=args.steps, checkpoint_every=args.steps, log_every=25,
                                  seed=seed, device="cpu")
                t0 = time.monotonic()
                try:
                    result = run_attic_round(cfg)
                    failed = ""
                except RelAttrError as err:
                    result, failed = None, str(err)
                seconds = time.monotonic() - t0
                windows = [r["values"] for r in map(json.loads, open(out.with_name(out.stem + ".metrics.jsonl")))
                           if "control_loss" in r.get("values", {})]
                runs.append({"first_loss": windows[0]["control_loss"] if windows else np.nan,
                             "last_loss": windows[-1]["control_loss"] if windows else np.nan,
                             "first_wrong": windows[0]["ranker_wrong"] if windows else np.nan,
                             "last_wrong": windows[-1]["ranker_wrong"] if windows else np.nan,
                             "extreme": max((w["y_beyond_3_sigma"] for w in windows), default=np.nan),
                             "accuracy": result.figures.get("accuracy", np.nan) if result else np.nan,
                             "legible": result.figures.get("legible_pairs", np.nan) if result else np.nan,
                             "agree": result.figures.get("labels_agree", np.nan) if result else np.nan,
                             "failed": bool(failed), "seconds": seconds})
                print(objective, lr, seed, json.dumps(runs[-1]), failed, flush=True)
            mean = {k: float(np.nanmean([r[k] for r in runs])) for k in runs[0] if k != "failed"}
            rows.append((objective, lr, mean, sum(r["failed"] for r in runs)))
    print("\n| objective | control lr | control loss first -> last | ranker wrong first -> last | "
          "max y beyond 3 sigma | test accuracy | legible pairs | oracle agrees | failed | s/round |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for objective, lr, m, failed in rows:
        print(f"| {objective} | {lr:g} | {m['first_loss']:.3f} -> {m['last_loss']:.3f} | "
              f"{m['first_wrong']:.2f} -> {m['last_wrong']:.2f} | {100 * m['extreme']:.1f} % | {m['accuracy']:.2f} % | "
              f"{100 * m['legible']:.1f} % | {100 * m['agree']:.1f} % | {failed}/{args.seeds} | {m['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
