"""The semantic-jitter experiment's outputs: results.csv, per-attribute tables and a bar plot.

The plot is drawn with Pillow so the command runs without Qt or a plotting library.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from relattr_studio.analysis.jitter_experiment import ExperimentRow
from relattr_studio.training.results import format_table

COLUMNS = [f.name for f in fields(ExperimentRow)]
# one colour per condition, in CONDITIONS order (colour-blind safe, Okabe-Ito)
COLOURS = [(0, 114, 178), (86, 180, 233), (230, 159, 0), (0, 158, 115), (204, 121, 167), (213, 94, 0)]


def write_experiment_csv(path: str | Path, rows: list[ExperimentRow]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({**asdict(r), "accuracy": f"{r.accuracy:.2f}"})
    return path


def read_experiment_csv(path: str | Path) -> list[ExperimentRow]:
    with open(path, newline="") as f:
        return [ExperimentRow(r["condition"], r["ranker"], r["backbone"], r["attribute"], int(r["seed"]),
                              float(r["accuracy"]), r["test_split"]) for r in csv.DictReader(f)]


def splits(rows: list[ExperimentRow]) -> list[str]:
    return list(dict.fromkeys(r.test_split for r in rows))


def experiment_table(rows: list[ExperimentRow], split: str = "test/fine", *, markdown: bool = False) -> str:
    """Attributes down, conditions across, on one test split: mean ± std over seeds."""
    return format_table([r for r in rows if r.test_split == split], markdown=markdown,
                        column=lambda r: r.condition)


def paired_differences(rows: list[ExperimentRow], split: str = "test/fine", baseline: str = "real") -> dict:
    """Each condition against ``baseline`` on the seeds both ran, paired by seed (a seed's
    conditions share its real pairs): {condition: {"mean": m, "std": s, "seeds": n,
    "better": k, "attributes": a}}, m and s over the seeds' differences of the mean over
    attributes (points), k the attributes whose mean over seeds rose."""
    acc: dict[tuple[str, int, str], float] = {(r.condition, r.seed, r.attribute): r.accuracy
                                              for r in rows if r.test_split == split}
    base_seeds = {seed for c, seed, _ in acc if c == baseline}
    out = {}
    for condition in dict.fromkeys(c for c, _, _ in acc):
        if condition == baseline:
            continue
        diffs, per_attr = [], defaultdict(list)
        for seed in sorted(base_seeds):
            attrs = [a for c, s_, a in acc if c == condition and s_ == seed and (baseline, seed, a) in acc]
            if not attrs:
                continue
            d = [acc[(condition, seed, a)] - acc[(baseline, seed, a)] for a in attrs]
            diffs.append(float(np.mean(d)))
            for a, v in zip(attrs, d):
                per_attr[a].append(v)
        if diffs:
            out[condition] = {"mean": float(np.mean(diffs)), "std": float(np.std(diffs)), "seeds": len(diffs),
                              "better": sum(np.mean(v) > 0 for v in per_attr.values()), "attributes": len(per_attr)}
    return out


def differences_table(rows: list[ExperimentRow], split: str = "test/fine", baseline: str = "real") -> str:
    """Markdown: each condition minus ``baseline``, paired by seed."""
    diffs = paired_differences(rows, split, baseline)
    lines = [f"| condition | minus {baseline} (points, mean ± std over seeds) | attributes better |", "|---|---:|---:|"]
    lines += [f"| {c} | {d['mean']:+.2f} ± {d['std']:.2f} ({d['seeds']} seeds) | {d['better']} of {d['attributes']} |"
              for c, d in diffs.items()]
    return "\n".join(lines)


def _summary(rows: list[ExperimentRow], split: str):
    """{condition: {attribute: (mean, std)}} plus a "mean" attribute (per-seed means over attributes)."""
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_seed: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.test_split == split:
            acc[r.condition][r.attribute].append(r.accuracy)
            per_seed[r.condition][r.seed].append(r.accuracy)
    out = {}
    for c, per in acc.items():
        out[c] = {a: (float(np.mean(v)), float(np.std(v))) for a, v in per.items()}
        means = [float(np.mean(v)) for v in per_seed[c].values()]
        out[c]["mean"] = (float(np.mean(means)), float(np.std(means)))
    return out


def plot_experiment(rows: list[ExperimentRow], out_png: str | Path, split: str = "test/fine", *,
                    title: str = "") -> Path:
    """Grouped bars: accuracy per attribute (and the mean) for each condition, ± std over seeds."""
    summary = _summary(rows, split)
    conditions = list(summary)
    attributes = list(dict.fromkeys(a for c in conditions for a in summary[c]))
    attributes = [a for a in attributes if a != "mean"] + ["mean"]
    values = [m - s for c in conditions for m, s in summary[c].values()]
    lo = max(0.0, np.floor(min(values) / 5.0) * 5.0 - 5.0) if values else 0.0
    hi = 100.0
    font = ImageFont.load_default()
    bar, gap = 12, 14
    group = bar * len(conditions) + gap
    left, top, bottom, right = 48, 40, 86, 160
    width = left + group * len(attributes) + right
    height = 360
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    plot_h = height - top - bottom

    def y_of(v: float) -> float:
        return top + plot_h * (1.0 - (v - lo) / (hi - lo))

    for tick in np.arange(lo, hi + 0.1, 5.0 if hi - lo <= 40 else 10.0):
        y = y_of(tick)
        d.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        d.text((4, y - 6), f"{tick:.0f}", fill="black", font=font)
    for gi, attr in enumerate(attributes):
        x0 = left + gi * group + gap // 2
        for ci, c in enumerate(conditions):
            if attr not in summary[c]:
                continue
            m, s = summary[c][attr]
            x = x0 + ci * bar
            d.rectangle([x, y_of(m), x + bar - 2, y_of(lo)], fill=COLOURS[ci % len(COLOURS)])
            if s > 0:
                xm = x + (bar - 2) / 2
                d.line([(xm, y_of(m + s)), (xm, y_of(max(lo, m - s)))], fill="black")
        label = attr if len(attr) <= 12 else attr[:11] + "."
        d.text((x0, height - bottom + 6 + (gi % 2) * 12), label, fill="black", font=font)
    d.line([(left, top), (left, y_of(lo)), (width - right, y_of(lo))], fill="black")
    d.text((left, 8), title or f"accuracy (%) on {split} pairs, mean ± std over seeds", fill="black", font=font)
    for ci, c in enumerate(conditions):
        y = top + ci * 16
        d.rectangle([width - right + 12, y, width - right + 24, y + 10], fill=COLOURS[ci % len(COLOURS)])
        d.text((width - right + 30, y - 1), c, fill="black", font=font)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    img.save(out_png)
    return out_png


def write_report(rows: list[ExperimentRow], out_dir: str | Path, *, note: str = "") -> dict[str, Path]:
    """results.csv, table.md (every split) and plot-<split>.png in ``out_dir``."""
    out_dir = Path(out_dir)
    paths = {"csv": write_experiment_csv(out_dir / "results.csv", rows)}
    parts = [f"# Semantic-jitter experiment\n\n{note}".rstrip() + "\n"]
    for split in splits(rows):
        parts.append(f"## {split}\n\n{experiment_table(rows, split, markdown=True)}\n")
        if paired_differences(rows, split):
            parts.append(f"Paired by seed, against real:\n\n{differences_table(rows, split)}\n")
        tag = split.replace("/", "-")
        paths[f"plot {split}"] = plot_experiment(rows, out_dir / f"plot-{tag}.png", split)
    paths["table"] = out_dir / "table.md"
    paths["table"].write_text("\n".join(parts))
    return paths
