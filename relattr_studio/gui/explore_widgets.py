"""The Explore view's parts: a generator worker that paints only the newest request, attribute
sliders, and a spectrum strip.

:class:`LiveGenerator` runs the generator on its own thread so that a slow model never freezes
the window. Every request carries a tag; a request that is replaced before the worker starts
it is never made (that is the debouncing: while one image is being made, slider moves only
overwrite the one waiting request), and a result older than the one on screen is never
painted. The live image goes before the strip, which is made a few images at a time. The worker never touches Qt: it posts
plain arrays to a :class:`~relattr_studio.gui.workers.Mailbox`, polled every millisecond, and
only while something is on its way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QSlider, QWidget

from relattr_studio.gui.imaging import qimage_view, thumbnail_buffers
from relattr_studio.gui.workers import Mailbox

IMAGE, STRIP = "image", "strip"
SLIDER_STEPS = 1000
# torch threads of the generator worker: half the cores. With both of a 2-core machine's cores,
# other work (the GUI thread, a training process) descheduling one OpenMP thread stalled every
# call: slider-to-image p95 went from 18 ms to 306 ms under load (benchmarks/bench_explore.py).
# With OpenMP (torch's CPU backend here) the setting is per thread: other threads keep theirs.
WORKER_TORCH_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
STRIP_PART = 3  # strip images made per generator call, between which a live image may go first


@dataclass(frozen=True)
class Generated:
    """What the worker made for one request (plain data; crosses threads)."""

    kind: str  # IMAGE or STRIP
    tag: int
    epoch: int  # which generator made it (results of a replaced generator are dropped)
    images: np.ndarray | None  # n x S x S x 3 uint8
    buffers: list | None  # the images in Qt's RGB32 layout, ready for qimage_view
    requested: float  # perf_counter() when it was asked for
    seconds: float  # wall-clock time spent generating
    error: str | None = None
    cpu_seconds: float = 0.0  # the worker thread's CPU time generating (what a busy machine does not inflate)

    def pixmaps(self) -> list[QPixmap]:
        """GUI thread only."""
        return [QPixmap.fromImage(qimage_view(b)) for b in self.buffers or []]


@dataclass(frozen=True)
class _Request:
    kind: str
    tag: int
    epoch: int
    y: np.ndarray
    z: np.ndarray
    requested: float


class LiveGenerator(QObject):
    """``request(kind, y, z)`` in; ``ready(Generated)`` out, newest only, on the GUI thread."""

    ready = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._generator = None
        self._epoch = 0
        self._issued = {IMAGE: 0, STRIP: 0}  # GUI thread: the newest tag asked for, per kind
        self._shown = {IMAGE: 0, STRIP: 0}  # GUI thread: the newest tag delivered
        self._waiting: dict[str, _Request | None] = {IMAGE: None, STRIP: None}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._quit = False
        self.mailbox = Mailbox(self, interval_ms=1)
        self.mailbox.received.connect(self._deliver)
        self._thread = threading.Thread(target=self._run, name="relattr-explore-generator", daemon=True)
        self._thread.start()

    @property
    def generator(self):
        return self._generator

    def set_generator(self, generator) -> None:
        """Use ``generator`` from now on; what the previous one is still making is dropped."""
        with self._lock:
            self._generator = generator
            self._epoch += 1
            self._waiting = {IMAGE: None, STRIP: None}
        self._shown = dict(self._issued)

    def request(self, kind: str, y: np.ndarray, z: np.ndarray) -> int:
        """Ask for images of latents ``y`` (n x A) and ``z`` (n x z_dim); returns the request's tag."""
        self._issued[kind] += 1
        tag = self._issued[kind]
        req = _Request(kind, tag, self._epoch, np.array(y, np.float32, ndmin=2), np.array(z, np.float32, ndmin=2),
                       time.perf_counter())
        with self._lock:
            self._waiting[kind] = req  # replaces a request not yet started: it is never made
            self._wake.notify()
        self.mailbox.open()
        return tag

    def pending(self, kind: str | None = None) -> bool:
        """Whether a request (of ``kind``) has not been delivered yet."""
        kinds = (kind,) if kind else (IMAGE, STRIP)
        return any(self._shown[k] < self._issued[k] for k in kinds)

    def close(self) -> None:
        with self._lock:
            self._quit = True
            self._waiting = {IMAGE: None, STRIP: None}
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self.mailbox.close()

    def _run(self) -> None:  # worker thread: no Qt
        strip: tuple[_Request, list, float, float] | None = None  # being made: request, parts, seconds, cpu
        threads_set = False
        while True:
            with self._lock:
                while (not self._quit and strip is None and self._waiting[IMAGE] is None
                       and self._waiting[STRIP] is None):
                    self._wake.wait()
                if self._quit:
                    return
                if self._waiting[STRIP] is not None:  # a newer strip replaces one half made
                    strip, self._waiting[STRIP] = (self._waiting[STRIP], [], 0.0, 0.0), None
                image, self._waiting[IMAGE] = self._waiting[IMAGE], None  # the live image first
                generator = self._generator
            if not threads_set and "torch" in sys.modules:  # the model loaded torch: set this thread's
                sys.modules["torch"].set_num_threads(WORKER_TORCH_THREADS)
                threads_set = True
            if image is not None:
                self.mailbox.post(self._make(generator, image, image.y, image.z)[0])
            elif strip is not None:
                # a strip is made a few images at a time, so that a slider move waits for one
                # part at most, never for the whole strip
                req, parts, seconds, cpu = strip
                k = sum(len(p) for p in parts)
                out, images = self._make(generator, req, req.y[k:k + STRIP_PART], req.z[k:k + STRIP_PART])
                parts.append(images)
                strip = (req, parts, seconds + out.seconds, cpu + out.cpu_seconds)
                if out.error or k + STRIP_PART >= len(req.y):
                    if out.error is None:
                        images = np.concatenate(parts)
                        out = Generated(STRIP, req.tag, req.epoch, images, thumbnail_buffers(images, images.shape[1]),
                                        req.requested, strip[2], cpu_seconds=strip[3])
                    self.mailbox.post(out)
                    strip = None

    @staticmethod
    def _make(generator, req: _Request, y: np.ndarray, z: np.ndarray) -> tuple[Generated, np.ndarray | None]:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            if generator is None:
                raise RuntimeError("no generator is loaded")
            images = np.asarray(generator.generate(y, z), np.uint8)
            seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
            buffers = thumbnail_buffers(images, images.shape[1]) if req.kind == IMAGE else None
            return Generated(req.kind, req.tag, req.epoch, images, buffers, req.requested, seconds,
                             cpu_seconds=cpu), images
        except Exception as err:  # a failing model must not kill the worker: say why instead
            return Generated(req.kind, req.tag, req.epoch, None, None, req.requested, time.perf_counter() - t0,
                             f"{type(err).__name__}: {err}"), None

    def _deliver(self, out: Generated) -> None:
        if out.epoch == self._epoch and out.tag > self._shown[out.kind]:
            self._shown[out.kind] = out.tag
            self.ready.emit(out)
        if not self.pending():
            self.mailbox.close()


