"""Training the attribute oracle: MSE on a dataset's exact strengths, with degradations that make
it read generated images, then a legibility calibration on held-out real images.

Generated images are blurrier and less clean than renderings, so every training batch is
degraded at random (:class:`Degrade`): small affine jitter, Gaussian blur of a random sigma,
colour and contrast jitter, pixel noise. A share of the training file's identities is held
out: half of it fits the Gaussian of last-stage features (see :mod:`relattr_studio.modeling.oracle`),
the other half sets the threshold at ``legible_quantile`` of its distances (clean and degraded
copies alike: a blurred real image is still one a person reads). Held-out accuracy is measured on ``test_dataset`` (a disjoint
seed) when given, else on the held-out identities.

Training runs through the one lifecycle (:mod:`relattr_studio.training.lifecycle`): cancel,
NaN, out of memory, metrics and resumable checkpoints as every trainer has them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.core.paths import refuse_overwriting_inputs
from relattr_studio.training.memory import check_step_memory, traced_step_bytes
from relattr_studio.modeling.model_file import read_model_file, save_model_file
from relattr_studio.modeling.oracle import (
    AttributeOracle,
    FeatureGaussian,
    Legibility,
    normalise,
    to_input,
)
from relattr_studio.training.lifecycle import (
    JsonlSink,
    Recipe,
    RunState,
    check_resumable,
    finite,
    metrics_file,
    run_recipe,
)


@dataclass(frozen=True)
class Degrade:
    """Random degradations of [0, 1] image batches; each applied to a share ``p_*`` of images."""

    p_affine: float = 0.5
    max_shift: float = 0.06  # of the half-width (0.06 ~ 2 px at 64 px)
    max_rotation: float = 0.05  # radians
    max_zoom: float = 0.05
    p_blur: float = 0.6
    blur_sigma: tuple[float, float] = (0.3, 1.6)  # pixels
    p_color: float = 0.8
    brightness: float = 0.08
    contrast: float = 0.2
    saturation: float = 0.2
    channel_gain: float = 0.06
    p_noise: float = 0.5
    max_noise: float = 0.04

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = len(x)

        def u(lo: float, hi: float, *shape) -> torch.Tensor:
            return (lo + (hi - lo) * torch.rand((n, *shape), generator=gen)).to(x.device)

        def chosen(p: float) -> torch.Tensor:
            return (torch.rand(n, generator=gen) < p).to(x.device)

        sel = chosen(self.p_affine)
        if sel.any():
            x = x.clone()
            x[sel] = _affine(x[sel], u(-self.max_rotation, self.max_rotation)[sel],
                             u(1 - self.max_zoom, 1 + self.max_zoom)[sel], u(-self.max_shift, self.max_shift, 2)[sel])
        sel = chosen(self.p_blur)
        if sel.any():
            x = x.clone()
            x[sel] = gaussian_blur(x[sel], u(*self.blur_sigma)[sel])
        sel = chosen(self.p_color).float().view(n, 1, 1, 1)
        grey = x.mean(dim=1, keepdim=True)
        jittered = grey + (x - grey) * u(1 - self.saturation, 1 + self.saturation, 1, 1, 1)
        mean = jittered.mean(dim=(1, 2, 3), keepdim=True)
        jittered = mean + (jittered - mean) * u(1 - self.contrast, 1 + self.contrast, 1, 1, 1)
        jittered = jittered * u(1 - self.channel_gain, 1 + self.channel_gain, 3, 1, 1)
        jittered = jittered + u(-self.brightness, self.brightness, 1, 1, 1)
        x = sel * jittered + (1 - sel) * x
        sel = chosen(self.p_noise).float().view(n, 1, 1, 1)
        noise = torch.randn(x.shape, generator=gen).to(x.device) * u(0.0, self.max_noise, 1, 1, 1)
        return (x + sel * noise).clamp(0.0, 1.0)


def _affine(x: torch.Tensor, angle: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int = 4) -> torch.Tensor:
    """Separable Gaussian blur of n x C x H x W with one sigma (pixels) per image."""
    n, c, h, w = x.shape
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma.clamp_min(1e-3).view(-1, 1).to(x.dtype)) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.pad(y, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(y, k.view(n * c, 1, -1, 1), groups=n * c).view(n, c, h, w)


# The range of each number an OracleConfig holds (the CLI's options take the same bounds).
ORACLE_BOUNDS = {
    "steps": bounds.STEPS, "batch_size": bounds.BATCH, "lr": bounds.LR, "weight_decay": bounds.WEIGHT_DECAY,
    "warmup_steps": bounds.STEPS_OR_NONE, "width": bounds.ORACLE_WIDTH, "seed": bounds.SEED,
    "holdout_fraction": bounds.floats(0.0, 0.9, open_lo=True, open_hi=True),
    "legible_quantile": bounds.LEGIBLE_QUANTILE, "checkpoint_every": bounds.STEPS, "log_every": bounds.STEPS,
}


@dataclass(frozen=True)
class OracleConfig:
    dataset: str
    out: str | None = None  # model file to write; None keeps it in memory only
    test_dataset: str | None = None  # held-out accuracy on this file (a disjoint seed)
    steps: int = 6000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    width: int = 16
    seed: int = 0
    holdout_fraction: float = 0.1  # identities held out for legibility calibration
    legible_quantile: float = 0.99
    degrade: Degrade = field(default_factory=Degrade)
    checkpoint_every: int = 500  # steps between resumable files at ``out``
    log_every: int = 50  # steps a logged loss averages

    def __post_init__(self) -> None:
        check_bounds(self, ORACLE_BOUNDS)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["degrade"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["degrade"].items()}
        return d


def _load(path: str, ctx: JobContext, stage: str, indices: np.ndarray | None = None
          ) -> tuple[DatasetFile, np.ndarray, np.ndarray]:
    """(dataset, images, strengths) held in memory: all images, or those at ``indices``."""
    ds = DatasetFile(path)
    if ds.strengths is None:
        raise RelAttrError(f"{path}: the dataset has no attribute strengths; an oracle learns from strengths")
    indices = np.arange(len(ds)) if indices is None else np.asarray(indices)
    n, images = len(indices), np.empty((len(indices), *ds.image_shape, 3), np.uint8)
    for start in range(0, n, 1000):
        ctx.check()
        images[start:start + 1000] = ds.images(indices[start:start + 1000])
        ctx.report(min(n, start + 1000), n, stage=stage)
    return ds, images, ds.strengths[indices].astype(np.float64)


def _holdout(ds: DatasetFile, fraction: float, seed: int) -> np.ndarray:
    """A bool mask of held-out images: whole identities where the dataset has them."""
    rng = np.random.default_rng([seed, 0x0AC1E])
    groups = ds.meta.identities if ds.meta.identities is not None else np.arange(len(ds))
    ids = np.unique(groups)
    out = rng.permutation(ids)[:max(2, round(fraction * len(ids)))]
    return np.isin(groups, out)


def _lr(step: int, cfg: OracleConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


class OracleTrainer(Recipe):
    """The oracle's recipe for :func:`~relattr_studio.training.lifecycle.run_recipe`: a step is
    one AdamW step on a degraded batch; the final evaluation calibrates legibility and measures
    held-out accuracy. The checkpoint is the oracle file (``config.out``) with a training state:
    weights, optimiser, step, the batch order and every random generator (torch's, the numpy
    one that orders batches, the :class:`Degrade` generator), so a resumed run ends with the
    same weights as one that never stopped."""

    name = "oracle"
    gauges = frozenset({"lr"})
    final_tag = "heldout"
    nan_advice = "lower --lr"

    def __init__(self, config: OracleConfig, ctx: JobContext = NULL_CONTEXT):
        super().__init__(config, ctx)
        self.oom_advice = f"lower --batch-size (now {config.batch_size})"
        self.ds: DatasetFile | None = None

    def setup(self, resume_from: Path | None) -> None:
        config = self.config
        torch.manual_seed(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.rng = np.random.default_rng([config.seed, 0x0AC1E, 1])
        self.ds, self.images, self.truth = _load(config.dataset, self.ctx, "loading")
        self.held = _holdout(self.ds, config.holdout_fraction, config.seed)
        self.train = np.flatnonzero(~self.held & np.isfinite(self.truth).any(axis=1))
        if len(self.train) < config.batch_size:
            raise RelAttrError(f"{config.dataset}: {len(self.train)} training images with strengths; need at least "
                               f"a batch ({config.batch_size})")
        truth = self.truth
        mean, std = np.nanmean(truth[self.train], axis=0), np.nanstd(truth[self.train], axis=0)
        if not np.all(np.isfinite(mean)):
            raise RelAttrError(f"{config.dataset}: an attribute has no known strength among the training images")
        std = np.where(std > 1e-8, std, 1.0)
        self.oracle = AttributeOracle.new(self.ds.attribute_names, target_mean=mean, target_std=std,
                                          width=config.width, image_size=self.ds.image_shape[0])
        net = self.oracle.net.train()
        side = self.ds.image_shape[0]
        check_step_memory(net, batch=config.batch_size, image_size=side, device=torch.device("cpu"),
                          needed=traced_step_bytes(net, lambda meta: meta(torch.empty(1, 3, side, side, device="meta")),
                                                   batch=config.batch_size, input_elements=3 * side * side),
                          smaller="use a smaller --batch-size or --width")
        decay = [p for p in net.parameters() if p.ndim > 1]
        rest = [p for p in net.parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                            {"params": rest, "weight_decay": 0.0}], lr=config.lr)
        self.target = torch.as_tensor((truth - mean) / std, dtype=torch.float32)
        self.order, self.pos = self.rng.permutation(self.train), 0
        self.steps_per_epoch = len(self.train) / config.batch_size
        if resume_from is not None:
            self.load_checkpoint(resume_from)

    def checkpoint_path(self) -> Path | None:
        return Path(self.config.out) if self.config.out else None

    def train_step(self) -> dict[str, float]:
        config, net = self.config, self.oracle.net
        if self.pos + config.batch_size > len(self.order):
            self.order, self.pos = self.rng.permutation(self.train), 0
        idx = self.order[self.pos:self.pos + config.batch_size]
        self.pos += config.batch_size
        x = config.degrade(to_input(self.images[idx], self.oracle.image_size), self.gen)
        y = self.target[idx]
        known = torch.isfinite(y)
        pred = net(normalise(x))
        loss = ((pred - torch.nan_to_num(y)) ** 2 * known).sum() / known.sum().clamp_min(1)
        value = finite(loss)
        lr = _lr(self.step, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": value, "lr": lr}

    def evaluate(self, *, final: bool) -> dict:
        """At the end: calibrate legibility on the held-out identities, then measure held-out accuracy."""
        if not final:
            return {}
        config, oracle, held, ds = self.config, self.oracle, self.held, self.ds
        oracle.net.eval()
        self.ctx.report(0, 1, stage="calibrating")
        groups = ds.meta.identities[held] if ds.meta.identities is not None else None
        oracle.legibility = calibrate(oracle, self.images[held], groups=groups, quantile=config.legible_quantile,
                                      seed=config.seed, degrade=config.degrade)
        self.ctx.report(1, 1, stage="calibrating")
        if config.test_dataset:
            test_ds, test_images, test_truth = _load(config.test_dataset, self.ctx, "loading test")
            try:
                metrics = evaluate(oracle, test_images, _columns(test_truth, test_ds, oracle), degrade=config.degrade)
            finally:
                test_ds.close()
            metrics["data"] = f"{config.test_dataset} ({len(test_images)} images)"
        else:
            metrics = evaluate(oracle, self.images[held], self.truth[held], degrade=config.degrade)
            metrics["data"] = f"held-out identities of {config.dataset} ({int(held.sum())} images)"
        oracle.metrics = metrics
        oracle.training = {"config": config.to_dict(), "dataset": config.dataset, "provenance": ds.meta.provenance,
                           "train_images": len(self.train), "seconds": round(self.run_state.seconds, 1),
                           "threads": torch.get_num_threads(), "torch": str(torch.__version__)}
        return metrics

    def train_state(self, *, final: bool) -> dict:
        ts = {"step": self.step, "config": self.config.to_dict(), "finished": final,
              "lifecycle": self.run_state.to_dict(), "rng": torch.get_rng_state(),
              "degrade_rng": self.gen.get_state(), "order_rng": self.rng.bit_generator.state,
              "order": torch.from_numpy(np.asarray(self.order, np.int64)), "pos": int(self.pos)}
        if not final:  # the finished file ships: the optimiser only serves resuming
            ts["optimizer"] = self.optimizer.state_dict()
        return ts

    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        # calibrated, with metrics and card, once final
        save_model_file(path, self.oracle.to_payload(train_state=self.train_state(final=final)))

    def load_checkpoint(self, path: Path) -> None:
        model_file = read_model_file(path, kind="oracle")
        ts = model_file.train_state
        saved = ts.get("config") if isinstance(ts, dict) and isinstance(ts.get("config"), dict) else None
        check_resumable(path, saved, self.config.to_dict(), _RESUME_KEYS,
                        fresh="train into a new --out file, or without --resume",
                        same_models=list(model_file.attributes) == self.oracle.attribute_names)
        self.oracle.net.load_state_dict(model_file.weights)
        if ts.get("optimizer"):
            self.optimizer.load_state_dict(ts["optimizer"])
        self.step = int(ts["step"])
        self.run_state = RunState.from_dict(ts.get("lifecycle"))
        torch.set_rng_state(ts["rng"])
        self.gen.set_state(ts["degrade_rng"])
        self.rng.bit_generator.state = ts["order_rng"]
        self.order, self.pos = ts["order"].numpy().copy(), int(ts["pos"])

    def cleanup(self) -> None:
        if self.ds is not None:
            self.ds.close()


# what must match for a checkpoint to resume this run (steps and learning rate may change)
_RESUME_KEYS = ("dataset", "batch_size", "width", "seed", "holdout_fraction", "degrade")


def train_oracle(config: OracleConfig, *, ctx: JobContext = NULL_CONTEXT, resume: bool = False) -> AttributeOracle:
    """Train, calibrate and (when ``config.out``) save an attribute oracle; returns it.

    Reproducible from ``config.seed`` on one machine and thread count. With ``config.out`` the
    file is written every ``checkpoint_every`` steps with its training state, and metrics go to
    ``<out stem>.metrics.jsonl`` beside it; a cancel keeps the current state there, and
    ``resume`` continues from that file when it exists (the same final weights as a run that
    never stopped). Failures follow :func:`~relattr_studio.training.lifecycle.run_recipe`'s policy.
    """
    out = Path(config.out) if config.out else None
    if resume and out is None:
        raise RelAttrError("resuming an oracle needs its output file (out)")
    if out is not None:
        refuse_overwriting_inputs(out, config.dataset, config.test_dataset, what="the oracle file to write")
    trainer = OracleTrainer(config, ctx)
    run_recipe(trainer, ctx=ctx, sinks=[JsonlSink(metrics_file(out))] if out else [],
               resume_from=out if resume and out.exists() else None,
               checkpoint_every=config.checkpoint_every, log_every=config.log_every)
    trainer.oracle.training["seconds"] = round(trainer.run_state.seconds, 1)
    return trainer.oracle


def _read(oracle: AttributeOracle, images: np.ndarray, degrade: Degrade | None, seed: int, batch: int = 256
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strengths, distances, features) of images, degraded first when ``degrade`` is given."""
    gen = torch.Generator().manual_seed(seed)
    out_s, out_d, out_f = [], [], []
    for start in range(0, len(images), batch):
        x = to_input(images[start:start + batch], oracle.image_size)
        if degrade is not None:
            x = degrade(x, gen)
        s, f = oracle.outputs(x)
        out_s.append(s)
        out_f.append(f)
        out_d.append(oracle.legibility.gaussian.distance(f) if oracle.legibility is not None else np.zeros(len(f)))
    return np.concatenate(out_s), np.concatenate(out_d), np.concatenate(out_f)


