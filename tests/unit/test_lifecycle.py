"""The one trainer lifecycle: a two-network adversarial recipe (ranker step, then control step,
as ATTIC's loop) runs, cancels and resumes to the same weights through ``run_recipe``; the
failure policy (NaN, out of GPU memory, cancel, a user error), the metric sinks and the clean-up
of temporary files a killed writer left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from relattr_studio.core.errors import Cancelled, RelAttrError
from relattr_studio.core.jobs import JobContext, Progress
from relattr_studio.modeling.model_file import save_model_file
from relattr_studio.training.events import (
    CheckpointSaved,
    Failed,
    Finished,
    Metrics,
    RunCancelled,
    TrainingData,
)
from relattr_studio.training.lifecycle import (
    JsonlSink,
    MetricSink,
    Recipe,
    RunState,
    TrainingFailed,
    finite,
    remove_orphaned_temporaries,
    run_recipe,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIM, NOISE = 4, 3


def true_strength(x: torch.Tensor) -> torch.Tensor:
    """The attribute the ranker learns (the oracle that labels generated pairs, as ATTIC's Auto labels)."""
    return x[:, 0] + 0.5 * x[:, 1]


def rank_loss(ranker: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """RankNet's loss on pairs (a, b) labelled by the true strengths."""
    target = (true_strength(a) > true_strength(b)).float()
    return nn.functional.binary_cross_entropy_with_logits((ranker(a) - ranker(b)).squeeze(1), target)


class AdversarialPair(Recipe):
    """A ranker and a control module with an optimiser each, taking alternate steps: even steps
    train the ranker on real pairs and on pairs the control module makes; odd steps train the
    control module to make pairs the ranker orders wrongly (L_control = -L_rank)."""

    name = "attic-toy"
    gauges = frozenset({"lr"})
    throughput = ("pairs_per_s", 16.0)

    def __init__(self, out: Path | None, *, steps: int = 20, seed: int = 0, poison_at: int | None = None,
                 oom_at: int | None = None):
        self.out, self.total_steps, self.seed = out, steps, seed
        self.poison_at, self.oom_at = poison_at, oom_at
        self.step, self.run_state = 0, RunState()
        self.cleaned = False

    def setup(self, resume_from: Path | None) -> None:
        torch.manual_seed(self.seed)
        self.ranker = nn.Sequential(nn.Linear(DIM, 8), nn.Tanh(), nn.Linear(8, 1))
        self.control = nn.Sequential(nn.Linear(NOISE, 8), nn.Tanh(), nn.Linear(8, 2 * DIM))
        self.opt_ranker = torch.optim.Adam(self.ranker.parameters(), lr=1e-2)
        self.opt_control = torch.optim.Adam(self.control.parameters(), lr=1e-2)
        self.gen = torch.Generator().manual_seed(self.seed + 1)
        self.real = torch.randn(64, 2, DIM, generator=self.gen)
        if resume_from is not None:
            self.load_checkpoint(resume_from)

    def checkpoint_path(self) -> Path | None:
        return self.out

    def pairs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ab = self.control(torch.randn(n, NOISE, generator=self.gen)).view(n, 2, DIM)
        return ab[:, 0], ab[:, 1]

    def train_step(self) -> dict[str, float]:
        if self.step == self.oom_at:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.step % 2 == 0:  # the ranker's step: real pairs and (frozen) generated ones
            idx = torch.randint(0, len(self.real), (8,), generator=self.gen)
            with torch.no_grad():
                ga, gb = self.pairs(8)
            a, b = torch.cat([self.real[idx, 0], ga]), torch.cat([self.real[idx, 1], gb])
            loss, opt = rank_loss(self.ranker, a, b), self.opt_ranker
        else:  # the control module's step: pairs the ranker orders wrongly
            loss, opt = -rank_loss(self.ranker, *self.pairs(16)), self.opt_control
        if self.step == self.poison_at:
            loss = loss * float("nan")
        value = finite(loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": value, "lr": 1e-2}

    def evaluate(self, *, final: bool) -> dict:
        with torch.no_grad():
            margin = (self.ranker(self.real[:, 0]) - self.ranker(self.real[:, 1])).squeeze(1)
            right = (margin > 0) == (true_strength(self.real[:, 0]) > true_strength(self.real[:, 1]))
        return {"accuracy": float(right.float().mean())}

    def state(self) -> dict:
        return {"ranker": self.ranker.state_dict(), "control": self.control.state_dict(),
                "opt_ranker": self.opt_ranker.state_dict(), "opt_control": self.opt_control.state_dict()}

    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        save_model_file(path, {**self.state(), "step": self.step, "gen": self.gen.get_state(),
                               "lifecycle": self.run_state.to_dict()})

    def load_checkpoint(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        self.ranker.load_state_dict(saved["ranker"])
        self.control.load_state_dict(saved["control"])
        self.opt_ranker.load_state_dict(saved["opt_ranker"])
        self.opt_control.load_state_dict(saved["opt_control"])
        self.step = int(saved["step"])
        self.gen.set_state(saved["gen"])
        self.run_state = RunState.from_dict(saved["lifecycle"])

    def cleanup(self) -> None:
        self.cleaned = True


def run(recipe: AdversarialPair, *, events: list | None = None, stop_at: int | None = None, **kw):
    """``run_recipe`` with a context that asks to stop once ``stop_at`` steps are done."""
    events = [] if events is None else events

    def should_stop() -> bool:
        return stop_at is not None and recipe.step >= stop_at

    ctx = JobContext(on_event=events.append, should_stop=should_stop, min_interval=0)
    return run_recipe(recipe, ctx=ctx, checkpoint_every=kw.pop("checkpoint_every", 4), log_every=2, **kw)


def assert_same_state(a: dict, b: dict) -> None:
    flat_a = dict(_leaves(a, ""))
    flat_b = dict(_leaves(b, ""))
    assert flat_a.keys() == flat_b.keys()
    for key, value in flat_a.items():
        other = flat_b[key]
        assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other, key


def _leaves(tree, path):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{path}/{k}")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{path}/{i}")
    else:
        yield path, tree


# -- the adversarial pair -----------------------------------------------------------------------

def test_two_networks_taking_turns_cancel_and_resume_to_the_same_weights(tmp_path):
    straight = AdversarialPair(tmp_path / "straight.pt")
    outcome = run(straight)
    assert outcome.steps == 20 and 0.5 < outcome.metrics["accuracy"] <= 1.0
    assert not torch.equal(straight.control[0].weight, _fresh_control())  # the control module trained too

    out = tmp_path / "stopped.pt"
    for stop_at in (5, 12):  # after a ranker step, then after a control step
        events: list = []
        with pytest.raises(Cancelled) as stop:
            run(AdversarialPair(out), events=events, stop_at=stop_at, resume_from=out if out.exists() else None)
        assert stop.value.checkpoint == str(out) and str(stop.value) == f"cancelled at step {stop_at} of 20"
        assert [e for e in events if isinstance(e, RunCancelled)] == [RunCancelled("attic-toy", stop_at, str(out))]
        assert not [e for e in events if isinstance(e, Failed)]
        assert torch.load(out, weights_only=True)["step"] == stop_at
    resumed = AdversarialPair(out)
    run(resumed, resume_from=out)
    assert_same_state(resumed.state(), straight.state())  # both networks and both optimisers
    def timeless(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "pairs_per_s"} for e in history]

    assert timeless(resumed.run_state.history) == timeless(straight.run_state.history)  # the same curve
    assert resumed.cleaned and straight.cleaned


def _fresh_control() -> torch.Tensor:
    fresh = AdversarialPair(None)
    fresh.setup(None)
    return fresh.control[0].weight


def test_events_are_typed_and_metrics_average_over_the_window(tmp_path):
    events: list = []
    run(AdversarialPair(tmp_path / "a.pt", steps=6), events=events)
    kinds = [type(e) for e in events if not isinstance(e, Progress)]
    assert kinds == [Metrics, Metrics, CheckpointSaved, Metrics, Metrics, CheckpointSaved, Finished]
    metrics = [e for e in events if isinstance(e, Metrics)]
    assert [m.step for m in metrics] == [2, 4, 6, 6] and metrics[-1].model == "attic-toy/final"
    assert set(metrics[0].values) == {"loss", "lr", "pairs_per_s"} and metrics[0].values["lr"] == 1e-2
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.steps == 6 and finished.checkpoint == str(tmp_path / "a.pt")
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [4, 6]


def test_a_recipe_that_the_runner_logs_only_through_sinks(tmp_path):
    """Metrics leave through the sinks given (here a JSONL file and a list) and the job context."""

    class ListSink:
        def __init__(self):
            self.logged, self.events, self.restarts = [], [], []

        def log(self, step, values, model, *, epoch=0.0):
            self.logged.append((step, model, dict(values)))

        def event(self, event, model):
            self.events.append(event)

        def restart(self, model, step):
            self.restarts.append((model, step))

    sink = ListSink()
    assert isinstance(sink, MetricSink) and isinstance(JsonlSink(tmp_path / "m.jsonl"), MetricSink)
    run_recipe(AdversarialPair(tmp_path / "a.pt", steps=4), sinks=[sink, JsonlSink(tmp_path / "m.jsonl")],
               log_every=2, checkpoint_every=2)
    assert [(s, m) for s, m, _ in sink.logged] == [(2, "attic-toy"), (4, "attic-toy"), (4, "attic-toy/final")]
    assert sink.restarts == [("attic-toy", 0)]
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # one JSON object a line
    assert [r["event"] for r in records] == ["Metrics", "CheckpointSaved", "Metrics", "Metrics", "CheckpointSaved",
                                             "Finished"]
    assert all(r["model"].startswith("attic-toy") for r in records)


# -- the failure policy -------------------------------------------------------------------------

def test_a_nan_loss_fails_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    out, events = tmp_path / "a.pt", []
    recipe = AdversarialPair(out, poison_at=9)
    with pytest.raises(TrainingFailed, match=rf"the loss became nan at step 10 of attic-toy; the last good "
                                             rf"checkpoint \({out}\) stays; lower the learning rate"):
        run(recipe, events=events)
    assert torch.load(out, weights_only=True)["step"] == 8  # nothing written after the NaN
    assert isinstance(events[-1], Failed) and events[-1].checkpoint == str(out) and "nan" in events[-1].reason
    assert recipe.cleaned
    resumed = AdversarialPair(out)  # and the run resumes from it
    run(resumed, resume_from=out)
    straight = AdversarialPair(tmp_path / "b.pt")
    run(straight)
    assert_same_state(resumed.state(), straight.state())


def test_weights_that_overflow_under_a_finite_loss_never_replace_the_last_good_checkpoint(tmp_path):
    """An optimiser step can blow the weights up while the loss that led to it was finite: the
    runner checks every network's weights before it writes a checkpoint."""

    class Overflowing(AdversarialPair):
        def train_step(self):
            values = super().train_step()
            if self.step == 11:  # the 12th step, just before the checkpoint at step 12
                with torch.no_grad():
                    self.ranker[2].weight.fill_(float("inf"))
            return values

    out, events = tmp_path / "a.pt", []
    with pytest.raises(TrainingFailed, match=r"the weights of ranker.2.weight became NaN or infinite at step 12 "
                                             rf"of attic-toy; the last good checkpoint \({out}\) stays"):
        run(Overflowing(out), events=events)
    assert torch.load(out, weights_only=True)["step"] == 8
    assert all(torch.isfinite(v).all() for v in torch.load(out, weights_only=True)["ranker"].values())


def test_out_of_gpu_memory_is_a_message_with_advice(tmp_path):
    events: list = []
    with pytest.raises(TrainingFailed, match=r"out of GPU memory training attic-toy at step 6; the last good "
                                             r"checkpoint \(.*a.pt\) stays; lower the batch size"):
        run(AdversarialPair(tmp_path / "a.pt", oom_at=5), events=events)
    assert events[-1] == Failed("attic-toy", "out of GPU memory", str(tmp_path / "a.pt"))


def test_a_user_error_in_setup_is_reported_and_cleanup_still_runs(tmp_path):
    class Broken(AdversarialPair):
        def setup(self, resume_from):
            raise RelAttrError("data.h5: no strengths")

    events: list = []
    recipe = Broken(tmp_path / "a.pt")
    with pytest.raises(RelAttrError, match="no strengths"):
        run(recipe, events=events)
    assert events == [Failed("attic-toy", "data.h5: no strengths", None)] and recipe.cleaned
    with pytest.raises(RelAttrError, match="at least 1"):
        run_recipe(AdversarialPair(None), log_every=0)


def test_a_cancel_before_the_first_step_writes_nothing(tmp_path):
    events: list = []
    with pytest.raises(Cancelled) as stop:
        run(AdversarialPair(tmp_path / "a.pt"), events=events, stop_at=0)
    assert stop.value.checkpoint is None and not (tmp_path / "a.pt").exists()
    assert events[-1] == RunCancelled("attic-toy", 0, None)


# -- files --------------------------------------------------------------------------------------

def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporary_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "a.pt"
    dead = _dead_pid()
    orphan = tmp_path / f".a.pt.{dead}.tmp"
    mine = tmp_path / f".a.pt.{os.getpid()}.tmp"
    living = tmp_path / f".a.pt.{os.getppid()}.tmp"  # a writer still running
    other = tmp_path / f".b.pt.{dead}.tmp"  # another file's
    for p in (orphan, mine, living, other):
        p.write_bytes(b"half a checkpoint")
    assert remove_orphaned_temporaries(out) == [orphan]
    assert mine.exists() and living.exists() and other.exists()
    orphan.write_bytes(b"half a checkpoint")
    run(AdversarialPair(out, steps=2))  # the runner removes them at setup
    assert not orphan.exists() and out.is_file()
    assert remove_orphaned_temporaries(tmp_path / "missing" / "x.pt") == []


def test_jsonl_restart_drops_later_steps_of_that_model_and_torn_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    sink = JsonlSink(path)
    for step in (1, 2, 3, 4):
        sink.log(step, {"loss": 1.0 / step}, "a")
        sink.log(step, {"loss": 2.0}, "b")
    sink.log(4, {"acc": 0.5}, "a/final")
    sink.event(CheckpointSaved(str(tmp_path / "a.pt"), 2), "a")
    sink.event(Failed("a", "cancelled", None), "a")
    with open(path, "a") as f:
        f.write('{"model": "a", "event": "Metr')  # a line a killed writer tore
    (tmp_path / f".metrics.jsonl.{_dead_pid()}.tmp").write_text("{}")
    sink.restart("a", 2)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["model"], r.get("step")) for r in records] == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("b", 3), ("b", 4), ("a", 2), ("a", None)]
    assert not list(tmp_path.glob(".*.tmp"))
    sink.log(3, {"loss": 0.3}, "a")
    assert json.loads(path.read_text().splitlines()[-1])["values"] == {"loss": 0.3}


