"""The one place that runs jobs in the background: on a worker thread, or in a process.

A job is a plain callable ``job(ctx=JobContext, **kwargs)`` from the engine (see
``relattr_studio.core.jobs``). :class:`JobRunner` runs it and turns what it reports into Qt
signals on the GUI thread. Only plain data crosses: the events the job emits, its return
value, and an error message.

Worker threads never touch Qt: they put plain data into a :class:`Mailbox`, and a GUI-thread
timer delivers it as signals. That keeps the engine's threads free of Qt objects: no
cross-thread signal emission, no Qt calls off the GUI thread.

Long CPU-bound jobs (training) run in a *process* instead (``JobRunner(in_process=True)``):
a thread shares the interpreter lock with the GUI, and Python work in the training loop
(batching, the torch import itself) stalled the event loop for up to 0.8 s on a 2-core
machine. A spawned child at lower priority cannot hold the GUI's lock; its events arrive
through a multiprocessing queue the same mailbox drains. The job and its keyword arguments
must then be picklable (module-level functions, plain dataclasses).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from relattr_studio.core.jobs import Progress, run_job, run_job_in_process


class Mailbox(QObject):
    """Plain data posted from any thread, delivered as ``received(item)`` on the GUI thread.

    The GUI thread polls a queue every ``interval_ms`` while the mailbox is open; opening and
    closing happen on the GUI thread.
    """

    received = Signal(object)

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 8, source: Any = None):
        super().__init__(parent)
        # any queue with put / get_nowait raising queue.Empty: a thread's, or a process's
        self._queue = source if source is not None else queue.SimpleQueue()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)

    def post(self, item: object) -> None:  # any thread
        self._queue.put(item)

    def open(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def close(self) -> None:
        self._timer.stop()

    @property
    def is_open(self) -> bool:
        return self._timer.isActive()

    def empty(self) -> bool:
        return self._queue.empty()

    def drain(self) -> None:
        """Deliver everything posted so far (the timer calls this; tests may too)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            self.received.emit(item)


class JobRunner(QObject):
    """Runs one job at a time on a worker thread, or in a spawned process (``in_process``).

    Signals (all on the GUI thread): ``progress(Progress)``, ``event(object)`` for any other
    event, ``finished(result)``, ``failed(message)``, ``cancelled()`` and, after any of the
    three, ``ended()``. A process that dies without saying how it ended is reported as failed.
    """

    progress = Signal(object)
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, parent: QObject | None = None, *, in_process: bool = False):
        super().__init__(parent)
        self.in_process = in_process
        self._worker: threading.Thread | multiprocessing.process.BaseProcess | None = None
        self._stop: Any = threading.Event()
        self._mailbox: Mailbox | None = None
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(250)
        self._watchdog.timeout.connect(self._check_process)
        self._exiting: list = []  # processes that said how they ended, not yet exited

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, job: Callable[..., Any], **kwargs: Any) -> None:
        """Run ``job(ctx=..., **kwargs)`` in the background."""
        if self._worker is not None:
            raise RuntimeError("a job is already running on this runner")
        name = f"relattr-job-{getattr(job, '__name__', 'job')}"
        if self.in_process:
            mp = multiprocessing.get_context("spawn")  # never fork a process that runs Qt
            self._stop, events = mp.Event(), mp.Queue()
            self._worker = mp.Process(target=run_job_in_process, args=(job, kwargs, self._stop, events),
                                      name=name, daemon=True)
            self._mailbox = Mailbox(self, source=events)
        else:
            self._stop = threading.Event()
            self._mailbox = Mailbox(self)
            self._worker = threading.Thread(target=run_job, args=(job, kwargs, self._stop, self._mailbox.post),
                                            name=name, daemon=True)
        self._mailbox.received.connect(self._on_item)
        self._mailbox.open()
        self._worker.start()
        if self.in_process:
            self._watchdog.start()

    def cancel(self) -> None:
        """Ask the job to stop; it raises Cancelled at its next ``ctx.check()``."""
        self._stop.set()

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the worker ends (shutdown). Its signals still need the event loop."""
        deadline = time.monotonic() + timeout
        for worker in [w for w in (self._worker, *self._exiting) if w is not None]:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(w.is_alive() for w in (self._worker, *self._exiting) if w is not None)

    def _check_process(self) -> None:
        self._exiting = [p for p in self._exiting if p.is_alive()]  # is_alive() reaps an exited child
        worker = self._worker
        if worker is None and not self._exiting:
            self._watchdog.stop()
        if worker is None or worker.is_alive():
            return
        self._mailbox.drain()  # its last words may still be queued
        if self._worker is worker:  # it ended without saying how
            self._on_item(("failed", f"The training process stopped unexpectedly (exit code {worker.exitcode})."))

    def _on_item(self, item: tuple) -> None:
        kind, payload = item
        if kind == "event":
            if isinstance(payload, Progress):
                self.progress.emit(payload)
            else:
                self.event.emit(payload)
            return
        worker, self._worker = self._worker, None
        if not self._exiting:
            self._watchdog.stop()
        mailbox, self._mailbox = self._mailbox, None
        if mailbox is not None:
            mailbox.close()
            mailbox.received.disconnect(self._on_item)
            mailbox.deleteLater()
        if isinstance(worker, threading.Thread):
            worker.join(5.0)  # it has posted its last item: returning
        elif worker is not None:
            # a process still has to shut its interpreter down (torch's teardown: up to seconds);
            # never wait for that on the GUI thread, reap it from the watchdog
            self._exiting.append(worker)
            self._watchdog.start()
        if kind == "finished":
            self.finished.emit(payload)
        elif kind == "failed":
            self.failed.emit(str(payload))
        else:
            self.cancelled.emit()
        self.ended.emit()


class ProgressPanel(QWidget):
    """A stage label, a progress bar and a Cancel button that follow a :class:`JobRunner`."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel("Starting…")
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(row)
        runner.progress.connect(self.show_progress)
        runner.ended.connect(lambda: self.cancel_button.setEnabled(False))

    def show_progress(self, p: Progress) -> None:
        text = p.stage.capitalize() if p.stage else "Working"
        if p.message:
            text += f": {p.message}"
        if p.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * (p.fraction or 0.0)))
            self.bar.setFormat(f"{p.done:,} / {p.total:,}  (%p%)")
        else:
            self.bar.setRange(0, 0)
        self.label.setText(text)

    def _cancel(self) -> None:
        self.label.setText("Cancelling…")
        self.cancel_button.setEnabled(False)
        self.runner.cancel()


class JobProgressDialog(QDialog):
    """A window-modal dialog showing a running job; it closes itself when the job ends.

    Closing it (Escape, the window's close button) cancels the job.
    """

    def __init__(self, runner: JobRunner, title: str, intro: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(440)
        self.runner = runner
        layout = QVBoxLayout(self)
        if intro:
            heading = QLabel(intro)
            heading.setWordWrap(True)
            heading.setStyleSheet("font-weight: 600;")
            layout.addWidget(heading)
        self.panel = ProgressPanel(runner, self)
        layout.addWidget(self.panel)
        runner.ended.connect(self.accept)

    def reject(self) -> None:  # Escape / close: cancel, close once the job has stopped
        if self.runner.running:
            self.panel._cancel()
        else:
            super().reject()
