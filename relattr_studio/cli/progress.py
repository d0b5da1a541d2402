"""Drive a job from the terminal: a progress bar on stderr, Ctrl+C as a clean cancel."""

from __future__ import annotations

import signal
import sys
import time
from typing import Callable, TypeVar

from relattr_studio.core.errors import Cancelled
from relattr_studio.core.jobs import JobContext, Progress
from relattr_studio.training.events import TrainingData

T = TypeVar("T")


class ProgressBar:
    """One line per stage, redrawn in place on a terminal, printed sparsely otherwise."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._stage = None
        # per stage: when it began, its count then, and its last count. A stage that comes back
        # after another one (training after a validation) goes on with its own clock and rate;
        # one that begins a new round restarts: its count goes back, or its last round finished, or
        # its total changed (the test's scoring after the validations' scoring)
        self._starts: dict[str, tuple[float | None, int, int, int | None]] = {}
        self._last_plain = 0.0

    def __call__(self, event: object) -> None:
        if isinstance(event, TrainingData):
            self._say(f"{event.model}: training on {event.real_pairs:,} pairs of dataset images and "
                      f"{event.generated_pairs:,} pairs of generated images"
                      + (f" (labels: {event.labels})" if event.labels else ""))
            return
        if not isinstance(event, Progress):
            return
        if event.stage != self._stage:
            if self._stage is not None and self.tty:
                self.stream.write("\n")
            self._stage = event.stage
        t0, done0, last, total = self._starts.get(event.stage, (None, 0, 0, None))
        new_round = event.done < last or event.total != total or (total is not None and last >= total > 0)
        if t0 is None or new_round:
            t0, done0 = time.monotonic(), event.done
        self._starts[event.stage] = (t0, done0, event.done, event.total)
        elapsed = time.monotonic() - t0
        if event.fraction is not None:
            filled = int(self.width * event.fraction)
            bar = "#" * filled + "-" * (self.width - filled)
            line = f"{event.stage or 'working'}: [{bar}] {event.done}/{event.total} {elapsed:5.1f}s"
            if event.done > done0 and event.done < event.total:  # left, at this stage's rate so far
                line += f" (~{_duration(elapsed / (event.done - done0) * (event.total - event.done))} left)"
        else:
            line = f"{event.stage or 'working'}: {event.done} {elapsed:5.1f}s"
        if event.message:
            line += f"  {event.message}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(80))
            self.stream.flush()
        elif time.monotonic() - self._last_plain > 5 or (event.total and event.done >= event.total):
            self._last_plain = time.monotonic()
            self.stream.write(line + "\n")

    def _say(self, text: str) -> None:
        """A line of its own, between progress lines."""
        if self.tty and self._stage is not None:
            self.stream.write("\n")
            self._stage = None
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._stage is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def run_job(job: Callable[..., T], *args, quiet: bool = False, continue_with: Callable[[str], str] | None = None,
            **kwargs) -> T:
    """Run ``job(*args, ctx=..., **kwargs)``; the first Ctrl+C asks it to stop between steps.

    ``continue_with`` turns the checkpoint a cancelled job kept into the command that continues it,
    which the ``Cancelled`` carries to the one line ``relattr`` prints.
    """
    stop = {"requested": False}

    def on_sigint(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        sys.stderr.write("\nstopping after the current step (Ctrl+C again to abort)\n")

    bar = ProgressBar() if not quiet else None
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        ctx = JobContext(on_event=bar, should_stop=lambda: stop["requested"])
        try:
            return job(*args, ctx=ctx, **kwargs)
        except Cancelled as cancelled:
            if continue_with is not None and cancelled.checkpoint and not cancelled.resume_command:
                cancelled.resume_command = continue_with(cancelled.checkpoint)
            raise
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