def test_a_recipe_publishes_its_own_events_through_the_sinks_under_the_name_setup_gave(tmp_path):
    """A ranker's name is known once its setup read the dataset; what it publishes then (the
    device, what it trains on) goes to the context and metrics.jsonl under that name."""

    class Named(AdversarialPair):
        def setup(self, resume_from):
            self.name = "ranker-of-smiling"
            super().setup(resume_from)
            self.publish(TrainingData(self.name, len(self.real), 0))

    events: list = []
    recipe = Named(tmp_path / "a.pt", steps=2)
    recipe.publish(TrainingData("nowhere", 0, 0))  # outside a run: no sink, no error
    run_recipe(recipe, ctx=JobContext(on_event=events.append), sinks=[JsonlSink(tmp_path / "m.jsonl")], log_every=2)
    assert [e for e in events if isinstance(e, TrainingData)] == [TrainingData("ranker-of-smiling", 64, 0)]
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert records[0] == {"model": "ranker-of-smiling", "event": "TrainingData", "real_pairs": 64,
                          "generated_pairs": 0, "labels": ""}
    assert {r["model"] for r in records} == {"ranker-of-smiling", "ranker-of-smiling/final"}


def test_cadences_a_recipe_works_out_in_setup_apply_unless_the_caller_gives_them(tmp_path):
    class Epochs(AdversarialPair):
        def setup(self, resume_from):
            super().setup(resume_from)
            self.checkpoint_every, self.eval_every = 3, 2  # e.g. once an epoch of its data

    events: list = []
    run_recipe(Epochs(tmp_path / "a.pt", steps=7), ctx=JobContext(on_event=events.append), log_every=7)
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [3, 6, 7]
    assert [e.step for e in events if isinstance(e, Metrics) and e.model == "attic-toy" and "accuracy" in e.values] \
        == [2, 4, 6, 7]  # and after the last step
    events.clear()
    run_recipe(Epochs(tmp_path / "b.pt", steps=4), ctx=JobContext(on_event=events.append), checkpoint_every=1)
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [1, 2, 3, 4]