def calibrate(oracle: AttributeOracle, images: np.ndarray, *, groups: np.ndarray | None = None,
              quantile: float = 0.99, seed: int = 0, degrade: Degrade | None = None) -> Legibility:
    """Fit the legibility model on real held-out ``images``: the feature Gaussian on half of the
    groups (identities), the threshold at ``quantile`` of the other half's distances.

    With ``degrade``, each image counts twice: as rendered and degraded once.
    """
    n = len(images)
    if n < 20:
        raise RelAttrError(f"calibrating legibility needs at least 20 held-out images, not {n}")
    groups = np.arange(n) if groups is None else np.asarray(groups)
    ids = np.random.default_rng([seed, 0xCA1]).permutation(np.unique(groups))
    fit = np.isin(groups, ids[: len(ids) // 2])
    views = [_read(oracle, images, None, seed)[2]]
    if degrade is not None:
        views.append(_read(oracle, images, degrade, seed + 1)[2])
    gaussian = FeatureGaussian.fit(np.concatenate([f[fit] for f in views]))
    distances = gaussian.distance(np.concatenate([f[~fit] for f in views]))
    return Legibility(gaussian, float(np.quantile(distances, quantile)), float(quantile), n)


def evaluate(oracle: AttributeOracle, images: np.ndarray, truth: np.ndarray, *, degrade: Degrade | None = None,
             seed: int = 1234) -> dict:
    """Held-out MAE and Spearman per attribute against ``truth`` (n x A, the oracle's attribute order),
    on the images as given and (with ``degrade``) on a seeded degraded copy; legible shares."""
    views = {"": _read(oracle, images, None, seed)}
    if degrade is not None:
        views["_degraded"] = _read(oracle, images, degrade, seed)
    per_attribute: dict[str, dict[str, float]] = {name: {} for name in oracle.attribute_names}
    out: dict = {"n": len(images), "attributes": per_attribute}
    for suffix, (pred, dist, _) in views.items():
        for a, name in enumerate(oracle.attribute_names):
            known = np.isfinite(truth[:, a])
            err = np.abs(pred[known, a] - truth[known, a])
            per_attribute[name]["mae" + suffix] = float(err.mean()) if known.any() else float("nan")
            per_attribute[name]["spearman" + suffix] = _spearman(pred[known, a], truth[known, a])
        if oracle.legibility is not None:
            out["legible" + suffix] = float((dist <= oracle.legibility.threshold).mean())
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _columns(truth: np.ndarray, ds: DatasetFile, oracle: AttributeOracle) -> np.ndarray:
    """The dataset's strengths in the oracle's attribute order (by name, never by position)."""
    missing = [a for a in oracle.attribute_names if a not in ds.attribute_names]
    if missing:
        raise RelAttrError(f"{ds.path}: the dataset lacks the oracle's attributes {', '.join(missing)} "
                           f"(it has {', '.join(ds.attribute_names)})")
    return truth[:, [ds.attribute_names.index(a) for a in oracle.attribute_names]]


def score_dataset(oracle: AttributeOracle, path: str, *, max_images: int | None = None, seed: int = 0,
                  ctx: JobContext = NULL_CONTEXT) -> dict:
    """:func:`evaluate` on a dataset file's images (a seeded sample of ``max_images`` when given)."""
    n = len(DatasetFile(path))
    pick = None
    if max_images is not None and max_images < n:
        pick = np.sort(np.random.default_rng(seed).choice(n, max_images, replace=False))
    ds, images, truth = _load(path, ctx, "loading", pick)
    ctx.report(0, 1, stage="scoring")
    metrics = evaluate(oracle, images, _columns(truth, ds, oracle), degrade=Degrade())
    ctx.report(1, 1, stage="scoring")
    metrics["data"] = f"{path} ({len(images)} images)"
    return metrics

