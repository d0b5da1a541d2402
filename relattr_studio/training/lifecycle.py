"""One lifecycle for every trainer: a :class:`Recipe` and the one runner, :func:`run_recipe`.

After torchtune's recipes (``setup / train / save_checkpoint / load_checkpoint / cleanup``) and
its ``metric_logger.log_dict``: a trainer says *how* to do one step, evaluate, and write or read
its state; :func:`run_recipe` decides *when*, and owns what every trainer shares:

- the step loop, with ``ctx.check()`` between steps (a cancel returns within one step), and the
  progress it reports;
- when to evaluate and when to write a checkpoint, and the final evaluation and file;
- metrics: averaged over ``log_every`` steps and sent only through :class:`MetricSink` s (a
  ``metrics.jsonl`` file, the job context's events the CLI's progress bar and the window's
  live plot consume);
- one failure policy. A non-finite loss stops with :class:`TrainingFailed` and writes nothing,
  so the last good checkpoint stays; running out of GPU memory is a :class:`TrainingFailed`
  with advice; a cancel saves the current (good) state, emits :class:`RunCancelled` naming the
  file and raises :class:`~relattr_studio.core.errors.Cancelled` carrying its path. Either
  failure emits :class:`Failed` first;
- checkpoint files: written atomically by the recipe (``save_model_file``: a temporary file,
  then a rename); temporary files a killed writer left beside them are removed at setup.

A checkpoint holds the recipe's whole training state (weights, optimisers, step, every random
generator), so that a run resumed from it, even after a SIGKILL, ends with the same weights as
one that never stopped (on the CPU; tests/unit/test_kill_resume.py).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from relattr_studio.core.errors import Cancelled, DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.paths import remove_orphaned_temporaries, write_text_atomically
from relattr_studio.training.events import (
    CheckpointSaved,
    Failed,
    Finished,
    Metrics,
    RunCancelled,
    event_dict,
)

__all__ = ["CtxSink", "JsonlSink", "MetricSink", "NonFiniteLoss", "Recipe", "RunOutcome", "RunState", "check_resumable",
           "TrainingFailed", "finite", "metrics_file", "remove_orphaned_temporaries", "run_recipe"]


class TrainingFailed(RelAttrError):
    """Training stopped on a numerical or device problem; the message says which, which checkpoint
    stays and what to do."""


class NonFiniteLoss(Exception):
    """A recipe's loss is NaN or infinite (raised by :func:`finite`); the runner turns it into
    :class:`TrainingFailed`."""

    def __init__(self, value: float, what: str = "loss"):
        super().__init__(f"the {what} became {value}")
        self.value, self.what = value, what


class NonFiniteWeights(NonFiniteLoss):
    """A network's weights hold a NaN or an infinity (found before a checkpoint is written)."""

    def __init__(self, parameter: str):
        Exception.__init__(self, f"the weights of {parameter} became NaN or infinite")
        self.value, self.what = float("nan"), f"weights of {parameter}"


def non_finite_weights(recipe) -> str | None:
    """The name of the first parameter of the recipe's networks (its ``torch.nn.Module``
    attributes) holding a NaN or an infinity, or None when all are finite. The runner asks
    before each checkpoint: an optimiser step can overflow the weights while the loss that led
    to it was still finite."""
    seen: set[int] = set()
    for attr, module in vars(recipe).items():
        if not isinstance(module, torch.nn.Module) or id(module) in seen:
            continue
        seen.add(id(module))
        for name, param in module.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                return f"{attr}.{name}"
    return None


def finite(loss: torch.Tensor | float, what: str = "loss") -> float:
    """``loss`` as a float; :class:`NonFiniteLoss` when it is NaN or infinite.

    Call it before ``backward()``: a step on a NaN loss would spoil the optimiser's state too.
    """
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if not math.isfinite(value):
        raise NonFiniteLoss(value, what)
    return value


# --------------------------------------------------------------------------- sinks


@runtime_checkable
class MetricSink(Protocol):
    """Where metrics and a run's typed events go (a file, the job context, a plot)."""

    def log(self, step: int, values: Mapping[str, float], model: str, *, epoch: float = 0.0) -> None:
        """Values of ``model`` at ``step`` (a :class:`Metrics` record)."""

    def event(self, event: object, model: str) -> None:
        """A typed event of ``model``'s run (CheckpointSaved, RunCancelled, Failed, Finished, ...)."""

    def restart(self, model: str, step: int) -> None:
        """The run of ``model`` (re)starts at ``step`` (0, or a checkpoint's): what an earlier run
        logged after it (a run killed later, or one this run replaces) is stale."""