class AttributeSliders(QWidget):
    """One slider per attribute over [lo, hi], with its value; ``moved(index, value)`` when the
    person (or a test) moves one, not when :meth:`set_values` does."""

    moved = Signal(int, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(1, 1)
        self.names: list[str] = []
        self.sliders: list[QSlider] = []
        self.value_labels: list[QLabel] = []
        self._lo = np.zeros(0)
        self._hi = np.zeros(0)
        self._mean = np.zeros(0)
        self._sigma = np.zeros(0)

    def set_attributes(self, names, mean, sigma, *, span: float = 3.0) -> None:
        """Sliders for ``names``, each over mean +- span sigma."""
        while self._grid.count():
            self._grid.takeAt(0).widget().deleteLater()
        self.names = list(names)
        self._mean = np.asarray(mean, np.float64)
        self._sigma = np.maximum(np.asarray(sigma, np.float64), 1e-6)
        self._lo, self._hi = self._mean - span * self._sigma, self._mean + span * self._sigma
        self.sliders, self.value_labels = [], []
        for i, name in enumerate(self.names):
            label = QLabel(name.replace("_", " "))
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setSingleStep(5)
            slider.setPageStep(50)
            slider.setToolTip(f"{name}: {self._lo[i]:.2f} to {self._hi[i]:.2f} (prior mean ± {span:g} σ)")
            value = QLabel()
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("-0.00  (+0.0σ)") + 4)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            slider.valueChanged.connect(lambda pos, i=i: self._on_slider(i, pos))
            self._grid.addWidget(label, i, 0)
            self._grid.addWidget(slider, i, 1)
            self._grid.addWidget(value, i, 2)
            self.sliders.append(slider)
            self.value_labels.append(value)
        self.set_values(self._mean)

    def value(self, i: int) -> float:
        return self._to_value(i, self.sliders[i].value())

    def values(self) -> np.ndarray:
        return np.array([self.value(i) for i in range(len(self.sliders))], np.float64)

    def position(self, i: int, value: float) -> int:
        frac = (float(value) - self._lo[i]) / (self._hi[i] - self._lo[i])
        return int(round(min(1.0, max(0.0, frac)) * SLIDER_STEPS))

    def set_values(self, y) -> None:
        """Move every slider to ``y`` (clipped to its range) without emitting ``moved``."""
        for i, v in enumerate(np.asarray(y, np.float64)):
            self.sliders[i].blockSignals(True)
            self.sliders[i].setValue(self.position(i, v))
            self.sliders[i].blockSignals(False)
            self._show_value(i)

    def _to_value(self, i: int, pos: int) -> float:
        return float(self._lo[i] + (self._hi[i] - self._lo[i]) * pos / SLIDER_STEPS)

    def _show_value(self, i: int) -> None:
        v = self.value(i)
        sigmas = round((v - self._mean[i]) / self._sigma[i], 1) or 0.0  # never "-0.0"
        self.value_labels[i].setText(f"{v:.2f}  ({sigmas:+.1f}σ)")

    def _on_slider(self, i: int, _pos: int) -> None:
        self._show_value(i)
        self.moved.emit(i, self.value(i))


