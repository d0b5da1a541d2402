"""Nothing a user types destroys data or ends in a traceback: a table of bad inputs to the CLI.

Each case runs ``relattr`` with one mistake and must end with exit status 2 and exactly one
line on stderr (no traceback), leave every input byte-identical, and leave nothing new behind
(no half-written output, no temporary file). Parse-time cases (a number out of its range) run
in this process; cases that need another user (a read-only folder for root) or a full disk
(a 1 MB tmpfs in a private mount namespace) run as subprocesses, and are skipped with the
reason where the machine cannot provide them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from relattr_studio.cli import main

# (the command with {placeholders}, option, bad values): every value must be refused at parse time
NUMERIC = [
    ("make toy-faces {tmp}/new.h5", "--n", ["0", "-1", "1000000000000", "abc", "1e3"]),
    ("make toy-faces {tmp}/new.h5", "--size", ["1", "100000", "nan", "64.5"]),
    ("make toy-faces {tmp}/new.h5", "--seed", ["-1", "99999999999"]),
    ("train --dataset {dataset} --out {tmp}/run", "--steps", ["0", "-5"]),
    ("train --dataset {dataset} --out {tmp}/run", "--seeds", ["0", "-2"]),
    ("train --dataset {dataset} --out {tmp}/run", "--first-seed", ["-1"]),
    ("train --dataset {dataset} --out {tmp}/run", "--image-size", ["1", "100000"]),
    ("train --dataset {dataset} --out {tmp}/run", "--width", ["-4", "0", "100000"]),
    ("train --dataset {dataset} --out {tmp}/run", "--lr", ["nan", "inf", "0", "-1", "1e38", "1e6"]),
    ("train --dataset {dataset} --out {tmp}/run", "--threads", ["-1", "0", "100000"]),
    ("train --dataset {dataset} --out {tmp}/run", "--max-test-pairs", ["-1", "0"]),
    ("train --dataset {dataset} --out {tmp}/run", "--epochs", ["0", "nan", "-1", "inf"]),
    ("train --dataset {dataset} --out {tmp}/run", "--batch-size", ["0", "1", "100000"]),
    ("train --dataset {dataset} --out {tmp}/run", "--ema", ["1", "-0.1", "nan"]),
    ("train --dataset {dataset} --out {tmp}/run", "--dropout", ["1", "-0.5"]),
    ("train --dataset {dataset} --out {tmp}/run", "--val-fraction", ["0.95", "-0.1"]),
    ("train --dataset {dataset} --out {tmp}/run", "--min-confidence", ["1.5", "-1"]),
    ("train --dataset {dataset} --out {tmp}/run", "--c", ["0", "-1", "nan"]),
    ("train --dataset {dataset} --out {tmp}/run", "--k", ["0", "-3"]),
    ("train --dataset {dataset} --out {tmp}/run", "--test-sample", ["0"]),
    ("train --dataset {dataset} --out {tmp}/run", "--weight-decay", ["-1", "inf"]),
    ("train --dataset {dataset} --out {tmp}/run", "--warmup-steps", ["-1"]),
    ("train --dataset {dataset} --out {tmp}/run", "--patience", ["0"]),
    ("train --dataset {dataset} --out {tmp}/run", "--augment-zoom", ["1", "-0.1"]),
    ("train --dataset {dataset} --out {tmp}/run", "--augment-color", ["2"]),
    ("train --dataset {dataset} --out {tmp}/run", "--drop-path", ["1"]),
    ("train --dataset {dataset} --out {tmp}/run", "--max-pairs", ["0"]),
    ("train --dataset {dataset} --out {tmp}/run", "--backbone-lr-scale", ["-1", "nan"]),
    ("train --dataset {dataset} --out {tmp}/run", "--stem-stride", ["3"]),
    ("eval {tmp}/none.ckpt --dataset {dataset}", "--max-test-pairs", ["0"]),
    ("spectrum --model toy-faces --attribute smiling {tmp}/s.png", "--steps", ["1", "1000000"]),
    ("spectrum --model toy-faces --attribute smiling {tmp}/s.png", "--rows", ["0", "1000"]),
    ("spectrum --model toy-faces --attribute smiling {tmp}/s.png", "--span", ["inf", "0", "-1", "nan"]),
    ("spectrum --model toy-faces --attribute smiling {tmp}/s.png", "--zoom", ["0", "100"]),
    ("spectrum --model toy-faces --attribute smiling {tmp}/s.png", "--seed", ["-1"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--steps", ["0"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--lr", ["nan", "10"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--batch-size", ["1"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--z-dim", ["-1", "100000"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--width", ["0"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--kl-weight", ["-1", "inf"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--kl-warmup", ["-1"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--consistency-weight", ["-1"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--checkpoint-every", ["0"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--threads", ["0"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--seed", ["-7"]),
    ("oracle train --dataset {dataset} --out {tmp}/o.pt", "--steps", ["0"]),
    ("oracle train --dataset {dataset} --out {tmp}/o.pt", "--lr", ["inf"]),
    ("oracle train --dataset {dataset} --out {tmp}/o.pt", "--width", ["1"]),
    ("oracle train --dataset {dataset} --out {tmp}/o.pt", "--legible-quantile", ["1", "0"]),
    ("oracle train --dataset {dataset} --out {tmp}/o.pt", "--batch-size", ["0"]),
    ("oracle train --dataset {dataset} --out {tmp}/o.pt", "--checkpoint-every", ["0"]),
    ("oracle score --model toy-faces --dataset {dataset}", "--max-images", ["0", "-1"]),
    ("oracle faithfulness --generator toy-faces --model toy-faces", "--n", ["0"]),
    ("oracle faithfulness --generator toy-faces --model toy-faces", "--tweaks", ["-1"]),
    ("oracle faithfulness --generator toy-faces --model toy-faces", "--seed", ["-1"]),
    ("oracle faithfulness --generator toy-faces --model toy-faces", "--threads", ["0"]),
    ("make toy-faces {tmp}/new.h5", "--size", ["0"]),
    ("train --dataset {dataset} --out {tmp}/run", "--lr", ["1e-400"]),
    ("generator train --dataset {dataset} --out {tmp}/g.pt", "--batch-size", ["100000"]),
    ("labels simulate --store {tmp}/s.sqlite --dataset {dataset}", "--pairs", ["0", "-3", "100000000"]),
    ("labels simulate --store {tmp}/s.sqlite --dataset {dataset}", "--seed", ["-1"]),
    ("experiment semantic-jitter --dataset {dataset} --out {tmp}/j", "--budget", ["0"]),
    ("experiment semantic-jitter --dataset {dataset} --out {tmp}/j", "--seeds", ["0"]),
    ("experiment semantic-jitter --dataset {dataset} --out {tmp}/j", "--steps", ["0"]),
    ("experiment semantic-jitter --dataset {dataset} --out {tmp}/j", "--amount", ["0", "inf"]),
    ("experiment semantic-jitter --dataset {dataset} --out {tmp}/j", "--image-size", ["8"]),
]
NUMERIC_CASES = [(f"{cmd} {opt} {value}", "numeric") for cmd, opt, values in NUMERIC for value in values]

# One output that is one of the command's inputs, or a path the command cannot use.
FILE_CASES = [
    ("generator train --dataset {dataset} --out {dataset} --steps 2", "same file"),
    ("oracle train --dataset {dataset} --out {dataset} --steps 2", "same file"),
    ("oracle train --dataset {dataset} --test-dataset {dataset2} --out {dataset2} --steps 2", "same file"),
    ("spectrum --model {generator} --attribute smiling {generator}", "same file"),
    ("labels export {store} {store}", "same file"),
    ("import folder {folder} {folder}/pairs.csv", "same file"),
    ("import folder {folder} {folder}/a.png", "same file"),
    ("import pubfig {pubfig} {pubfig}/data.mat", "same file"),
    ("import folder {folder} {folder}", "same file"),
    ("make toy-faces {tmp} --n 20", "output is a folder"),
    ("spectrum --model toy-faces --attribute smiling {tmp}", "output is a folder"),
    ("labels export {store} {tmp}/x.txt", "bad output name"),
    ("train --dataset {dataset} --out {text} --steps 1", "output is a file, not a folder"),
    ("make toy-faces {text}/new.h5 --n 20", "output is a file, not a folder"),
    ("generator train --dataset {dataset} --out {tmp}/none.pt --resume --steps 2", "nothing to resume"),
    ("oracle train --dataset {dataset} --out {tmp}/none.pt --resume --steps 2", "nothing to resume"),
    ("dataset info {tmp}/missing.h5", "missing input"),
    ("train --dataset {tmp}/missing.h5 --out {tmp}/run", "missing input"),
    ("model info {tmp}/missing.pt", "missing input"),
    ("labels import {tmp}/missing.sqlite {dataset}", "missing input"),
    ("spectrum --model {tmp}/missing.pt --attribute smiling {tmp}/s.png", "missing input"),
    ("dataset info {text}", "malformed input"),
    ("model info {text}", "malformed input"),
    ("model info {empty}", "malformed input"),
    ("train --dataset {text} --out {tmp}/run", "malformed input"),
    ("spectrum --model {empty} --attribute smiling {tmp}/s.png", "malformed input"),
    ("dataset info {float_images}", "malformed input"),
    ("train --dataset {float_images} --out {tmp}/run --steps 1", "malformed input"),
    ("spectrum --model toy-faces --attribute no-such-attribute {tmp}/s.png", "bad value"),
    ("spectrum --model toy-faces --attribute smiling --rows 64 --steps 64 --zoom 16 {tmp}/s.png", "too large for memory"),
    ("labels simulate --store {tmp}/s.sqlite --dataset {dataset} --generator toy-faces --pairs 1000000",
     "too large for memory"),
    ("train --dataset {dataset} --out {tmp}/run --ranker no-such-ranker", "bad value"),
    ("train --dataset {dataset} --out {tmp}/run --backbone no-such-backbone --steps 1", "bad value"),
]


def _sha(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(f"{p.relative_to(path)}={_sha(p)}" for p in path.rglob("*") if p.is_file()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory, toy240):
    """Inputs a user might give: a dataset, a second one, a generator, a store, an import folder,
    a PubFig-like folder, a text file and an empty file."""
    from PIL import Image

    from relattr_studio.data.label_store import LabelStore

    root = tmp_path_factory.mktemp("inputs")
    shutil.copy(toy240, root / "toy.h5")
    shutil.copy(toy240, root / "toy2.h5")
    shutil.copy(Path(__file__).resolve().parents[2] / "models" / "toy-faces-generator.pt", root / "g.pt")
    LabelStore(root / "labels.sqlite").close()
    folder = root / "folder"
    folder.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / f"{name}.png")
    (folder / "pairs.csv").write_text("image_a,image_b,attribute,label\na.png,b.png,bright,1\n")
    pubfig = root / "pubfig"
    pubfig.mkdir()
    (pubfig / "data.mat").write_bytes(b"MATLAB 5.0 MAT-file, not really")
    (root / "notes.txt").write_text("not a dataset\n")
    import h5py
    import numpy as np

    shutil.copy(toy240, root / "float_images.h5")  # images as float32 in [0, 1]: trained on black images before
    with h5py.File(root / "float_images.h5", "a") as f:
        images = f["images"][()]
        del f["images"]
        f.create_dataset("images", data=images.astype(np.float32) / 255)
    (root / "empty.pt").write_bytes(b"")
    return {"dataset": root / "toy.h5", "dataset2": root / "toy2.h5", "generator": root / "g.pt",
            "store": root / "labels.sqlite", "folder": folder, "pubfig": pubfig, "text": root / "notes.txt",
            "empty": root / "empty.pt", "float_images": root / "float_images.h5", "root": root}


def _run_in_process(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("line,category", NUMERIC_CASES + FILE_CASES,
                         ids=[c for c, _ in NUMERIC_CASES + FILE_CASES])
def test_a_bad_input_is_one_message_and_exit_2_and_changes_nothing(line, category, files, tmp_path, capsys):
    fill = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    argv = line.format(**fill).split()
    before = {p: _sha(p) for p in files["root"].iterdir()}
    listing = sorted(os.listdir(tmp_path))
    code, err = _run_in_process(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("loading", "training", "scoring"))]
    assert code == 2, f"{category}: exit {code}; stderr:\n{err}"
    assert len(lines) == 1 and "Traceback" not in err, f"{category}: not one line:\n{err}"
    assert "error" in lines[0]
    assert {p: _sha(p) for p in files["root"].iterdir()} == before, f"{category}: an input changed"
    assert sorted(os.listdir(tmp_path)) == listing, f"{category}: left {sorted(os.listdir(tmp_path))}"


def test_the_matrix_is_large_and_covers_every_category():
    from collections import Counter

    counts = Counter(cat for _, cat in NUMERIC_CASES + FILE_CASES)
    assert counts["numeric"] >= 115 and counts["same file"] >= 8
    assert len(set(c for c, _ in NUMERIC_CASES + FILE_CASES)) == len(NUMERIC_CASES + FILE_CASES)  # distinct


# --------------------------------------------------------------------------- another user, a full disk


def _relattr() -> list[str]:
    return [sys.executable, "-c", "import sys; from relattr_studio.cli import main; sys.exit(main())"]


def _as_nobody() -> list[str] | None:
    """A prefix that runs a command as an unprivileged user (root ignores folder permissions)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, f"{what}: exit {proc.returncode}\n{proc.stderr}"
    assert len(lines) == 1 and "Traceback" not in proc.stderr, f"{what}: not one line:\n{proc.stderr}"


