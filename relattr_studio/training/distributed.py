"""Distributed data-parallel training under torchrun (DDP: NCCL on GPUs, gloo on CPUs).

``relattr train`` started by ``torchrun --nproc_per_node K`` (or any launcher that sets
WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) trains one model with K processes:
each process scores its shard of every global batch, gradients are averaged by DDP, every
process validates the same weights (so early stopping agrees) and only rank 0 writes
checkpoints, metrics and results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = DistEnv()


def dist_env() -> DistEnv:
    """The launcher's environment; a single process when WORLD_SIZE is unset or 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return DistEnv(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)


def init_distributed(env: DistEnv, device: torch.device) -> bool:
    """Join the process group (NCCL for CUDA, gloo otherwise); True when this call created it."""
    if not env.active or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=env.rank, world_size=env.world_size)
    return True


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """True when ``flag`` is true on some rank (so every rank stops together, never hangs)."""
    if not env.active or not dist.is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shutdown(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def sync_buffers(module: nn.Module, env: DistEnv) -> None:
    """Rank 0's buffers (BatchNorm running statistics) to every rank, so that every rank
    validates and tests exactly the same model (DDP only broadcasts them before a forward)."""
    if not env.active or not dist.is_initialized():
        return
    for b in module.buffers():
        dist.broadcast(b.data, src=0)
