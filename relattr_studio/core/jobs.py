"""The job protocol: long work as a plain function that reports progress and can be cancelled.

A job is a callable taking a :class:`JobContext` as its keyword ``ctx``. It calls
``ctx.report(...)`` as it goes and ``ctx.check()`` between steps; ``check`` raises
:class:`~relattr_studio.core.errors.Cancelled` once the caller asked it to stop. The CLI
drives a job with a progress bar, ``gui/workers.py`` on a worker thread; the job knows
neither.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from relattr_studio.core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units (``total`` None when unknown) of a named stage."""

    done: int
    total: int | None
    stage: str = ""
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


EventSink = Callable[[object], None]


class JobContext:
    """What a job sees of its caller: an event sink and a stop flag.

    ``report`` is rate-limited to ``min_interval`` seconds (first and last events always
    pass) so that a tight loop cannot flood a GUI.
    """

    def __init__(
        self,
        on_event: EventSink | None = None,
        should_stop: Callable[[], bool] | None = None,
        min_interval: float = 0.05,
    ):
        self._on_event = on_event
        self._should_stop = should_stop
        self._min_interval = min_interval
        self._last_report = 0.0

    def emit(self, event: object) -> None:
        """Send any plain-data event (progress, metrics, a partial result) to the caller."""
        if self._on_event is not None:
            self._on_event(event)

    def report(self, done: int, total: int | None, stage: str = "", message: str = "") -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and done > 0 and now - self._last_report < self._min_interval:
            return
        self._last_report = now
        self.emit(Progress(done, total, stage, message))

    def stop_requested(self) -> bool:
        return self._should_stop is not None and bool(self._should_stop())

    def check(self) -> None:
        """Raise Cancelled if the caller asked the job to stop. Call between steps."""
        if self.stop_requested():
            raise Cancelled()


NULL_CONTEXT = JobContext()