@pytest.mark.parametrize("command", [
    "dataset info {ro}/locked.h5",
    "make toy-faces {ro}/new.h5 --n 20 --quiet",
    "labels export {store} {ro}/out.csv",
    "spectrum --model toy-faces --attribute smiling {ro}/s.png",
    "train --dataset {dataset} --out {ro}/run --steps 1 --quiet",
])
def test_a_read_only_folder_is_one_message(command, files, tmp_path):
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot act as a user a folder refuses")
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "locked.h5").write_bytes(files["dataset"].read_bytes())
    (ro / "locked.h5").chmod(0o000)  # an input the user may not read
    ro.chmod(0o555)
    tmp_path.chmod(0o755)
    for p in [files["root"], *files["root"].iterdir()]:  # the other user reads the inputs
        p.chmod(p.stat().st_mode | 0o755 if p.is_dir() else p.stat().st_mode | 0o644)
    argv = command.format(ro=ro, **{k: str(v) for k, v in files.items()}).split()
    env = {**os.environ, "HOME": str(tmp_path), "RELATTR_DATA_DIR": str(tmp_path / "data"),
           "RELATTR_CONFIG_DIR": str(tmp_path / "config")}
    (tmp_path / "data").mkdir(mode=0o777)
    (tmp_path / "config").mkdir(mode=0o777)
    os.chmod(tmp_path / "data", 0o777)
    os.chmod(tmp_path / "config", 0o777)
    proc = subprocess.run(prefix + _relattr() + argv, capture_output=True, text=True, timeout=600, env=env,
                          cwd=tmp_path)
    if "Permission denied" in proc.stderr and "python" in proc.stderr.split("\n")[0]:
        pytest.skip("the unprivileged user cannot run this interpreter")
    _check(proc, command)
    assert "permission denied" in proc.stderr.lower()
    assert os.listdir(ro) == ["locked.h5"]


