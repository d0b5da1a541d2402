"""The Explore view's live generator worker (Qt): the one piece of Explore's work that needs Qt.

:class:`LiveGenerator` runs the generator on its own thread so that a slow model never freezes
the window. Every request carries a tag; a request that is replaced before the worker starts
it is never made (that is the debouncing: while one image is being made, slider moves only
overwrite the one waiting request), and a result older than the one on screen is never
painted. The live image goes before the strip, which is made a few images at a time. The
worker never touches Qt: it posts plain arrays to a :class:`~relattr_studio.gui.workers.Mailbox`,
polled every millisecond, and only while something is on its way. The plain work (loading a
generator, pairs for the labeling queue) is in :mod:`relattr_studio.analysis.generated_pairs`,
strips as PNG in :mod:`relattr_studio.analysis.spectrum_strip`, the procedural stand-in
generator in :mod:`relattr_studio.modeling.procedural_generator`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QPixmap

from relattr_studio.gui.imaging import qimage_view, thumbnail_buffers
from relattr_studio.gui.workers import Mailbox

# --------------------------------------------------------------------------- the live worker

IMAGE, STRIP = "image", "strip"
# torch threads of the generator worker: half the cores. With both of a 2-core machine's cores,
# other work (the GUI thread, a training process) descheduling one OpenMP thread stalled every
# call: slider-to-image p95 went from 18 ms to 306 ms under load (benchmarks/bench_explore.py).
# With OpenMP (torch's CPU backend here) the setting is per thread: other threads keep theirs.
WORKER_TORCH_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
# Strip images made per generator call, between which a live image may go first. Each call reads
# all the decoder's weights (~9 MB) whatever its batch: on the shipped toy-faces generator one
# image took 6 ms and 8 in one call 17 ms, so parts of 3 made the 9-image strip take 36.6 ms at
# p95 and parts of 4 28.2 ms, while a slider move waits for one part (p95 24.2 -> 21.2 ms).
STRIP_PART = 4


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


def _latent_key(y: np.ndarray, z: np.ndarray) -> bytes:
    return np.asarray(y, np.float32).tobytes() + b"|" + np.asarray(z, np.float32).tobytes()


class _StripWork:
    """A strip being made in parts. The row showing the live image's own latents (the middle
    of a spectrum around it, once the sliders rest) is taken from that image, not made again."""

    def __init__(self, req: _Request, last: tuple[int, bytes, np.ndarray] | None):
        self.req = req
        self.images: dict[int, np.ndarray] = {}
        if last is not None and last[0] == req.epoch:
            for i in range(len(req.y)):
                if _latent_key(req.y[i], req.z[i]) == last[1]:
                    self.images[i] = last[2]
                    break
        self.todo = [i for i in range(len(req.y)) if i not in self.images]
        self.seconds = self.cpu = 0.0

    def add(self, rows: list[int], images: np.ndarray, out: Generated) -> None:
        self.images.update(zip(rows, images))
        self.todo = self.todo[len(rows):]
        self.seconds += out.seconds
        self.cpu += out.cpu_seconds

    def result(self) -> Generated:
        images = np.stack([self.images[i] for i in range(len(self.req.y))])
        return Generated(STRIP, self.req.tag, self.req.epoch, images, thumbnail_buffers(images, images.shape[1]),
                         self.req.requested, self.seconds, cpu_seconds=self.cpu)


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
        strip: _StripWork | None = None  # a strip being made
        last: tuple[int, bytes, np.ndarray] | None = None  # the last live image: epoch, latents, pixels
        threads_set = False
        while True:
            with self._lock:
                while (not self._quit and strip is None and self._waiting[IMAGE] is None
                       and self._waiting[STRIP] is None):
                    self._wake.wait()
                if self._quit:
                    return
                if self._waiting[STRIP] is not None:  # a newer strip replaces one half made
                    strip, self._waiting[STRIP] = _StripWork(self._waiting[STRIP], last), None
                image, self._waiting[IMAGE] = self._waiting[IMAGE], None  # the live image first
                generator = self._generator
            if not threads_set and "torch" in sys.modules:  # the model loaded torch: set this thread's
                sys.modules["torch"].set_num_threads(WORKER_TORCH_THREADS)
                threads_set = True
            if image is not None:
                out, pixels = self._make(generator, image, image.y, image.z)
                if pixels is not None:
                    last = (image.epoch, _latent_key(image.y[0], image.z[0]), pixels[0])
                self.mailbox.post(out)
            elif strip is not None:
                # a strip is made a few images at a time, so that a slider move waits for one
                # part at most, never for the whole strip
                rows = strip.todo[:STRIP_PART]
                out, images = self._make(generator, strip.req, strip.req.y[rows], strip.req.z[rows])
                if out.error is None:
                    strip.add(rows, images, out)
                if out.error or not strip.todo:
                    self.mailbox.post(out if out.error else strip.result())
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
