"""Run ``relattr`` command lines in forked children on a simulated small machine, watching memory.

Used by ``test_option_maxima.py``: this process imports the product (and torch) once, then forks
a child per command line, so a case costs its own work and not an interpreter start. Each child
sees ``available_memory()`` report ``--available`` bytes, as if the machine had only that much
free, and runs ``relattr_studio.cli.main``; this parent samples the resident memory of the
child's whole process tree every 20 ms and kills it when it passes what was available (the case
failed: its arguments alone would exhaust such a machine) or when it has run ``--seconds`` within
its memory (the case passed: the work started and stays within bounds; the rest is only time).

Reads a JSON list of argv lists on stdin; prints one JSON object per case on stdout:
``{"argv", "outcome": "exit"|"running"|"over memory", "code", "peak", "stderr"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 once gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def _kill_tree(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _child(argv: list[str], available: int, log: Path) -> None:
    os.setpgid(0, 0)  # its own group: the parent kills what it started too
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from relattr_studio.core import resources

    resources.available_memory = lambda: available
    code = 1
    try:
        from relattr_studio.cli import main

        code = main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 2
    except BaseException:  # a bug: its traceback goes to the log, where the test reads it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--available", type=int, required=True, help="bytes the children are told are available")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--parallel", type=int, default=2)
    opts = ap.parse_args()
    cases = json.load(sys.stdin)

    # Import what the commands use, once, before any fork (no torch op runs here: no thread pool).
    import torch  # noqa: F401

    import relattr_studio.cli.commands  # noqa: F401
    import relattr_studio.training.job  # noqa: F401
    from relattr_studio.cli import build_parser

    build_parser()
    baseline = _rss(os.getpid())
    cap = baseline + opts.available
    logs = Path(tempfile.mkdtemp(prefix="relattr-maxima-"))
    waiting = list(enumerate(cases))
    running: dict[int, dict] = {}
    while waiting or running:
        while waiting and len(running) < opts.parallel:
            i, argv = waiting.pop(0)
            log = logs / f"{i}.log"
            pid = os.fork()
            if pid == 0:
                _child(argv, opts.available, log)
            running[pid] = {"argv": argv, "start": time.monotonic(), "peak": 0, "log": log}
        time.sleep(0.02)
        for pid, case in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            outcome = code = None
            if done:
                outcome, code = "exit", os.waitstatus_to_exitcode(status)
            else:
                case["peak"] = max(case["peak"], _rss(pid))
                if case["peak"] > cap:
                    outcome = "over memory"
                elif time.monotonic() - case["start"] > opts.seconds:
                    outcome = "running"
                if outcome:
                    _kill_tree(pid)
                    os.waitpid(pid, 0)
            if outcome:
                del running[pid]
                print(json.dumps({"argv": case["argv"], "outcome": outcome, "code": code,
                                  "peak": max(0, case["peak"] - baseline),
                                  "stderr": case["log"].read_text(errors="replace")[-4000:]}), flush=True)
                case["log"].unlink(missing_ok=True)
    logs.rmdir()


if __name__ == "__main__":
    main()
