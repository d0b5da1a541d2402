"""Safe reading of MATLAB .mat files (v5 through scipy, v7.3 = HDF5 through h5py).

Both versions come back in one shape so importers need not care which one a user has:
a dict of key -> value where numeric arrays keep MATLAB's shape (v7.3's transposition is
undone), cell arrays are numpy object arrays of that shape and strings are ``str``.
Every problem a file can have becomes a :class:`DataFileError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from relattr_studio.core.errors import DataFileError

_V73_MAGIC = b"MATLAB 7.3 MAT-file"
_CORRUPT_HINT = "the file may be truncated or corrupt; download or export it again"


def load_mat(path: str | Path, required: Iterable[str] = ()) -> dict[str, Any]:
    """Every variable of a .mat file; raises DataFileError if unreadable or a key is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "no such file", "check the folder layout (see `relattr import --help`)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
    except OSError as err:
        raise DataFileError(path, f"cannot open it: {err}") from err
    if head.startswith(_V73_MAGIC) or head.startswith(b"\x89HDF"):
        data = _load_v73(path)
    else:
        data = _load_v5(path)
    missing = [k for k in required if k not in data]
    if missing:
        have = ", ".join(sorted(data)) or "no variables"
        raise DataFileError(path, f"missing variable(s) {', '.join(missing)}; it has {have}",
                            "is this the right file? see `relattr import --help` for the expected layout")
    return data


