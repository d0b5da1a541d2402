"""``relattr train`` and ``relattr eval``: rankers from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from relattr_studio.cli.options import (
    BATCH,
    IMAGE_SIZE,
    LR,
    SEED,
    SHARE,
    SHARE_BELOW_ONE,
    STEPS,
    THREADS,
    floats,
    ints,
    option,
)
from relattr_studio.core import bounds
from relattr_studio.core.errors import RelAttrError
from relattr_studio.modeling.catalog import (
    RANKERS,
    RANKSVM_FAMILY,
    is_ranksvm_state_name,
    ranker_family,
    trainable_rankers,
)


MAX_TEST_HELP = ("test on a seeded sample of this many image pairs, each with all its labels (default all): "
                 "a pairwise ranker such as DACRL runs its head once per test image pair")

TEST_FLIP_HELP = "test margins averaged over the images and their mirror images (twice the scoring)"


def register(sub) -> None:
    """Add ``train`` and ``eval``."""
    p = sub.add_parser("train", help="train rankers; writes results.csv, checkpoints and metrics.jsonl")
    p.add_argument("--dataset", default=None, help="dataset file (.h5); with --resume, where the dataset is now")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run that wrote this checkpoint: its settings, its folder, the same curve "
                        "(--steps or --epochs make it longer; other settings are the checkpoint's)")
    p.add_argument("--ranker", default="ranknet", help=", ".join(trainable_rankers()))
    p.add_argument("--backbone", default="small-cnn")
    p.add_argument("--weights", default="auto",
                   help="auto (offline ImageNet weights where the backbone has them; the default), none, or a file")
    p.add_argument("--attribute", action="append", default=[], help="repeat for several; default all")
    p.add_argument("--multi-head", action="store_true", help="one model with a head per attribute")
    p.add_argument("--seeds", type=option(bounds.SEEDS), default=1, help="number of seeds (first-seed .. first-seed + N - 1)")
    p.add_argument("--first-seed", type=SEED, default=0,
                   help="the first seed (default 0): split the seeds of one table over processes or machines")
    p.add_argument("--protocol", default="default")
    p.add_argument("--labels", default=None, metavar="STORE.sqlite",
                   help="also train on a label store's judgements of this dataset's pairs and of generated pairs "
                        "(undone ones and 'can't tell' left out; generated images join the training images)")
    p.add_argument("--labels-only", action="store_true", help="with --labels: train on the store's judgements only")
    p.add_argument("--min-confidence", type=SHARE, default=None, metavar="C",
                   help="with --labels: leave out judgements made with a confidence below C (0..1; the "
                        "window's 1-3 scale is 1/3, 2/3, 1)")
    p.add_argument("--c", type=floats(0.0, 1e6, open_lo=True), default=None,
                   help="RankSVM: the C (default: chosen per attribute on a validation split)")
    p.add_argument("--k", type=ints(1, 100_000), default=100, help="ranksvm-ll: nearest training pairs per test pair (default 100)")
    p.add_argument("--test-sample", type=ints(1, 100_000_000), default=None,
                   help="ranksvm-ll: a seeded sample of this many test pairs per attribute (default 1000; "
                        "it fits one model per test pair)")
    p.add_argument("--max-test-pairs", type=ints(1, 1_000_000_000), default=None, help=MAX_TEST_HELP)
    p.add_argument("--test-flip", action="store_true", help=TEST_FLIP_HELP)
    p.add_argument("--epochs", type=option(bounds.EPOCHS), default=None)
    p.add_argument("--steps", type=STEPS, default=None)
    p.add_argument("--batch-size", type=BATCH, default=32, help="images per step (32 = 16 pairs)")
    p.add_argument("--batching", choices=("all-pairs", "siamese"), default="all-pairs")
    p.add_argument("--max-pairs", type=option(bounds.PAIRS), default=None,
                   help="image pairs a step at most (default all); bounds DACRL's pair head on dense labels")
    p.add_argument("--preset", choices=("paper", "scratch", "finetune"), default=None,
                   help="paper: RMSProp 1e-4/1e-5 (default for ImageNet backbones); scratch: Adam 1e-3 (default for small-cnn); finetune: Adam 1e-3/1e-4")
    p.add_argument("--optimizer", default=None)
    p.add_argument("--lr", type=LR, default=None)
    p.add_argument("--backbone-lr-scale", type=option(bounds.LR_SCALE), default=None)
    p.add_argument("--weight-decay", type=option(bounds.WEIGHT_DECAY), default=None)
    p.add_argument("--schedule", choices=("none", "cosine", "step"), default="none")
    p.add_argument("--ema", type=SHARE_BELOW_ONE, default=None, metavar="DECAY",
                   help="validate, test and save a moving average of the weights; its decay a step rises "
                        "as (1 + n) / (10 + n) up to DECAY (e.g. 0.98)")
    p.add_argument("--dropout", type=SHARE_BELOW_ONE, default=None, help="ranknet: dropout on the features before the rank units")
    p.add_argument("--warmup-steps", type=option(bounds.STEPS_OR_NONE), default=0)
    p.add_argument("--patience", type=option(bounds.PATIENCE), default=None)
    p.add_argument("--val-fraction", type=option(bounds.VAL_FRACTION), default=None,
                   help="share of the training images (category labels) or pairs held out for validation when "
                        "the dataset has no validation split (default 0.1; 0: train on all, no validation)")
    p.add_argument("--augment", action="store_true", help="random flips and shifts of the training images")
    p.add_argument("--augment-zoom", type=SHARE_BELOW_ONE, default=0.0,
                   help="with --augment: random crops of side 1 - Z .. 1 of the image instead of the shift (e.g. 0.15)")
    p.add_argument("--augment-color", type=SHARE_BELOW_ONE, default=0.0,
                   help="with --augment: contrast and brightness jitter of this size (e.g. 0.2)")
    p.add_argument("--image-size", type=IMAGE_SIZE, default=None, help="backbone input size")
    p.add_argument("--width", type=option(bounds.RANKER_WIDTH), default=None, help="small-cnn width")
    p.add_argument("--stem-stride", type=int, default=None, choices=(1, 2),
                   help="small-cnn: 2 makes the first convolution strided (an image of twice the side for "
                        "about the cost of one of the side)")
    p.add_argument("--drop-path", type=SHARE_BELOW_ONE, default=None,
                   help="efficientnet-lite0: stochastic depth in training (ImageNet training used 0.2)")
    p.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    p.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--freeze-bn", choices=("auto", "on", "off"), default="auto",
                   help="keep BatchNorm statistics fixed (auto: when the backbone is pretrained)")
    p.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    p.add_argument("--out", default=None, help="output folder (required, except with --resume)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="test accuracy of a saved ranker on a dataset")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--dataset", required=True)
    e.add_argument("--protocol", default="default")
    e.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    e.add_argument("--max-test-pairs", type=ints(1, 1_000_000_000), default=None, help=MAX_TEST_HELP)
    e.add_argument("--test-flip", action="store_true", help=TEST_FLIP_HELP)
    e.add_argument("--out", default=None, help="folder for results.csv")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("results", help="one table from several results.csv files (seeds run apart, several rankers)")
    r.add_argument("paths", nargs="+", help="results.csv files, or folders holding one")
    r.add_argument("--markdown", action="store_true", help="a Markdown table")
    r.set_defaults(func=cmd_results)


def _config(args):
    from relattr_studio.training.config import TrainConfig

    options = {}
    if args.image_size:
        options["image_size"] = args.image_size
    if args.width:
        options["width"] = args.width
    if args.stem_stride:
        options["stem_stride"] = args.stem_stride
    if args.drop_path:
        if args.backbone != "efficientnet-lite0":
            raise RelAttrError(f"--drop-path is an efficientnet-lite0 option, not one of {args.backbone}")
        options["drop_path"] = args.drop_path
    preset = args.preset or ("scratch" if args.backbone == "small-cnn" else "paper")
    c = TrainConfig(dataset=args.dataset, protocol=args.protocol, attributes=tuple(args.attribute),
                    ranker=args.ranker, backbone=args.backbone, backbone_options=options, weights=args.weights,
                    batch_size=args.batch_size, batching=args.batching, max_pairs=args.max_pairs,
                    max_test_pairs=args.max_test_pairs, test_flip=args.test_flip, schedule=args.schedule,
                    warmup_steps=args.warmup_steps, patience=args.patience, augment=args.augment,
                    augment_zoom=args.augment_zoom, augment_color=args.augment_color,
                    device=args.device, amp=args.amp, channels_last=args.channels_last, freeze_bn=args.freeze_bn,
                    out_dir=args.out, labels=args.labels, labels_only=args.labels_only,
                    min_confidence=args.min_confidence)
    c = c.with_preset(preset)
    changes = {k: v for k, v in (("epochs", args.epochs), ("steps", args.steps), ("optimizer", args.optimizer),
                                 ("lr", args.lr), ("backbone_lr_scale", args.backbone_lr_scale),
                                 ("weight_decay", args.weight_decay), ("val_fraction", args.val_fraction),
                                 ("ema", args.ema))
               if v is not None}
    if args.dropout:
        if args.ranker != "ranknet":
            raise RelAttrError(f"--dropout is a RankNet option; {args.ranker} has no such layer")
        changes["ranker_options"] = {"dropout": args.dropout}
    return c.replace(**changes)


def cmd_train(args) -> int:
    from relattr_studio.cli.progress import run_job
    from relattr_studio.training.distributed import dist_env
    from relattr_studio.training.results import format_table, write_results_csv

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.resume:
        return _resume(args)
    if not args.dataset or not args.out:
        raise RelAttrError("relattr train needs --dataset and --out (or --resume CHECKPOINT)")
    out = Path(args.out)
    if (args.labels_only or args.min_confidence is not None) and not args.labels:
        raise RelAttrError("--labels-only and --min-confidence go with --labels STORE.sqlite")
    ranksvm = ranker_family(args.ranker) == RANKSVM_FAMILY  # an unknown name stops here, with the known ones
    if ranksvm:
        try:
            from relattr_studio.training.ranksvm_job import run_ranksvm
        except ImportError:
            raise RelAttrError("RankSVM is not available in this build (training/ranksvm_job.py missing)") from None
        rows = run_job(run_ranksvm, args.dataset, attributes=args.attribute or None,
                       local=RANKERS.traits(args.ranker)["local"],
                       seeds=list(range(args.first_seed, args.first_seed + args.seeds)), protocol=args.protocol,
                       c=args.c, k=args.k, test_sample=args.test_sample, out_dir=str(out), quiet=args.quiet,
                       labels=args.labels, labels_only=args.labels_only, min_confidence=args.min_confidence,
                       continue_with=_resume_command)
    else:
        from relattr_studio.training.runs import train_rankers

        config = _config(args)
        _, rows = run_job(train_rankers, config, seeds=list(range(args.first_seed, args.first_seed + args.seeds)),
                          per_attribute=not args.multi_head, quiet=args.quiet, continue_with=_resume_command)
    if not dist_env().is_main:
        return 0
    if ranksvm:
        write_results_csv(out / "results.csv", rows)
    print(format_table(rows))  # neural rankers: each model went into results.csv as it finished
    from relattr_studio.training.diagnosis import rows_chance_note

    if note := rows_chance_note(rows, None if ranksvm else config.to_dict()):
        print(note)  # a run that ended near chance says so under its table, with what to change
    print(f"results: {out / 'results.csv'}", file=sys.stderr)
    return 0


def _resume_command(checkpoint: str) -> str:
    return f"relattr train --resume {checkpoint}"


def _resume(args) -> int:
    """``relattr train --resume CKPT``: the checkpoint's run goes on in its folder, on its curve."""
    from relattr_studio.cli.progress import run_job
    from relattr_studio.training.job import train_ranker
    from relattr_studio.training.results import format_table
    from relattr_studio.training.runs import record_run, resume_config

    for flag, value in (("--out", args.out), ("--labels", args.labels), ("--attribute", args.attribute)):
        if value:
            raise RelAttrError(f"--resume continues the checkpoint's own run in its own folder; {flag} cannot "
                               "change it (start a new run with --out to train something else)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from relattr_studio.training.ranksvm_job import resume_ranksvm

    if is_ranksvm_state_name(args.resume):  # a RankSVM run's state: its next attribute and seed
        if args.steps is not None or args.epochs is not None:
            raise RelAttrError("RankSVM is not trained in steps: --steps and --epochs do not apply to its --resume")
        rows = run_job(resume_ranksvm, args.resume, dataset=args.dataset, quiet=args.quiet,
                       continue_with=_resume_command)
        print(format_table(rows))
        print(f"results: {Path(args.resume).parent / 'results.csv'}", file=sys.stderr)
        return 0
    config = resume_config(args.resume, dataset=args.dataset, steps=args.steps)
    if args.epochs is not None and args.steps is None:
        config = config.replace(epochs=args.epochs, steps=None)
    result = run_job(train_ranker, config, resume_from=args.resume, quiet=args.quiet, continue_with=_resume_command)
    rows = record_run(result)
    print(format_table(rows))
    print(f"results: {Path(config.out_dir) / 'results.csv'}", file=sys.stderr)
    return 0


def cmd_eval(args) -> int:
    from relattr_studio.cli.progress import run_job
    from relattr_studio.training.results import format_table, write_results_csv
    from relattr_studio.training.runs import evaluate_checkpoint

    rows = run_job(evaluate_checkpoint, args.checkpoint, args.dataset, protocol=args.protocol, device=args.device,
                   max_pairs=args.max_test_pairs, test_flip=args.test_flip, quiet=args.quiet)
    print(format_table(rows))
    if args.out:
        print(f"results: {write_results_csv(Path(args.out) / 'results.csv', rows)}", file=sys.stderr)
    return 0


def results_csv(given: str) -> Path:
    """A run's results.csv: the file given, or the one in the folder given."""
    path = Path(given) / "results.csv" if Path(given).is_dir() else Path(given)
    if not path.is_file():
        raise RelAttrError(f"{given}: no results.csv there")
    return path


def cmd_results(args) -> int:
    from relattr_studio.training.results import format_table, read_results_csv

    rows = []
    for given in args.paths:
        rows += read_results_csv(results_csv(given))
    seen = {}
    for row in rows:  # the same seed twice would be counted twice in the mean and the std
        key = (row.ranker, row.backbone, row.attribute, row.test_split, row.seed)
        if key in seen:
            raise RelAttrError(f"seed {row.seed} of {row.ranker}/{row.backbone} {row.attribute} "
                               f"[{row.test_split}] appears twice among {', '.join(args.paths)}")
        seen[key] = row
    print(format_table(rows, markdown=args.markdown))
    return 0
