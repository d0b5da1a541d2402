"""Guard against the PySide6 6.12.0 wheels' reference-count bug on CPython 3.11.

Those wheels returned None from void methods and True from Signal.emit without a new
reference; the interpreter aborted after a few thousand calls (``bool_dealloc``). The
dependency pin excludes them; this test fails (or crashes) if a bump lets them back in.
"""

from __future__ import annotations

import sys

from PySide6 import QtCore, QtWidgets


class _Emitter(QtCore.QObject):
    changed = QtCore.Signal(int)


def test_void_methods_and_emit_keep_singleton_refcounts(qapp):
    label = QtWidgets.QLabel()
    emitter = _Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(200):
        label.update()
        label.setText(str(i))
        emitter.changed.emit(i)
    # other threads may touch the counts a little; a leak would be 200 or more
    assert abs(sys.getrefcount(None) - none_before) < 50
    assert abs(sys.getrefcount(True) - true_before) < 50