def _load_v5(path: Path) -> dict[str, Any]:
    import scipy.io

    from relattr_studio.data.importers._mat5check import Mat5Error, check_mat5

    try:
        check_mat5(path.read_bytes())
    except Mat5Error as err:
        raise DataFileError(path, f"not a readable MATLAB file ({err})", _CORRUPT_HINT) from err
    except OSError as err:
        raise DataFileError(path, f"cannot read it: {err}") from err
    try:
        raw = scipy.io.loadmat(str(path), squeeze_me=False, chars_as_strings=True)
    except MemoryError as err:
        raise DataFileError(path, "declares more data than fits in memory", _CORRUPT_HINT) from err
    except Exception as err:  # scipy raises many types (ValueError, TypeError, zlib, struct...)
        raise DataFileError(path, f"not a readable MATLAB file ({type(err).__name__}: {err})", _CORRUPT_HINT) from err
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def _load_v73(path: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return {k: _v73_value(h5, h5[k]) for k in h5.keys() if not k.startswith("#")}
    except DataFileError:
        raise
    except MemoryError as err:
        raise DataFileError(path, "declares more data than fits in memory", _CORRUPT_HINT) from err
    except Exception as err:  # h5py raises OSError, KeyError, ValueError, RuntimeError...
        raise DataFileError(path, f"not a readable MATLAB 7.3 (HDF5) file ({type(err).__name__}: {err})",
                            _CORRUPT_HINT) from err


def _v73_value(h5, node, depth: int = 0) -> Any:
    """One MATLAB v7.3 variable as the v5 reader would give it."""
    import h5py

    if depth > 16:
        raise ValueError("cell arrays nested too deeply")
    if isinstance(node, h5py.Group):  # a struct: its fields
        return {k: _v73_value(h5, node[k], depth + 1) for k in node.keys()}
    cls = node.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    empty = node.attrs.get("MATLAB_empty")
    if empty is not None and np.asarray(empty).size and int(np.asarray(empty).ravel()[0]):
        return "" if cls == "char" else np.zeros((0, 0))
    raw = node[()]
    if cls == "char":
        codes = np.asarray(raw).T  # MATLAB shape rows x chars
        codes = np.atleast_2d(codes)
        rows = ["".join(chr(int(c)) for c in row) for row in codes]
        return rows[0] if len(rows) == 1 else np.array(rows, dtype=object)
    if cls == "cell" or (isinstance(raw, np.ndarray) and raw.dtype == object):
        refs = np.asarray(raw).T
        out = np.empty(refs.shape, dtype=object)
        for idx in np.ndindex(refs.shape):
            out[idx] = _v73_value(h5, h5[refs[idx]], depth + 1)
        return out
    arr = np.asarray(raw)
    if cls == "logical":
        arr = arr.astype(bool)
    return arr.T


# --------------------------------------------------------------------------- value helpers


def as_str(value: Any, path: Path, what: str) -> str:
    """A MATLAB string (char array, a 1-element cell holding one, a numpy str) as ``str``."""
    v = value
    for _ in range(4):
        if isinstance(v, (str, np.str_)):
            return str(v)
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if isinstance(v, np.ndarray):
            if v.dtype.kind in "US":
                if v.size != 1:
                    # a char matrix of one row can come back as several 1-char strings
                    return "".join(str(x) for x in v.ravel())
                v = v.ravel()[0]
                continue
            if v.dtype == object and v.size == 1:
                v = v.ravel()[0]
                continue
            if v.dtype.kind in "ui" and v.ndim <= 2 and v.size < 4096:  # raw char codes
                return "".join(chr(int(c)) for c in v.ravel())
        break
    raise DataFileError(path, f"{what} should be text, found {type(value).__name__} "
                              f"{getattr(value, 'shape', '')}", "is this the right file?")


def str_list(value: Any, path: Path, what: str) -> list[str]:
    """A cell array of strings (any shape, or a char matrix) as a flat list."""
    if isinstance(value, (str, np.str_)):
        return [str(value)]
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        return [str(s) for s in arr.ravel()]
    if arr.dtype != object:
        raise DataFileError(path, f"{what} should be a cell array of text, found {arr.dtype} {arr.shape}",
                            "is this the right file?")
    return [as_str(v, path, f"{what}[{i}]") for i, v in enumerate(arr.ravel(order="F"))]


def cell_list(value: Any, path: Path, what: str) -> list[Any]:
    """A cell array (any shape, column-major like MATLAB's linear index) as a flat list."""
    arr = np.asarray(value)
    if arr.dtype != object:
        # a 1x1 cell saved as its content, or a plain matrix where a cell was expected
        return [value]
    return list(arr.ravel(order="F"))


def numeric(value: Any, path: Path, what: str, *, ndim: int | None = None,
            shape: tuple[int | None, ...] | None = None, finite: bool = True) -> np.ndarray:
    """A numeric matrix as float64, with shape and finiteness checked."""
    arr = np.asarray(value)
    if arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.ravel()[0])
    if arr.dtype.kind not in "biuf":
        raise DataFileError(path, f"{what} should be numeric, found {arr.dtype} {arr.shape}", "is this the right file?")
    arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        if ndim == 1 and arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        elif ndim == 2 and arr.size == 0:
            arr = arr.reshape(0, shape[1] if shape and shape[1] else 0)
        else:
            raise DataFileError(path, f"{what} should have {ndim} dimension(s), has shape {arr.shape}")
    if shape is not None:
        if len(shape) != arr.ndim or any(s is not None and s != d for s, d in zip(shape, arr.shape)):
            want = " x ".join("any" if s is None else str(s) for s in shape)
            raise DataFileError(path, f"{what} has shape {' x '.join(map(str, arr.shape))}, expected {want}",
                                "the file's arrays do not agree with each other")
    if finite and arr.size and not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise DataFileError(path, f"{what} holds {n} NaN or infinite value(s)", "fix or remove those entries")
    return arr


def matlab_index(value: Any, n: int, path: Path, what: str) -> np.ndarray:
    """1-based MATLAB indices into ``n`` items, checked, as 0-based int64."""
    arr = numeric(value, path, what).ravel()
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.array_equal(arr, np.round(arr)):
        raise DataFileError(path, f"{what} holds non-integer indices")
    if arr.min() == 0:
        raise DataFileError(path, f"{what} holds index 0, but MATLAB indices start at 1",
                            "the file looks 0-based; write indices 1-based as MATLAB does")
    if arr.min() < 0 or arr.max() > n:
        bad = arr[(arr < 1) | (arr > n)]
        raise DataFileError(path, f"{what} holds index {int(bad[0])} outside 1..{n} ({len(bad)} such)",
                            "the file does not match the image list it goes with")
    return arr.astype(np.int64) - 1
