"""Where the product keeps user data and settings (platform directories, overridable)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

APP_NAME = "RelAttrStudio"


def data_dir() -> Path:
    """User data directory; ``RELATTR_DATA_DIR`` overrides it (tests, portable installs)."""
    override = os.environ.get("RELATTR_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    override = os.environ.get("RELATTR_CONFIG_DIR")
    path = Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_dataset_path() -> Path:
    """The embedded toy-faces dataset, made on first run."""
    return data_dir() / "datasets" / "toy-faces.h5"


def default_label_store_path() -> Path:
    return data_dir() / "labels.sqlite"


_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")
# A write that fails with less than this free beside its file is reported as a full disk.
LOW_SPACE = 64 * 2**20


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_orphaned_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files ``.<name>.<pid>.tmp`` that writers of ``path`` killed mid-write
    left beside it (their process is gone); returns what was removed.

    A writer alive (this process included) keeps its file: it may be writing it now. Where
    processes cannot be asked (not POSIX), only files older than a day go.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:  # no folder (yet), or one we may not list: nothing of ours to clean
        return removed
    for entry in entries:
        m = _TMP.match(entry.name)
        if not m or m["name"] != path.name or int(m["pid"]) == os.getpid():
            continue
        pid = int(m["pid"])
        try:
            stale = not _alive(pid) if os.name == "posix" else time.time() - entry.stat().st_mtime > 86400
            if stale:
                entry.unlink(missing_ok=True)
                removed.append(entry)
        except OSError:
            continue
    return removed


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are one file on disk (by device and inode, so links and other
    spellings of a path count); False where either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_inputs(out: str | Path, *inputs: str | Path | None, what: str = "the output") -> None:
    """A RelAttrError when ``out`` is one of ``inputs`` (the same file, however spelled), or
    lies inside an input folder's own files: writing it would destroy what is being read."""
    from relattr_studio.core.errors import RelAttrError

    for given in inputs:
        if given is not None and same_file(out, given):
            raise RelAttrError(f"{out}: {what} is the input {given}; writing it would destroy the input "
                               "(choose another output file)")


def check_free_space(out: str | Path, needed: int, *, what: str = "it") -> None:
    """A DiskFullError before any work when the disk of ``out`` has less than ``needed`` bytes
    free (an estimate the caller knows beforehand, such as a dataset's images uncompressed)."""
    from relattr_studio.core.errors import DiskFullError

    folder = Path(out).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = _free_bytes(folder)
    if free is not None and free < needed:
        raise DiskFullError(out, f"{what} needs about {needed / 2**20:,.0f} MB and its disk has "
                            f"{free / 2**20:,.0f} MB free", "free some space, or write to another disk")


def check_output_file(out: str | Path) -> Path:
    """``out`` as a Path, or a DataFileError when it cannot be a file to write: a folder, or
    under a path part that is a file. Front ends call it before any work starts."""
    from relattr_studio.core.errors import DataFileError

    out = Path(out)
    if out.is_dir():
        raise DataFileError(out, "is a folder, not a file", "name a file to write")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataFileError(out, f"{parent} is a file, not a folder", "check the path")
            break
    return out


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


@contextmanager
def atomic_output(out: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``out`` (``.<name>.<pid>.tmp``); rename it over ``out`` only on success.

    On any exception (a Cancelled job included) the temporary file is removed, so a crash
    never leaves a half-written file where a reader would find it (every writer of the product's
    files goes through here: datasets, model files, exports, results, metrics rewrites).
    Temporaries an earlier, killed writer of ``out`` left are removed first. A write that fails
    on a (nearly) full disk is a DataFileError naming ``out`` and the space left, whatever the
    library that wrote it raised (h5py, torch's zip writer).
    """
    from relattr_studio.core.errors import DiskFullError

    out = check_output_file(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temporaries(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    except (OSError, RuntimeError) as err:
        full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        tmp.unlink(missing_ok=True)  # first: what it held is space the message should count
        free = _free_bytes(out.parent)
        if full or (free is not None and free < LOW_SPACE):
            left = f"{free / 2**20:.0f} MB left" if free is not None else "no space left"
            raise DiskFullError(out, f"could not be written: the disk is full ({left})",
                                "free some space, or write to another disk") from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)
