"""GUI responsiveness while a ranker trains in the background, and cancel latency.

Real engine (small-cnn RankNet on a toy-faces dataset of 300 images), real Train view inside the
main window, offscreen. A 5 ms QTimer records the gaps between its ticks: any gap well over
5 ms is the event loop stalling (budget: never more than 50 ms). Then a long run is cancelled
mid-way and the time from cancel to the job's end is compared with the duration of one step.

Prints its figures; never fails. Run: QT_QPA_PLATFORM=offscreen python benchmarks/bench_train_responsiveness.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TMP = Path(tempfile.mkdtemp(prefix="relattr-bench-train-"))
os.environ.setdefault("RELATTR_DATA_DIR", str(TMP / "data"))
os.environ.setdefault("RELATTR_CONFIG_DIR", str(TMP / "config"))

import numpy as np  # noqa: E402


def main(steps: int = 40, width: int = 16, batch_size: int = 32) -> None:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.procedural import make_toy_faces
    from relattr_studio.gui.main_window import MainWindow
    from relattr_studio.gui.train_view import make_config

    sys.setswitchinterval(0.001)  # as app.main does: the GUI thread gets the GIL back quickly
    app = QApplication.instance() or QApplication(sys.argv)
    path = make_toy_faces(TMP / "toy-faces.h5", n=300, seed=0)
    session = Session()
    session.set_dataset(DatasetFile(path))
    window = MainWindow(session)
    window.resize(1360, 860)
    window.show()
    for _ in range(20):  # the window's first layout and paint, before anything is measured
        app.processEvents()
        time.sleep(0.01)
    # the Train tab's first show (widget polish, layout, first plot paint) is a one-off cost,
    # paid before the user can press Start: timed on its own, then the tab settles
    t0 = time.perf_counter()
    window.tabs.setCurrentIndex([window.tabs.tabText(i) for i in range(window.tabs.count())].index("Train"))
    view = window.views["train"].view()
    for _ in range(3):
        app.processEvents()
    first_show_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    view.form.set_checked(["smiling", "young"])
    view.form.device.setCurrentText("cpu")
    n_steps = {"value": steps}
    view.config_factory = lambda **f: make_config(**{**f, "steps": n_steps["value"], "batch_size": batch_size,
                                                     "backbone_options": {"width": width}, "log_every": 1})
    gaps: list[float] = []
    clock = QElapsedTimer()
    last = {"t": None}

    def tick():
        now = clock.nsecsElapsed() / 1e6
        if last["t"] is not None:
            gaps.append(now - last["t"])
        last["t"] = now

    probe = QTimer()
    probe.setInterval(5)
    probe.timeout.connect(tick)
    step_times: list[float] = []
    # one Metrics event per step (log_every=1) times the steps
    view.runner.event.connect(lambda e: step_times.append(time.perf_counter()) if type(e).__name__ == "Metrics" else None)

    def run_until_ended(timeout_s: float, on_running=None) -> float:
        ended = {"t": None}
        view.runner.ended.connect(lambda: ended.__setitem__("t", time.perf_counter()))
        t0 = time.perf_counter()
        while ended["t"] is None and time.perf_counter() - t0 < timeout_s:
            app.processEvents()
            if on_running is not None:
                on_running()
            time.sleep(0.001)
        return ended["t"] or float("nan")

    # 1. stalls during a full short run
    clock.start()
    probe.start()
    t_start = time.perf_counter()
    view.start()
    t_end = run_until_ended(600)
    probe.stop()
    g = np.asarray(gaps)
    print(f"training run: {n_steps['value']} steps of {batch_size} images (small-cnn width {width}, RankNet, "
          f"2 attributes) in {t_end - t_start:.1f} s; curves redrawn {view.curves.limiter.count} times", flush=True)
    print(f"first show of the Train tab (once, before Start): {first_show_ms:.0f} ms", flush=True)
    print(f"event-loop gaps over {len(g)} ticks of a 5 ms timer: max {g.max():.1f} ms, p99 "
          f"{np.percentile(g, 99):.1f} ms, p95 {np.percentile(g, 95):.1f} ms, median {np.median(g):.1f} ms; "
          f"{int((g > 50).sum())} gaps > 50 ms (budget: none)", flush=True)

    # 2. cancel latency mid-run
    n_steps["value"] = 100_000
    step_times.clear()
    cancel_at = {"t": None}

    def maybe_cancel():
        if cancel_at["t"] is None and len(step_times) >= 12:
            cancel_at["t"] = time.perf_counter()
            view.cancel()

    view.start()
    t_end = run_until_ended(600, maybe_cancel)
    step_times[:] = [t for t in step_times if t <= cancel_at["t"]] if cancel_at["t"] else step_times
    steps_dt = np.diff(step_times) if len(step_times) > 2 else np.array([float("nan")])
    latency = (t_end - cancel_at["t"]) * 1e3 if cancel_at["t"] else float("nan")
    print(f"cancel: job ended {latency:.0f} ms after Cancel; one step (between Metrics events) takes "
          f"{np.median(steps_dt) * 1e3:.0f} ms median, {steps_dt.max() * 1e3:.0f} ms max "
          f"({'within' if latency <= steps_dt.max() * 1e3 * 1.5 else 'MORE than'} about one step; "
          "the engine also saves a resumable checkpoint on cancel)", flush=True)
    window.close()


if __name__ == "__main__":
    main()
