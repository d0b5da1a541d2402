"""Work around a reference-count bug of the PySide6 6.12 wheels on CPython 3.10/3.11.

The 6.12 ``cp310-abi3`` wheels return ``None`` from every void method (``update()``,
``setText()``, ``processEvents()``...) and ``True``/``False`` from ``Signal.emit`` without
taking a new reference, as if these singletons were immortal (they are only from Python 3.12,
PEP 683). On 3.11 each call steals one reference, and after a few thousand calls the
interpreter aborts with ``Fatal Python error: none_dealloc`` (or ``bool_dealloc``). Measured
here: 1,000 ``QWidget.update()`` calls lower ``sys.getrefcount(None)`` by exactly 1,000.

The fix does what 3.12 does: it makes the singletons practically immortal by adding 2**40
references to each, once, at import of ``relattr_studio.gui``. It does nothing on 3.12+.
"""

from __future__ import annotations

import ctypes
import sys

_BUMP = 1 << 40
_applied = False


def apply() -> bool:
    """Make None, True, False, Ellipsis and NotImplemented immortal on CPython < 3.12."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False, Ellipsis, NotImplemented):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BUMP
    _applied = True
    return True
