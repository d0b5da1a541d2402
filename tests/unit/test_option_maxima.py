"""No command can exhaust the machine's memory from its arguments alone.

Every numeric option of every command is tried at the largest value its range allows, alone and
all together per command, on a simulated machine with 2 GB available (``_maxima_runner``). A case
passes when the command refuses with one message and exit 2, finishes, or is still working within
its memory after a few seconds (the rest is only time); it fails when its memory passes what was
available, or when it ends in a traceback. The cases are read off the parser, so an option added
later is tried too (one added without a range fails ``test_option_fuzz``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relattr_studio.cli import build_parser, main

AVAILABLE = 2 * 2**30  # the simulated machine's free memory

# A command line that works for each command, the option under test appended to it.
BASE = {
    "make": "make toy-faces {tmp}/out.h5 --quiet",
    "labels simulate": "labels simulate --store {tmp}/s.sqlite --dataset {dataset} --quiet",
    "train": "train --dataset {dataset} --out {tmp}/run --quiet",
    "eval": "eval --checkpoint {ckpt} --dataset {dataset} --quiet",
    "generator train": "generator train --dataset {dataset} --out {tmp}/g.pt --quiet",
    "spectrum": "spectrum --model toy-faces --attribute smiling {tmp}/s.png",
    "oracle train": "oracle train --dataset {dataset} --out {tmp}/o.pt --quiet",
    "oracle score": "oracle score --model toy-faces --dataset {dataset}",
    "oracle faithfulness": "oracle faithfulness --generator toy-faces --model toy-faces",
    "experiment semantic-jitter": "experiment semantic-jitter --dataset {dataset} --out {tmp}/j --quiet",
    "experiment attic": "experiment attic --dataset {dataset} --attribute smiling --active --out {tmp}/a --quiet",
    "attic round": "attic round --dataset {dataset} --ranker {ckpt} --generator toy-faces --store {tmp}/s.sqlite "
                   "--attribute smiling --quiet",
}
# Options that only act with another one: given with it.
WITH = {
    ("train", "--c"): "--ranker ranksvm",
    ("train", "--k"): "--ranker ranksvm-ll",
    ("train", "--test-sample"): "--ranker ranksvm-ll",
    ("labels simulate", "--pairs"): "--generator toy-faces",
}


# Options whose largest value is refused together with another's default (the first of several
# seeds at the largest seed): tried alone only.
APART = {"--first-seed"}


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, parser) of every leaf command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(prefix), parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, (*prefix, name))


def _bounded_options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.option_strings and hasattr(a.type, "bound")]


def _single_cases() -> list[tuple[str, str, str]]:
    """(command, case id, command line with placeholders): every bounded option at its largest."""
    cases = []
    for command, parser in _commands(build_parser()):
        for action in _bounded_options(parser):
            base = BASE[command]  # a KeyError here: a new command with numbers needs a BASE line
            flag = action.option_strings[-1]
            setting = f"{flag} {action.type.bound.largest}"
            extra = WITH.get((command, flag), "")
            cases.append((command, f"{command} {setting}", f"{base} {extra} {setting}".strip()))
    return cases


def _together_cases(single: list[tuple[str, str, str]], refused: set[str]) -> list[tuple[str, str, str]]:
    """Per command, every option at its largest at once, of those accepted alone without another
    option's help (one refused alone says why by itself; together it would hide the others)."""
    settings: dict[str, list[str]] = {}
    for command, name, _ in single:
        setting = name.removeprefix(command).strip()
        flag = setting.split()[0]
        if name not in refused and (command, flag) not in WITH and flag not in APART:
            settings.setdefault(command, []).append(setting)
    return [(command, f"{command} all at their largest", f"{BASE[command]} {' '.join(every)}")
            for command, every in settings.items() if len(every) > 1]


def test_every_command_with_numbers_has_a_base_line():
    assert len(_single_cases()) >= 60


def _run(cases: list[tuple[str, str, str]], root: Path, fill: dict) -> dict[str, dict]:
    """Each case's result from ``_maxima_runner`` by case id (each case in a folder of its own)."""
    lines = []
    for _, name, line in cases:
        tmp = root / name.replace(" ", "_").replace("-", "")
        tmp.mkdir()
        lines.append(line.format(tmp=tmp, **fill).split())
    env = {**os.environ, "RELATTR_DATA_DIR": str(root / "data"), "RELATTR_CONFIG_DIR": str(root / "config")}
    proc = subprocess.run([sys.executable, "-m", "tests.unit._maxima_runner", "--available", str(AVAILABLE),
                           "--seconds", "4", "--parallel", "2"],
                          input=json.dumps(lines), capture_output=True, text=True, timeout=1500, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    by_argv = {" ".join(r["argv"]): r for r in map(json.loads, proc.stdout.splitlines())}
    return {name: by_argv[" ".join(argv)] for (_, name, _), argv in zip(cases, lines)}


@pytest.fixture(scope="module")
def maxima_results(tmp_path_factory, toy240):
    root = tmp_path_factory.mktemp("maxima")
    run = root / "trained"
    assert main(["train", "--dataset", str(toy240), "--attribute", "smiling", "--steps", "2", "--width", "4",
                 "--image-size", "32", "--out", str(run), "--quiet"]) == 0
    fill = {"dataset": toy240, "ckpt": next(run.glob("*.ckpt"))}
    single = _single_cases()
    results = _run(single, root, fill)
    refused = {name for name, r in results.items() if r["outcome"] == "exit" and r["code"] == 2}
    return results | _run(_together_cases(single, refused), root, fill)


@pytest.mark.slow
def test_no_option_at_its_largest_exhausts_memory_or_ends_in_a_traceback(maxima_results):
    failures, outcomes = [], {}
    for name, result in maxima_results.items():
        err = result["stderr"]
        kind = result["outcome"] if result["outcome"] != "exit" else f"exit {result['code']}"
        last = err.strip().splitlines()[-1][:80] if err.strip() else ""
        print(f"{name:55s} {kind:12s} {result['peak'] / 2**20:6.0f} MB  {last}")  # shown with pytest -s
        outcomes.setdefault(kind, []).append(name)
        if result["outcome"] == "over memory":
            failures.append(f"{name}: passed {AVAILABLE / 2**30:.0f} GB of memory")
        elif result["outcome"] == "exit" and result["code"] not in (0, 2):
            failures.append(f"{name}: exit {result['code']}\n{err}")
        elif "Traceback" in err:
            failures.append(f"{name}: traceback\n{err}")
        elif result["code"] == 2:
            errors = [ln for ln in err.splitlines() if "error" in ln]
            if len(errors) != 1:
                failures.append(f"{name}: refused without one message\n{err}")
    summary = "\n".join(f"{kind}: {len(names)}" for kind, names in sorted(outcomes.items()))
    print(summary)
    assert not failures, "\n\n".join(failures) + "\n\n" + summary
