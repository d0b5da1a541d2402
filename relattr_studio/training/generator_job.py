"""Training the attribute-conditioned generator (CVAE): a job like ranker training.

``train_generator(config, ctx=...)`` reads a dataset file's images and attribute strengths
(or, where it has none or ``strengths_from`` names a ranker checkpoint, the ranker's standardised
scores of every image, as the semantic-jitter appendix derives strengths), holds out a seeded
share of the images, and maximises the evidence lower bound

    loss = sum over pixels (x - x_hat)^2  +  beta_t * KL(q(z | x, y) || N(0, I))
           +  lambda_t * sum over attributes (R(G(y', z')) - y')^2,

beta_t and lambda_t rising linearly from 0 to ``kl_weight`` and ``consistency_weight`` over
``kl_warmup`` steps, with Adam and a cosine learning rate. The last term is attribute
consistency: y' drawn from the identity prior N(mu, Sigma) and z' from N(0, I), exactly as the
images the product makes, and R a small reader of (normalised) strengths fitted to the real
training images alongside. A plain CVAE lets z carry what y should: a shoe's colour lives in z
as its hue must, and the saturation that "colorful" means rides along, so the decoder learns to
ignore y_colorful (faithfulness 0.19 without the term, see the model cards).

:class:`GeneratorTrainer` is a :class:`~relattr_studio.training.lifecycle.Recipe`, run by
:func:`~relattr_studio.training.lifecycle.run_recipe`: progress and metrics go to ``ctx`` and to
``<out stem>.metrics.jsonl``; cancel is checked between steps; a resumable generator file is
written every ``checkpoint_every`` steps; on cancel the current state is saved, on a NaN loss
the last good file stays. At the end it measures the reconstruction error of the held-out
images (z the posterior mean) and writes the file without the optimiser state.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.core.paths import refuse_overwriting_inputs
from relattr_studio.training.memory import check_step_memory, traced_step_bytes
from relattr_studio.modeling.model_file import lifecycle_record
from relattr_studio.modeling.generator import (
    AttributeGenerator,
    read_generator,
    save_generator,
)
from relattr_studio.modeling.generator_nets import AttributeReader
from relattr_studio.training.generator_config import CLI_OPTIONS, GeneratorTrainConfig  # noqa: F401 (re-exported)
from relattr_studio.training.lifecycle import (
    JsonlSink,
    Recipe,
    RunState,
    check_resumable,
    TrainingFailed,
    finite,
    metrics_file,
    run_recipe,
)

MODEL_NAME = "generator"


@dataclass(frozen=True)
class GeneratorTrainResult:
    path: str
    generator_id: str
    steps: int
    seconds: float
    device: str
    metrics: dict  # held-out recon_mse, psnr, and the last training loss terms


# the lifecycle's one failure for every trainer, under the name this module gave it first
GeneratorTrainingFailed = TrainingFailed


# --------------------------------------------------------------------------- data


@dataclass
class TrainingData:
    images: torch.Tensor  # N x 3 x S x S uint8 (all images with known strengths)
    strengths: np.ndarray  # N x A float64, on the scale the generator will take
    attributes: list[str]
    train: np.ndarray  # indices into images
    holdout: np.ndarray
    provenance: dict


def _select_attributes(ds: DatasetFile, wanted: tuple[str, ...]) -> list[str]:
    names = list(wanted) or list(ds.attribute_names)
    for name in names:
        ds.attribute_index(name)  # a DataFileError naming the attributes it has
    return names


def load_images(ds: DatasetFile, indices: np.ndarray, size: int, ctx: JobContext, chunk: int = 1024) -> torch.Tensor:
    """Images ``indices`` of ``ds`` as N x 3 x size x size uint8, resized (area-averaged) where needed."""
    out = torch.empty((len(indices), 3, size, size), dtype=torch.uint8)
    ctx.report(0, len(indices), "loading images")
    for start in range(0, len(indices), chunk):
        ctx.check()
        stop = min(len(indices), start + chunk)
        x = torch.from_numpy(ds.images(indices[start:stop])).permute(0, 3, 1, 2)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            x = x.round().clamp(0, 255).to(torch.uint8)
        out[start:stop] = x
        ctx.report(stop, len(indices), "loading images")
    return out


def ranker_strengths(checkpoint: str | Path, ds: DatasetFile, attributes: list[str], *, device, ctx: JobContext
                     ) -> np.ndarray:
    """Standardised scores (mean 0, std 1 per attribute) of every image of ``ds`` by a ranker."""
    from relattr_studio.training.checkpoint import load_checkpoint
    from relattr_studio.training.dataset_scores import score_dataset

    model, info = load_checkpoint(checkpoint, device=device)
    missing = [a for a in attributes if a not in info.attributes]
    if missing:
        raise DataFileError(checkpoint, f"the ranker has no head for {', '.join(missing)} (it ranks "
                            f"{', '.join(info.attributes)})", "choose those attributes, or another ranker")
    scores = score_dataset(model, ds, device=device, ctx=ctx)[:, [info.attributes.index(a) for a in attributes]]
    scores = scores.astype(np.float64)
    std = scores.std(axis=0)
    if not np.all(np.isfinite(scores)) or np.any(std <= 0):
        raise DataFileError(checkpoint, "its scores of the dataset's images are constant or not finite",
                            "use a trained ranker")
    return (scores - scores.mean(axis=0)) / std


def prepare_data(config: GeneratorTrainConfig, device, ctx: JobContext) -> TrainingData:
    ds = DatasetFile(config.dataset)
    try:
        attributes = _select_attributes(ds, config.attributes)
        cols = [ds.attribute_index(a) for a in attributes]
        if config.strengths_from:
            strengths = ranker_strengths(config.strengths_from, ds, attributes, device=device, ctx=ctx)
            source = {"strengths_from": str(config.strengths_from)}
        elif ds.strengths is None:
            raise DataFileError(ds.path, "has no attribute strengths to condition a generator on",
                                "give --strengths-from a ranker checkpoint trained on its pairs")
        else:
            strengths = np.asarray(ds.strengths, np.float64)[:, cols]
            source = {"strengths_from": None}
        known = np.flatnonzero(np.all(np.isfinite(strengths), axis=1))
        if len(known) < 4:
            raise DataFileError(ds.path, f"only {len(known)} images have every strength of "
                                f"{', '.join(attributes)}", "a generator needs at least 4")
        rng = np.random.default_rng(config.seed)
        order = rng.permutation(len(known))
        n_hold = min(config.max_holdout, round(config.holdout_fraction * len(known)))
        n_hold = min(n_hold, len(known) - 2)
        images = load_images(ds, known, config.image_size, ctx)
        provenance = {"path": str(config.dataset), "name": ds.name, "images": len(known),
                      "holdout": int(n_hold), "image_shape": list(ds.image_shape), "provenance": ds.meta.provenance,
                      **source}
        return TrainingData(images, strengths[known], attributes, np.sort(order[n_hold:]), np.sort(order[:n_hold]),
                            provenance)
    finally:
        ds.close()


# --------------------------------------------------------------------------- the loop


def elbo_terms(model: AttributeGenerator, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum-of-squares reconstruction error per image, KL per image), each averaged over the batch."""
    x_hat, mu, logvar = model(x, y)
    recon = (x_hat - x).pow(2).flatten(1).sum(1).mean()
    kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    return recon, kl


