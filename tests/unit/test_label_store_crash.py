"""The label store's promise: killing the app at any moment loses no judgement shown as saved.

A child process records judgements in a loop and prints "SAVED <id>" after each record()
returns; the test SIGKILLs it at random moments, many times over one database (so every run
also starts from a WAL a killed process left behind), and after each kill checks that the
file is intact and holds every judgement (and undo) the child reported.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relattr_studio.data.label_store import LabelStore

WORKER = Path(__file__).with_name("_labeling_worker.py")
N_KILLS = 60

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def _check(db: Path, saved: set[int], undone: set[int]) -> None:
    # The store opens the file as the app would after a crash: SQLite recovers the WAL the
    # killed writer left (or creates the schema, if the first victim died before it could).
    with LabelStore(db, annotator="checker") as store:
        effective = {r.id for r in store.judgements()}
        store.check_integrity()
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = {r[0] for r in raw.execute("SELECT id FROM judgements")}
        undo_ids = {r[0] for r in raw.execute("SELECT judgement_id FROM undos")}
    finally:
        raw.close()
    lost = saved - ids
    assert not lost, f"{len(lost)} judgements reported saved are missing: {sorted(lost)[:10]}"
    assert undone <= undo_ids, f"undos reported saved are missing: {sorted(undone - undo_ids)[:10]}"
    # An undo may commit and be killed before it is reported, so compare with the file's undos.
    assert effective == ids - undo_ids


def test_sigkill_at_random_moments_loses_no_saved_judgement(tmp_path):
    db = tmp_path / "labels.sqlite"
    rng = random.Random(20240611)
    saved: set[int] = set()
    undone: set[int] = set()
    kills_mid_recording = checks = checked = 0
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    for i in range(N_KILLS):
        mode = "mixed" if i % 6 == 5 else "dataset"
        child = subprocess.Popen([sys.executable, str(WORKER), str(db), mode, str(i)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        before = len(saved)
        if i % 5 == 0:
            # Some kills from process start: they may land while the store opens and
            # recovers the WAL of the previous victim.
            time.sleep(rng.uniform(0.005, 0.150))
        else:
            first = child.stdout.readline()
            if first.strip() != b"READY":
                child.kill()
                _, err = child.communicate()
                pytest.fail(f"worker did not start: {first!r} {err.decode(errors='replace')}")
            time.sleep(rng.uniform(0.005, 0.150))
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
        for line in out.decode().splitlines(keepends=True):
            if not line.endswith("\n"):
                continue  # cut by the kill mid-write: nothing was reported
            word, _, value = line.strip().partition(" ")
            if word == "SAVED":
                saved.add(int(value))
            elif word == "UNDID" and value != "None":
                undone.add(int(value))
        if len(saved) > before:
            kills_mid_recording += 1
        if i % 3 != 1 or i == N_KILLS - 1:
            # Otherwise leave the WAL for the next child to recover.
            _check(db, saved, undone)
            checks += 1
            checked += len(saved)
    elapsed = time.perf_counter() - t0
    print(f"\ncrash test: {N_KILLS} SIGKILLs ({kills_mid_recording} while recording), {len(saved)} judgements "
          f"and {len(undone)} undos reported saved, {checks} checks covering {checked} judgement look-ups, "
          f"{elapsed:.1f} s")
    assert kills_mid_recording >= N_KILLS // 2, "too few kills landed while recording; the test proves little"
    assert len(saved) > 200
