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
ignore y_colorful (faithfulness 0.19 without the term, see the model cards). It reports progress, emits :class:`Metrics`, checks for cancel between steps and
writes a resumable generator file every ``checkpoint_every`` steps; on cancel it saves the current
state, on a NaN loss it stops and leaves the last good file. At the end it measures the
reconstruction error of the held-out images (z the posterior mean) and writes the file without
the optimiser state.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from relattr_studio.core.errors import Cancelled, DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.modeling.generator import (
    AttributeGenerator,
    read_generator,
    save_generator,
)
from relattr_studio.modeling.generator_nets import AttributeReader
from relattr_studio.training.events import CheckpointSaved, Failed, Metrics
from relattr_studio.training.generator_config import CLI_OPTIONS, GeneratorTrainConfig  # noqa: F401 (re-exported)

MODEL_NAME = "generator"
@dataclass(frozen=True)
class GeneratorTrainResult:
    path: str
    generator_id: str
    steps: int
    seconds: float
    device: str
    metrics: dict  # held-out recon_mse, psnr, and the last training loss terms


class GeneratorTrainingFailed(RelAttrError):
    """Training stopped on a numerical or device problem; the message says which and what to do."""


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
    from relattr_studio.training.dataset_scores import score_dataset
    from relattr_studio.training.checkpoint import load_checkpoint

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


