"""Whether a finished run learned: one line when its test accuracy ended near chance.

A ranker that learned nothing orders half of the non-equal test pairs right: chance is 50 %.
A run whose mean test accuracy over its attributes ends within ``CHANCE_BAND`` points of it
says so; a run whose mean is clear of chance but where some attributes are not names those.
The line suggests what to change, chosen from the run's settings (a ``TrainConfig.to_dict()``):
the ``scratch`` preset where a network from random initialisation ran at the paper's RMSProp
rate, a lower rate where Adam's was high, and a longer run.

Plain Python (no torch, no Qt): the CLI prints the line after its results table, the Train
view writes it to its log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

CHANCE = 50.0
# Points either side of chance that count as "near": a ranker that learned nothing scores
# 50 +- 2 % on toy-faces' 600 test pairs an attribute (binomial std), so 5 points is 2.5 std.
CHANCE_BAND = 5.0
# Adam/AdamW rates above this are "high" for a ranker: at 3e-3 the small CNN left mouth_open
# and smiling at chance (47.5 / 52.7 %) where 1e-3 learned them (toy-faces, 5 epochs, seed 0).
HIGH_ADAM_LR = 2e-3
# A network from random initialisation at a rate this low barely moves in a short run (the
# paper's RMSProp 1e-4 is meant for ImageNet backbones).
LOW_SCRATCH_LR = 5e-4
RANDOM_INIT_BACKBONES = ("small-cnn",)  # no pretrained weights exist for these
# A mean test accuracy below this is not a ranker that learned little (that is near 50 %): it
# scores every image alike (ties count as wrong), as Adam at lr 1e6 left the small CNN (0.00 %).
COLLAPSED = 20.0


def near_chance(accuracy: Mapping[str, float], *, band: float = CHANCE_BAND) -> list[str]:
    """The attributes whose accuracy (%) lies within ``band`` points of chance, in order; NaN skipped."""
    return [a for a, v in accuracy.items() if not math.isnan(v) and abs(v - CHANCE) <= band]


def suggestions(settings: Mapping[str, Any] | None, *, steps: int | None = None,
                collapsed: bool = False) -> list[str]:
    """What to change, most likely first, for a run with these settings (``TrainConfig.to_dict()``
    keys; None or empty: a RankSVM run or unknown settings, which get only the generic advice).
    ``steps``: the steps the run took, where known; ``collapsed``: the scores collapsed, which a
    lower learning rate cures and a longer run does not."""
    if collapsed:
        lr = float((settings or {}).get("lr") or 0.0)
        return [f"a lower learning rate (1e-3{f' instead of {lr:g}' if lr else ''})",
                "a checkpoint from before the collapse, if the run kept one (the Train view's curves show when)"]
    if not settings:
        return [("check that the training labels order the attribute the way the test pairs do "
                 "(the right attribute, the right protocol)")]
    out = []
    optimizer = str(settings.get("optimizer", ""))
    lr = float(settings.get("lr") or 0.0)
    from_scratch = (settings.get("backbone") in RANDOM_INIT_BACKBONES
                    or settings.get("weights") in (None, "", "none"))
    if from_scratch and (optimizer == "rmsprop" or lr < LOW_SCRATCH_LR):
        out.append(f"the scratch preset (Adam, lr 1e-3): a network from random initialisation barely moves "
                   f"at {optimizer} lr {lr:g} in a short run")
    elif optimizer in ("adam", "adamw") and lr > HIGH_ADAM_LR:
        out.append(f"a lower learning rate (1e-3 instead of {lr:g})")
    if settings.get("steps"):
        length = f"{int(settings['steps'])} steps"
    elif steps:
        length = f"{int(steps)} steps"
    else:
        length = f"{float(settings.get('epochs') or 0):g} epochs"
    out.append(f"a longer run (this one: {length}; try twice as long)")
    return out


def chance_note(accuracy: Mapping[str, float], settings: Mapping[str, Any] | None = None, *,
                steps: int | None = None, band: float = CHANCE_BAND) -> str | None:
    """One line when the run ended near chance, else None.

    ``accuracy``: test accuracy (%) per attribute. The whole run is near chance when the mean
    over attributes is within ``band`` points of 50 %; otherwise the attributes that are get
    named. ``settings`` and ``steps`` choose the suggestions (see :func:`suggestions`).
    """
    values = [v for v in accuracy.values() if not math.isnan(v)]
    if not values:
        return None
    mean = sum(values) / len(values)
    low = near_chance(accuracy, band=band)
    if mean < COLLAPSED:
        return (f"Warning: mean test accuracy {mean:.1f} % is far below chance ({CHANCE:.0f} %): the ranker gives "
                "(nearly) every image the same score (ties count as wrong) or orders the pairs backwards; "
                "its weights have collapsed. "
                f"Try: {'; '.join(suggestions(settings, steps=steps, collapsed=True))}.")
    if abs(mean - CHANCE) <= band:
        what = (f"mean test accuracy {mean:.1f} % is near chance ({CHANCE:.0f} %)"
                + ("" if len(values) == 1 else f" over {len(values)} attributes") + ": the ranker learned little")
    elif low:
        shown = ", ".join(f"{a} {accuracy[a]:.1f} %" for a in low)
        what = (f"{'this attribute' if len(low) == 1 else f'{len(low)} attributes'} ended near chance "
                f"({CHANCE:.0f} %) although the mean is {mean:.1f} %: {shown}")
    else:
        return None
    return f"Warning: {what}. Try: {'; '.join(suggestions(settings, steps=steps))}."


def mean_test_accuracy(rows: Iterable[Any]) -> dict[str, float]:
    """Per attribute, the mean over seeds of ``ResultRow``-like rows on the whole test split
    (``test_split == "test"``; coarse and fine groups left out)."""
    cells: dict[str, list[float]] = {}
    for row in rows:
        if row.test_split == "test":
            cells.setdefault(row.attribute, []).append(float(row.accuracy))
    return {a: sum(v) / len(v) for a, v in cells.items()}


def rows_chance_note(rows: Iterable[Any], settings: Mapping[str, Any] | None = None) -> str | None:
    """:func:`chance_note` of result rows (as ``relattr train`` prints them: mean over seeds)."""
    return chance_note(mean_test_accuracy(rows), settings)
