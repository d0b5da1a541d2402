"""Errors a user can cause. Front ends print ``str(err)``, never a traceback."""

from __future__ import annotations

import errno
import re
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


class DiskFullError(DataFileError):
    """A file could not be written because its disk is full. The CLI ends the process at once
    after saying so: HDF5 crashed the interpreter at exit (SIGSEGV) once a write of it had
    failed on a full disk, whatever was closed before."""


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


# What the operating system's refusals mean to a user, and what to do about each.
_OS_REASONS = {
    errno.ENOENT: ("does not exist", "check the path"),
    **dict.fromkeys((errno.EACCES, errno.EPERM),
                    ("permission denied", "choose a file or folder you may use, or change its permissions")),
    errno.EROFS: ("is on a read-only file system", "choose a folder you can write"),
    errno.ENOSPC: ("the disk is full", "free some space, or write to another disk"),
    errno.EDQUOT: ("the disk quota is used up", "free some space, or write to another disk"),
    errno.EFBIG: ("the file would be too large for its file system", "write to another disk"),
    errno.EEXIST: ("already exists", "remove it, or choose another name"),
    errno.EISDIR: ("is a folder, not a file", "name a file"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.ENOTEMPTY: ("the folder is not empty", "choose an empty or new folder"),
    errno.EMFILE: ("too many files are open", "close some programs and try again"),
}
_H5_DETAIL = re.compile(r"name = '(?P<name>[^']*)'.*?errno = (?P<errno>\d+)", re.S)


def user_error(err: BaseException) -> RelAttrError | None:
    """The message a user should see for an error their input or machine caused (a path they may
    not use, a full disk, too little memory), as a RelAttrError naming the file and what to do;
    None for anything else (a bug, which keeps its traceback).

    h5py reports the operating system's error inside its own message ("unable to open file: name
    = 'x.h5', errno = 13, ..."): its file name and errno are read from there."""
    if isinstance(err, RelAttrError):
        return err
    if isinstance(err, MemoryError):
        return RelAttrError("not enough memory for this work (" + (str(err) or "MemoryError")[:160]
                            + "); ask for less (fewer or smaller images, a smaller batch), or close other programs")
    if isinstance(err, OSError):
        code, name = err.errno, err.filename
        if code is None and (m := _H5_DETAIL.search(str(err))):
            code, name = int(m["errno"]), m["name"]
        if code not in _OS_REASONS:
            return None
        problem, hint = _OS_REASONS[code]
        if code in (errno.ENOSPC, errno.EDQUOT):
            return DiskFullError(name if name is not None else "a file", problem, hint)
        where = f"{name}" if name is not None else "a file"
        if getattr(err, "filename2", None):
            where += f" -> {err.filename2}"
        return RelAttrError(f"{where}: {problem} ({hint})")
    return None
