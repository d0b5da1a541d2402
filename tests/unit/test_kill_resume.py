"""SIGKILL at any moment, resume, and end with the same weights: for each kind of trainer
(ranker, generator, oracle).

Each training runs in its own process, forked from a "zygote" process that imported torch and
the trainers once (starting Python with torch for each of the dozens of runs would take minutes
on this 2-core machine). A run is killed with SIGKILL at 20 seeded moments spread over it: while
it sets up and loads the checkpoint it resumes from, within a training step, and in the middle
of a checkpoint write (the kill fires the moment the writer's temporary file appears), the last
one in the last write; each time the next run resumes from what the kill left. Then:

- every kill left a checkpoint that loads (or none yet), and the steps on disk never go back;
- the run ends with exactly the weights of a run that was never killed (``torch.equal``, CPU,
  one thread);
- no temporary file is left, and ``metrics.jsonl`` holds whole JSON lines (for the lifecycle's
  trainers: one curve, the uninterrupted run's steps).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

KILLS = 20
STEPS = {"ranker": 30, "generator": 30, "oracle": 40}

# The zygote: reads one JSON job a line, forks a child that runs it (stdout and stderr to the
# job's log file) and answers {"pid": ...}; {"wait": pid} answers {"status": exit code, or
# minus the signal that ended it}. It runs no torch operation itself, so its children start clean.
ZYGOTE = textwrap.dedent("""
    import json, os, sys, traceback
    import torch
    torch.set_num_threads(1)
    from relattr_studio.training.config import TrainConfig
    from relattr_studio.training.generator_job import GeneratorTrainConfig, train_generator
    from relattr_studio.training.job import train_ranker
    from relattr_studio.training.oracle_job import OracleConfig, train_oracle

    def run(job):
        kind, config = job["kind"], job["config"]
        if kind == "ranker":
            train_ranker(TrainConfig(**config), resume_from=job["resume"])
        elif kind == "generator":
            train_generator(GeneratorTrainConfig(**config), resume=bool(job["resume"]))
        else:
            train_oracle(OracleConfig(**config), resume=bool(job["resume"]))

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in iter(sys.stdin.readline, ""):
        job = json.loads(line)
        if "wait" in job:
            _, status = os.waitpid(job["wait"], 0)
            code = os.waitstatus_to_exitcode(status)
            print(json.dumps({"status": code}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                torch.set_num_threads(1)
                run(job)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
""")


class Zygote:
    def __init__(self, log: Path):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                                         cwd=Path(__file__).resolve().parents[2])
        assert "ready" in self._answer()

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died: {self.log.read_text()[-3000:]}")
        return json.loads(line)

    def start(self, job: dict) -> int:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(self._answer()["pid"])

    def wait(self, pid: int) -> int:
        self.proc.stdin.write(json.dumps({"wait": pid}) + "\n")
        self.proc.stdin.flush()
        return int(self._answer()["status"])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote(tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield z
    z.close()


@pytest.fixture(scope="module")
def tiny_faces(tmp_path_factory):
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("faces") / "faces.h5", n=60, size=32)


# -- the three kinds ------------------------------------------------------------------------------

def job_config(kind: str, dataset: Path, out: Path) -> dict:
    """A tiny run of ``kind`` writing its checkpoint at every step into ``out`` (a folder)."""
    if kind == "ranker":
        return {"dataset": str(dataset), "attributes": ["smiling"], "backbone_options": {"width": 4},
                "weights": None, "steps": STEPS[kind], "batch_size": 16, "eval_every": 1, "optimizer": "adam",
                "lr": 1e-3, "augment": True, "device": "cpu", "out_dir": str(out), "max_test_pairs": 200}
    if kind == "generator":
        return {"dataset": str(dataset), "out": str(out / "generator.pt"), "z_dim": 4, "image_size": 32,
                "width": 4, "hidden": 32, "steps": STEPS[kind], "batch_size": 16, "kl_warmup": 10, "log_every": 2,
                "checkpoint_every": 1, "reader_degrade": True, "device": "cpu"}
    return {"dataset": str(dataset), "out": str(out / "oracle.pt"), "steps": STEPS[kind], "batch_size": 16,
            "width": 4, "holdout_fraction": 0.4, "checkpoint_every": 1, "log_every": 2}


def checkpoint_file(kind: str, out: Path) -> Path:
    return out / {"ranker": "ranknet-small-cnn-smiling-seed0.ckpt", "generator": "generator.pt",
                  "oracle": "oracle.pt"}[kind]


def load_checkpoint(kind: str, path: Path) -> tuple[int, dict]:
    """(step, every tensor and value that is the model) of a checkpoint, loaded the way the
    product loads it (the model rebuilt from the file alone)."""
    from relattr_studio.modeling.model_file import read_model_file

    if kind == "ranker":
        from relattr_studio.training.checkpoint import load_checkpoint as load_ranker

        load_ranker(path)
        m = read_model_file(path, kind="ranker")
        return m.step, {f"w/{k}": v for k, v in m.weights.items()}
    if kind == "generator":
        from relattr_studio.modeling.generator import load_generator

        load_generator(path)
        m = read_model_file(path, kind="generator")
        reader = m.train_state["reader"]
        return m.step, {**{f"w/{k}": v for k, v in m.weights.items()}, **{f"reader/{k}": v for k, v in reader.items()}}
    from relattr_studio.modeling.oracle import load_oracle

    load_oracle(path)
    m = read_model_file(path, kind="oracle")
    return m.step, {**{f"w/{k}": v for k, v in m.weights.items()}, **dict(_flat(m.extra, "extra"))}


def _flat(tree, path: str):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{path}/{k}")
    else:
        yield path, tree


def _same(a, b) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


# -- watching a run --------------------------------------------------------------------------------

def _signature(path: Path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _temporaries(folder: Path, name: str = "") -> set[str]:
    """Temporary files (``.<name>.<pid>.tmp``, as the model file writer names them) in ``folder``."""
    return {n for n in os.listdir(folder) if n.startswith(f".{name}") and n.endswith(".tmp")}


@dataclass
class Watch:
    """A child's progress seen from outside: how many times its checkpoint was replaced."""

    path: Path
    pid: int
    last: object = None
    saves: int = 0

    def __post_init__(self):
        self.last = _signature(self.path)

    def poll(self) -> None:
        now = _signature(self.path)
        if now is not None and now != self.last:
            self.saves += 1
        self.last = now

    def writing(self, before: set[str]) -> bool:
        """Whether a new temporary file for the checkpoint exists now (a write under way)."""
        return bool(_temporaries(self.path.parent, self.path.name) - before)


def _alive(pid: int) -> bool:
    """Whether the child still runs (a zombie waiting for the zygote counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@dataclass
class Kill:
    mode: str  # "setup": while it starts and loads its checkpoint; "step": within a step; "write": mid-write
    fraction: float  # "setup": of the setup time; "step": of a step's time


@dataclass
class Record:
    kills: int = 0
    mid_write: int = 0  # kills that left the writer's temporary file behind
    steps_on_disk: list = field(default_factory=list)


def kill_plan(kind: str, rng: np.random.Generator) -> list[tuple[int | None, Kill]]:
    """KILLS kills spread over the run: (target step to reach or None, how to kill). Targets are
    distinct steps before the end; the last kill falls in the final file's write."""
    steps = STEPS[kind]
    targets = sorted(rng.choice(np.arange(1, steps - 1), size=KILLS - 3, replace=False).tolist())
    modes = ["write" if i % 3 == 1 else "step" for i in range(len(targets))]
    plan: list[tuple[int | None, Kill]] = [(int(t), Kill(m, float(rng.uniform()))) for t, m in zip(targets, modes)]
    for position in sorted(rng.choice(len(plan) + 1, size=2, replace=False).tolist(), reverse=True):
        plan.insert(position, (None, Kill("setup", float(rng.uniform(0.05, 0.95)))))  # during (re)start
    plan.append((steps - 1, Kill("write", 0.0)))  # the next write after step steps-1: the final file
    return plan


def run_to_end(zygote: Zygote, kind: str, config: dict, out: Path, resume) -> float:
    t0 = time.monotonic()
    pid = zygote.start({"kind": kind, "config": config, "resume": resume, "log": str(out / "child.log")})
    status = zygote.wait(pid)
    assert status == 0, (out / "child.log").read_text()[-3000:]
    return time.monotonic() - t0


def resume_argument(kind: str, out: Path):
    path = checkpoint_file(kind, out)
    if kind == "ranker":
        return str(path) if path.exists() else None
    return True


def kill_and_resume(zygote: Zygote, kind: str, config: dict, out: Path, *, setup_s: float, step_s: float,
                    rng: np.random.Generator) -> Record:
    record, path = Record(), checkpoint_file(kind, out)
    on_disk = 0
    for target, how in kill_plan(kind, rng):
        before = _temporaries(out, path.name)
        pid = zygote.start({"kind": kind, "config": config, "resume": resume_argument(kind, out),
                            "log": str(out / "child.log")})
        watch, t0 = Watch(path, pid), time.monotonic()
        wanted = 0 if target is None else max(0, target - on_disk)
        while watch.saves < wanted and _alive(pid) and time.monotonic() - t0 < 120:
            watch.poll()
            time.sleep(0.0005)
        if how.mode == "setup":
            time.sleep(how.fraction * setup_s)
        elif how.mode == "step":
            time.sleep(how.fraction * step_s)
        else:  # the moment a temporary file of the checkpoint appears (a busy wait: a write takes ms)
            while not watch.writing(before) and _alive(pid) and time.monotonic() - t0 < 120:
                pass
        os.kill(pid, signal.SIGKILL)
        status = zygote.wait(pid)
        if status == 0 and target == STEPS[kind] - 1:
            break  # the final write was over before the kill: the run is done
        assert status == -signal.SIGKILL, (
            f"the run ended by itself ({status}) before kill {record.kills + 1}, having replaced its checkpoint "
            f"{watch.saves} times where the plan waited for {wanted} (one a step): "
            + (out / "child.log").read_text()[-3000:])
        record.kills += 1
        record.mid_write += bool(_temporaries(out, path.name) - before)
        if path.exists():
            step, _ = load_checkpoint(kind, path)  # what a kill leaves always loads
            assert step >= on_disk, "a kill left an older checkpoint than the one before"
            on_disk = step
        record.steps_on_disk.append(on_disk)
    return record


def _metrics_steps(path: Path, model: str) -> list[int]:
    records = [json.loads(line) for line in path.read_text().splitlines()]  # whole JSON lines only
    return [r["step"] for r in records if r["event"] == "Metrics" and r["model"] == model]


@pytest.mark.parametrize("kind", ["ranker", "generator", "oracle"])
def test_killed_at_random_moments_resumes_to_the_same_weights(kind, zygote, tiny_faces, tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir()
    killed.mkdir()

    # the uninterrupted run, timed: when its first checkpoint appears, and how long a step takes
    t0 = time.monotonic()
    pid = zygote.start({"kind": kind, "config": job_config(kind, tiny_faces, reference), "resume": None,
                        "log": str(reference / "child.log")})
    watch, first = Watch(checkpoint_file(kind, reference), pid), None
    while _alive(pid):
        watch.poll()
        if first is None and watch.saves:
            first = time.monotonic() - t0
        time.sleep(0.001)
    assert zygote.wait(pid) == 0, (reference / "child.log").read_text()[-3000:]
    total = time.monotonic() - t0
    step_s = (total - first) / STEPS[kind]
    setup_s = max(0.05, first - step_s)

    config = job_config(kind, tiny_faces, killed)
    rng = np.random.default_rng(["ranker", "generator", "oracle"].index(kind))
    record = kill_and_resume(zygote, kind, config, killed, setup_s=setup_s, step_s=step_s, rng=rng)
    run_to_end(zygote, kind, config, killed, resume_argument(kind, killed))

    assert record.kills >= 10 and len(set(record.steps_on_disk)) >= 6, record  # spread over the run
    assert record.mid_write >= 1, f"no kill landed inside a checkpoint write: {record}"
    step, weights = load_checkpoint(kind, checkpoint_file(kind, killed))
    step_ref, weights_ref = load_checkpoint(kind, checkpoint_file(kind, reference))
    assert step == step_ref == STEPS[kind]
    assert weights.keys() == weights_ref.keys()
    different = [k for k in weights if not _same(weights[k], weights_ref[k])]
    print(f"{kind}: {record.kills} kills ({record.mid_write} mid-write), checkpoints on disk after each: "
          f"{record.steps_on_disk}; reference run {total:.1f} s; tensors differing: {len(different)}")
    assert not different, f"{len(different)} of {len(weights)} tensors differ, e.g. {different[:5]}"

    metrics = reference / "metrics.jsonl" if kind == "ranker" else checkpoint_file(kind, reference).with_suffix(
        ".metrics.jsonl")
    mine = killed / metrics.name
    model = {"ranker": "ranknet-small-cnn-smiling-seed0"}.get(kind, kind)
    curve = _metrics_steps(mine, model)
    assert curve and curve == _metrics_steps(metrics, model)  # one curve, whatever the kills
    stray = sorted(_temporaries(killed))
    assert not stray
