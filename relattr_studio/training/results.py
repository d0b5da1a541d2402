"""Result rows as the CLI writes them to ``results.csv``, and their per-attribute table."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ResultRow:
    """One ranker's accuracy on one attribute for one seed, in percent."""

    ranker: str
    backbone: str
    attribute: str
    seed: int
    accuracy: float  # percent of correctly ordered non-equal test pairs
    test_split: str  # e.g. "test", "test/fine", "test/coarse"
    real_pairs: int | None = None  # labelled pairs of dataset images the model trained on (None: not recorded)
    generated_pairs: int | None = None  # labelled pairs of generated images it trained on


COLUMNS = [f.name for f in fields(ResultRow)]


def write_results_csv(path: str | Path, rows: list[ResultRow], *, append: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not (append and path.exists())
    with open(path, "a" if append else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({**asdict(row), "accuracy": f"{row.accuracy:.2f}",
                             "real_pairs": "" if row.real_pairs is None else row.real_pairs,
                             "generated_pairs": "" if row.generated_pairs is None else row.generated_pairs})
    return path


def record_results(path: str | Path, rows: list[ResultRow]) -> Path:
    """Merge ``rows`` into the results.csv at ``path`` (atomically): a row of the same ranker,
    backbone, attribute, seed and test split replaces the old one (a resumed or re-tested model),
    others are kept. How a run adds its models to its folder's table as each one finishes."""
    from relattr_studio.core.paths import atomic_output

    path = Path(path)
    key = lambda r: (r.ranker, r.backbone, r.attribute, r.seed, r.test_split)  # noqa: E731
    new = {key(r) for r in rows}
    kept = [r for r in read_results_csv(path) if key(r) not in new] if path.is_file() else []
    with atomic_output(path) as tmp:
        write_results_csv(tmp, kept + list(rows))
    return path


def read_results_csv(path: str | Path) -> list[ResultRow]:
    def count(text: str | None) -> int | None:  # absent in files written before the columns existed
        return int(text) if text else None

    with open(path, newline="") as f:
        return [ResultRow(r["ranker"], r["backbone"], r["attribute"], int(r["seed"]), float(r["accuracy"]),
                          r["test_split"], count(r.get("real_pairs")), count(r.get("generated_pairs")))
                for r in csv.DictReader(f)]


def result_column(row: ResultRow) -> str:
    """A results table's column head: ranker/backbone, and the test split unless plain "test"."""
    return f"{row.ranker}/{row.backbone}" + (f" [{row.test_split}]" if row.test_split != "test" else "")


def format_table(rows: list, *, markdown: bool = False, column: Callable[[Any], str] = result_column) -> str:
    """Per attribute (rows) and ``column(row)`` (columns; default ranker/backbone/split): mean ± std
    over seeds, then the mean over attributes (per seed, then mean ± std over seeds).
    ``markdown``: a Markdown table. Rows need ``attribute``, ``seed`` and ``accuracy``."""
    cells: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    attributes: list[str] = []
    for r in rows:
        cells[column(r)][r.attribute].append(r.accuracy)
        if r.attribute not in attributes:
            attributes.append(r.attribute)
    columns = list(cells)
    heads = columns
    width = max([len(a) for a in attributes] + [9])
    colw = max([len(h) for h in heads] + [14]) + 2
    lines = ["attribute".ljust(width) + "".join(h.rjust(colw) for h in heads)]

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    body = [[a] + [cell(cells[c][a]) for c in columns] for a in attributes]
    means = []
    for c in columns:
        # mean over attributes for each seed, then mean ± std over seeds
        per_seed: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            if column(r) == c:
                per_seed[r.seed].append(r.accuracy)
        means.append(cell([float(np.mean(v)) for v in per_seed.values()]))
    if markdown:
        seeds = sorted({r.seed for r in rows})
        out = ["| attribute | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
        out += ["| " + " | ".join(line) + " |" for line in body]
        out.append("| **mean** | " + " | ".join(f"**{m}**" for m in means) + " |")
        return "\n".join(out) + f"\n\nseeds: {', '.join(map(str, seeds))}"
    lines += [line[0].ljust(width) + "".join(v.rjust(colw) for v in line[1:]) for line in body]
    lines.append("mean".ljust(width) + "".join(m.rjust(colw) for m in means))
    return "\n".join(lines)
