"""The terminal progress bar: a stage keeps its clock across other stages, and says what is left."""

from __future__ import annotations

import io

import pytest

from relattr_studio.cli import progress
from relattr_studio.core.jobs import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def bar(monkeypatch):
    """A bar on a fake terminal (``bar.stream``) with a clock the test moves (``bar.now``)."""
    now = {"t": 100.0}
    monkeypatch.setattr(progress.time, "monotonic", lambda: now["t"])
    bar = progress.ProgressBar(Tty())
    bar.now = now
    return bar


def test_a_stage_that_comes_back_keeps_its_clock_and_rate(bar):
    out, now = bar.stream, bar.now
    bar(Progress(0, 100, "training"))
    now["t"] += 50.0
    bar(Progress(50, 100, "training"))
    assert out.getvalue().split("\r")[-1].rstrip().endswith("50/100  50.0s (~50s left)")
    bar(Progress(1, 3, "validating"))  # another stage between two training reports
    now["t"] += 10.0
    bar(Progress(60, 100, "training"))
    last = out.getvalue().split("\r")[-1]
    assert "60/100  60.0s" in last and "(~40s left)" in last  # not restarted at 0 s


def test_durations_read_as_people_write_them():
    assert progress._duration(42) == "42s"
    assert progress._duration(125) == "2m05s"
    assert progress._duration(7300) == "2h01m"


def test_a_stage_that_starts_a_new_round_restarts_its_clock(bar):
    out, now = bar.stream, bar.now
    bar(Progress(0, 10, "scoring"))
    now["t"] += 5.0
    bar(Progress(10, 10, "scoring"))
    bar(Progress(5, 100, "training"))
    now["t"] += 1000.0  # an hour of training later, the next validation scores again
    bar(Progress(0, 10, "scoring"))
    now["t"] += 2.0
    bar(Progress(5, 10, "scoring"))
    last = out.getvalue().split("\r")[-1]
    assert "5/10   2.0s (~2s left)" in last


def test_a_stage_with_a_new_total_or_after_a_finished_round_restarts_its_clock(bar):
    """The test's scoring (531 images) after the validations' scoring (24) is a new round, even
    though its first count (64) is above the last one (24)."""
    out, now = bar.stream, bar.now
    bar(Progress(0, 24, "scoring"))
    now["t"] += 3.0
    bar(Progress(24, 24, "scoring"))
    bar(Progress(100, 120, "training"))
    now["t"] += 700.0
    bar(Progress(24, 24, "scoring"))  # a whole round reported at once, later
    assert "24/24   0.0s" in out.getvalue().split("\r")[-1]
    now["t"] += 1.0
    bar(Progress(64, 531, "scoring"))
    now["t"] += 4.0
    bar(Progress(128, 531, "scoring"))
    last = out.getvalue().split("\r")[-1]
    assert "128/531   4.0s" in last and "(~25s left)" in last
