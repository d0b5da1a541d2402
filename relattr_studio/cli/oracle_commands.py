"""``relattr oracle train | score | faithfulness``: the attribute oracle from the command line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from relattr_studio.cli.options import BATCH, LR, SEED, STEPS, THREADS, ints, option
from relattr_studio.core import bounds

SHIPPED_OR_FILE = "{0} model file, or a shipped {0} named by its dataset (toy-faces, toy-shoes)"


def register(sub) -> None:
    """Add ``oracle`` with its sub-commands ``train``, ``score`` and ``faithfulness``."""
    p = sub.add_parser("oracle", help="attribute oracles: regressors that read strengths off (generated) images")
    osub = p.add_subparsers(dest="oracle_command", required=True, metavar="ACTION")

    t = osub.add_parser("train", help="train an oracle on a dataset's exact strengths; writes a model file")
    t.add_argument("--dataset", required=True, help="dataset file (.h5) with attribute strengths")
    t.add_argument("--out", required=True, help="model file to write (.pt)")
    t.add_argument("--test-dataset", default=None,
                   help="held-out accuracy on this dataset file (e.g. a procedural set of another seed); "
                        "default: the held-out identities of --dataset")
    t.add_argument("--steps", type=STEPS, default=2000, help="training steps (default 2000)")
    t.add_argument("--batch-size", type=BATCH, default=64)
    t.add_argument("--lr", type=LR, default=2e-3)
    t.add_argument("--width", type=option(bounds.ORACLE_WIDTH), default=16, help="channels of the first conv stage (default 16)")
    t.add_argument("--seed", type=SEED, default=0)
    t.add_argument("--legible-quantile", type=option(bounds.LEGIBLE_QUANTILE), default=0.99,
                   help="share of held-out real images the legibility threshold lets through (default 0.99)")
    t.add_argument("--checkpoint-every", type=STEPS, default=500,
                   help="steps between resumable saves of --out (default 500)")
    t.add_argument("--resume", action="store_true",
                   help="continue from the training state in --out (after a cancel or a crash): the same final "
                        "oracle as a run that never stopped")
    t.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = osub.add_parser("score", help="held-out MAE and Spearman per attribute of an oracle on a dataset")
    s.add_argument("--model", required=True, help=SHIPPED_OR_FILE.format("oracle"))
    s.add_argument("--dataset", required=True, help="dataset file (.h5) with attribute strengths")
    s.add_argument("--max-images", type=ints(1, 100_000_000), default=None, help="a seeded sample of this many images (default all)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_score)

    f = osub.add_parser("faithfulness", help="Spearman between the y a generator is asked for and the y an oracle "
                                             "reads off its images, per attribute")
    f.add_argument("--generator", required=True, help=SHIPPED_OR_FILE.format("generator"))
    f.add_argument("--model", required=True, help=SHIPPED_OR_FILE.format("oracle"))
    f.add_argument("--n", type=option(bounds.FAITHFULNESS_N), default=2000, help="identities drawn from the generator's prior (default 2000)")
    f.add_argument("--seed", type=SEED, default=0)
    f.add_argument("--tweaks", type=option(bounds.TWEAKS), default=500,
                   help="identities for the tweak order, each attribute moved alone by -+2 sigma (0: not measured; "
                        "default 500)")
    f.add_argument("--markdown", action="store_true", help="a Markdown table")
    f.add_argument("--json", action="store_true", help="print the figures as JSON")
    f.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_faithfulness)


def train_command(args) -> str:
    """The ``relattr oracle train`` command line of ``args`` (the options given a value)."""
    import shlex

    words = ["relattr", "oracle", "train", "--dataset", str(args.dataset), "--out", str(args.out)]
    for name in ("test_dataset", "steps", "batch_size", "lr", "width", "seed", "legible_quantile",
                 "checkpoint_every", "threads"):
        value = getattr(args, name)
        if value is not None:
            words += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(words)


def cmd_train(args) -> int:
    import torch

    from relattr_studio.cli.progress import run_job
    from relattr_studio.core.errors import RelAttrError
    from relattr_studio.training.oracle_job import OracleConfig, train_oracle

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume and not Path(args.out).exists():
        raise RelAttrError(f"{args.out}: nothing to resume (no such file yet); train without --resume to start it")
    config = OracleConfig(dataset=args.dataset, out=args.out, test_dataset=args.test_dataset, steps=args.steps,
                          batch_size=args.batch_size, lr=args.lr, width=args.width, seed=args.seed,
                          legible_quantile=args.legible_quantile, checkpoint_every=args.checkpoint_every)
    oracle = run_job(train_oracle, config, resume=args.resume, quiet=args.quiet,
                     continue_with=lambda _kept: f"{train_command(args)} --resume")
    print(format_scores(oracle.metrics))
    print(f"oracle: {args.out} ({oracle.training['seconds']:.0f} s)", file=sys.stderr)
    return 0


def cmd_score(args) -> int:
    from relattr_studio.cli.progress import run_job
    from relattr_studio.core.errors import RelAttrError
    from relattr_studio.modeling.oracle import load_oracle
    from relattr_studio.modeling.shipped import model_path
    from relattr_studio.training.oracle_job import score_dataset

    if args.max_images is not None and args.max_images < 3:
        raise RelAttrError("--max-images must be at least 3")
    oracle = load_oracle(model_path(args.model, "oracle"))
    metrics = run_job(score_dataset, oracle, args.dataset, max_images=args.max_images, quiet=args.quiet)
    print(json.dumps(metrics, indent=1) if args.json else format_scores(metrics))
    return 0


def cmd_faithfulness(args) -> int:
    from relattr_studio.analysis.faithfulness import faithfulness_report
    from relattr_studio.cli.progress import run_job
    from relattr_studio.core.errors import RelAttrError
    from relattr_studio.modeling.generator import load_generator
    from relattr_studio.modeling.oracle import load_oracle
    from relattr_studio.modeling.shipped import model_path

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    generator = load_generator(model_path(args.generator, "generator"))
    oracle = load_oracle(model_path(args.model, "oracle"))
    if args.tweaks < 0:
        raise RelAttrError("--tweaks must be 0 or more")
    report = run_job(faithfulness_report, generator, oracle, n=args.n, seed=args.seed, tweaks=args.tweaks,
                     quiet=args.quiet)
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.table(markdown=args.markdown))
    return 0


def format_scores(metrics: dict, *, markdown: bool = False) -> str:
    """The per-attribute table of :func:`relattr_studio.training.oracle_job.evaluate`'s figures."""
    cols = ("mae", "spearman", "mae_degraded", "spearman_degraded")
    heads = ("MAE", "Spearman", "MAE degraded", "Spearman degraded")
    rows = [(name, *(v.get(c, math.nan) for c in cols)) for name, v in metrics["attributes"].items()]
    means = tuple(sum(r[i] for r in rows) / len(rows) for i in range(1, 5))
    rows.append(("mean", *means))
    if markdown:
        lines = ["| attribute | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
        lines += [f"| {r[0]} | " + " | ".join(f"{x:.3f}" for x in r[1:]) + " |" for r in rows]
    else:
        lines = [f"{'attribute':18s}" + "".join(f"{h:>19s}" for h in heads)]
        lines += [f"{r[0]:18s}" + "".join(f"{x:19.3f}" for x in r[1:]) for r in rows]
    tail = [f"{k.replace('_', ' ')}: {100 * metrics[k]:.1f} % of images" for k in ("legible", "legible_degraded")
            if k in metrics]
    return "\n".join(lines + [f"{metrics.get('data', '')}"] + tail)
