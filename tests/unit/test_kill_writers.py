"""SIGKILL at random moments of the commands that write datasets: ``make``, ``import`` and
``labels import``. After each kill the output is absent or whole (it opens and validates) and
the input is as it was; the next run leaves no temporary file; ``labels import`` never adds a
judgement twice however often it was killed on the way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from relattr_studio.data.dataset_file import DatasetFile

KILLS = 20
RELATTR = [sys.executable, "-c", "import sys; from relattr_studio.cli import main; sys.exit(main())"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(RELATTR + args, cwd=cwd, capture_output=True, text=True, timeout=600)


def _kill_at(args: list[str], cwd: Path, after: float) -> int | None:
    """Start the command, SIGKILL it ``after`` seconds in; its exit status if it ended first."""
    proc = subprocess.Popen(RELATTR + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def _timed(args: list[str], cwd: Path) -> float:
    t0 = time.monotonic()
    done = _run(args, cwd)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - t0


def _whole_or_absent(path: Path) -> int | None:
    """The number of pairs of the dataset at ``path`` (it must open and validate), or None."""
    if not path.exists():
        return None
    with DatasetFile(path) as ds:
        ds.images(np.arange(len(ds)))  # every image readable: the file is whole
        return len(ds.pairs())


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("what", ["make", "import"])
def test_a_killed_make_or_import_leaves_the_output_absent_or_whole(what, tmp_path, toy240):
    work = tmp_path / "work"
    work.mkdir()
    if what == "make":
        args = ["make", "toy-faces", "out.h5", "--n", "400", "--size", "32", "--quiet"]
    else:  # a folder of images with pairs.csv: the importer every user can feed
        from PIL import Image

        src = work / "src"
        src.mkdir()
        rng = np.random.default_rng(0)
        for i in range(300):
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(src / f"im{i:03d}.png")
        rows = [f"im{i:03d}.png,im{i + 1:03d}.png,bright,1" for i in range(299)]
        (src / "pairs.csv").write_text("image_a,image_b,attribute,label\n" + "\n".join(rows) + "\n")
        before = {p.name: p.read_bytes() for p in src.iterdir()}
        args = ["import", "folder", "src", "out.h5", "--quiet"]
    full = _timed(args, work)
    reference = _whole_or_absent(work / "out.h5")
    (work / "out.h5").unlink()
    rng = np.random.default_rng(1)
    ended = 0
    for k in range(KILLS):
        status = _kill_at(args, work, float(rng.uniform(0.05, full)))
        ended += status is not None
        assert _whole_or_absent(work / "out.h5") in (None, reference), f"kill {k}: a partial dataset"
        if what == "import":
            assert {p.name: p.read_bytes() for p in src.iterdir()} == before, f"kill {k}: the source changed"
    assert ended < KILLS // 2, "the command ended before most kills: the moments miss it"
    assert _run(args, work).returncode == 0
    assert _whole_or_absent(work / "out.h5") == reference
    assert _temporaries(work) == [], "the next run left the killed runs' temporary files"


def test_a_killed_labels_import_never_adds_a_judgement_twice(tmp_path, toy240):
    from relattr_studio.data.label_records import DatasetPair, DatasetRef, Judgement
    from relattr_studio.data.label_store import LabelStore

    work = tmp_path / "work"
    work.mkdir()
    dataset = work / "toy.h5"
    dataset.write_bytes(Path(toy240).read_bytes())
    n0 = _whole_or_absent(dataset)
    ref = DatasetRef.of(dataset)
    rng = np.random.default_rng(2)
    with LabelStore(work / "labels.sqlite") as store:
        for _ in range(200):
            a, b = (int(v) for v in rng.choice(240, 2, replace=False))
            store.record(DatasetPair(ref, a, b), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    args = ["labels", "import", "labels.sqlite", "toy.h5"]
    copy = work / "copy.h5"
    copy.write_bytes(dataset.read_bytes())
    full = _timed([*args[:3], "copy.h5"], work)  # how long one import takes, on a copy
    counts = set()
    for k in range(KILLS):
        _kill_at(args, work, float(rng.uniform(0.05, full)))
        counts.add(_whole_or_absent(dataset))
        assert counts <= {n0, n0 + 200}, f"kill {k}: the pairs table is neither before nor after the import"
    assert _run(args, work).returncode == 0
    assert _run(args, work).returncode == 0  # once more: nothing to add
    with DatasetFile(dataset) as ds:
        assert len(ds.pairs()) == n0 + 200
        keys = ds.meta.imported_judgements
    assert len(keys) == len(set(keys)) == 200
    assert _temporaries(work) == []
