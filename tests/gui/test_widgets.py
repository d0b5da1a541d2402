"""Small widgets: the image canvas's caption badge."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("caption", ["i", "#27", "#4999", "#49999", "#1621940"])
def test_an_image_index_caption_fits_its_badge(qtbot, caption):
    """The badge was 34 px wide whatever it said: "i = #27" showed as "= #27", "#4999" lost digits."""
    import numpy as np
    from PySide6.QtGui import QFontMetrics

    from relattr_studio.gui.imaging import pixmap_from_array
    from relattr_studio.gui.widgets import ImageCanvas

    canvas = ImageCanvas(minimum=170, caption=caption)
    qtbot.addWidget(canvas)
    canvas.resize(320, 320)
    canvas.set_pixmap(pixmap_from_array(np.zeros((64, 64, 3), np.uint8)))
    badge = canvas.caption_rect()
    fm = QFontMetrics(canvas._caption_font())
    assert badge.width() >= fm.horizontalAdvance(caption) + 4
    assert canvas.image_rect().contains(badge)
    canvas.grab()  # paints without error


def test_a_long_caption_never_spills_out_of_a_small_image(qtbot):
    from relattr_studio.gui.widgets import ImageCanvas

    canvas = ImageCanvas(minimum=60, caption="#123456789012")
    qtbot.addWidget(canvas)
    canvas.resize(60, 60)
    assert canvas.image_rect().contains(canvas.caption_rect())
