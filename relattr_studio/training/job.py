"""The ranker training job: one API for the CLI and the window, on the one trainer lifecycle.

``train_ranker(config, ctx=..., resume_from=None) -> TrainResult`` runs :class:`RankerTrainer`,
a :class:`~relattr_studio.training.lifecycle.Recipe`, through
:func:`~relattr_studio.training.lifecycle.run_recipe`, like every other trainer: the runner owns
the step loop and its cancel checks, when to validate and checkpoint (every ``eval_every`` steps
and at the end of each training phase), the metric sinks (``ctx`` events; ``metrics.jsonl`` in
the output folder) and the failure policy (a non-finite loss or running out of GPU memory keeps
the last good checkpoint; a cancel saves the current state and names it).
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.types import Split
from relattr_studio.data.dataset_file import DatasetFile, PairTable
from relattr_studio.training import distributed as D
from relattr_studio.modeling.backbones import Backbone
from relattr_studio.modeling.model_file import lifecycle_record, read_model_file
from relattr_studio.modeling.ranker_file import load_ranker
from relattr_studio.training.batching import PairSampler, category_strengths, local_pairs
from relattr_studio.training.checkpoint import build_ranker, save_checkpoint
from relattr_studio.training.memory import check_step_memory
from relattr_studio.training.config import TrainConfig, resolve_amp, resolve_device
from relattr_studio.training.evaluation import ImageBank, _autocast, evaluate_pairs
from relattr_studio.training.events import DeviceInfo, TrainingData
from relattr_studio.training.lifecycle import JsonlSink, NonFiniteLoss, Recipe, RunState, TrainingFailed, run_recipe
from relattr_studio.training.phases import parameter_groups, phase_steps, training_phases
from relattr_studio.training.step import PairLoss, WeightAverage, make_optimizer, make_scheduler


__all__ = ["RankerTrainer", "TrainResult", "TrainingFailed", "model_name", "train_ranker"]


@dataclass(frozen=True)
class TrainResult:
    name: str
    config: TrainConfig
    accuracy: dict[str, dict[str, float]]  # "test", "test/coarse", "test/fine" -> attribute -> %
    checkpoint: str | None
    steps: int
    seconds: float
    device: str
    stopped_early: bool = False
    history: list = field(default_factory=list)
    train_pairs: dict = field(default_factory=dict)  # "real", "generated": labelled pairs trained on


def model_name(config: TrainConfig, attributes: list[str]) -> str:
    what = attributes[0] if len(attributes) == 1 else "all" if not config.attributes else "multi"
    return f"{config.ranker}-{config.backbone}-{what}-seed{config.seed}"


class RankerTrainer(Recipe):
    """A ranker's recipe: ``setup(resume_from)``, ``train_step()``, ``evaluate(final)``,
    ``save_checkpoint(path)``, ``load_checkpoint(path)``, ``cleanup()``, driven by ``run_recipe``."""

    gauges = frozenset({"lr"})
    nan_advice = "lower --lr or use --amp off"
    oom_advice = "lower --batch-size or use --amp bf16"
    final_tag = "test"

    def __init__(self, config: TrainConfig, *, ctx: JobContext = NULL_CONTEXT):
        self.config, self.ctx = config, ctx
        self.env = D.dist_env()
        self.step, self.phase, self.phase_step = 0, 0, 0
        self.run_state = RunState()
        self.best: tuple[float, int] | None = None  # (val accuracy, step)
        self.best_state: dict | None = None
        self.average: WeightAverage | None = None
        self.bad_evals, self.stopped_early = 0, False
        self.test_accuracy: dict[str, dict[str, float]] = {}
        self.train_pairs: dict[str, int] = {}
        self._created_group = False

    @property
    def history(self) -> list[dict]:
        """The logged values, training windows and validations, step by step (resumes included)."""
        return self.run_state.history

    # -- setup ------------------------------------------------------------------------------

    def setup(self, resume_from: str | Path | None = None) -> None:
        c = self.config
        self.ds = DatasetFile(c.dataset)
        ids = [self.ds.attribute_index(a) for a in c.attributes] if c.attributes else list(range(len(self.ds.attribute_names)))
        self.attribute_ids = ids
        self.attributes = [self.ds.attribute_names[i] for i in ids]
        self.name = model_name(c, self.attributes)
        pairs = self.ds.pairs(c.protocol)
        self.pairs = pairs
        train = local_pairs(pairs.where(split=Split.TRAIN), ids)
        extra = self._labeled_pairs(ids)
        if extra is not None:
            train = PairTable.concat([train.select(slice(0, 0)) if c.labels_only else train,
                                      local_pairs(extra.pairs, ids)])
        if len(train) == 0:
            raise RelAttrError(f"{c.dataset}: no training pairs for {', '.join(self.attributes)} under protocol "
                               f"{c.protocol!r}" + (f" in {c.labels}" if c.labels else ""))
        # Labeled pairs are sparse: a dense category-level matrix would invent labels for them.
        dense = category_strengths(self.ds.meta, train, ids) if c.batching == "all-pairs" and extra is None else None
        train, self.val = self._carve_val(train, local_pairs(pairs.where(split=Split.VAL), ids), dense is not None)
        generated = (train.a >= len(self.ds)) | (train.b >= len(self.ds))
        self.train_pairs = {"real": int((~generated).sum()), "generated": int(generated.sum())}
        self.device = resolve_device(c.device, self.env.local_rank if self.env.active else None)
        self.amp = resolve_amp(c.amp, self.device)
        self.channels_last = bool(c.channels_last and self.device.type == "cuda")
        self._created_group = D.init_distributed(self.env, self.device)
        self._seed_everything(c.seed)
        used = np.concatenate([train.a, train.b, self.val.a, self.val.b,
                               pairs.where(split=Split.TEST).a, pairs.where(split=Split.TEST).b])
        self.bank = ImageBank(self.ds, used, extra=None if extra is None else extra.images)
        weights = None if c.weights in (None, "", "none") else c.weights
        self.model = build_ranker(c.ranker, attributes=self.attributes, backbone=c.backbone, weights=weights,
                                  backbone_options=dict(c.backbone_options), **dict(c.ranker_options))
        self.model.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        check_step_memory(self.model, batch=c.batch_size, image_size=self.model.preprocess.size, device=self.device)
        pretrained = any(not m.weights_source.startswith("random") for m in self.model.modules()
                         if isinstance(m, Backbone))
        self.freeze_bn = c.freeze_bn == "on" or (c.freeze_bn == "auto" and pretrained)
        self.average = WeightAverage(self.model, c.ema) if c.ema else None
        self.sampler = PairSampler(train, batch_size=c.batch_size, batching=c.batching, dense=dense, seed=c.seed,
                                   rank=self.env.rank, world=self.env.world_size, n_heads=len(ids),
                                   max_pairs=c.max_pairs,
                                   both_orders=bool(getattr(self.model, "train_both_orders", False)))
        self.loss_module: nn.Module = PairLoss(self.model)
        if self.env.active:
            self.loss_module = D.wrap_ddp(self.loss_module, self.device)
        self.augment_gen = torch.Generator().manual_seed(c.seed + 1) if c.augment else None
        self.phases = training_phases(self.model, c)
        epoch_steps = self.sampler.steps_per_epoch
        self.total_steps = int(c.steps) if c.steps else max(1, round(c.epochs * epoch_steps))
        self.phase_lengths = phase_steps(self.phases, self.total_steps, epoch_steps)
        self.total_steps = sum(self.phase_lengths)
        self.steps_per_epoch = float(epoch_steps)
        self.eval_every = c.eval_every or min(epoch_steps, self.total_steps)
        self.checkpoint_every = self.eval_every  # a checkpoint at every validation, as before
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == "fp16")
        self._start_phase(self.phase)
        own = self.checkpoint_path()
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        elif own is not None and own.exists():
            # a second run into the same folder would overwrite the first one's checkpoint
            raise RelAttrError(f"{own} exists: that model was trained (or started) in {own.parent} before; "
                               f"continue it with --resume {own}, or choose another output folder")
        self._train_mode()
        source = getattr(getattr(self.model, "backbone", None), "weights_source", "")
        self.publish(DeviceInfo(str(self.device), self.amp, source, self.channels_last, self.env.world_size))
        self.publish(TrainingData(self.name, self.train_pairs["real"], self.train_pairs["generated"],
                                  getattr(self, "labels_summary", "")))

    def _labeled_pairs(self, ids: list[int]):
        """The label store's judgements as pairs for this dataset (None without ``labels``)."""
        if not self.config.labels:
            return None
        from relattr_studio.data.label_training import labeled_pairs_from

        extra = labeled_pairs_from(self.config.labels, self.ds, min_confidence=self.config.min_confidence)
        self.labels_summary = extra.summary()
        return extra

    def _carve_val(self, train, val, dense: bool):
        c = self.config
        if len(val) or c.val_fraction <= 0:
            return train, val
        rng = np.random.default_rng(c.seed + 7919)
        if dense:  # hold out images: category-level pairs among held-out images only
            images = np.unique(np.concatenate([train.a, train.b]))
            held = np.zeros(int(images.max()) + 1, bool)
            held[rng.choice(images, size=max(2, int(len(images) * c.val_fraction)), replace=False)] = True
            keep, carved = ~held[train.a] & ~held[train.b], held[train.a] & held[train.b]
        else:
            carved = np.zeros(len(train), bool)
            carved[rng.choice(len(train), size=max(1, int(len(train) * c.val_fraction)), replace=False)] = True
            keep = ~carved
        val = train.select(carved)
        val.split = np.full(len(val), int(Split.VAL), np.int8)  # validation scores VAL rows only
        return train.select(keep), val

    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)

    def _start_phase(self, index: int) -> None:
        phase = self.phases[index]
        groups = parameter_groups(self.model)
        for p in self.model.parameters():
            p.requires_grad_(False)
        param_groups = []
        for gname, params in groups.items():
            mult = phase.multiplier(gname)
            if mult is None:
                continue
            base = self.config.lr * (self.config.backbone_lr_scale if gname == "backbone" else 1.0)
            for p in params:
                p.requires_grad_(True)
            param_groups.append({"params": params, "lr": base * mult, "name": gname})
        if not param_groups:
            raise RelAttrError(f"training phase {phase.name!r} trains no parameter group of {self.config.ranker}")
        self.optimizer = make_optimizer(self.config, param_groups)
        self.scheduler = make_scheduler(self.config, self.optimizer, self.phase_lengths[index])

    # -- train ------------------------------------------------------------------------------

    def _train_mode(self) -> None:
        """Training mode, with BatchNorm statistics frozen where the config asks for it."""
        self.model.train()
        if self.freeze_bn:
            for module in self.model.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def train_step(self) -> dict[str, float]:
        while self.phase_step >= self.phase_lengths[self.phase]:  # the last step ended a phase
            self.phase, self.phase_step = self.phase + 1, 0
            self._start_phase(self.phase)
        batch = self.sampler.next()
        x = self.bank.tensor(batch.images, self.model.preprocess, self.device, channels_last=self.channels_last,
                             augment=self.augment_gen, zoom=self.config.augment_zoom, color=self.config.augment_color)
        t = lambda a, dt=torch.int64: torch.as_tensor(a, dtype=dt, device=self.device)  # noqa: E731
        with _autocast(self.device, self.amp):
            loss, margin = self.loss_module(x, t(batch.i), t(batch.j), t(batch.head), t(batch.target, torch.float32),
                                            len(batch.i) // (2 if self.sampler.both_orders else 1) if batch.separate else 0)
        value = float(loss.detach())
        if D.any_rank(not math.isfinite(value), self.env, self.device):  # every rank stops, not only one
            raise NonFiniteLoss(value)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        self.phase_step += 1
        tgt = torch.as_tensor(batch.target)
        decided = tgt != 0.5
        return {"loss": value, "lr": float(self.optimizer.param_groups[-1]["lr"]),
                "pairs": float(batch.n_pairs * self.env.world_size),
                "correct": float(((margin.float().cpu() > 0) == (tgt > 0.5))[decided].sum()),
                "counted": float(decided.sum())}

    def summarise(self, window: Mapping[str, float], last: Mapping[str, float], seconds: float,
                  steps: int) -> dict[str, float]:
        """Loss averaged over the window's steps, the last lr, labelled pairs a second (of the steps
        this process ran), and the share of the window's decided pairs the model ordered right."""
        n = max(1.0, window.get("n", 0.0))
        rate = window["pairs"] / n * steps / max(1e-9, seconds)
        return {"loss": window["loss"] / n, "lr": float(last["lr"]), "pairs_per_s": rate,
                "train_acc": 100.0 * window["correct"] / window["counted"] if window.get("counted") else float("nan")}

    def boundary(self) -> bool:
        return self.phase_step >= self.phase_lengths[self.phase]

    def done(self) -> bool:
        return self.step >= self.total_steps or self.stopped_early

    def _validate(self) -> dict[str, float]:
        """Validation accuracy (the mean over heads) and early stopping's bookkeeping."""
        self._sync_buffers()
        if not len(self.val):
            return {}
        val = self.val
        if len(val) > self.config.max_eval_pairs:
            keep = np.random.default_rng(0).choice(len(val), self.config.max_eval_pairs, replace=False)
            val = val.select(np.sort(keep))
        acc = evaluate_pairs(self.scoring_model, self.bank, val, self.device, attribute_ids=list(range(len(self.attributes))),
                             amp=self.amp, split=Split.VAL, ctx=self.ctx)["val"]
        self._train_mode()  # scoring put the model in eval mode
        score = float(np.nanmean(list(acc.values()))) if acc else float("nan")
        if self.best is None or score > self.best[0]:
            self.best, self.bad_evals = (score, self.step), 0
            if self.config.patience is not None:
                self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.scoring_model.state_dict().items()})
        else:
            self.bad_evals += 1
            self.stopped_early = self.config.patience is not None and self.bad_evals > self.config.patience
        return {"val_acc": score}

    # -- evaluate ---------------------------------------------------------------------------

    @property
    def scoring_model(self) -> nn.Module:
        """The weights validation, the test and the checkpoint use: the average where there is one."""
        return self.average.model if self.average is not None else self.model

    def _sync_buffers(self) -> None:
        D.sync_buffers(self.model, self.env)
        if self.average is not None:
            self.average.copy_buffers(self.model)

    def evaluate(self, *, final: bool) -> dict[str, float]:
        """Validation figures during training; ``final``: the test split (the mean is logged, the
        per-attribute percentages kept in :attr:`test_accuracy`)."""
        if not final:
            return self._validate()
        if self.best_state is not None and self.config.patience is not None:
            self.scoring_model.load_state_dict(self.best_state)
        self.test_accuracy = self.test()
        return {key: float(np.nanmean(list(per.values()))) for key, per in self.test_accuracy.items() if per}

    def test(self) -> dict[str, dict[str, float]]:
        """Test accuracy (%) per attribute name on the test split, and its coarse/fine groups."""
        # the scoring model's own buffers: after early stopping the average holds the best
        # step's weights and BatchNorm statistics, which the raw model's must not overwrite
        D.sync_buffers(self.scoring_model, self.env)
        acc = evaluate_pairs(self.scoring_model, self.bank, self.pairs, self.device, attribute_ids=self.attribute_ids,
                             amp=self.amp, split=Split.TEST, ctx=self.ctx, max_pairs=self.config.max_test_pairs,
                             test_flip=self.config.test_flip)
        names = self.ds.attribute_names
        return {key: {names[a]: v for a, v in per.items()} for key, per in acc.items()}

    def accuracy(self) -> dict[str, float]:
        return dict(self.test_accuracy.get("test", {}))

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint_path(self) -> Path | None:
        """Where this model's checkpoint goes (None without an output folder, and on ranks but the first)."""
        if not self.config.out_dir or not self.env.is_main:
            return None
        return Path(self.config.out_dir) / f"{self.name}.ckpt"

    def train_state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}  # the sampler keeps its own numpy generator
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device).cpu()
        if self.augment_gen is not None:
            rng["augment"] = self.augment_gen.get_state()
        return {"step": self.step, "phase": self.phase, "phase_step": self.phase_step, "config": self.config.to_dict(),
                "lifecycle": self.run_state.to_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "sampler": json.dumps(self.sampler.state()), "rng": rng,
                "best": list(self.best) if self.best else None, "bad_evals": self.bad_evals,
                # with a weight average the file's weights are the average; training resumes
                # from the raw weights kept here
                **({"raw_state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                    "average_updates": self.average.updates} if self.average is not None else {})}

    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        """The scoring weights and the whole training state; ``final``: with the test results."""
        save_checkpoint(path, self.scoring_model, train_state=self.train_state(),
                        results=self.test_accuracy if final else None,
                        dataset={"path": str(self.config.dataset), "name": self.ds.name, "protocol": self.config.protocol})

    def load_checkpoint(self, path: str | Path) -> None:
        """Resume: weights, optimiser, schedule, sampler, RNG and metric history from ``path``."""
        model_file = read_model_file(path, kind="ranker")
        c = self.config
        saved = (model_file.builder, (model_file.extra.get("backbone") or {}).get("name", ""),
                 list(model_file.attributes))
        wanted = (c.ranker, c.backbone, list(self.attributes))
        if saved != wanted:
            raise DataFileError(path, f"cannot resume: the checkpoint is {saved[0]} on {saved[1]} for "
                                      f"{', '.join(saved[2])}; this run is {wanted[0]} on {wanted[1]} for "
                                      f"{', '.join(wanted[2])}", "resume with the settings it was trained with")
        model = load_ranker(model_file)
        try:
            self.model.load_state_dict(model.state_dict())
        except RuntimeError as err:
            raise DataFileError(path, f"cannot resume: its weights do not fit this model ({err})") from None
        ts = model_file.train_state
        if self.average is not None:  # the file's weights: the average, or the model if it had none
            self.average.model.load_state_dict(model.state_dict())
        if not ts:
            return  # weights only: fine-tune from them
        if "raw_state_dict" in ts:  # saved with a weight average: train on from the raw weights
            self.model.load_state_dict(ts["raw_state_dict"])
        if self.average is not None:
            self.average.updates = int(ts.get("average_updates", 0))
        # Phase and step within it follow from the global step and THIS run's budget, so a
        # finished run resumes into a longer one.
        self.step = int(ts["step"])
        if "lifecycle" in ts or "run" in ts:
            self.run_state = RunState.from_dict(lifecycle_record(ts))
        else:  # written before the lifecycle: the history, and the window's sums as they were kept
            w = ts.get("window", {})
            window = {"loss": w.get("loss", 0.0), "n": w.get("n", 0.0), "pairs": w.get("pairs", 0.0),
                      "correct": w.get("correct", 0.0), "counted": w.get("counted", 0.0)} if w.get("n") else {}
            self.run_state = RunState(0.0, [dict(h) for h in ts["history"]], window)
        self.phase, self.phase_step = self._locate(self.step)
        if self.phase < len(self.phases):
            self._start_phase(self.phase)
            same_phase = self.phase == min(int(ts["phase"]), len(self.phases) - 1)
            if same_phase:
                self.optimizer.load_state_dict(ts["optimizer"])
                # Keep this run's schedule (its length may have grown, its lr changed) and only
                # move it to where the saved run was: loading the scheduler's state would bring
                # back the old schedule object and base learning rates.
                self.scheduler.last_epoch = int(ts["scheduler"]["last_epoch"])
                for group, base, fn in zip(self.optimizer.param_groups, self.scheduler.base_lrs,
                                           self.scheduler.lr_lambdas):
                    group["initial_lr"] = base
                    group["lr"] = base * fn(self.scheduler.last_epoch)
                self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        self.scaler.load_state_dict(ts["scaler"])
        self.sampler.load_state(json.loads(ts["sampler"]))
        torch.set_rng_state(ts["rng"]["torch"])
        if "augment" in ts["rng"] and self.augment_gen is not None:
            self.augment_gen.set_state(ts["rng"]["augment"])
        if "cuda" in ts["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(ts["rng"]["cuda"], self.device)
        # The best weights are not in the file: early stopping starts afresh after a resume,
        # rather than restoring weights it no longer has.
        self.best, self.bad_evals = None, 0

    def _locate(self, step: int) -> tuple[int, int]:
        for k, n in enumerate(self.phase_lengths):
            if step < n:
                return k, step
            step -= n
        return len(self.phase_lengths), 0

    def cleanup(self) -> None:
        if getattr(self, "ds", None) is not None:
            self.ds.close()
        D.shutdown(self._created_group)
        self._created_group = False

def train_ranker(config: TrainConfig, *, ctx: JobContext = NULL_CONTEXT,
                 resume_from: str | Path | None = None) -> TrainResult:
    """Train one model as ``config`` says (a job: reports through ``ctx``, stops on ``ctx.check``)."""
    trainer = RankerTrainer(config, ctx=ctx)
    sinks = [JsonlSink(Path(config.out_dir) / "metrics.jsonl")] if config.out_dir and trainer.env.is_main else []
    outcome = run_recipe(trainer, ctx=ctx, sinks=sinks, resume_from=resume_from, log_every=config.log_every)
    return TrainResult(trainer.name, config, trainer.test_accuracy, outcome.checkpoint, trainer.step, outcome.seconds,
                       str(trainer.device), trainer.stopped_early, list(trainer.history), dict(trainer.train_pairs))
