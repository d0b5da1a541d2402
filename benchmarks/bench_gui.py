"""GUI performance figures (a script, not a test): ``python benchmarks/bench_gui.py``.

(a) next pair on screen after a labeling key (budget 16 ms): key press -> judgement committed
    to the label store -> both image canvases painted with the next pair;
(b) window visible after launch (budget 2.5 s): a fresh interpreter running app.main, from
    just before the process starts until the window has been shown and its first events run;
(c) thumbnail-grid frame time at 50,000 images: scroll step + synchronous repaint + delivery
    of freshly loaded thumbnails, per frame.

Runs offscreen unless QT_QPA_PLATFORM says otherwise. Options: --quick (fewer repetitions).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


class PaintClock(QObject):
    """Paints watched widgets inside the filter so that the end of each paint is timed."""

    def __init__(self, widgets):
        super().__init__()
        self.painted: dict[int, float] = {}
        for w in widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            obj.paintEvent(event)
            self.painted[id(obj)] = time.perf_counter()
            return True
        return False


def bench_next_pair(app, dataset_path: Path, tmp: Path, keys: int) -> dict:
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.gui.labeling_view import LabelingView

    session = Session()
    session.set_dataset(DatasetFile(dataset_path))
    session.set_label_store(LabelStore(tmp / "bench-labels.sqlite", annotator="bench"))
    view = LabelingView(session, seed=0)
    view.resize(1200, 720)
    view.show()
    clock = PaintClock([view.left, view.right])
    for _ in range(20):
        app.processEvents()
    totals, records = [], []
    store = session.label_store
    original_record = store.record

    def timed_record(*a, **k):
        t = time.perf_counter()
        try:
            return original_record(*a, **k)
        finally:
            records.append(time.perf_counter() - t)

    store.record = timed_record
    for i in range(keys):
        deadline = time.perf_counter() + 0.05  # let the prefetch of the previous key run first
        while time.perf_counter() < deadline and len(view.upcoming) < 2:
            app.processEvents()
        clock.painted.clear()
        t0 = time.perf_counter()
        QTest.keyClick(view, Qt.Key.Key_Left if i % 2 else Qt.Key.Key_Right)
        while len(clock.painted) < 2 and time.perf_counter() - t0 < 1.0:
            app.processEvents()
        totals.append(max(clock.painted.values()) - t0)
    n_saved = len(store.judgements())
    view.shutdown()
    view.close()
    session.close()
    assert n_saved == keys, (n_saved, keys)
    return {"total": totals, "record": records}


def bench_window_visible(runs: int) -> list[float]:
    code = ("import sys; from relattr_studio.app import main; main([]); "
            "print('torch-imported', 'torch' in sys.modules)")
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, RELATTR_STUDIO_QUIT_WHEN_SHOWN="1", RELATTR_DATA_DIR=f"{d}/data",
                       RELATTR_CONFIG_DIR=f"{d}/config", RELATTR_STUDIO_T0=repr(time.time()))
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  timeout=60, cwd=ROOT)
        lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
        if "window-visible" not in lines:
            raise RuntimeError(f"no timing from the app: {proc.stdout}\n{proc.stderr}")
        if lines.get("torch-imported") != "False":
            print("warning: torch was imported before the window showed", file=sys.stderr)
        out.append(float(lines["window-visible"]))
    return out


def bench_scroll(app, dataset_path: Path, frames: int) -> dict:
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.dataset_view import DatasetView

    session = Session()
    session.set_dataset(DatasetFile(dataset_path))
    view = DatasetView(session)
    view.resize(1360, 860)
    view.show()
    for _ in range(20):
        app.processEvents()
    bar = view.grid.verticalScrollBar()
    results = {}
    for name, step in (("smooth (40 px/frame)", 40), ("fling (3000 px/frame)", 3000)):
        times = []
        value = 0
        for _ in range(frames):
            value = (value + step) % max(1, bar.maximum())
            t0 = time.perf_counter()
            bar.setValue(value)
            view.grid.viewport().repaint()
            app.processEvents()
            times.append(time.perf_counter() - t0)
            time.sleep(0.004)  # the loader thread gets the time a real frame interval leaves it
        results[name] = times
    results["rows"] = view.model.rowCount()
    view.shutdown()
    view.close()
    session.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--big", type=Path, default=None, help="a 50,000-image dataset to reuse")
    args = parser.parse_args()
    keys, launches, frames = (60, 2, 100) if args.quick else (200, 5, 300)
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    app = QApplication.instance() or QApplication([])
    sys.setswitchinterval(0.0005)  # as app.main() does

    from relattr_studio.data.procedural import make_toy_faces
    from relattr_studio.gui.preview_data import make_fake_dataset

    print("making datasets …", file=sys.stderr)
    faces = make_toy_faces(tmp / "toy-faces.h5", n=1500)
    big = args.big or make_fake_dataset(tmp / "big-50k.h5", n=50_000)

    next_pair = bench_next_pair(app, faces, tmp, keys)
    visible = bench_window_visible(launches)
    scroll = bench_scroll(app, big, frames)

    rows = [
        ("next pair on screen after key (ms)", len(next_pair["total"]), pct(next_pair["total"], 50),
         pct(next_pair["total"], 95), pct(next_pair["total"], 100), "16 ms"),
        ("  of which label-store commit (ms)", len(next_pair["record"]), pct(next_pair["record"], 50),
         pct(next_pair["record"], 95), pct(next_pair["record"], 100), ""),
        ("window visible after launch (ms)", len(visible), pct(visible, 50), pct(visible, 95),
         pct(visible, 100), "2500 ms"),
    ]
    for name in ("smooth (40 px/frame)", "fling (3000 px/frame)"):
        t = scroll[name]
        rows.append((f"grid frame, {scroll['rows']:,} images, {name}", len(t), pct(t, 50), pct(t, 95),
                     pct(t, 100), "16 ms"))
    print(f"\n{'measure':58s} {'n':>5s} {'p50':>8s} {'p95':>8s} {'max':>8s}  budget")
    for name, n, p50, p95, mx, budget in rows:
        print(f"{name:58s} {n:5d} {p50:8.2f} {p95:8.2f} {mx:8.2f}  {budget}")
    print(f"\nplatform: QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
