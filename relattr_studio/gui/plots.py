"""pyqtgraph plots for the train and inspect views, rate-limited to ~20 redraws a second.

A plot here never redraws in the slot that hands it data: it marks itself dirty and a timer
redraws at most every ``min_interval_ms``, so a fast stream of metrics cannot flood the GUI.

Each redraw repaints on the GUI thread, so the live curves are kept cheap to paint. pyqtgraph's
grid (``showGrid``) alpha-blends tick lines across the whole plot on every repaint: two 500 x
420 plots took 93 ms p50 a frame with it and 15 ms without, on this project's 2-core CPU
(offscreen). With the step axis fixed to the run's length (no re-ticking as points arrive) and
the axes cached as pixmaps, a frame is about 8 ms.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QWidget

pg.setConfigOptions(antialias=True, background="w", foreground="#333")

COLOURS = {"loss": "#3484e4", "val_loss": "#ec8e2c", "train_acc": "#3484e4", "val_acc": "#ec8e2c"}
FALLBACK = ["#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


class RateLimiter:
    """Calls ``redraw`` at most once per interval, only after ``mark()``."""

    def __init__(self, parent, redraw, min_interval_ms: int = 50):
        self._redraw = redraw
        self._dirty = False
        self.count = 0
        self._timer = QTimer(parent)
        self._timer.setInterval(min_interval_ms)
        self._timer.timeout.connect(self._tick)

    def mark(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now if anything changed (tests, and when a job ends)."""
        if self._dirty:
            self._tick()

    def _tick(self) -> None:
        if not self._dirty:
            self._timer.stop()  # idle: no timer wake-ups until new data arrives
            return
        self._dirty = False
        self.count += 1
        self._redraw()


