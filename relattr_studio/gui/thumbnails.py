"""Thumbnails for huge image grids: read in batches on a worker thread, newest request first.

The grid's model asks for the images it is painting; :class:`ThumbnailLoader` keeps only the
most recent requests (a fast scroll drops the rows it flew past), reads them from the dataset
file in sorted batches, fits them to the thumbnail size and packs them into Qt's 32-bit pixel
layout with numpy, and posts the plain arrays to a :class:`~relattr_studio.gui.workers.Mailbox`.
All the per-pixel work happens here: the GUI thread only wraps each array in a QImage (no
copy, no conversion) and paints it. The worker thread never touches Qt (see ``workers.py``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from relattr_studio.gui.imaging import thumbnail_buffers
from relattr_studio.gui.workers import Mailbox


class ThumbnailLoader:
    """``request(indices)`` in; ``mailbox.received((size, indices, [h x w uint32 RGB32]))`` out."""

    def __init__(self, dataset, *, size: int = 64, batch: int = 24, max_pending: int = 600):
        self.mailbox = Mailbox(interval_ms=8)
        self.mailbox.received.connect(self._maybe_close)
        self._dataset = dataset  # its HDF5 handle is already open; h5py serialises access
        self.size = size
        self._batch = batch
        self._max_pending = max_pending
        self._pending: OrderedDict[int, None] = OrderedDict()
        self._busy = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._quit = False
        # Set while the GUI thread is not painting. A frame paints ~100 cells, each a call
        # back into Python that must win the GIL; a worker running Python meanwhile makes
        # every one of them wait up to a switch interval. So the worker parks between
        # images while a frame is painted.
        self._gui_free = threading.Event()
        self._gui_free.set()
        self._thread = threading.Thread(target=self._run, name="relattr-thumbnails", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, indices) -> None:
        """Ask for thumbnails (GUI thread); the newest are served first, the oldest dropped."""
        with self._lock:
            for i in indices:
                i = int(i)
                self._pending.pop(i, None)
                self._pending[i] = None
            while len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)
            self._wake.notify()
        self.mailbox.open()

    @contextmanager
    def gui_busy(self):
        """GUI thread: the worker pauses between images for the duration (paints, deliveries)."""
        self._gui_free.clear()
        try:
            yield
        finally:
            self._gui_free.set()

    def forget(self) -> None:
        with self._lock:
            self._pending.clear()

    def idle(self) -> bool:
        with self._lock:
            return not self._pending and not self._busy and self.mailbox.empty()

    def stop(self) -> None:
        with self._lock:
            self._quit = True
            self._pending.clear()
            self._wake.notify()
        self._gui_free.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self.mailbox.close()

    def _maybe_close(self, _item) -> None:
        if self.idle():
            self.mailbox.close()

    def _run(self) -> None:  # worker thread: no Qt
        while True:
            with self._lock:
                self._busy = False
                while not self._pending and not self._quit:
                    self._wake.wait()
                if self._quit:
                    return
                take = min(self._batch, len(self._pending))
                indices = [self._pending.popitem(last=True)[0] for _ in range(take)]
                size = self.size
                self._busy = True
            indices = np.array(sorted(indices), dtype=np.int64)
            try:
                batch = []
                for start in range(0, len(indices), 4):
                    self._gui_free.wait(0.1)  # never forever: a lost set() must not stall loading
                    batch.append(self._dataset.images(indices[start:start + 4]))
                self._gui_free.wait(0.1)
                buffers = thumbnail_buffers(np.concatenate(batch), size)
            except Exception:  # a broken chunk must not kill the grid: leave placeholders
                continue
            self.mailbox.post((size, indices, buffers))
            time.sleep(0.001)  # hand the GIL back so the GUI thread paints between batches
