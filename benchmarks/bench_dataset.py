"""Dataset file read benchmark: random single-image reads and batched reads.

    python benchmarks/bench_dataset.py                    # a fresh toy-faces file (5,000 images)
    python benchmarks/bench_dataset.py --dataset F.h5     # any dataset file, e.g. an imported PubFig

Prints figures; it never fails for speed. Timing on a shared machine is noisy: compare the
p50s of runs on the same machine rather than single numbers across machines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def percentile_us(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q) * 1e6)


def bench_file(path: Path, reads: int = 5000, batch: int = 256, seed: int = 0) -> dict:
    from relattr_studio.data.dataset_file import DatasetFile

    t0 = time.perf_counter()
    ds = DatasetFile(path)
    open_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    ds.image(0)  # open the handle outside the timed loop
    # cold: every index read for the first time (decompressed from the file); warm: the same
    # indices again, served by the reader's chunk cache
    order = rng.permutation(len(ds))[:reads]
    cold, warm = [], []
    for samples in (cold, warm):
        for i in order:
            t = time.perf_counter()
            ds.image(int(i))
            samples.append(time.perf_counter() - t)
    ds.close()
    ds = DatasetFile(path)
    ds.image(0)
    batched = []
    for _ in range(20):
        idx = rng.integers(0, len(ds), batch)
        t = time.perf_counter()
        ds.images(idx)
        batched.append((time.perf_counter() - t) / batch)
    ds.close()
    return {
        "file": str(path), "images": len(ds), "shape": ds.image_shape,
        "size_mb": path.stat().st_size / 1e6, "open_ms": open_s * 1e3,
        "cold_p50_us": percentile_us(cold, 50), "cold_p95_us": percentile_us(cold, 95),
        "warm_p50_us": percentile_us(warm, 50),
        "batched_us_per_image": percentile_us(batched, 50),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, action="append", help="dataset file(s) to read (repeatable)")
    parser.add_argument("--n", type=int, default=5000, help="images in the toy-faces file made when no --dataset")
    args = parser.parse_args(argv)
    paths = list(args.dataset or [])
    with tempfile.TemporaryDirectory() as tmp:
        if not paths:
            from relattr_studio.data.procedural import make_toy_faces

            t = time.perf_counter()
            paths.append(make_toy_faces(Path(tmp) / "toy-faces.h5", n=args.n, seed=0))
            print(f"made toy-faces ({args.n} images) in {time.perf_counter() - t:.1f} s")
        rows = [bench_file(p) for p in paths]
    print(f"{'file':<20}{'images':>8}{'px':>5}{'size':>9}{'open':>8}{'cold p50':>10}{'cold p95':>10}"
          f"{'warm p50':>10}{'batched':>10}")
    for r in rows:
        print(f"{Path(r['file']).name:<20}{r['images']:>8}{r['shape'][0]:>5}{r['size_mb']:>7.0f}MB{r['open_ms']:>6.0f}ms"
              f"{r['cold_p50_us']:>8.0f}us{r['cold_p95_us']:>8.0f}us{r['warm_p50_us']:>8.0f}us"
              f"{r['batched_us_per_image']:>8.0f}us")
    print("one random image by index (DatasetFile.image): cold = first read of that image in the process,\n"
          "warm = read again (64 MB chunk cache: PubFig at 256 px does not fit); batched = per image, 256 random\n"
          "indices per DatasetFile.images call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
