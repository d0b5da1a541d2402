"""``relattr experiment semantic-jitter`` (do dense synthetic pairs help a ranker? Gao et al.) and
``relattr experiment attic --active`` (do pairs imagined against the ranker help more? Yu and Grauman)."""

from __future__ import annotations

import sys

from relattr_studio.analysis.attic_loop import ACTIVE_CONDITIONS
from relattr_studio.analysis.jitter_experiment import CONDITIONS, SEMANTIC_JITTER_CONDITIONS
from relattr_studio.cli.options import BATCH, IMAGE_SIZE, SEED, STEPS, THREADS, option
from relattr_studio.core import bounds
from relattr_studio.core.errors import RelAttrError


def register(sub) -> None:
    p = sub.add_parser("experiment", help="experiments from the papers")
    ex = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    j = ex.add_parser("semantic-jitter", help="Real / Real+ / Jitter / DSynth / DSynth-Auto with the same real "
                                              "label budget; writes results.csv, table.md and plots")
    j.add_argument("--dataset", required=True, help="dataset file with train and (coarse / fine) test pairs")
    j.add_argument("--ranker", default="ranknet")
    j.add_argument("--backbone", default="small-cnn")
    j.add_argument("--budget", type=option(bounds.BUDGET), default=200, help="real labelled pairs per attribute (default 200)")
    j.add_argument("--seeds", type=option(bounds.SEEDS), default=3, help="number of seeds (default 3)")
    j.add_argument("--first-seed", type=SEED, default=0)
    j.add_argument("--generator", default="shipped",
                   help="generator model file (default: the one shipped for the dataset's name)")
    j.add_argument("--oracle", default="shipped", help="oracle model file (default: the shipped one)")
    j.add_argument("--condition", action="append", default=[], choices=SEMANTIC_JITTER_CONDITIONS,
                   help="repeat for several; default all five")
    j.add_argument("--attribute", action="append", default=[], help="repeat for several; default all shared")
    j.add_argument("--protocol", default="default")
    j.add_argument("--steps", type=STEPS, default=600, help="training steps per model (default 600)")
    j.add_argument("--batch-size", type=BATCH, default=32)
    j.add_argument("--preset", default=None,
                   help="optimiser settings (default: scratch for small-cnn, finetune for a pretrained backbone)")
    j.add_argument("--image-size", type=IMAGE_SIZE, default=None, help="the ranker's input side in pixels "
                                                                 "(default: the backbone's own)")
    j.add_argument("--amount", type=option(bounds.JITTER_AMOUNT), default=2.0,
                   help="sigmas between a tweaked identity and its base (the paper: 2)")
    j.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    j.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    j.add_argument("--keep-pools", action="store_true", help="keep each condition's dataset file")
    j.add_argument("--out", required=True, help="output folder")
    j.add_argument("--quiet", action="store_true")
    j.set_defaults(func=cmd_semantic_jitter)

    a = ex.add_parser("attic", help="ATTIC against Real, Real+, Jitter and Semantic Jitter on the same number of "
                                    "labels (Tables I and II), or the active curves (--active, Fig. 5)",
                      description="Without --active (the paper's Tables I and II): per seed, one ranker per condition "
                                  "with the same real label budget: Normal (dsynth, attic: half the budget real, half "
                                  "generated pairs the simulated annotator labeled) and Auto (dsynth-auto, "
                                  "attic-auto: the whole budget real plus as many generated pairs labeled by the "
                                  "strengths they were made with); ATTIC's pairs come from a control module trained "
                                  "against Real's ranker. Writes results.csv, table.md and plots. With --active "
                                  "(Fig. 5): per seed, --budget real pairs labeled by the simulated annotator train "
                                  "Real, then each condition adds --batches batches of --pairs labeled pairs, and a "
                                  "ranker trained after each batch is compared with Real (results.csv, table.md).")
    a.add_argument("--dataset", required=True, help="a dataset file with exact strengths (toy-faces, toy-shoes)")
    a.add_argument("--attribute", action="append", default=[],
                   help="repeat for several (default: all shared); --active takes exactly one")
    a.add_argument("--active", action="store_true", help="the active curves of Fig. 5 instead of the tables")
    a.add_argument("--generator", default="shipped", help="generator model file (default: the shipped one)")
    a.add_argument("--oracle", default="shipped", help="oracle model file (default: the shipped one)")
    a.add_argument("--ranker", default="ranknet")
    a.add_argument("--backbone", default="small-cnn")
    a.add_argument("--budget", type=option(bounds.BUDGET), default=200, help="real labeled pairs (default 200)")
    a.add_argument("--pairs", type=option(bounds.ints(1, 100_000)), default=None,
                   help="pairs per batch (default a quarter of --budget, as the paper)")
    a.add_argument("--batches", type=option(bounds.ints(1, 100)), default=4)
    a.add_argument("--seeds", type=option(bounds.SEEDS), default=3)
    a.add_argument("--first-seed", type=SEED, default=0)
    a.add_argument("--condition", action="append", default=[], choices=sorted(set(ACTIVE_CONDITIONS + CONDITIONS)),
                   help="repeat for several; default all of the tables' (real, real+, jitter, dsynth, attic, "
                        "dsynth-auto, attic-auto) or, with --active, of the curves' (attic, random, semantic-jitter, "
                        "uncertainty, ensemble)")
    a.add_argument("--round-steps", type=STEPS, default=200, help="adversarial steps per ATTIC round (default 200)")
    a.add_argument("--objective", choices=("flipped", "negative"), default="flipped")
    a.add_argument("--per-attribute", action="store_true",
                   help="tables: one control module and round per attribute, as the paper (default: one for all)")
    a.add_argument("--steps", type=STEPS, default=600, help="training steps per ranker (default 600)")
    a.add_argument("--batch-size", type=BATCH, default=32)
    a.add_argument("--image-size", type=IMAGE_SIZE, default=None)
    a.add_argument("--width", type=option(bounds.RANKER_WIDTH), default=None, help="small-cnn width")
    a.add_argument("--stem-stride", type=int, choices=(1, 2), default=None,
                   help="small-cnn: 2 makes the first convolution strided (the Train view's first training)")
    a.add_argument("--protocol", default="default")
    a.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    a.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    a.add_argument("--out", required=True, help="output folder")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=cmd_attic)

    r = ex.add_parser("report", help="one results.csv, table.md and plots from several runs (e.g. seeds run "
                                     "in parallel processes with --first-seed)")
    r.add_argument("paths", nargs="+", help="results.csv files of semantic-jitter runs, or folders holding one")
    r.add_argument("--note", default="", help="a line for the top of table.md (what was run)")
    r.add_argument("--out", required=True, help="output folder")
    r.set_defaults(func=cmd_report)


