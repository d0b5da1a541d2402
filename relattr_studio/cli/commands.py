"""Sub-commands of ``relattr``. Engine modules are imported inside each handler, so that
``relattr --help`` and the commands that need little stay fast."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from relattr_studio.cli.options import IMAGE_SIZE, SEED, option
from relattr_studio.core import bounds
from relattr_studio.cli.progress import run_job
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.paths import check_output_file


def register(sub: argparse._SubParsersAction) -> None:
    _register_dataset(sub)
    _register_import(sub)
    _register_make(sub)
    _register_labels(sub)
    from relattr_studio.cli import train_commands

    train_commands.register(sub)


# --------------------------------------------------------------------------- dataset


def _register_dataset(sub) -> None:
    p = sub.add_parser("dataset", help="inspect a dataset file")
    dsub = p.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    info = dsub.add_parser("info", help="summary: images, attributes, pairs per attribute and split")
    info.add_argument("file", type=Path)
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=cmd_dataset_info)


def format_summary(s: dict) -> str:
    """The human-readable form of ``DatasetFile.summary()``."""
    lines = [
        f"{s['name']}  ({s['path']})",
        f"images:      {s['images']} ({s['image_shape'][0]} x {s['image_shape'][1]} px)",
        f"attributes:  {len(s['attributes'])} ({', '.join(s['attributes'])})",
        f"strengths:   {'yes' if s['strengths'] else 'no'}",
    ]
    if s["identities"]:
        lines.append(f"identities:  {s['identities']}")
    for name, classes in s["categorical"].items():
        lines.append(f"categorical: {name} ({len(classes)} classes: {', '.join(classes)})")
    for name, shape in s["arrays"].items():
        lines.append(f"array:       {name} {' x '.join(map(str, shape))}")
    lines.append(f"protocols:   {', '.join(s['protocols'])}")
    lines.append(f"pairs:       {s['pairs']}")
    columns = sorted({k for counts in s["pairs_per_attribute"].values() for k in counts} - {"equal", "fine"})
    columns += ["equal", "fine"]
    width = max([len(a) for a in s["attributes"]] + [9])
    lines.append("  " + "attribute".ljust(width) + "".join(c.rjust(10) for c in columns))
    for name, counts in s["pairs_per_attribute"].items():
        lines.append("  " + name.ljust(width) + "".join(str(counts.get(c, 0)).rjust(10) for c in columns))
    if s["provenance"]:
        lines.append(f"provenance:  {s['provenance']}")
    return "\n".join(lines)


def print_summary(path: Path, *, as_json: bool = False) -> int:
    """Print a dataset file's summary (the output of ``dataset info``, ``import`` and ``make``)."""
    from relattr_studio.data.dataset_file import DatasetFile

    with DatasetFile(path) as ds:
        summary = ds.summary()
    print(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    return 0


def cmd_dataset_info(args) -> int:
    return print_summary(args.file, as_json=args.json)


# --------------------------------------------------------------------------- import


def _parse_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    key = key.strip().replace("-", "_")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    lowered = value.lower()
    if lowered in ("true", "yes", "on"):
        return key, True
    if lowered in ("false", "no", "off"):
        return key, False
    return key, value


def _register_import(sub) -> None:
    from relattr_studio.data.importers import IMPORTER_HELP, IMPORTER_LAYOUT

    epilog = "\n\n".join(f"{kind}: {IMPORTER_HELP[kind]}\n{IMPORTER_LAYOUT[kind]}" for kind in IMPORTER_HELP)
    p = sub.add_parser(
        "import", help="import a public dataset into a dataset file",
        epilog="expected source layouts:\n\n" + epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=sorted(IMPORTER_HELP))
    p.add_argument("source", type=Path, help="the dataset's folder (or file), as published")
    p.add_argument("out", type=Path, help="the dataset file to write (.h5)")
    p.add_argument("-O", "--option", dest="options", action="append", type=_parse_option, default=[],
                   metavar="KEY=VALUE", help="an importer option (repeatable), e.g. -O size=128")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from relattr_studio.data.importers import IMPORTERS

    importer = IMPORTERS[args.kind]
    check_output_file(args.out)
    try:
        out = run_job(importer, args.source, args.out, quiet=args.quiet, **dict(args.options))
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise RelAttrError(f"import {args.kind}: {err}") from err
        raise
    except ValueError as err:  # an option's value the importer refuses
        raise RelAttrError(f"import {args.kind}: {err}") from err
    return print_summary(out)


# --------------------------------------------------------------------------- make


def _register_make(sub) -> None:
    from relattr_studio.data.procedural import PROCEDURAL_DATASETS

    p = sub.add_parser("make", help="draw a procedural dataset with exact ground truth")
    p.add_argument("kind", choices=sorted(PROCEDURAL_DATASETS))
    p.add_argument("out", type=Path)
    p.add_argument("--n", type=option(bounds.N_IMAGES), default=5000, help="number of images (default 5000)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--size", type=IMAGE_SIZE, default=64, help="image side in pixels (default 64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_make)


def cmd_make(args) -> int:
    from relattr_studio.data.dataset_file import check_dataset_space
    from relattr_studio.data.procedural import PROCEDURAL_DATASETS

    check_output_file(args.out)  # before the first image is drawn (the writer opens after)
    check_dataset_space(args.out, args.n, (args.size, args.size))
    try:
        out = run_job(PROCEDURAL_DATASETS[args.kind], args.out, n=args.n, seed=args.seed,
                      size=args.size, quiet=args.quiet)
    except ValueError as err:
        raise RelAttrError(f"make {args.kind}: {err}") from err
    return print_summary(out)


# --------------------------------------------------------------------------- labels


def _register_labels(sub) -> None:
    p = sub.add_parser("labels", help="export, import or simulate the judgements of a label store")
    lsub = p.add_subparsers(dest="labels_command", required=True, metavar="ACTION")
    exp = lsub.add_parser("export", help="write the effective judgements as CSV or JSON")
    exp.add_argument("store", type=Path, help="the label store (.sqlite)")
    exp.add_argument("out", type=Path, help="OUT.csv or OUT.json")
    exp.set_defaults(func=cmd_labels_export)
    imp = lsub.add_parser("import", help="append a store's judgements to a dataset's pairs table; generated "
                                         "pairs' images become images of the dataset")
    imp.add_argument("store", type=Path)
    imp.add_argument("dataset", type=Path)
    imp.add_argument("--real-only", action="store_true",
                     help="leave out judgements of generated pairs (their images are not added)")
    imp.add_argument("--again", action="store_true",
                     help="a file from before dataset files recorded their imports: import even what the "
                          "store's log says went into a file with the same images (another copy of it)")
    imp.set_defaults(func=cmd_labels_import)
    sim = lsub.add_parser(
        "simulate", help="fill a label store with the simulated annotator's judgements, through the path a "
                         "person's labels take (a batch, labeled pair by pair)",
        description="Without --generator: the dataset's train pairs not yet judged, labeled from its true "
                    "strengths. With --generator: the generator's semantic-jitter pairs (intra and inter "
                    "identity, +-2 sigma), labeled through the oracle, which discards what it cannot read.")
    sim.add_argument("--store", type=Path, required=True, help="the label store (.sqlite; made if missing)")
    sim.add_argument("--dataset", type=Path, required=True, help="the dataset file (.h5)")
    sim.add_argument("--generator", default=None,
                     help="a generator file, or toy-faces / toy-shoes for a shipped one: label generated pairs")
    sim.add_argument("--oracle", default=None,
                     help="an oracle model file (default: the shipped one for the dataset), to read generated images")
    sim.add_argument("--attribute", action="append", default=[], help="repeat for several; default all")
    sim.add_argument("--pairs", type=option(bounds.SIMULATED_PAIRS), default=100, help="pairs in all, spread evenly over the attributes")
    sim.add_argument("--seed", type=SEED, default=0)
    sim.add_argument("--protocol", default="default", help="whose train pairs (real pairs only)")
    sim.add_argument("--batch", default=None, metavar="NAME",
                     help="label the pending pairs of this existing batch (its name or id: an ATTIC query batch, "
                          "or one left half done) instead of making new pairs; generated pairs are read through "
                          "the oracle")
    sim.add_argument("--quiet", action="store_true")
    sim.set_defaults(func=cmd_labels_simulate)


def cmd_labels_simulate(args) -> int:
    from relattr_studio.analysis.label_simulation import simulate_labels
    from relattr_studio.cli.generator_commands import _model_path
    from relattr_studio.cli.progress import run_job
    from relattr_studio.data.dataset_file import DatasetFile

    name = DatasetFile(args.dataset).meta.name
    if args.batch is not None:
        from relattr_studio.analysis.label_simulation import simulate_batch_labels
        from relattr_studio.modeling.oracle import load_oracle
        from relattr_studio.modeling.shipped import model_argument

        if not args.store.exists():
            raise RelAttrError(f"{args.store}: no such label store (the batch is in the store that queued it)")
        oracle = load_oracle(model_argument(args.oracle, "oracle", name))
        result = run_job(simulate_batch_labels, str(args.store), str(args.dataset), args.batch, oracle=oracle,
                         seed=args.seed, quiet=args.quiet)
        print(result.message())
        return 0
    generator = oracle = None
    if args.generator:
        from relattr_studio.modeling.generator import load_generator
        from relattr_studio.modeling.oracle import load_oracle
        from relattr_studio.modeling.shipped import model_argument

        generator = load_generator(_model_path(args.generator))
        oracle = load_oracle(model_argument(args.oracle, "oracle", name))
    elif args.oracle:
        from relattr_studio.modeling.oracle import load_oracle

        oracle = load_oracle(args.oracle)
    result = run_job(simulate_labels, str(args.store), str(args.dataset), pairs=args.pairs, generator=generator,
                     oracle=oracle, attributes=args.attribute or None, seed=args.seed, protocol=args.protocol,
                     quiet=args.quiet)
    print(result.message())
    return 0


def cmd_labels_export(args) -> int:
    from relattr_studio.data.label_export import export_labels
    from relattr_studio.data.label_store import LabelStore

    if not args.store.exists():
        raise RelAttrError(f"{args.store}: no such label store")
    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise RelAttrError(f"{args.out}: give a .csv or .json file name")
    store = LabelStore(args.store)
    try:
        n = export_labels(store, args.out)
    finally:
        store.close()
    print(f"wrote {n} judgements to {args.out}")
    return 0


def cmd_labels_import(args) -> int:
    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.data.label_training import import_labels

    if not args.store.exists():
        raise RelAttrError(f"{args.store}: no such label store")
    store = LabelStore(args.store)
    try:
        result = import_labels(store, args.dataset, generated=not args.real_only, skip_imported=not args.again)
    finally:
        store.close()
    print(result.message())
    return 0