@torch.no_grad()
def reconstruction_error(model: AttributeGenerator, images: torch.Tensor, strengths: np.ndarray, device,
                         batch_size: int = 256) -> dict:
    """Per-pixel MSE of the held-out images reconstructed through z = E[q(z | x, y)], and its PSNR (dB)."""
    if len(images) == 0:
        return {}
    was = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device).float() / 255.0
            y = torch.as_tensor(strengths[start:start + batch_size], dtype=torch.float32, device=device)
            x_hat, _, _ = model(x, y, sample=False)
            total += float((x_hat - x).pow(2).sum())
            count += x.numel()
    finally:
        model.train(was)
    mse = total / count
    return {"recon_mse": mse, "psnr": 10.0 * math.log10(1.0 / max(mse, 1e-12)), "holdout_images": len(images)}


def reader_view(x: torch.Tensor, pool: int) -> torch.Tensor:
    """Images ``x`` (n x 3 x S x S) rolled by a random 0 .. pool-1 pixels down and right, then
    average-pooled by ``pool`` (S / pool px): no pattern of period ``pool`` survives it."""
    if pool == 1:
        return x
    dy, dx = (int(v) for v in torch.randint(0, pool, (2,)))
    return F.avg_pool2d(torch.roll(x, shifts=(dy, dx), dims=(2, 3)), pool)


