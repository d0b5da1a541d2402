"""The one place that runs jobs on a thread.

A job is a plain callable ``job(ctx=JobContext, **kwargs)`` from the engine (see
``relattr_studio.core.jobs``). :class:`JobRunner` runs it on a worker thread and turns what it
reports into Qt signals on the GUI thread. Only plain data crosses: the events the job emits,
its return value, and an error message.

Worker threads never touch Qt: they put plain data into a :class:`Mailbox`, and a GUI-thread
timer delivers it as signals. That keeps the engine's threads free of Qt objects: no
cross-thread signal emission, no Qt calls off the GUI thread.
"""

from __future__ import annotations

import queue
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from relattr_studio.core.errors import Cancelled, RelAttrError
from relattr_studio.core.jobs import JobContext, Progress


class Mailbox(QObject):
    """Plain data posted from any thread, delivered as ``received(item)`` on the GUI thread.

    The GUI thread polls a queue every ``interval_ms`` while the mailbox is open; opening and
    closing happen on the GUI thread.
    """

    received = Signal(object)

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 8):
        super().__init__(parent)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
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


def _run_job(job: Callable[..., Any], kwargs: dict, stop: threading.Event, mailbox: Mailbox) -> None:
    """Worker thread body: run the job, post its events and how it ended. No Qt here."""
    ctx = JobContext(on_event=lambda event: mailbox.post(("event", event)), should_stop=stop.is_set)
    try:
        result = job(ctx=ctx, **kwargs)
    except Cancelled:
        mailbox.post(("cancelled", None))
    except RelAttrError as err:
        mailbox.post(("failed", str(err)))
    except MemoryError:
        mailbox.post(("failed", "Out of memory: the job needs more memory than is free."))
    except Exception as err:  # a bug, not the user's doing: keep the traceback for the log
        traceback.print_exc(file=sys.stderr)
        mailbox.post(("failed", f"Unexpected error ({type(err).__name__}): {err}"))
    else:
        mailbox.post(("finished", result))


class JobRunner(QObject):
    """Runs one job at a time on a worker thread.

    Signals (all on the GUI thread): ``progress(Progress)``, ``event(object)`` for any other
    event, ``finished(result)``, ``failed(message)``, ``cancelled()`` and, after any of the
    three, ``ended()``.
    """

    progress = Signal(object)
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mailbox = Mailbox(self)
        self._mailbox.received.connect(self._on_item)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, job: Callable[..., Any], **kwargs: Any) -> None:
        """Run ``job(ctx=..., **kwargs)`` on a new worker thread."""
        if self._thread is not None:
            raise RuntimeError("a job is already running on this runner")
        self._stop.clear()
        name = getattr(job, "__name__", "job")
        self._thread = threading.Thread(target=_run_job, args=(job, kwargs, self._stop, self._mailbox),
                                        name=f"relattr-job-{name}", daemon=True)
        self._mailbox.open()
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop; it raises Cancelled at its next ``ctx.check()``."""
        self._stop.set()

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the worker thread ends (shutdown). Its signals still need the event loop."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _on_item(self, item: tuple) -> None:
        kind, payload = item
        if kind == "event":
            if isinstance(payload, Progress):
                self.progress.emit(payload)
            else:
                self.event.emit(payload)
            return
        thread, self._thread = self._thread, None
        self._mailbox.close()
        if thread is not None:
            thread.join()
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