def cmd_semantic_jitter(args) -> int:
    from relattr_studio.analysis.jitter_experiment import JitterExperimentConfig
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.shipped import model_argument

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    name = DatasetFile(args.dataset).meta.name
    cfg = JitterExperimentConfig(
        dataset=args.dataset, generator=str(model_argument(args.generator, "generator", name)),
        oracle=str(model_argument(args.oracle, "oracle", name)), out_dir=args.out, budget=args.budget,
        seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
        conditions=tuple(args.condition) or SEMANTIC_JITTER_CONDITIONS, attributes=tuple(args.attribute),
        protocol=args.protocol,
        ranker=args.ranker, backbone=args.backbone, steps=args.steps, batch_size=args.batch_size,
        preset=args.preset, image_size=args.image_size,
        amount=args.amount, device=args.device, keep_datasets=args.keep_pools)
    return _run_tables(cfg, args, "")


def _backbone_options(args) -> dict:
    """The small CNN's width and stem stride, where given."""
    return {k: v for k, v in (("width", args.width), ("stem_stride", args.stem_stride)) if v is not None}


def _run_tables(cfg, args, extra: str) -> int:
    """Run a table experiment (semantic jitter, or ATTIC's Normal and Auto), print and write its report."""
    from relattr_studio.analysis.jitter_experiment import run_semantic_jitter_experiment
    from relattr_studio.cli.progress import run_job

    result = run_job(run_semantic_jitter_experiment, cfg, quiet=args.quiet)
    share = f"{100.0 * result.discarded / result.judged:.1f} %" if result.judged else "n/a"
    size = f" at {cfg.image_size} px" if cfg.image_size else ""
    note = (f"dataset {args.dataset}; {cfg.ranker}/{cfg.backbone}{size}, {cfg.preset} preset, {cfg.steps} steps of "
            f"{cfg.batch_size} images; "
            f"budget {cfg.budget} real pairs per attribute; seeds {', '.join(map(str, cfg.seeds))}; generator "
            f"{cfg.generator}; oracle {cfg.oracle}; {extra + '; ' if extra else ''}generated pairs discarded by the "
            f"simulated annotator: {result.discarded} of {result.judged} ({share}); {result.seconds / 60:.1f} min.")
    _report(result.rows, args.out, note)
    return 0