class GeneratorTrainer:
    def __init__(self, config: GeneratorTrainConfig, ctx: JobContext = NULL_CONTEXT, card: dict | None = None):
        self.config = config
        self.ctx = ctx
        self.card = dict(card or {})
        self.step = 0
        self.history: list[dict] = []
        self.last_checkpoint: str | None = None
        self.seconds_before = 0.0  # training time of the runs this one resumes

    def setup(self, resume: bool) -> None:
        from relattr_studio.training.config import resolve_device

        c = self.config
        self.device = resolve_device(c.device)
        torch.manual_seed(c.seed)
        self.data = prepare_data(c, self.device, self.ctx)
        self.model = AttributeGenerator(self.data.attributes, **c.architecture())
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
        if resume and Path(c.out).exists():
            self.load(Path(c.out))

    def load(self, path: Path) -> None:
        payload = read_generator(path)
        ts = payload.get("train_state") or {}
        saved = GeneratorTrainConfig.from_dict(ts["config"]) if ts.get("config") else None
        if saved is None:
            raise DataFileError(path, "cannot resume: the file holds no training state",
                                "train into a new --out file, or without --resume")
        mismatch = [k for k in ("dataset", "attributes", "strengths_from", "seed", "image_size", "z_dim", "width",
                                "hidden", "refine_until", "holdout_fraction", "max_holdout", "reader_width", "reader_pool")
                    if getattr(saved, k) != getattr(self.config, k)
                    and not (k == "dataset" and Path(saved.dataset).name == Path(self.config.dataset).name)]
        if mismatch or list(payload["config"]["attributes"]) != self.data.attributes:
            raise DataFileError(path, "cannot resume: it was trained with other settings ("
                                + ", ".join(f"{k} {getattr(saved, k)!r}" for k in mismatch) + ")",
                                "resume with the settings it was trained with")
        self.model.load_state_dict(payload["state_dict"])
        if ts.get("optimizer"):
            self.optimizer.load_state_dict(ts["optimizer"])
        if ts.get("reader"):
            self.reader.load_state_dict(ts["reader"])
        if ts.get("reader_optimizer"):
            self.reader_optimizer.load_state_dict(ts["reader_optimizer"])
        self.step = int(ts["step"])
        self.history = list(ts.get("history", []))
        self.seconds_before = float(ts.get("seconds", 0.0))
        self.sampler.set_state(ts["sampler"])
        if "degrade_rng" in ts:
            self.degrade_rng.set_state(ts["degrade_rng"])
        self.perm, self.pos = ts["perm"].clone(), int(ts["pos"])
        torch.set_rng_state(ts["rng"])
        if "cuda_rng" in ts and self.device.type == "cuda":
            torch.cuda.set_rng_state(ts["cuda_rng"], self.device)
        self.last_checkpoint = str(path)

    def train_state(self, *, final: bool = False, seconds: float = 0.0) -> dict:
        ts = {"step": self.step, "config": self.config.to_dict(), "history": list(self.history),
              "seconds": self.seconds_before + seconds, "sampler": self.sampler.get_state(), "perm": self.perm.clone(),
              "pos": self.pos, "rng": torch.get_rng_state(), "finished": final,
              "degrade_rng": self.degrade_rng.get_state(),
              "reader": {k: v.detach().cpu().clone() for k, v in self.reader.state_dict().items()}}
        if self.device.type == "cuda":
            ts["cuda_rng"] = torch.cuda.get_rng_state(self.device).cpu()
        if not final:  # the finished file ships: without the optimiser it is a third of the size
            ts["optimizer"] = self.optimizer.state_dict()
            ts["reader_optimizer"] = self.reader_optimizer.state_dict()
        return ts

    def save(self, *, final: bool = False, seconds: float = 0.0, metrics: dict | None = None) -> str:
        path = save_generator(self.config.out, self.model, train_state=self.train_state(final=final, seconds=seconds),
                              card=self.card, dataset=self.data.provenance, metrics=metrics)
        self.last_checkpoint = str(path)
        self.ctx.emit(CheckpointSaved(str(path), self.step))
        return str(path)

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

    def train(self, t0: float) -> None:
        c = self.config
        model, opt = self.model, self.optimizer
        epoch_len = max(1, len(self.data.train) // c.batch_size)
        fresh = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "consistency": 0.0, "reader": 0.0, "n": 0}
        window = {**fresh, "t": time.monotonic()}
        self.ctx.report(self.step, c.steps, "training")
        while self.step < c.steps:
            self.ctx.check()
            rows = self._batch()
            dev_rows = rows.to(self.device)
            x = self.data.images[dev_rows].float().div_(255.0)
            y = self.y_all[dev_rows]
            beta, lam = self.beta_at(self.step), c.consistency_weight * self.warmup(self.step)
            for group in [*opt.param_groups, *self.reader_optimizer.param_groups]:
                group["lr"] = self.lr_at(self.step)
            recon, kl = elbo_terms(model, x, y)
            loss = recon + beta * kl
            cons = self.consistency() if c.consistency_weight > 0 else None
            if cons is not None:
                loss = loss + lam * cons
            value = float(loss.detach())
            if not math.isfinite(value):
                raise GeneratorTrainingFailed(
                    f"the loss became {value} at step {self.step + 1}; the last good generator file "
                    f"({self.last_checkpoint or 'none yet'}) stays; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            opt.step()
            if cons is not None:
                window["reader"] += self.reader_step(x, y)
                window["consistency"] += float(cons.detach())
            self.step += 1
            window["loss"] += value
            window["recon"] += float(recon.detach())
            window["kl"] += float(kl.detach())
            window["n"] += 1
            if self.step % c.log_every == 0 or self.step == c.steps:
                n = window["n"]
                elapsed = max(1e-9, time.monotonic() - window["t"])
                values = {"loss": window["loss"] / n, "recon_mse": window["recon"] / n / x[0].numel(),
                          "kl": window["kl"] / n, "consistency": window["consistency"] / n,
                          "reader_mse": window["reader"] / n / len(self.data.attributes), "beta": beta,
                          "lambda": lam, "lr": self.lr_at(self.step - 1), "images_per_s": n * c.batch_size / elapsed}
                self.history.append({"step": self.step, **{k: round(float(v), 6) for k, v in values.items()}})
                self.ctx.emit(Metrics(self.step, self.step / epoch_len, values, MODEL_NAME))
                window = {**fresh, "t": time.monotonic()}
            self.ctx.report(self.step, c.steps, "training",
                            f"loss {value:.1f}" if self.step % 10 == 0 or self.step == c.steps else "")
            if self.step % c.checkpoint_every == 0 and self.step < c.steps:
                self.save(seconds=time.monotonic() - t0)

    def run(self, resume: bool = False) -> GeneratorTrainResult:
        t0 = time.monotonic()
        try:
            self.setup(resume)
            self.train(t0)
            hold = self.data.holdout
            metrics = reconstruction_error(self.model, self.data.images[torch.as_tensor(hold, device=self.data.images.device)],
                                           self.data.strengths[hold], self.device)
            last = self.history[-1] if self.history else {}
            metrics.update({"train_loss": last.get("loss"), "train_recon_mse": last.get("recon_mse"),
                            "kl": last.get("kl"), "consistency": last.get("consistency"), "steps": self.step})
            seconds = time.monotonic() - t0
            metrics["train_seconds"] = round(self.seconds_before + seconds, 1)
            metrics["device"] = str(self.device)
            self.ctx.emit(Metrics(self.step, self.step / max(1, len(self.data.train) // self.config.batch_size),
                                  {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
                                  f"{MODEL_NAME}/holdout"))
            path = self.save(final=True, seconds=seconds, metrics=metrics)
            return GeneratorTrainResult(path, self.model.generator_id, self.step, self.seconds_before + seconds,
                                        str(self.device), metrics)
        except Cancelled:
            if hasattr(self, "optimizer") and self.step > 0:
                self.save(seconds=time.monotonic() - t0)
            self._fail("cancelled")
            raise
        except torch.cuda.OutOfMemoryError:
            self._fail("out of GPU memory")
            raise GeneratorTrainingFailed(
                f"out of GPU memory at batch size {self.config.batch_size}; the last good generator file "
                f"({self.last_checkpoint or 'none'}) stays; lower --batch-size") from None
        except RelAttrError as err:
            self._fail(str(err))
            raise

    def _fail(self, reason: str) -> None:
        self.ctx.emit(Failed(MODEL_NAME, reason, self.last_checkpoint))


def train_generator(config: GeneratorTrainConfig, *, ctx: JobContext = NULL_CONTEXT, resume: bool = False,
                    card: dict | None = None) -> GeneratorTrainResult:
    """Train a generator as ``config`` says and write it to ``config.out`` (a job).

    ``resume`` continues from the training state in ``config.out`` when that file exists;
    ``card`` is plain data stored in the file (e.g. the command that made it).
    """
    return GeneratorTrainer(config, ctx, card).run(resume)
