"""The only package that imports Qt: main window, views, widgets, workers."""
