"""The job protocol: long work as a plain function that reports progress and can be cancelled.

A job is a callable taking a :class:`JobContext` as its keyword ``ctx``. It calls
``ctx.report(...)`` as it goes and ``ctx.check()`` between steps; ``check`` raises
:class:`~relattr_studio.core.errors.Cancelled` once the caller asked it to stop. The CLI
drives a job with a progress bar, ``gui/workers.py`` on a worker thread; the job knows
neither.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from relattr_studio.core.errors import Cancelled, RelAttrError


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


def run_job(job: Callable[..., Any], kwargs: dict, stop: Any, post: Callable[[tuple], None]) -> None:
    """A runner's worker body (thread or process): run the job, post its events and how it ended.

    ``post`` receives ``("event", event)`` for each event, then one of ``("finished", result)``,
    ``("failed", message)`` or ``("cancelled", None)``.
    """
    ctx = JobContext(on_event=lambda event: post(("event", event)), should_stop=stop.is_set)
    try:
        result = job(ctx=ctx, **kwargs)
    except Cancelled:
        post(("cancelled", None))
    except RelAttrError as err:
        post(("failed", str(err)))
    except MemoryError:
        post(("failed", "Out of memory: the job needs more memory than is free."))
    except Exception as err:  # a bug, not the user's doing: keep the traceback for the log
        traceback.print_exc(file=sys.stderr)
        post(("failed", f"Unexpected error ({type(err).__name__}): {err}"))
    else:
        post(("finished", result))


def run_job_in_process(job: Callable[..., Any], kwargs: dict, stop: Any, events: Any) -> None:
    """A child process's body: lower its priority first (the window keeps the CPU), then run the job.

    It lives here, in a module without Qt, so that a spawned child imports neither Qt nor
    pyqtgraph: only the job's own module.
    """
    try:
        os.nice(5)
    except (AttributeError, OSError):  # not on this platform, or not allowed: run as is
        pass
    run_job(job, kwargs, stop, events.put)
