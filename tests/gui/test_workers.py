"""JobRunner in a spawned process: events, result, cancel within a step, a child that dies."""

from __future__ import annotations

import os
import time

from relattr_studio.core.errors import RelAttrError
from relattr_studio.gui.workers import JobRunner


def counting_job(*, ctx, steps: int, delay: float = 0.0):
    for i in range(steps):
        ctx.check()
        time.sleep(delay)
        ctx.report(i + 1, steps, "counting")
    return {"steps": steps, "pid": os.getpid()}


def failing_job(*, ctx):
    raise RelAttrError("the dataset has no train pairs")


def dying_job(*, ctx):
    os._exit(3)  # as a crash in native code would end it


def _run(qtbot, runner, job, **kwargs):
    seen = {"progress": [], "ended": []}
    runner.progress.connect(seen["progress"].append)
    runner.finished.connect(lambda r: seen["ended"].append(("finished", r)))
    runner.failed.connect(lambda m: seen["ended"].append(("failed", m)))
    runner.cancelled.connect(lambda: seen["ended"].append(("cancelled", None)))
    with qtbot.waitSignal(runner.ended, timeout=60_000):
        runner.start(job, **kwargs)
    return seen


def test_process_job_reports_progress_and_its_result(qtbot):
    runner = JobRunner(in_process=True)
    seen = _run(qtbot, runner, counting_job, steps=5, delay=0.05)
    kind, result = seen["ended"][0]
    assert kind == "finished" and result["steps"] == 5
    assert result["pid"] != os.getpid()  # it really ran elsewhere
    assert seen["progress"][-1].done == 5 and not runner.running


def test_process_job_cancels_between_steps(qtbot):
    runner = JobRunner(in_process=True)
    with qtbot.waitSignal(runner.ended, timeout=60_000):
        runner.start(counting_job, steps=10_000, delay=0.01)
        qtbot.waitSignal(runner.progress, timeout=30_000).wait()
        runner.cancel()
    assert not runner.running


def test_process_failures_are_messages(qtbot):
    seen = _run(qtbot, JobRunner(in_process=True), failing_job)
    assert seen["ended"] == [("failed", "the dataset has no train pairs")]
    seen = _run(qtbot, JobRunner(in_process=True), dying_job)
    kind, message = seen["ended"][0]
    assert kind == "failed" and "exit code 3" in message


def test_process_child_imports_no_qt_and_is_reaped(qtbot):
    from tests.qtfree_jobs import qt_modules_job

    runner = JobRunner(in_process=True)
    seen = _run(qtbot, runner, qt_modules_job)
    assert seen["ended"] == [("finished", [])]  # the child never loaded Qt or pyqtgraph
    # ended came without waiting for the child's interpreter to exit; the watchdog reaps it
    qtbot.waitUntil(lambda: not runner._exiting, timeout=30_000)
    assert runner.wait(1.0)