# what must match for a checkpoint to resume this run (steps and learning rates may change)
_RESUME_KEYS = ("dataset", "attributes", "strengths_from", "seed", "image_size", "z_dim", "width", "hidden",
                "refine_until", "holdout_fraction", "max_holdout", "reader_width", "reader_pool")


class GeneratorTrainer(Recipe):
    """The generator's recipe for :func:`~relattr_studio.training.lifecycle.run_recipe`: a step
    is one CVAE step (then one step of the consistency term's reader); the checkpoint is the
    generator file itself, with the training state (optimisers, the reader, the batch order and
    every random generator) that makes a resumed run end with the same weights."""

    name = MODEL_NAME
    gauges = frozenset({"beta", "lambda", "lr"})  # schedules: their value at the last step
    final_tag = "holdout"
    nan_advice = "lower --lr"

    def __init__(self, config: GeneratorTrainConfig, ctx: JobContext = NULL_CONTEXT, card: dict | None = None):
        super().__init__(config, ctx)
        self.card = dict(card or {})
        self.metrics: dict = {}  # the final, held-out figures
        self.oom_advice = f"lower --batch-size (now {config.batch_size})"
        self.throughput = ("images_per_s", float(config.batch_size))

    def setup(self, resume_from: Path | None) -> None:
        from relattr_studio.training.config import resolve_device

        c = self.config
        self.device = resolve_device(c.device)
        torch.manual_seed(c.seed)
        self.data = prepare_data(c, self.device, self.ctx)
        self.steps_per_epoch = float(max(1, len(self.data.train) // c.batch_size))
        self.model = AttributeGenerator(self.data.attributes, **c.architecture())
        side, n_attr = c.image_size, len(self.data.attributes)
        traced = traced_step_bytes(self.model, lambda meta: elbo_terms(
            meta, torch.empty(1, 3, side, side, device="meta"), torch.empty(1, n_attr, device="meta")),
            batch=c.batch_size, input_elements=3 * side * side)
        if traced is not None and c.consistency_weight > 0:
            traced *= 2  # the consistency term decodes the batch once more
        check_step_memory(self.model, batch=c.batch_size, image_size=side, device=self.device, needed=traced,
                          smaller="use a smaller --batch-size or --width")
        self.model.set_strength_statistics(self.data.strengths[self.data.train])
        self.model.to(self.device).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        self.reader = AttributeReader(len(self.data.attributes), image_size=c.image_size // c.reader_scale,
                                      width=c.reader_width)
        self.reader.to(self.device).train()
        self.reader_optimizer = torch.optim.Adam(self.reader.parameters(), lr=c.lr)
        w, u = np.linalg.eigh(self.model.prior_cov)  # y' = mu + root @ eps ~ N(mu, Sigma)
        self.prior_root = torch.as_tensor(u * np.sqrt(np.clip(w, 0.0, None)), dtype=torch.float32, device=self.device)
        self.sampler = torch.Generator().manual_seed(c.seed)
        self.degrade_rng = torch.Generator().manual_seed(c.seed + 1)
        self.perm, self.pos = torch.randperm(len(self.data.train), generator=self.sampler), 0
        self.y_all = torch.as_tensor(self.data.strengths, dtype=torch.float32)
        if self.device.type != "cpu":
            self.data.images = self.data.images.to(self.device)
            self.y_all = self.y_all.to(self.device)
        if resume_from is not None:
            self.load_checkpoint(resume_from)

    def checkpoint_path(self) -> Path:
        return Path(self.config.out)

    def load_checkpoint(self, path: Path) -> None:
        payload = read_generator(path)
        ts = payload.get("train_state") or {}
        saved = GeneratorTrainConfig.from_dict(ts["config"]) if ts.get("config") else None
        check_resumable(path, dataclasses.asdict(saved) if saved is not None else None,
                        dataclasses.asdict(self.config), _RESUME_KEYS,
                        fresh="train into a new --out file, or without --resume",
                        same_models=list(payload["config"]["attributes"]) == self.data.attributes)
        self.model.load_state_dict(payload["state_dict"])
        if ts.get("optimizer"):
            self.optimizer.load_state_dict(ts["optimizer"])
        if ts.get("reader"):
            self.reader.load_state_dict(ts["reader"])
        if ts.get("reader_optimizer"):
            self.reader_optimizer.load_state_dict(ts["reader_optimizer"])
        self.step = int(ts["step"])
        self.run_state = RunState.from_dict(lifecycle_record(ts))  # older files: their top-level history
        self.sampler.set_state(ts["sampler"])
        if "degrade_rng" in ts:
            self.degrade_rng.set_state(ts["degrade_rng"])
        self.perm, self.pos = ts["perm"].clone(), int(ts["pos"])
        torch.set_rng_state(ts["rng"])
        if "cuda_rng" in ts and self.device.type == "cuda":
            torch.cuda.set_rng_state(ts["cuda_rng"], self.device)

    def train_state(self, *, final: bool = False) -> dict:
        ts = {"step": self.step, "config": self.config.to_dict(), "lifecycle": self.run_state.to_dict(),
              "sampler": self.sampler.get_state(), "perm": self.perm.clone(),
              "pos": self.pos, "rng": torch.get_rng_state(), "finished": final,
              "degrade_rng": self.degrade_rng.get_state(),
              "reader": {k: v.detach().cpu().clone() for k, v in self.reader.state_dict().items()}}
        if self.device.type == "cuda":
            ts["cuda_rng"] = torch.cuda.get_rng_state(self.device).cpu()
        if not final:  # the finished file ships: without the optimiser it is a third of the size
            ts["optimizer"] = self.optimizer.state_dict()
            ts["reader_optimizer"] = self.reader_optimizer.state_dict()
        return ts

    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        metrics = None
        if final:
            metrics = {**self.metrics, "train_seconds": round(self.run_state.seconds, 1)}
        save_generator(path, self.model, train_state=self.train_state(final=final), card=self.card,
                       dataset=self.data.provenance, metrics=metrics)

    def _batch(self) -> torch.Tensor:
        n = self.config.batch_size
        if self.pos + n > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.data.train), generator=self.sampler), 0
        rows = torch.as_tensor(self.data.train)[self.perm[self.pos:self.pos + n]]
        self.pos += n
        return rows

    def lr_at(self, step: int) -> float:
        c = self.config
        t = min(1.0, step / max(1, c.steps))
        return c.lr * (c.lr_final + (1 - c.lr_final) * 0.5 * (1 + math.cos(math.pi * t)))

    def warmup(self, step: int) -> float:
        c = self.config
        return min(1.0, step / c.kl_warmup) if c.kl_warmup else 1.0

    def beta_at(self, step: int) -> float:
        return self.config.kl_weight * self.warmup(step)

    def reader_view(self, x: torch.Tensor) -> torch.Tensor:
        """What the reader sees of images ``x``: randomly degraded with ``reader_degrade``, then
        shifted by a random 0 .. P-1 pixels (the same for the batch; edges wrap) and average-pooled
        by P (the config's ``reader_scale``)."""
        if self.config.reader_degrade:
            from relattr_studio.training.oracle_job import Degrade

            x = Degrade()(x, self.degrade_rng)
        return reader_view(x, self.config.reader_scale)

    def consistency(self) -> torch.Tensor:
        """Squared error, summed over attributes, of the reader on images of prior draws (y', z')."""
        n, model = self.config.consistency_batch, self.model
        y = model.y_mean.float() + torch.randn(n, len(model.attributes), device=self.device) @ self.prior_root.T
        z = torch.randn(n, model.z_dim, device=self.device)
        return (self.reader(self.reader_view(model.decode(y, z))) - model.normalise(y)).pow(2).sum(1).mean()

    def reader_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step of the reader on real images (it never sees generated ones as targets)."""
        self.reader_optimizer.zero_grad(set_to_none=True)
        loss = (self.reader(self.reader_view(x)) - self.model.normalise(y)).pow(2).sum(1).mean()
        loss.backward()
        self.reader_optimizer.step()
        return float(loss.detach())

    def train_step(self) -> dict[str, float]:
        c, model, opt = self.config, self.model, self.optimizer
        rows = self._batch().to(self.device)
        x = self.data.images[rows].float().div_(255.0)
        y = self.y_all[rows]
        beta, lam, lr = self.beta_at(self.step), c.consistency_weight * self.warmup(self.step), self.lr_at(self.step)
        for group in [*opt.param_groups, *self.reader_optimizer.param_groups]:
            group["lr"] = lr
        recon, kl = elbo_terms(model, x, y)
        loss = recon + beta * kl
        cons = self.consistency() if c.consistency_weight > 0 else None
        if cons is not None:
            loss = loss + lam * cons
        value = finite(loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
        opt.step()
        reader = self.reader_step(x, y) if cons is not None else 0.0
        return {"loss": value, "recon_mse": float(recon.detach()) / x[0].numel(), "kl": float(kl.detach()),
                "consistency": float(cons.detach()) if cons is not None else 0.0,
                "reader_mse": reader / len(self.data.attributes), "beta": beta, "lambda": lam, "lr": lr}

    def evaluate(self, *, final: bool) -> dict:
        """At the end: the held-out images' reconstruction error and the last training values."""
        if not final:
            return {}
        hold = self.data.holdout
        metrics = reconstruction_error(self.model, self.data.images[torch.as_tensor(hold, device=self.data.images.device)],
                                       self.data.strengths[hold], self.device)
        last = self.run_state.history[-1] if self.run_state.history else {}
        metrics.update({"train_loss": last.get("loss"), "train_recon_mse": last.get("recon_mse"),
                        "kl": last.get("kl"), "consistency": last.get("consistency"), "steps": self.step,
                        "device": str(self.device)})
        self.metrics = metrics
        return metrics


def train_generator(config: GeneratorTrainConfig, *, ctx: JobContext = NULL_CONTEXT, resume: bool = False,
                    card: dict | None = None) -> GeneratorTrainResult:
    """Train a generator as ``config`` says and write it to ``config.out`` (a job).

    ``resume`` continues from the training state in ``config.out`` when that file exists;
    ``card`` is plain data stored in the file (e.g. the command that made it). Metrics go to
    ``ctx`` and to ``<out stem>.metrics.jsonl`` beside the file; failures and cancel follow
    :func:`~relattr_studio.training.lifecycle.run_recipe`'s policy.
    """
    out = Path(config.out)
    refuse_overwriting_inputs(out, config.dataset, what="the generator file to write")
    trainer = GeneratorTrainer(config, ctx, card)
    outcome = run_recipe(trainer, ctx=ctx, sinks=[JsonlSink(metrics_file(out))],
                         resume_from=out if resume and out.exists() else None,
                         checkpoint_every=config.checkpoint_every, log_every=config.log_every)
    metrics = {**trainer.metrics, "train_seconds": round(outcome.seconds, 1)}
    return GeneratorTrainResult(str(out), trainer.model.generator_id, outcome.steps, outcome.seconds,
                                str(trainer.device), metrics)
