"""Backbone throughput on this machine: forward (inference) and one training step, images/s.

    python benchmarks/bench_backbones.py                       # the four defaults, batch 32
    python benchmarks/bench_backbones.py --names resnet18 --batch 8 --repeats 5
    python benchmarks/bench_backbones.py --imagenet            # also EfficientNet-Lite0 on photos

Each backbone runs at its own preprocessing size (small-cnn 64 px, the others 224 px) with
random initialisation (throughput does not depend on the weights). Inference: eval mode,
``torch.inference_mode``. Train step: train mode, forward + mean-score loss + backward + SGD
step. The figure is the median over ``--repeats`` timed runs after one warm-up run. Prints
figures; it never fails for speed. A shared machine is noisy: the load average is printed with
each run; compare runs taken on the same machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

DEFAULT_NAMES = ["small-cnn", "efficientnet-lite0", "resnet18", "vgg16"]


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, oneDNN kernel selection
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_backbone(name: str, batch: int, repeats: int, channels_last: bool) -> dict:
    from relattr_studio.modeling.backbones import build_backbone

    net = build_backbone(name, weights=None)
    size = net.preprocess.size
    x = torch.randn(batch, 3, size, size)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def infer():
        with torch.inference_mode():
            net(x)

    opt = torch.optim.SGD(net.parameters(), lr=1e-4)

    def train_step():
        opt.zero_grad(set_to_none=True)
        net(x).mean().backward()
        opt.step()

    net.eval()
    t_infer = _median_seconds(infer, repeats)
    net.train()
    t_train = _median_seconds(train_step, repeats)
    return {"name": name, "size": size, "params_m": sum(p.numel() for p in net.parameters()) / 1e6,
            "infer_ips": batch / t_infer, "train_ips": batch / t_train}


def imagenet_check() -> None:
    """EfficientNet-Lite0's top-5 on scikit-image's CC0 photos (the tests' proof, printed)."""
    from skimage import data

    from relattr_studio.modeling.backbones.efficientnet_lite import (
        efficientnet_lite0_imagenet,
    )

    net = efficientnet_lite0_imagenet(weights="auto").eval()
    print(f"efficientnet-lite0: {net.weights_source}")
    for photo in ("chelsea", "coffee"):
        image = getattr(data, photo)()
        h, w = image.shape[:2]
        s = min(h, w)
        image = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        with torch.inference_mode():
            p = net(net.preprocess(image[None])).softmax(dim=1)[0]
        values, indices = p.topk(5)
        top5 = ", ".join(f"{int(i)} ({float(v):.3f})" for v, i in zip(values, indices))
        print(f"  {photo:8s} top-5: {top5}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", nargs="+", default=DEFAULT_NAMES)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--imagenet", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.imagenet:
        imagenet_check()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"batch {args.batch}, median of {args.repeats}, channels_last={args.channels_last}")
    print(f"{'backbone':20s} {'px':>4s} {'params M':>9s} {'infer img/s':>12s} {'train img/s':>12s}  load")
    for name in args.names:
        r = bench_backbone(name, args.batch, args.repeats, args.channels_last)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{r['name']:20s} {r['size']:4d} {r['params_m']:9.2f} {r['infer_ips']:12.1f} "
              f"{r['train_ips']:12.1f}  {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