class CtxSink:
    """Events through ``ctx.emit``: what the CLI's progress bar and the window's live plot consume."""

    def __init__(self, ctx: JobContext):
        self.ctx = ctx

    def log(self, step: int, values: Mapping[str, float], model: str, *, epoch: float = 0.0) -> None:
        self.ctx.emit(Metrics(step, epoch, dict(values), model))

    def event(self, event: object, model: str) -> None:
        self.ctx.emit(event)

    def restart(self, model: str, step: int) -> None:
        pass


class JsonlSink:
    """``metrics.jsonl``: one JSON object a line, ``{"model": ..., "event": type name, ...fields}``.

    Each record is appended with one ``write`` on a file opened ``O_APPEND``, so a process killed
    at any moment leaves whole lines. :meth:`restart` drops the records of ``model`` (and of its
    sub-models, ``model/...``) at steps after the one a run starts from, and any torn line, with
    an atomic rewrite: a killed run logged them and the resumed run logs them again, or a fresh
    run replaces them; so the file holds one curve per model.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def log(self, step: int, values: Mapping[str, float], model: str, *, epoch: float = 0.0) -> None:
        self._append(model, Metrics(step, epoch, {k: float(v) for k, v in values.items()}, model))

    def event(self, event: object, model: str) -> None:
        self._append(model, event)

    def _append(self, model: str, event: object) -> None:
        line = (json.dumps({"model": model, **event_dict(event)}, default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def restart(self, model: str, step: int) -> None:
        remove_orphaned_temporaries(self.path)
        if not self.path.is_file():
            return
        kept, dropped = [], False
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                dropped = True
                continue
            name = str(record.get("model", ""))
            later = (name == model or name.startswith(model + "/")) and int(record.get("step", -1)) > step
            dropped |= later
            if not later:
                kept.append(line)
        if dropped:
            write_text_atomically(self.path, "".join(f"{line}\n" for line in kept))


class _Sinks:
    """The sinks of one run, as one; records carry the recipe's name as it is now (a ranker's is
    known only once its setup read the dataset)."""

    def __init__(self, sinks: Iterable[MetricSink], recipe: Recipe):
        self.sinks, self.recipe = list(sinks), recipe

    @property
    def model(self) -> str:
        return self.recipe.name

    def log(self, step: int, values: Mapping[str, float], model: str | None = None, *, epoch: float = 0.0) -> None:
        for sink in self.sinks:
            sink.log(step, values, model or self.model, epoch=epoch)

    def event(self, event: object) -> None:
        for sink in self.sinks:
            sink.event(event, self.model)

    def restart(self, step: int) -> None:
        for sink in self.sinks:
            sink.restart(self.model, step)


# --------------------------------------------------------------------------- temporary files


# --------------------------------------------------------------------------- the recipe


@dataclass
class RunState:
    """What the runner carries across a resume: training seconds so far, the logged history,
    and the metric window not yet logged. A recipe stores :meth:`to_dict` in its checkpoint and
    gives it back from :meth:`Recipe.load_checkpoint` (plain data)."""

    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    window: dict[str, float] = field(default_factory=dict)  # sums of step values, and "n"

    def to_dict(self) -> dict:
        return {"seconds": float(self.seconds), "history": [dict(h) for h in self.history],
                "window": {k: float(v) for k, v in self.window.items()}}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> RunState:
        d = d or {}
        return cls(float(d.get("seconds", 0.0)), [dict(h) for h in d.get("history", [])],
                   {k: float(v) for k, v in (d.get("window") or {}).items()})


# What reading a training state raises when an entry is missing or of the wrong type or shape
# (a file with the right format field, written by something else or edited): reported as the
# file's problem, never as a traceback.
MALFORMED_STATE = (KeyError, TypeError, AttributeError, IndexError, ValueError, RuntimeError)


def _reads_a_file(load_checkpoint):
    """``load_checkpoint`` with its file's malformed contents as a DataFileError naming the file."""
    @functools.wraps(load_checkpoint)
    def guarded(self, path, *args, **kwargs):
        try:
            return load_checkpoint(self, path, *args, **kwargs)
        except RelAttrError:
            raise
        except MALFORMED_STATE as err:
            detail = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
            raise DataFileError(path, f"its training state is incomplete or malformed ({detail})",
                                "resume from another checkpoint of this run, or train afresh into a new file") from err

    guarded.reads_a_file = True
    return guarded