def cmd_attic(args) -> int:
    from pathlib import Path

    from relattr_studio.analysis.attic_loop import ActiveLoopConfig, run_active_loop
    from relattr_studio.analysis.jitter_experiment import ATTIC_CONDITIONS
    from relattr_studio.cli.progress import run_job
    from relattr_studio.core.paths import write_text_atomically
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.shipped import model_argument
    from relattr_studio.training.config import TrainConfig

    wrong = sorted(set(args.condition) - set(ACTIVE_CONDITIONS if args.active else ATTIC_CONDITIONS))
    if wrong:
        raise RelAttrError(f"--condition {', '.join(wrong)} is not one of the "
                           f"{'active curves' if args.active else 'tables'}' conditions")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    name = DatasetFile(args.dataset).meta.name
    generator = str(model_argument(args.generator, "generator", name))
    oracle = str(model_argument(args.oracle, "oracle", name))
    if not args.active:
        from relattr_studio.analysis.jitter_experiment import JitterExperimentConfig

        cfg = JitterExperimentConfig(
            dataset=args.dataset, generator=generator, oracle=oracle, out_dir=args.out, budget=args.budget,
            seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
            conditions=tuple(args.condition) or ATTIC_CONDITIONS, attributes=tuple(args.attribute),
            protocol=args.protocol, ranker=args.ranker, backbone=args.backbone, steps=args.steps,
            batch_size=args.batch_size, image_size=args.image_size, attic_steps=args.round_steps,
            device=args.device, backbone_options=_backbone_options(args), attic_per_attribute=args.per_attribute)
        return _run_tables(cfg, args, f"ATTIC rounds of {cfg.attic_steps} steps against Real's ranker")
    if len(args.attribute) != 1:
        raise RelAttrError("--active takes one --attribute (the paper trains one network per attribute)")
    options = {"image_size": args.image_size} if args.image_size else {}
    train = TrainConfig(dataset=args.dataset, ranker=args.ranker, backbone=args.backbone,
                        backbone_options={**options, **_backbone_options(args)},
                        protocol=args.protocol, device=args.device)
    train = train.with_preset("scratch" if args.backbone == "small-cnn" else "finetune").replace(
        steps=args.steps, batch_size=args.batch_size, val_fraction=0.0)
    cfg = ActiveLoopConfig(
        train=train, generator=generator, oracle=oracle, out_dir=args.out, attribute=args.attribute[0],
        budget=args.budget, pairs=args.pairs or max(1, args.budget // 4), batches=args.batches,
        seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
        conditions=tuple(args.condition) or ACTIVE_CONDITIONS, round_steps=args.round_steps,
        objective=args.objective)
    result = run_job(run_active_loop, cfg, quiet=args.quiet)
    table = result.table()
    note = (f"dataset {args.dataset}, attribute {cfg.attribute}; {args.ranker}/{args.backbone}, {args.steps} steps "
            f"of {args.batch_size}; Real: {cfg.budget} real pairs; {cfg.batches} batches of {cfg.pairs} pairs; "
            f"ATTIC rounds of {cfg.round_steps} steps ({cfg.objective}); seeds {', '.join(map(str, cfg.seeds))}")
    write_text_atomically(Path(args.out) / "table.md", f"{note}\n\nMean test accuracy gain over Real (points):\n\n"
                                                      f"{table}\n")
    print(table)
    print(f"results: {Path(args.out) / 'results.csv'}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from relattr_studio.analysis.experiment_report import read_experiment_csv
    from relattr_studio.cli.train_commands import results_csv

    rows, seen = [], {}
    for given in args.paths:
        path = results_csv(given)
        try:
            found = read_experiment_csv(path)
        except (KeyError, ValueError, TypeError) as err:
            raise RelAttrError(f"{path}: not a semantic-jitter results.csv ({err})") from None
        for row in found:  # the same seed twice would count twice in the mean and the std
            key = (row.condition, row.ranker, row.backbone, row.attribute, row.test_split, row.seed)
            if key in seen:
                raise RelAttrError(f"seed {row.seed} of {row.condition} {row.attribute} [{row.test_split}] is in "
                                   f"both {seen[key]} and {path}")
            seen[key] = path
        rows += found
    models = sorted({(r.ranker, r.backbone) for r in rows})
    if len(models) > 1:  # the tables compare conditions, so every row must come from one kind of model
        raise RelAttrError("the runs used different rankers or backbones (" + ", ".join("/".join(m) for m in models)
                           + "); report each on its own")
    if Path(args.out).resolve() in {Path(p).resolve().parent for p in seen.values()}:
        raise RelAttrError(f"{args.out}: holds one of the results.csv files read; write the report elsewhere")
    _report(rows, args.out, args.note)
    return 0


def _report(rows, out: str, note: str) -> None:
    from relattr_studio.analysis.experiment_report import (
        differences_table,
        experiment_table,
        paired_differences,
        write_report,
    )

    paths = write_report(rows, out, note=note)
    for split in ("test/fine", "test/coarse", "test"):
        if any(r.test_split == split for r in rows):
            print(f"\n{split}:\n{experiment_table(rows, split)}")
            if paired_differences(rows, split):
                print(f"paired by seed, against real:\n{differences_table(rows, split)}")
    print(f"\n{note}\nresults: {paths['csv']}\ntable: {paths['table']}".lstrip("\n"), file=sys.stderr)