class LiveCurves(QWidget):
    """Loss and accuracy against the step: a metric sink fed with training ``Metrics`` events.

    ``loss``-like values go to the left plot, ``*acc`` values to the right one in percent (shares
    0..1 are scaled); other values (lr, pairs/s) are kept as ``latest``.
    """

    def __init__(self, parent: QWidget | None = None, *, min_interval_ms: int = 50):
        super().__init__(parent)
        self.loss_plot = pg.PlotWidget(title="Loss")
        self.acc_plot = pg.PlotWidget(title="Pairwise accuracy (%)")
        for plot in (self.loss_plot, self.acc_plot):
            # no showGrid: see the module docstring
            plot.setLabel("bottom", "step")
            plot.addLegend(offset=(-10, 10))
            plot.setMinimumHeight(160)
            for side in ("left", "bottom"):
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.acc_plot.setYRange(40, 100)
        self.steps = 0  # the run's length once known: fixes the step axis
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.acc_plot)
        self._data: dict[str, tuple[list[float], list[float]]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self.latest: dict[str, float] = {}
        self.limiter = RateLimiter(self, self._redraw, min_interval_ms)

    def consume(self, event) -> None:
        values = getattr(event, "values", None)
        if values is None or not hasattr(event, "step"):
            return
        for key, value in values.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            self.latest[key] = value
            if key == "loss" or key.endswith("_loss") or key.endswith("acc"):
                xs, ys = self._data.setdefault(key, ([], []))
                xs.append(float(event.step))
                if self.steps and event.step > self.steps:  # a resumed run that goes on longer
                    self.set_steps(int(event.step * 1.25))
                # accuracies arrive as shares (0..1) or percent: plot percent
                ys.append(100.0 * value if key.endswith("acc") and abs(value) <= 1.0 else value)
        self.limiter.mark()

    def set_steps(self, total: int) -> None:
        """Fix the step axis to 0..total (the run's length), so new points do not re-tick it."""
        total = int(total)
        if total <= 0 or total == self.steps:
            return
        self.steps = total
        for plot in (self.loss_plot, self.acc_plot):
            plot.enableAutoRange(x=False)
            plot.setXRange(0, total, padding=0.02)

    def points(self, key: str) -> int:
        """How many points a curve has (drawn or about to be)."""
        return len(self._data.get(key, ((), ()))[0])

    def drawn_points(self, key: str) -> int:
        curve = self._curves.get(key)
        if curve is None or curve.xData is None:
            return 0
        return len(curve.xData)

    def clear(self) -> None:
        for plot in (self.loss_plot, self.acc_plot):
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self._data.clear()
        self._curves.clear()
        self.latest.clear()
        self.steps = 0
        for plot in (self.loss_plot, self.acc_plot):
            plot.enableAutoRange(x=True)

    def _redraw(self) -> None:
        for key, (xs, ys) in self._data.items():
            curve = self._curves.get(key)
            if curve is None:
                plot = self.acc_plot if key.endswith("acc") else self.loss_plot
                colour = COLOURS.get(key, FALLBACK[len(self._curves) % len(FALLBACK)])
                pen = pg.mkPen(colour, width=2)
                symbol = "o" if key.startswith("val") else None
                curve = plot.plot([], [], pen=pen, name=key, symbol=symbol, symbolSize=6, symbolBrush=colour)
                self._curves[key] = curve
            curve.setData(np.asarray(xs), np.asarray(ys))


class ScoreHistogram(pg.PlotWidget):
    """Histogram of rank scores, with markers at the scores of the selected images."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, title="Score histogram")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("bottom", "score")
        self.setMinimumHeight(120)
        self._bars = pg.PlotDataItem([0, 1], [0], stepMode="center", fillLevel=0,
                                     brush=pg.mkBrush(52, 132, 228, 120), pen=pg.mkPen("#3484e4"))
        self.addItem(self._bars)
        self._markers = [pg.InfiniteLine(angle=90, pen=pg.mkPen(c, width=2)) for c in ("#3484e4", "#ec8e2c")]
        for m in self._markers:
            m.hide()
            self.addItem(m)
        self.counts = np.zeros(0, np.int64)

    def set_histogram(self, counts: np.ndarray, edges: np.ndarray) -> None:
        self.counts = np.asarray(counts)
        self._bars.setData(np.asarray(edges, float), np.asarray(counts, float))

    def mark(self, scores: list[float | None]) -> None:
        for m, s in zip(self._markers, list(scores) + [None] * 2):
            if s is None:
                m.hide()
            else:
                m.setValue(float(s))
                m.show()


class EmbeddingScatter(pg.PlotWidget):
    """2-D embedding coloured by score; ``on_pick(image_index)`` when a point is clicked."""

    def __init__(self, parent: QWidget | None = None, on_pick=None):
        super().__init__(parent, title="Embedding")
        self.setAspectLocked(False)
        self.hideAxis("left")
        self.hideAxis("bottom")
        self._on_pick = on_pick
        self.scatter = pg.ScatterPlotItem(size=7, pen=None, hoverable=True)
        self.scatter.sigClicked.connect(self._clicked)
        self.addItem(self.scatter)
        self._highlight = pg.ScatterPlotItem(size=14, pen=pg.mkPen("k", width=2), brush=None)
        self.addItem(self._highlight)
        self.indices = np.zeros(0, np.int64)
        self.xy = np.zeros((0, 2), np.float32)

    def set_points(self, xy: np.ndarray, indices: np.ndarray, scores: np.ndarray, title: str = "") -> None:
        self.xy, self.indices = np.asarray(xy, np.float32), np.asarray(indices, np.int64)
        s = np.asarray(scores, np.float64)
        lo, hi = (float(np.nanmin(s)), float(np.nanmax(s))) if len(s) else (0.0, 1.0)
        t = (s - lo) / (hi - lo) if hi > lo else np.full(len(s), 0.5)
        colours = pg.colormap.get("viridis").map(np.nan_to_num(t, nan=0.5), mode="qcolor")
        brushes = [pg.mkBrush(c) for c in colours]
        self.scatter.setData(x=self.xy[:, 0], y=self.xy[:, 1], brush=brushes, data=self.indices)
        self._highlight.setData([], [])
        if title:
            self.setTitle(title)
        self.autoRange()

    def highlight(self, images: list[int]) -> None:
        rows = [int(np.flatnonzero(self.indices == i)[0]) for i in images if i in set(self.indices.tolist())]
        self._highlight.setData(x=self.xy[rows, 0] if rows else [], y=self.xy[rows, 1] if rows else [])

    def _clicked(self, _item, points, _ev=None) -> None:
        if len(points) and self._on_pick is not None:
            self._on_pick(int(points[0].data()))


class AttentionBars(pg.PlotWidget):
    """DACRL channel-attention weights, sorted, most attended in orange."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, title="Channel attention (sorted)")
        self.setMinimumHeight(110)
        self.setLabel("bottom", "channel rank")
        # no outlines: hundreds of 1-px bars' black outlines hid the fill under one black block
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.8, pen=None)
        self.addItem(self._bars)

    def set_weights(self, weights: np.ndarray, k: int) -> None:
        w = np.sort(np.asarray(weights, float))[::-1]
        brushes = [pg.mkBrush("#ec8e2c") if i < k else pg.mkBrush("#8aa") if i >= len(w) - k else pg.mkBrush("#bbb")
                   for i in range(len(w))]
        self._bars.setOpts(x=np.arange(len(w)), height=w, width=0.8, brushes=brushes, pen=None)
        self.autoRange()
