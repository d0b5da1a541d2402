"""Jobs for the process-runner tests, in a module that imports no Qt: a spawned child that
runs one of these imports only this module (and what the runner's own entry needs)."""

from __future__ import annotations

import sys


def qt_modules_job(*, ctx):
    """The Qt and plotting modules loaded in the process that runs the job."""
    return sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"))
