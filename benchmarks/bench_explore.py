"""Explore view latency (a script, not a test): ``python benchmarks/bench_explore.py``.

Drives the real ExploreView offscreen with a generator and times, on the wall clock:

(a) slider move -> image painted (budget p95 16 ms): ``QSlider.setValue`` (its valueChanged
    starts the request) until the image canvas has finished painting the new image; one move
    at a time, ~200 moves over random sliders and positions;
(b) a drag: moves every 8 ms (a 120 Hz mouse) for 2 s; for each painted frame, the time since
    the move it shows, how many moves were never made (debounced away), and whether the
    last move is what stays on screen;
(c) slider move while a spectrum strip is being made: the move waits for one strip part;
(d) a 9-image spectrum strip (budget 33 ms): ``request_strip()`` until the strip has painted.
    The strip is around the image on screen, as in the view, so its middle image is that one,
    reused: 8 images are made.

The generator: ``--generator shipped`` (default: the shipped toy-faces model when installed),
``untrained`` (the shipped architecture, AttributeGenerator with its default config, random
weights: the same arithmetic, so the same speed), ``procedural`` (the procedural renderer), or
a model file. Next to wall-clock generate() times it prints the worker thread's CPU time for
them, which other programs on a busy machine do not inflate (one torch thread: on an idle core,
wall time ~ CPU time). Prints figures; never fails for speed. Options: --quick, --threads N (torch
intra-op threads of the view's generator worker; default: the view's own choice).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if len(values) else float("nan")


class PaintClock(QObject):
    """Paints watched widgets inside the filter so that the end of each paint is timed, then
    calls ``on_paint(widget, t)``."""

    def __init__(self, widgets, on_paint):
        super().__init__()
        self.on_paint = on_paint
        for w in widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            obj.paintEvent(event)
            self.on_paint(obj, time.perf_counter())
            return True
        return False


def make_generator(choice: str):
    """(generator, description)."""
    from relattr_studio.modeling.procedural_generator import ProceduralGenerator

    if choice == "procedural":
        return ProceduralGenerator("toy-faces"), "procedural toy-faces renderer (the view's stand-in)"
    from relattr_studio.modeling.generator import AttributeGenerator, load_generator

    if choice == "untrained":
        from relattr_studio.data.procedural import FACE_ATTRIBUTES

        gen = AttributeGenerator(FACE_ATTRIBUTES, strength_mean=np.full(8, 0.5), strength_std=np.full(8, 0.29))
        return gen, "AttributeGenerator, default config (z 32, width 32, hidden 256), untrained weights"
    if choice == "shipped":
        from relattr_studio.modeling.shipped import shipped_model

        path = shipped_model("generator", "toy-faces")
        if path is None:
            print("no shipped toy-faces generator is installed: using the untrained architecture", file=sys.stderr)
            return make_generator("untrained")
        return load_generator(path), f"shipped toy-faces generator ({path.name})"
    return load_generator(choice), f"generator file {choice}"


class Driver:
    """Runs the event loop (sleeping in it, as the app does) until a request is painted."""

    def __init__(self, app, view):
        self.app, self.view = app, view
        self.clock = PaintClock([view.canvas, view.strip], self._on_paint)
        self.loop = QEventLoop()
        self.target: tuple | None = None  # (widget, kind, tag)
        self.painted_at = 0.0
        self.shown: dict[int, int] = {}  # id(widget) -> the newest tag painted
        self.paints: list[tuple[int, float]] = []  # canvas paints while dragging: (tag, t)
        self.recording = False
        self.last = None
        view.live.ready.connect(self._on_ready)

    def _on_ready(self, out) -> None:
        self.last = out
        self.ready_at = time.perf_counter()  # delivered on the GUI thread, pixmap set, not yet painted

    def _on_paint(self, widget, t: float) -> None:
        kind = "image" if widget is self.view.canvas else "strip"
        tag = self.view.live._shown[kind]
        self.shown[id(widget)] = tag
        if self.recording and widget is self.view.canvas:
            self.paints.append((tag, t))
        if self.target is not None and self.target[0] is widget and tag >= self.target[2]:
            self.target, self.painted_at = None, t
            self.loop.quit()

    def run(self, seconds: float) -> None:
        QTimer.singleShot(int(seconds * 1000), self.loop.quit)
        self.loop.exec()

    def wait_painted(self, widget, kind: str, tag: int, t0: float, timeout: float = 5.0) -> float:
        """Seconds from t0 until ``widget`` finished painting the result of request ``tag``."""
        self.target = (widget, kind, tag)
        guard = QTimer()
        guard.setSingleShot(True)
        guard.timeout.connect(self.loop.quit)
        guard.start(int(timeout * 1000))
        self.loop.exec()
        guard.stop()
        if self.target is not None:
            raise TimeoutError(f"{kind} request {tag} was not painted within {timeout} s")
        return self.painted_at - t0

    def move(self, rng, k: int | None = None, pos: int | None = None) -> tuple[float, int]:
        sliders = self.view.sliders.sliders
        k = int(rng.integers(len(sliders))) if k is None else k
        while pos is None or pos == sliders[k].value():
            pos = int(rng.integers(0, 1001))
        t0 = time.perf_counter()
        sliders[k].setValue(pos)  # valueChanged -> request
        return t0, self.view.live._issued["image"]

    def one_move(self, rng, paint: list | None = None) -> float:
        t0, tag = self.move(rng)
        total = self.wait_painted(self.view.canvas, "image", tag, t0)
        if paint is not None:
            paint.append(self.painted_at - self.ready_at)
        return total


def bench(app, generator, moves: int, strips: int, drag_s: float) -> dict:
    from relattr_studio.core.session import Session
    from relattr_studio.gui.explore_view import ExploreView

    session = Session()
    session.set_generator(generator)
    view = ExploreView(session, autoload=False)
    view._strip_timer.setInterval(10**6)  # strips only when asked for, so (a)/(b) time the image alone
    view.resize(1360, 800)
    view.show()
    d = Driver(app, view)
    d.run(0.5)
    rng = np.random.default_rng(0)
    for _ in range(10):  # warm-up: first calls allocate
        d.one_move(rng)
    out: dict = {}
    gen_times: list[float] = []
    gen_cpu: list[float] = []
    view.live.ready.connect(lambda o: (gen_times.append(o.seconds), gen_cpu.append(o.cpu_seconds))
                            if o.kind == "image" else None)
    out["move_paint"] = []
    out["move"] = [d.one_move(rng, out["move_paint"]) for _ in range(moves)]
    out["generate"] = list(gen_times)
    out["generate_cpu"] = list(gen_cpu)

    # (b) a drag: a timer moves slider 0 every 8 ms (a 120 Hz mouse) for drag_s seconds
    requested: dict[int, float] = {}
    state = {"pos": 0, "end": time.perf_counter() + drag_s}
    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(8)

    def tick() -> None:
        if time.perf_counter() >= state["end"]:
            ticker.stop()
            return
        state["pos"] = (state["pos"] + 7) % 1001
        t0, tag = d.move(rng, 0, state["pos"])
        requested[tag] = t0

    ticker.timeout.connect(tick)
    d.recording = True
    ticker.start()
    d.run(drag_s + 0.5)
    d.recording = False
    frames, seen = [], set()
    for tag, t in d.paints:
        if tag in requested and tag not in seen:
            seen.add(tag)
            frames.append(t - requested[tag])
    out["drag"] = frames
    out["drag_requests"] = len(requested)
    out["drag_last_shown"] = d.shown.get(id(view.canvas)) == max(requested)

    # (c) a move while a strip is being made
    during = []
    for _ in range(max(5, strips // 2)):
        view.request_strip()
        d.run(0.003)
        during.append(d.one_move(rng))
        d.run(0.3)
    out["move_during_strip"] = during
    # (d) strips
    strip_times, strip_gen, strip_paint, strip_cpu = [], [], [], []
    for _ in range(strips):
        d.run(0.02)
        t0 = time.perf_counter()
        tag = view.request_strip()
        strip_times.append(d.wait_painted(view.strip, "strip", tag, t0))
        strip_gen.append(d.last.seconds)
        strip_cpu.append(d.last.cpu_seconds)
        strip_paint.append(d.painted_at - d.ready_at)
    out["strip"] = strip_times
    out["strip_generate"] = strip_gen
    out["strip_paint"] = strip_paint
    out["strip_cpu"] = strip_cpu
    out["strip_n"] = view.strip.count()
    view.shutdown()
    view.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--generator", default="shipped", help="shipped, untrained, procedural or a model file")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the view's generator worker (default: the view's own choice)")
    args = parser.parse_args()
    moves, strips, drag = (60, 10, 1.0) if args.quick else (200, 30, 2.0)
    app = QApplication.instance() or QApplication([])
    sys.setswitchinterval(0.0005)  # as app.main() does
    generator, described = make_generator(args.generator)
    from relattr_studio.gui import explore_pairs

    if args.threads:
        explore_pairs.WORKER_TORCH_THREADS = args.threads
    threads = explore_pairs.WORKER_TORCH_THREADS if "torch" in sys.modules else "n/a (no torch)"
    r = bench(app, generator, moves, strips, drag)
    rows = [
        ("(a) slider move -> image painted", r["move"], "16 ms"),
        ("    of which generate() on the worker", r["generate"], ""),
        ("      its CPU time (the worker thread's)", r["generate_cpu"], ""),
        ("    of which delivered -> painted (GUI thread)", r["move_paint"], ""),
        ("(b) drag at 120 Hz: move -> its frame painted", r["drag"], ""),
        ("(c) slider move while a strip is made", r["move_during_strip"], ""),
        (f"(d) {r['strip_n']}-image strip -> painted", r["strip"], "33 ms"),
        ("    of which generate() on the worker", r["strip_generate"], ""),
        ("      its CPU time (the worker thread's)", r["strip_cpu"], ""),
        ("    of which delivered -> painted (GUI thread)", r["strip_paint"], ""),
    ]
    print(f"\ngenerator: {described}; torch threads of the generator worker: {threads}")
    print(f"\n{'measure (ms)':50s} {'n':>5s} {'p50':>8s} {'p95':>8s} {'max':>8s}  budget")
    for name, t, budget in rows:
        print(f"{name:50s} {len(t):5d} {pct(t, 50):8.2f} {pct(t, 95):8.2f} {pct(t, 100):8.2f}  {budget}")
    print(f"\ndrag: {r['drag_requests']} moves, {len(r['drag'])} frames painted, "
          f"{r['drag_requests'] - len(r['drag'])} moves debounced away; last move on screen at the end: "
          f"{r['drag_last_shown']}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"platform: QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')}, python {sys.version.split()[0]}, "
          f"{cpus} CPUs usable of {os.cpu_count()}{load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
