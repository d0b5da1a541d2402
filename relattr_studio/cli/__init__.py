"""The ``relattr`` command: datasets, importers, labels, rankers, generators, oracles, experiments.

Every sub-command is a thin front end over an engine function; errors a user can cause (a
RelAttrError, a path the system refuses, a full disk, too little memory, an option out of its
range) are printed as one line (``relattr: error: FILE: problem (what to do)``) with exit status
2, never a traceback; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from relattr_studio import __version__
from relattr_studio.core.errors import Cancelled, DiskFullError, user_error


def build_parser() -> argparse.ArgumentParser:
    from relattr_studio.cli import (
        attic_commands,
        commands,
        experiment_commands,
        generator_commands,
        model_commands,
        oracle_commands,
    )
    from relattr_studio.cli.options import Parser

    parser = Parser(prog="relattr", description="RelAttr Studio on the command line.")
    parser.add_argument("--version", action="version", version=f"relattr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(sub)
    generator_commands.register(sub)
    oracle_commands.register(sub)
    experiment_commands.register(sub)
    attic_commands.register(sub)
    model_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a parse error (one line, already printed: 2), or --help / --version (0)
        return int(stop.code or 0) if not isinstance(stop.code, str) else 2
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
    except KeyboardInterrupt:
        print("relattr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``relattr ... | head``): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as err:  # what a user caused is one line; a bug keeps its traceback
        user = user_error(err)
        if user is None:
            raise
        print(f"relattr: error: {user}", file=sys.stderr)
        if isinstance(user, DiskFullError):  # HDF5 crashes the interpreter's exit after a full disk
            import os

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
