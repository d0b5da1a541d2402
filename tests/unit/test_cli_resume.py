"""``relattr train --resume``: the same run goes on, on the same curve; Ctrl+C names what it kept."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relattr_studio.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--attribute", "smiling", "--batch-size", "16", "--width", "4", "--image-size", "32", "--quiet"]
CKPT = "ranknet-small-cnn-smiling-seed0.ckpt"


def _losses(folder: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in open(folder / "metrics.jsonl")]
    return {r["step"]: r["values"]["loss"] for r in rows if r["event"] == "Metrics" and "loss" in r["values"]}


def test_resume_continues_the_same_curve_in_the_same_folder(toy240, tmp_path, capsys):
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", "--dataset", str(toy240), *TINY, "--steps", "20", "--out", str(whole)]) == 0
    assert main(["train", "--dataset", str(toy240), *TINY, "--steps", "10", "--out", str(part)]) == 0
    assert main(["train", "--resume", str(part / CKPT), "--steps", "20", "--quiet"]) == 0
    capsys.readouterr()
    # steps 1-10 before the resume and 11-20 after it are the uninterrupted run's
    assert _losses(part) == _losses(whole) and max(_losses(part)) == 20
    rows = list(csv.DictReader(open(part / "results.csv")))
    assert len(rows) == 3  # the resumed model's rows replaced the 10-step model's
    assert rows == list(csv.DictReader(open(whole / "results.csv")))


def test_a_second_run_into_the_same_folder_is_refused_not_overwritten(toy240, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(toy240), *TINY, "--steps", "2", "--out", str(out)]) == 0
    before = (out / CKPT).read_bytes()
    capsys.readouterr()
    assert main(["train", "--dataset", str(toy240), *TINY, "--steps", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--resume {out / CKPT}" in err and (out / CKPT).read_bytes() == before
    assert main(["train", "--resume", str(out / CKPT), "--out", str(tmp_path / "x")]) == 2
    assert "--out cannot change it" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt" in capsys.readouterr().err


def test_ctrl_c_names_the_checkpoint_it_kept(toy240, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", "import sys; from relattr_studio.cli import main; sys.exit(main())", "train", "--dataset", str(toy240), *TINY,
           "--steps", "5000", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() or '"loss"' not in (out / "metrics.jsonl").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("relattr: cancelled at step ") and f"checkpoint kept: {out / CKPT}" in line
    assert f"relattr train --resume {out / CKPT}" in line and (out / CKPT).is_file()


def test_a_ranksvm_run_resumes_from_its_state_file(toy240, tmp_path, capsys):
    out = tmp_path / "svm"
    assert main(["train", "--dataset", str(toy240), "--ranker", "ranksvm", "--attribute", "smiling",
                 "--c", "1", "--out", str(out), "--quiet"]) == 0
    first = capsys.readouterr().out
    state = out / "ranksvm.state.ckpt"
    assert state.is_file()
    # a finished run resumes to its end at once, with the same table
    assert main(["train", "--resume", str(state), "--quiet"]) == 0
    assert capsys.readouterr().out == first
    assert main(["train", "--resume", str(state), "--steps", "5"]) == 2
    assert "RankSVM is not trained in steps" in capsys.readouterr().err
