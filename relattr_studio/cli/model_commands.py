"""``relattr model info``: what any model file is (ranker, RankSVM, generator, oracle; any format)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

CARD_LINE = 160  # characters of one card entry in the text form; --json shows everything


def register(sub) -> None:
    """Add ``model`` (info)."""
    p = sub.add_parser("model", help="describe a model file of any kind (ranker, RankSVM, generator, oracle)")
    msub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    i = msub.add_parser("info", help="kind, builder, config, attributes, preprocessing, checksum, training "
                                     "state and card of a model file (the checksum is verified)")
    i.add_argument("model", help="model file, or the name of a shipped one (e.g. toy-faces-generator)")
    i.add_argument("--json", action="store_true", help="print the description as JSON")
    i.set_defaults(func=cmd_model_info)


def model_path(value: str) -> Path:
    """A model file from a command-line value: an existing path, else a shipped model's name."""
    from relattr_studio.modeling.shipped import shipped_models

    path = Path(value)
    if path.exists():
        return path
    return shipped_models().get(value, path)


def _size(n: int) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _inline(value, nested: bool = False) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k} {_inline(v, True)}" for k, v in value.items())
        return f"{{{text}}}" if nested else (text or "-")
    if isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
        return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, list) else str(value)


def _clip(text: str, width: int = CARD_LINE) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def info_lines(d: dict) -> list[str]:
    """The text form of :func:`~relattr_studio.modeling.model_file.describe_model_file`'s description."""
    w = d["weights"]
    ts = d["train_state"]
    if ts is None:
        training = "none (weights only)"
    else:
        training = f"step {ts['step']}" + ("; finished" if ts["finished"] else "") \
            + ("; optimizer state kept (resumable)" if ts["optimizer_state"] else "")
    fmt = f"{d['format']} v{d['format_version']}" + (" (older format)" if d["older_format"] else "")
    rows = [("kind", f"{d['kind']} (builder {d['builder']})"), ("format", fmt), ("size", _size(d["size_bytes"])),
            ("checksum", d["checksum"]["text"]), ("created", d["created"] or "-"),
            ("attributes", f"{len(d['attributes'])}: " + ", ".join(d["attributes"])),
            ("config", _inline(d["config"])), ("preprocessing", _inline(d["preprocessing"])),
            ("weights", f"{w['tensors']} tensors, {w['values']:,} values ({', '.join(w['dtypes'])})"),
            ("training state", training)]
    rows += [(k, _inline(v)) for k, v in d["details"].items()]
    lines = [d["path"]] + [f"  {k:<16} {v}" for k, v in rows]
    card = [(k, v) for k, v in d["card"].items() if v not in ({}, [], None, "")]
    for n, (k, v) in enumerate(card):
        lines.append(f"  {'card' if n == 0 else '':<16} " + _clip(f"{k}: {_inline(v)}"))
    return lines


def cmd_model_info(args) -> int:
    from relattr_studio.modeling.model_file import describe_model_file, read_model_file

    description = describe_model_file(read_model_file(model_path(args.model)))
    if args.json:
        json.dump(description, sys.stdout, indent=1)
        print()
    else:
        print("\n".join(info_lines(description)))
    return 0
