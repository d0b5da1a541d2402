"""Training phases: which parameter groups train, for how long, at which learning rate.

A ranker may define ``training_phases(config) -> list[Phase]`` (DeepSTN trains its spatial
transformer first, as its authors do); the default is one phase training everything. A ranker
may also define ``parameter_groups() -> dict[str, list[Parameter]]``; the default splits a
model with a ``backbone`` attribute into ``"backbone"`` and ``"head"`` (everything else).

Learning rates: the training config gives a base lr per group (``lr`` for every group,
``lr * backbone_lr_scale`` for ``"backbone"``: RankNet's 1e-4 head / 1e-5 backbone); a phase
multiplies them by its ``groups`` entries. A group a phase does not name is frozen in it.
"""

from __future__ import annotations

import math
from torch import nn

# Phase is the vocabulary of the rankers' ``training_phases`` hook, so it lives with them.
from relattr_studio.modeling.rankers.phases import TRAIN_EVERYTHING, Phase


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's named parameter groups (see the module docstring)."""
    if hasattr(model, "parameter_groups"):
        groups = {k: list(v) for k, v in model.parameter_groups().items()}
    elif isinstance(getattr(model, "backbone", None), nn.Module):
        backbone_ids = {id(p) for p in model.backbone.parameters()}
        groups = {"backbone": list(model.backbone.parameters()),
                  "head": [p for p in model.parameters() if id(p) not in backbone_ids]}
    else:
        groups = {"all": list(model.parameters())}
    return {k: v for k, v in groups.items() if v}


def training_phases(model: nn.Module, config) -> list[Phase]:
    """The ranker's phases for ``config``, or one phase training everything."""
    if hasattr(model, "training_phases"):
        phases = list(model.training_phases(config))
        if phases:
            return phases
    return [TRAIN_EVERYTHING]


def phase_steps(phases: list[Phase], total_steps: int, steps_per_epoch: int) -> list[int]:
    """Steps per phase. Phases given in epochs take their epochs; the rest share what is left
    of ``total_steps`` by ``fraction``. Every phase gets at least one step."""
    fixed = {i: max(1, round(p.epochs * steps_per_epoch)) for i, p in enumerate(phases) if p.epochs is not None}
    left = max(0, total_steps - sum(fixed.values()))
    rest = [i for i in range(len(phases)) if i not in fixed]
    given = [phases[i].fraction for i in rest if phases[i].fraction is not None]
    default = (1.0 - sum(given)) / max(1, sum(phases[i].fraction is None for i in rest)) if rest else 0.0
    weights = {i: (phases[i].fraction if phases[i].fraction is not None else max(default, 0.0)) for i in rest}
    norm = sum(weights.values()) or 1.0
    out, assigned = [], 0
    for k, i in enumerate(range(len(phases))):
        if i in fixed:
            out.append(fixed[i])
            continue
        last_rest = i == rest[-1]
        n = left - assigned if last_rest else int(math.floor(left * weights[i] / norm))
        assigned += n
        out.append(max(1, n))
    return out
