"""The only package that imports Qt: main window, views, widgets, workers."""

from relattr_studio.gui import _pyside_compat

_pyside_compat.apply()  # before any PySide6 call: see the module's docstring
