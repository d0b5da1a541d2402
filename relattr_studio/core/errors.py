"""Errors a user can cause. Front ends print ``str(err)``, never a traceback."""

from __future__ import annotations

from pathlib import Path


class RelAttrError(Exception):
    """Base class for every error the product reports to a user as a message."""


class DataFileError(RelAttrError):
    """A file given by the user cannot be read: says which file, what is wrong, what to do."""

    def __init__(self, path: str | Path, problem: str, hint: str = ""):
        self.path = Path(path)
        self.problem = problem
        self.hint = hint
        message = f"{self.path}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class Cancelled(RelAttrError):
    """A job stopped because its caller asked it to.

    ``checkpoint`` names the file the job kept to resume from (None: nothing was written);
    ``resume_command``, where the front end that ran the job knows it, how to continue.
    """

    def __init__(self, message: str = "cancelled", *, checkpoint: str | None = None,
                 resume_command: str | None = None):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.resume_command = resume_command
