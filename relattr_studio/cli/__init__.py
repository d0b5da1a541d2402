"""The ``relattr`` command: datasets, importers, labels, rankers, generators, oracles, experiments.

Every sub-command is a thin front end over an engine function; errors a user can cause are
printed as one line (``relattr: error: FILE: problem``) with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from relattr_studio import __version__
from relattr_studio.core.errors import Cancelled, RelAttrError


def build_parser() -> argparse.ArgumentParser:
    from relattr_studio.cli import commands, experiment_commands, generator_commands, model_commands, oracle_commands

    parser = argparse.ArgumentParser(
        prog="relattr", description="RelAttr Studio on the command line.",
    )
    parser.add_argument("--version", action="version", version=f"relattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(sub)
    generator_commands.register(sub)
    oracle_commands.register(sub)
    experiment_commands.register(sub)
    model_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Cancelled as stop:
        kept = "; nothing was written"
        if stop.checkpoint:
            kept = f"; checkpoint kept: {stop.checkpoint}"
            if stop.resume_command:
                kept += f" (continue with: {stop.resume_command})"
        print(f"relattr: {stop}{kept}", file=sys.stderr)
        return 130
    except RelAttrError as err:
        print(f"relattr: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relattr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``relattr ... | head``): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
