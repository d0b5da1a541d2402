"""One training step's pieces: the pair loss of any neural ranker, the optimiser, the schedule."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from relattr_studio.modeling.rankers.ranknet import ranknet_loss


class PairLoss(nn.Module):
    """Loss of a batch of labelled pairs, as one module so DDP sees a single forward.

    ``x``: the batch's images; ``i``, ``j``: positions of each pair's images in ``x``; ``head``:
    the attribute head; ``target``: P(i > j). ``separate`` > 0 (siamese batching): the first
    ``separate`` images and the rest are forwarded apart. Pointwise rankers score each image
    once; pairwise rankers embed each image once and compare each image pair once (a pair
    carries one label per attribute head in a multi-head batch, and the comparison yields every
    head's logit). Returns (loss, margins).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def _features(self, fn, x: torch.Tensor, separate: int) -> torch.Tensor:
        if separate:
            return torch.cat([fn(x[:separate]), fn(x[separate:])])
        return fn(x)

    def forward(self, x, i, j, head, target, separate: int = 0):
        m = self.model
        if m.kind == "pairwise":
            f = self._features(m.embed, x, separate)
            key, where = torch.unique(i * len(f) + j, return_inverse=True)
            logits = m.compare(f[torch.div(key, len(f), rounding_mode="floor")], f[key % len(f)])
            margin = logits[where, head]
            return ranknet_loss(margin, torch.zeros_like(margin), target), margin.detach()
        s = self._features(m, x, separate)
        si, sj = s[i, head], s[j, head]
        loss = m.loss(si, sj, target) if hasattr(m, "loss") else ranknet_loss(si, sj, target)
        return loss, (si - sj).detach()


def make_optimizer(config, param_groups: list[dict]) -> torch.optim.Optimizer:
    wd = config.weight_decay
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(param_groups, lr=config.lr, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(param_groups, lr=config.lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(param_groups, lr=config.lr, weight_decay=wd)
    return torch.optim.SGD(param_groups, lr=config.lr, momentum=0.9, weight_decay=wd)


class _Schedule:
    """lr multiplier at a step: linear warmup, then constant / cosine to 0 / x0.1 at 2/3."""

    def __init__(self, kind: str, warmup: int, total: int):
        self.kind, self.warmup, self.total = kind, max(0, int(warmup)), max(1, int(total))

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.kind == "cosine":
            t = (step - self.warmup) / max(1, self.total - self.warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
        if self.kind == "step":
            return 0.1 if step >= 2 * self.total // 3 else 1.0
        return 1.0


def make_scheduler(config, optimizer, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _Schedule(config.schedule, config.warmup_steps, total_steps))


class WeightAverage:
    """An exponential moving average of a model's weights, for validation, test and checkpoint.

    After every optimiser step, each parameter of the average moves ``1 - d`` of the way to the
    trained one, with ``d = min(decay, (1 + n) / (10 + n))`` at the n-th update, so the first
    steps are not dominated by the initial weights; buffers (BatchNorm statistics) are copied.
    Training itself goes on from the raw weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight-average decay must lie in (0, 1), not {decay}")
        self.decay, self.updates = float(decay), 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - d)
        self.copy_buffers(model)

    @torch.no_grad()
    def copy_buffers(self, model: nn.Module) -> None:
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)