def check_resumable(path: str | Path, saved: Mapping | None, wanted: Mapping, keys: Iterable[str], *,
                    fresh: str, same_models: bool = True) -> None:
    """Refuse to resume from ``path`` when it holds no settings (``saved`` None) or other values of
    ``keys`` than ``wanted`` (a dataset counts as the same by file name: the file may have moved),
    or when ``same_models`` is False (its networks' attributes differ); ``fresh`` says how to
    start anew instead."""
    if saved is None:
        raise DataFileError(path, "cannot resume: the file holds no training state", fresh)
    mismatch = [k for k in keys if saved.get(k) != wanted.get(k)
                and not (k == "dataset" and Path(str(saved.get(k))).name == Path(str(wanted.get(k))).name)]
    if mismatch or not same_models:
        raise DataFileError(path, "cannot resume: it was trained with other settings ("
                            + ", ".join(f"{k} {saved.get(k)!r}" for k in mismatch) + ")",
                            "resume with the settings it was trained with")


class Recipe(ABC):
    """One trainer, driven by :func:`run_recipe`.

    The runner calls, in order: ``setup(resume_from)`` (build data, models, optimisers, seeded;
    then, given a checkpoint, ``load_checkpoint`` it and set :attr:`run_state` from it); then,
    until :meth:`done`, ``train_step()`` with ``ctx.check()`` between steps, ``evaluate(final=False)``
    every ``eval_every`` steps (and after the last) and ``save_checkpoint(path)`` every
    ``checkpoint_every`` (both also at a :meth:`boundary`); then
    ``evaluate(final=True)`` and ``save_checkpoint(path, final=True)``; ``cleanup()`` always.
    Events of its own (the device, what it trains on) go out through :meth:`publish`.

    ``train_step`` is one step (one optimiser's, or one of several taking turns; the runner then
    counts it in :attr:`step`) and returns its values, a ``"loss"`` among them: the runner logs their mean over ``log_every`` steps (the
    last value for keys in :attr:`gauges`, such as a learning rate). It must not call
    ``ctx.check()``: a step is done whole or not at all.
    """

    def __init_subclass__(cls, **kwargs):
        # every recipe's load_checkpoint reports a malformed file as the file's problem
        super().__init_subclass__(**kwargs)
        load = cls.__dict__.get("load_checkpoint")
        if load is not None and not getattr(load, "reads_a_file", False):
            cls.load_checkpoint = _reads_a_file(load)

    name: str = "model"  # the model's name in events and metrics.jsonl
    step: int = 0  # steps done
    total_steps: int = 1
    steps_per_epoch: float = 0.0  # for the epoch of Metrics records (0: not known)
    gauges: frozenset[str] = frozenset()
    throughput: tuple[str, float] | None = None  # ("images_per_s", images a step): a rate to log
    final_tag: str = "final"  # final figures are logged as model "<name>/<final_tag>"
    # cadences in steps (None: never), for a recipe whose setup works them out from its data;
    # run_recipe's arguments, when given, take precedence
    eval_every: int | None = None
    checkpoint_every: int | None = None
    nan_advice: str = "lower the learning rate"
    oom_advice: str = "lower the batch size"
    run_state: RunState

    def __init__(self, config: Any = None, ctx: JobContext = NULL_CONTEXT):
        """The common start of a recipe whose settings hold its length (``config.steps``): the
        settings, the job context, no step done, a fresh run state."""
        self.config, self.ctx = config, ctx
        self.step, self.total_steps = 0, int(getattr(config, "steps", 1))
        self.run_state = RunState()

    @abstractmethod
    def setup(self, resume_from: Path | None) -> None:
        """Build everything, seeded; with ``resume_from``, continue from that checkpoint."""

    @abstractmethod
    def train_step(self) -> dict[str, float]:
        """One training step; returns its values (a ``"loss"`` among them)."""

    def evaluate(self, *, final: bool) -> Mapping[str, Any]:
        """Figures of the current weights (validation; ``final``: the held-out test). Its float
        values are logged; the recipe keeps the rest for its result."""
        return {}

    @abstractmethod
    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        """Write the whole training state and :attr:`run_state` to ``path``, atomically;
        ``final``: training is over (the recipe may leave out what only resuming needs)."""

    @abstractmethod
    def load_checkpoint(self, path: Path) -> None:
        """Restore the state :meth:`save_checkpoint` wrote, :attr:`run_state` included; refuse a
        file of other settings with a :class:`~relattr_studio.core.errors.DataFileError`."""

    def checkpoint_path(self) -> Path | None:
        """Where checkpoints go (known after ``setup``); None: nowhere (nothing is saved)."""
        return None

    def boundary(self) -> bool:
        """Whether the step just done ended a stage (a training phase): evaluate and checkpoint
        now, whatever the cadence."""
        return False

    def done(self) -> bool:
        """Whether training is over (the step budget, or early stopping)."""
        return self.step >= self.total_steps

    def accuracy(self) -> dict[str, float]:
        """Attribute -> percent for the :class:`Finished` event (rankers); empty otherwise."""
        return {}

    def cleanup(self) -> None:
        """Release files and process groups; runs however the run ended."""

    def summarise(self, window: Mapping[str, float], last: Mapping[str, float], seconds: float,
                  steps: int) -> dict[str, float]:
        """The values logged for a window of steps: ``window`` holds the sums of the steps'
        values and their count ``"n"``, ``last`` the last step's values; ``steps`` of them ran in
        ``seconds`` in this process. By default: means, the last value of :attr:`gauges`, and
        :attr:`throughput` as a rate."""
        summary = _summary(dict(window), last, self.gauges)
        if self.throughput is not None:
            key, per_step = self.throughput
            summary[key] = steps * per_step / max(1e-9, seconds)
        return summary

    def publish(self, event: object) -> None:
        """Send a typed event of this run (DeviceInfo, TrainingData, ...) through the run's sinks:
        the job context and ``metrics.jsonl``. Outside :func:`run_recipe` it goes nowhere."""
        sinks = getattr(self, "_sinks", None)
        if sinks is not None:
            sinks.event(event)


