"""``relattr generator train|info`` and ``relattr spectrum``: the attribute-conditioned generator
on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from relattr_studio.cli.options import BATCH, LR, SEED, STEPS, THREADS, ints, option
from relattr_studio.core import bounds
from relattr_studio.core.bounds import check_bounds
from relattr_studio.core.errors import RelAttrError


def register(sub) -> None:
    """Add ``generator`` (train, info) and ``spectrum``."""
    p = sub.add_parser("generator", help="train or inspect an attribute-conditioned image generator (CVAE)")
    gsub = p.add_subparsers(dest="generator_command", required=True, metavar="ACTION")
    t = gsub.add_parser("train", help="train a generator on a dataset's images and attribute strengths")
    t.add_argument("--dataset", required=True, help="dataset file (.h5)")
    t.add_argument("--out", required=True, help="generator file to write (.pt); rewritten at each checkpoint")
    t.add_argument("--strengths-from", default=None, metavar="CKPT",
                   help="a ranker checkpoint whose standardised scores stand in for the strengths (needed when "
                        "the dataset has none)")
    t.add_argument("--attribute", action="append", default=[], help="repeat for several; default all")
    t.add_argument("--steps", type=STEPS, default=None)
    t.add_argument("--batch-size", type=BATCH, default=None)
    t.add_argument("--z-dim", type=option(bounds.Z_DIM), default=None, help="latent factors besides the attributes")
    t.add_argument("--width", type=option(bounds.GENERATOR_WIDTH), default=None, help="channels of the finest decoder stage x 2")
    t.add_argument("--lr", type=LR, default=None)
    t.add_argument("--kl-weight", type=option(bounds.LOSS_WEIGHT), default=None, help="beta, the weight of the KL term")
    t.add_argument("--kl-warmup", type=option(bounds.STEPS_OR_NONE), default=None, help="steps over which beta rises from 0")
    t.add_argument("--consistency-weight", type=option(bounds.LOSS_WEIGHT), default=None,
                   help="lambda of the attribute-consistency term (0: a plain CVAE)")
    t.add_argument("--reader-pool", type=int, default=None, choices=(1, 2, 4),
                   help="the consistency term's reader sees images average-pooled by this (default 1: full size)")
    t.add_argument("--reader-degrade", action="store_const", const=True, default=None,
                   help="the consistency term's reader sees images through random blur, noise, colour and "
                        "affine degradations (harder to fool)")
    t.add_argument("--checkpoint-every", type=STEPS, default=None)
    t.add_argument("--seed", type=SEED, default=None)
    t.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default=None)
    t.add_argument("--resume", action="store_true", help="continue from the training state in --out")
    t.add_argument("--threads", type=THREADS, default=None, help="CPU threads for torch")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_generator_train)

    i = gsub.add_parser("info", help="a generator file's attributes, prior, metrics and id")
    i.add_argument("model", help="generator file, or toy-faces / toy-shoes for a shipped one")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_generator_info)

    s = sub.add_parser("spectrum", help="write a strip of generated images along one attribute (a PNG)")
    s.add_argument("--model", required=True, help="generator file, or toy-faces / toy-shoes for a shipped one")
    s.add_argument("--attribute", required=True)
    s.add_argument("--steps", type=option(bounds.SPECTRUM_STEPS), default=9, help="images along the attribute (default 9)")
    s.add_argument("--seed", type=SEED, default=0, help="seed of the identities drawn from the prior")
    s.add_argument("--rows", type=option(bounds.SPECTRUM_ROWS), default=1, help="identities, one per row (default 1)")
    s.add_argument("--span", type=option(bounds.SPECTRUM_SPAN), default=2.0, help="from y_A - K sigma_A to y_A + K sigma_A (default 2)")
    s.add_argument("--zoom", type=ints(1, 16), default=1, help="integer upscaling of each image (default 1)")
    s.add_argument("out", type=Path, help="PNG to write")
    s.set_defaults(func=cmd_spectrum)


def train_config(args):
    from relattr_studio.training.generator_config import CLI_OPTIONS, GeneratorTrainConfig

    changes = {name: getattr(args, name) for name in CLI_OPTIONS if getattr(args, name) is not None}
    return GeneratorTrainConfig(dataset=str(args.dataset), out=str(args.out), attributes=tuple(args.attribute),
                                strengths_from=args.strengths_from, **changes)


def train_command(args) -> str:
    """The command line that reproduces this training (written into the file's card): the
    configuration's own command, with the thread count given."""
    command = train_config(args).command()
    return command + (f" --threads {args.threads}" if args.threads else "")


def cmd_generator_train(args) -> int:
    import torch

    from relattr_studio.cli.progress import run_job
    from relattr_studio.training.generator_job import train_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume and not Path(args.out).exists():
        raise RelAttrError(f"{args.out}: nothing to resume (no such file yet); train without --resume to start it")
    config = train_config(args)
    card = {"command": train_command(args), "threads": torch.get_num_threads()}
    result = run_job(train_generator, config, resume=args.resume, card=card, quiet=args.quiet,
                     continue_with=lambda _kept: f"{card['command']} --resume")
    m = result.metrics
    print(f"generator {result.generator_id}: {result.steps} steps in {result.seconds:.0f} s on {result.device}; "
          f"held-out reconstruction MSE {m.get('recon_mse', float('nan')):.5f} "
          f"(PSNR {m.get('psnr', float('nan')):.2f} dB)")
    print(f"written: {result.path}", file=sys.stderr)
    return 0


def _model_path(value: str) -> Path:
    """A generator file, or a shipped generator named by its dataset (toy-faces, toy-shoes)."""
    from relattr_studio.modeling.shipped import model_path

    return model_path(value, "generator")


def info_dict(model, info) -> dict:
    import numpy as np

    sigma = np.sqrt(np.clip(np.diag(model.prior_cov), 0, None))
    return {"path": info.path, "generator_id": info.generator_id, "created": info.created,
            "attributes": list(model.attributes), "z_dim": model.z_dim, "image_size": model.image_size,
            "config": info.config, "prior_mean": model.prior_mean.round(6).tolist(),
            "prior_sigma": sigma.round(6).tolist(), "prior_cov": model.prior_cov.round(6).tolist(),
            "dataset": info.dataset, "metrics": info.metrics, "card": info.card, "step": info.step,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "decoder_parameters": int(sum(p.numel() for p in model.generative.parameters()))}


def cmd_generator_info(args) -> int:
    from relattr_studio.modeling.generator import load_generator_with_info

    model, info = load_generator_with_info(_model_path(args.model))
    d = info_dict(model, info)
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    width = max(len(a) for a in d["attributes"] + ["attribute"])
    lines = [f"generator {d['generator_id']}  ({d['path']})",
             f"created:     {d['created']}",
             (f"images:      {d['image_size']} x {d['image_size']} px, z_dim {d['z_dim']}, "
             f"{d['parameters']:,} parameters ({d['decoder_parameters']:,} in the decoder)"),
             (f"dataset:     {d['dataset'].get('name', '?')} ({d['dataset'].get('path', '?')}), "
             f"{d['dataset'].get('images', '?')} images, {d['dataset'].get('holdout', '?')} held out")]
    if d["dataset"].get("strengths_from"):
        lines.append(f"strengths:   scores of the ranker {d['dataset']['strengths_from']}")
    lines.append(f"trained:     {d['step']} steps")
    lines.append("prior N(mu, Sigma) of the training strengths:")
    lines.append("  " + "attribute".ljust(width) + "mu".rjust(10) + "sigma".rjust(10))
    for a, mu, sd in zip(d["attributes"], d["prior_mean"], d["prior_sigma"]):
        lines.append("  " + a.ljust(width) + f"{mu:10.4f}{sd:10.4f}")
    m = d["metrics"]
    if "recon_mse" in m:
        lines.append(f"held-out reconstruction: MSE {m['recon_mse']:.5f} per pixel, PSNR {m['psnr']:.2f} dB "
                     f"({m.get('holdout_images', '?')} images)")
    if m.get("train_seconds") is not None:
        lines.append(f"training time: {m['train_seconds']:.0f} s on {m.get('device', '?')}")
    if d["card"].get("command"):
        lines.append(f"command:     {d['card']['command']}")
    print("\n".join(lines))
    return 0


def spectrum_grid(model, attribute: str, *, steps: int, seed: int, rows: int = 1, span: float = 2.0):
    """(images rows*steps x S x S x 3 uint8, y rows*steps x A): ``rows`` identities from the prior, each
    swept along ``attribute`` from y_A - span sigma_A to y_A + span sigma_A."""
    import numpy as np

    from relattr_studio.analysis.semantic_jitter import IdentityPrior

    check_bounds({"steps": steps, "rows": rows, "span": span, "seed": seed},
                 {"steps": bounds.SPECTRUM_STEPS, "rows": bounds.SPECTRUM_ROWS, "span": bounds.SPECTRUM_SPAN,
                  "seed": bounds.SEED}, owner="spectrum ")
    prior = IdentityPrior.of_generator(model)
    y0, z0 = prior.sample(np.random.default_rng(seed), rows)
    y = np.concatenate([prior.spectrum(y0[r], attribute, steps=steps, span=span) for r in range(rows)])
    z = np.repeat(z0, steps, axis=0)
    return model.generate(y, z), y


def tile(images, rows: int, cols: int, *, zoom: int = 1, gap: int = 2):
    """One uint8 image of ``rows`` x ``cols`` tiles on white, ``gap`` px apart, each upscaled by ``zoom``."""
    import numpy as np

    images = np.asarray(images)
    if zoom > 1:
        images = images.repeat(zoom, axis=1).repeat(zoom, axis=2)
    h, w = images.shape[1:3]
    out = np.full((rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap, 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        out[gap + r * (h + gap): gap + r * (h + gap) + h, gap + c * (w + gap): gap + c * (w + gap) + w] = im
    return out


def cmd_spectrum(args) -> int:
    from PIL import Image

    from relattr_studio.modeling.generator import load_generator

    from relattr_studio.core.paths import atomic_output, refuse_overwriting_inputs
    from relattr_studio.core.resources import check_memory

    model_path = _model_path(args.model)
    refuse_overwriting_inputs(args.out, model_path, what="the PNG to write")
    model = load_generator(model_path)
    side = model.image_size * args.zoom
    # the images, the sheet, and PIL's copy of it
    check_memory(3 * args.rows * args.steps * side * side * 3, what=f"a sheet of {args.rows} x {args.steps} images "
                 f"of {side} px", smaller="ask for fewer --rows or --steps, or a smaller --zoom")
    images, y = spectrum_grid(model, args.attribute, steps=args.steps, seed=args.seed, rows=args.rows,
                              span=args.span)
    strip = tile(images, args.rows, args.steps, zoom=args.zoom)
    with atomic_output(args.out) as tmp:
        Image.fromarray(strip).save(tmp, format="PNG")
    k = model.attributes.index(args.attribute)
    print(f"{args.out}: {args.rows} x {args.steps} images, {args.attribute} from {y[0, k]:.3f} to "
          f"{y[args.steps - 1, k]:.3f}")
    return 0