def _full_disk_prefix(mount: Path) -> list[str] | None:
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    probe = subprocess.run([unshare, *flags, "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {mount}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    return [unshare, *flags, "sh", "-c", f'mount -t tmpfs -o size=1m tmpfs {mount} && exec "$@"', "sh"]


@pytest.mark.parametrize("command", [
    "make toy-faces {full}/new.h5 --n 300 --quiet",
    "train --dataset {dataset} --out {full}/run --steps 1 --multi-head --quiet",
    "spectrum --model toy-faces --attribute smiling --rows 8 --steps 9 --zoom 2 {full}/s.png",
])
def test_a_full_disk_is_one_message_and_leaves_nothing(command, files, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    prefix = _full_disk_prefix(full)
    if prefix is None:
        pytest.skip("no private tmpfs here (unshare/mount refused): cannot fill a disk safely")
    # fill the 1 MB disk but for 100 kB, then run the command, then list what is left, in one namespace
    argv = command.format(full=full, **{k: str(v) for k, v in files.items()}).split()
    script = (f"head -c 950000 /dev/zero > {full}/ballast && "
              + " ".join(f"'{a}'" for a in _relattr() + argv)
              + f"; rc=$?; ls -A {full} >&2; exit $rc")
    proc = subprocess.run(prefix + ["sh", "-c", script], capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "error" in lines[0] and "full" in lines[0], proc.stderr
    assert lines[1:] == ["ballast"] or lines[1:] == ["ballast", "run"] and command.startswith("train"), \
        f"left behind: {lines[1:]}"