@dataclass(frozen=True)
class RunOutcome:
    name: str
    steps: int
    seconds: float  # training time over every resumed run
    checkpoint: str | None
    metrics: Mapping[str, Any]  # the final evaluation


def metrics_file(model_file: str | Path) -> Path:
    """The ``metrics.jsonl`` of a trainer that writes one model file: beside it, named after it
    (``g.pt`` -> ``g.metrics.jsonl``)."""
    model_file = Path(model_file)
    return model_file.with_name(f"{model_file.stem}.metrics.jsonl")


def _summary(window: dict[str, float], last: Mapping[str, float], gauges: frozenset[str]) -> dict[str, float]:
    n = max(1.0, window.get("n", 0.0))
    out = {k: v / n for k, v in window.items() if k != "n" and k not in gauges}
    out.update({k: float(last[k]) for k in gauges if k in last})
    return out


def run_recipe(recipe: Recipe, *, ctx: JobContext = NULL_CONTEXT, sinks: Iterable[MetricSink] = (),
               resume_from: str | Path | None = None, checkpoint_every: int | None = None,
               eval_every: int | None = None, log_every: int = 10, stage: str = "training") -> RunOutcome:
    """Run ``recipe`` from setup to its final checkpoint (see the module docstring for what this
    owns). Metrics go to ``sinks`` and, always, to ``ctx`` (a :class:`CtxSink`).
    ``checkpoint_every`` and ``eval_every`` left None take the recipe's, as its setup set them.

    Raises :class:`Cancelled` (with ``checkpoint``: the file kept) when ``ctx`` asks to stop,
    :class:`TrainingFailed` on a non-finite loss or out of GPU memory, and any
    :class:`RelAttrError` the recipe raises; each after a :class:`RunCancelled` or
    :class:`Failed` event.
    """
    _check_cadences(log_every, checkpoint_every, eval_every)
    resume_from = Path(resume_from) if resume_from is not None else None
    recipe.run_state = RunState()
    out = _Sinks([CtxSink(ctx), *sinks], recipe)
    recipe._sinks = out  # what Recipe.publish sends through
    t0 = time.monotonic()
    ready = False
    last: str | None = str(resume_from) if resume_from is not None else None
    saved_step = 0  # the step of the state on disk: a cancel before any step writes nothing
    seconds_before = 0.0

    def save(path: Path, *, final: bool = False) -> str:
        nonlocal last, saved_step
        bad = non_finite_weights(recipe)
        if bad is not None:  # never replace the last good checkpoint with a blown-up one
            raise NonFiniteWeights(bad)
        recipe.run_state.seconds = seconds_before + time.monotonic() - t0
        recipe.save_checkpoint(path, final=final)
        last, saved_step = str(path), recipe.step
        out.event(CheckpointSaved(str(path), recipe.step))
        return str(path)

    def fail(reason: str) -> None:
        # a run that never started (its setup refused it) leaves no metrics file behind: the
        # event goes to the caller only
        (out if ready else _Sinks([CtxSink(ctx)], recipe)).event(Failed(recipe.name, reason, last))

    try:
        recipe.setup(resume_from)
        checkpoint_every = checkpoint_every if checkpoint_every is not None else recipe.checkpoint_every
        eval_every = eval_every if eval_every is not None else recipe.eval_every
        _check_cadences(log_every, checkpoint_every, eval_every)
        path = recipe.checkpoint_path()
        if path is not None:
            remove_orphaned_temporaries(path)
        if resume_from is not None:
            remove_orphaned_temporaries(resume_from)
            saved_step = recipe.step
        out.restart(recipe.step)
        if resume_from is not None:  # a window or plot that draws curves goes on with the same curve
            for entry in recipe.run_state.history:
                values = {k: v for k, v in entry.items() if k != "step"}
                ctx.emit(Metrics(int(entry["step"]), _epoch(recipe, int(entry["step"])), values, recipe.name))
        seconds_before = recipe.run_state.seconds
        ready = True
        state = recipe.run_state
        ctx.report(recipe.step, recipe.total_steps, stage)
        window_t, window_steps = time.monotonic(), 0  # this process's share of the window, for the rate
        while not recipe.done():
            ctx.check()
            values = recipe.train_step()
            loss = finite(values.get("loss", 0.0))
            recipe.step += 1
            step = recipe.step
            for k, v in values.items():
                state.window[k] = state.window.get(k, 0.0) + float(v)
            state.window["n"] = state.window.get("n", 0.0) + 1
            window_steps += 1
            if step % log_every == 0 or recipe.done():
                summary = recipe.summarise(state.window, values, time.monotonic() - window_t, window_steps)
                state.history.append({"step": step, **{k: round(v, 6) for k, v in summary.items()}})
                out.log(step, summary, epoch=_epoch(recipe))
                state.window, window_t, window_steps = {}, time.monotonic(), 0
            ctx.report(step, recipe.total_steps, stage, f"loss {loss:.4g}" if "loss" in values else "")
            boundary = recipe.boundary()
            if eval_every and (step % eval_every == 0 or boundary or recipe.done()):
                figures = _log_eval(out, recipe, recipe.evaluate(final=False), recipe.name)
                if figures:
                    state.history.append({"step": step, **{k: round(v, 6) for k, v in figures.items()}})
            due = checkpoint_every is not None and step % checkpoint_every == 0
            if path is not None and (due or boundary) and not recipe.done():
                save(path)
        recipe.run_state.seconds = seconds_before + time.monotonic() - t0
        metrics = recipe.evaluate(final=True)
        _log_eval(out, recipe, metrics, f"{recipe.name}/{recipe.final_tag}")
        if path is not None:
            save(path, final=True)
        seconds = seconds_before + time.monotonic() - t0
        out.event(Finished(recipe.name, recipe.accuracy(), last if path is not None else None, recipe.step, seconds))
        return RunOutcome(recipe.name, recipe.step, seconds, last if path is not None else None, metrics)
    except Cancelled:
        path = recipe.checkpoint_path() if ready else None
        if path is not None and recipe.step > saved_step:
            save(path)  # between steps: the current state is a good one
        out.event(RunCancelled(recipe.name, recipe.step, last))
        raise Cancelled(f"cancelled at step {recipe.step}" + (f" of {recipe.total_steps}" if ready else ""),
                        checkpoint=last) from None
    except NonFiniteLoss as err:
        at = recipe.step if isinstance(err, NonFiniteWeights) else recipe.step + 1  # found after it, or in it
        message = (f"{err} at step {at} of {recipe.name}; the last good checkpoint "
                   f"({last or 'none yet'}) stays; {recipe.nan_advice}")
        fail(message)
        raise TrainingFailed(message) from None
    except torch.cuda.OutOfMemoryError:
        fail("out of GPU memory")
        raise TrainingFailed(f"out of GPU memory training {recipe.name} at step {recipe.step + 1}; the last good "
                             f"checkpoint ({last or 'none'}) stays; {recipe.oom_advice}") from None
    except RelAttrError as err:
        fail(str(err))
        raise
    finally:
        recipe.cleanup()


def _check_cadences(log_every: int, checkpoint_every: int | None, eval_every: int | None) -> None:
    if log_every < 1 or (checkpoint_every is not None and checkpoint_every < 1) or \
            (eval_every is not None and eval_every < 1):
        raise RelAttrError("log_every, checkpoint_every and eval_every must be at least 1")


def _log_eval(out: _Sinks, recipe: Recipe, metrics: Mapping[str, Any], model: str) -> dict[str, float]:
    values = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if values:
        out.log(recipe.step, values, model, epoch=_epoch(recipe))
    return values


def _epoch(recipe: Recipe, step: int | None = None) -> float:
    step = recipe.step if step is None else step
    return round(step / recipe.steps_per_epoch, 4) if recipe.steps_per_epoch else 0.0
