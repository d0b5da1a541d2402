"""Two gloo processes (DDP on CPU) reach the accuracy of one process on a toy task."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from relattr_studio.data.procedural import make_toy_faces
from relattr_studio.training.config import TrainConfig
from relattr_studio.training.job import train_ranker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, config: dict, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train_ranker(TrainConfig.from_dict(config))
    out[rank] = (result.accuracy["test"]["smiling"], result.checkpoint)


def config(path, out_dir, batch_size):
    return TrainConfig(str(path), attributes=("smiling",), steps=80, batch_size=batch_size, log_every=40,
                       backbone_options={"width": 8, "image_size": 32}, device="cpu", out_dir=str(out_dir),
                       val_fraction=0.0).with_preset("scratch")


@pytest.mark.timeout(120) if hasattr(pytest.mark, "timeout") else (lambda f: f)
def test_two_gloo_processes_match_one(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        toy = make_toy_faces(tmp_path / "toy.h5", n=400, seed=0, size=32)
        single = train_ranker(config(toy, tmp_path / "one", 32)).accuracy["test"]["smiling"]
        out = mp.Manager().dict()
        # 2 ranks x 16 images = the same global batch of 32
        mp.spawn(_worker, args=(2, _free_port(), config(toy, tmp_path / "two", 16).to_dict(), out), nprocs=2)
    finally:
        torch.set_num_threads(threads)
    assert out[0][0] == out[1][0]  # every rank validates and tests the same weights
    assert out[0][1] is not None and out[1][1] is None  # only rank 0 writes
    print("accuracy one process", single, "two", out[0][0])
    assert single > 60 and abs(out[0][0] - single) < 8, (single, out[0][0])