class SpectrumStrip(QWidget):
    """A row of images along one attribute, each captioned; ``picked(index)`` on a click."""

    picked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmaps: list[QPixmap] = []
        self._captions: list[str] = []
        self._current: int | None = None
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(900, 150)

    def set_images(self, pixmaps: list[QPixmap], captions: list[str], current: int | None = None) -> None:
        self._pixmaps, self._captions, self._current = list(pixmaps), list(captions), current
        self.update()

    def count(self) -> int:
        return len(self._pixmaps)

    def pixmaps(self) -> list[QPixmap]:
        return list(self._pixmaps)

    def _cells(self) -> list[QRectF]:
        n = len(self._pixmaps)
        if not n:
            return []
        caption_h = self.fontMetrics().height() + 6
        gap = 6.0
        side = max(8.0, min((self.width() - gap * (n - 1)) / n, self.height() - caption_h))
        x0 = (self.width() - n * side - (n - 1) * gap) / 2
        return [QRectF(x0 + i * (side + gap), 0, side, side) for i in range(n)]

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for i, (r, pm) in enumerate(zip(self._cells(), self._pixmaps)):
            p.drawPixmap(r, pm, QRectF(pm.rect()))
            if i == self._current:
                p.setPen(QColor(52, 132, 228))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(r.adjusted(-2, -2, 2, 2))
            p.setPen(text)
            p.drawText(QRectF(r.left() - 4, r.bottom() + 2, r.width() + 8, self.fontMetrics().height() + 4),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                       self._captions[i] if i < len(self._captions) else "")
        p.end()

    def mousePressEvent(self, event) -> None:
        for i, r in enumerate(self._cells()):
            if r.contains(event.position()):
                self.picked.emit(i)
                return
        super().mousePressEvent(event)
