"""``relattr attic round``: ATTIC's adversarial round, then a query batch queued for labeling."""

from __future__ import annotations

import sys
from pathlib import Path

from relattr_studio.cli.options import SEED, STEPS, THREADS, LR, option
from relattr_studio.core.errors import RelAttrError
from relattr_studio.training import attic_config


def register(sub) -> None:
    p = sub.add_parser("attic", help="ATTIC: pairs imagined to confuse a ranker, queued for labeling")
    asub = p.add_subparsers(dest="attic_command", required=True, metavar="ACTION")
    r = asub.add_parser(
        "round", help="train a control module against a ranker, then queue the pairs it imagines as a batch",
        description="One round of ATTIC's active loop (Yu & Grauman): the control module (continued from "
                    "--control when that file exists) and the ranker are trained against each other through "
                    "the frozen generator, then --pairs pairs are imagined and queued in --store as a batch. "
                    "Label them in the window (Label pairs) or with `relattr labels simulate --batch NAME`, "
                    "then train on them with `relattr train --labels STORE`.")
    r.add_argument("--dataset", required=True, help="the dataset file (.h5) whose train pairs the ranker learned")
    r.add_argument("--ranker", required=True, help="a neural ranker file trained on those pairs (.ckpt)")
    r.add_argument("--generator", required=True,
                   help="a generator file, or toy-faces / toy-shoes for a shipped one (frozen)")
    r.add_argument("--attribute", action="append", default=[],
                   help="the attribute to imagine pairs for (repeat for several at once; default: every "
                        "attribute the ranker, the generator and the dataset share)")
    r.add_argument("--pairs", type=option(attic_config.QUERY_PAIRS_BOUND), default=50,
                   help="pairs to imagine and queue (default 50)")
    r.add_argument("--store", type=Path, required=True, help="the label store to queue them in (.sqlite)")
    r.add_argument("--control", type=Path, default=None,
                   help="the control module file, read when it exists and written after the round "
                        "(default: beside the store, STORE.attic-control.pt)")
    r.add_argument("--oracle", default=None,
                   help="an oracle file, or toy-faces / toy-shoes: measure label legibility at each evaluation")
    r.add_argument("--objective", choices=attic_config.OBJECTIVES, default="flipped",
                   help="the control loss: RankNet with flipped targets (default; bounded) or -L_rank (the "
                        "paper's Eq. 4)")
    r.add_argument("--steps", type=STEPS, default=200, help="adversarial steps (default 200)")
    r.add_argument("--pairs-per-step", type=option(attic_config.ATTIC_BOUNDS["pairs_per_step"]), default=16)
    r.add_argument("--ranker-lr", type=LR, default=1e-4)
    r.add_argument("--control-lr", type=LR, default=1e-3)
    r.add_argument("--protocol", default="default")
    r.add_argument("--seed", type=SEED, default=0, help="seeds the round and the batch's pairs")
    r.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted round from --control (its training state)")
    r.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_round)


def cmd_round(args) -> int:
    from relattr_studio.analysis.attic_queries import check_query_memory, imagine_query_batch
    from relattr_studio.modeling.model_file import read_model_file
    from relattr_studio.cli.progress import run_job
    from relattr_studio.modeling.shipped import model_path
    from relattr_studio.training.attic_job import run_attic_round

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.store.suffix.lower() not in (".sqlite", ".db", ".sqlite3"):
        raise RelAttrError(f"{args.store}: give a label store file name ending in .sqlite")
    generator = model_path(args.generator, "generator")
    # the batch's memory is known now: refused before the round, not after it
    check_query_memory(args.pairs, int(read_model_file(generator, kind="generator").config.get("image_size", 64)))
    control = args.control or args.store.with_name(f"{args.store.stem}.attic-control.pt")
    continuing = control.exists() and not args.resume
    config = attic_config.AtticConfig(
        dataset=str(args.dataset), ranker=str(args.ranker), generator=str(generator),
        out=str(control), control=str(control) if continuing else None,
        oracle=str(model_path(args.oracle, "oracle")) if args.oracle else None, attributes=tuple(args.attribute),
        protocol=args.protocol, objective=args.objective, steps=args.steps, pairs_per_step=args.pairs_per_step,
        ranker_lr=args.ranker_lr, control_lr=args.control_lr, seed=args.seed, device=args.device)
    again = f"relattr attic round {' '.join(sys.argv[3:])} --resume" if len(sys.argv) > 3 else None
    result = run_job(run_attic_round, config, resume=args.resume, quiet=args.quiet,
                     continue_with=(lambda _kept: again) if again else None)
    figures = ", ".join(f"{k} {v:.3g}" for k, v in result.figures.items() if isinstance(v, float))
    print(f"round {result.round_number} ({', '.join(result.targets)}): {figures} ({result.seconds:.0f} s); "
          f"control module: {control}", file=sys.stderr)
    batch = run_job(imagine_query_batch, args.store, result.control, result.generator, pairs=args.pairs,
                    seed=args.seed, round_number=result.round_number, control_file=str(control), quiet=args.quiet)
    print(batch.message())
    print(f"next: label it in the window (Label pairs) or with `relattr labels simulate --store {args.store} "
          f"--dataset {args.dataset} --batch '{batch.info.name}'`, then `relattr train --labels {args.store} ...`",
          file=sys.stderr)
    return 0
