"""Anti-aliased drawing for the procedural datasets.

Shapes are numpy point lists in a unit frame ([-1, 1] on both axes, y pointing down), moved
by a per-image pose (scale, rotation, offset) and drawn with PIL at ``SUPERSAMPLE`` times the
output size, then box-averaged down: cheap anti-aliasing that keeps edges crisp at 64 px.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4

Color = tuple[int, int, int] | tuple[int, int, int, int]


class _PatternDraw:
    """Draws white unit-frame shapes into a mask with a canvas's pose."""

    def __init__(self, canvas: "Canvas", draw: ImageDraw.ImageDraw):
        self._c, self._d = canvas, draw

    def polygon(self, pts: np.ndarray) -> None:
        self._d.polygon(self._c._xy(pts), fill=255)

    def line(self, pts: np.ndarray, width: float) -> None:
        self._d.line(self._c._xy(pts), fill=255, width=self._c.width(width))


def _byte(v) -> int:
    v = int(round(float(v)))
    return 0 if v < 0 else 255 if v > 255 else v


def rgb(c) -> tuple[int, int, int]:
    return _byte(c[0]), _byte(c[1]), _byte(c[2])


def rgba(c, alpha: float) -> tuple[int, int, int, int]:
    return (*rgb(c), int(np.clip(round(alpha * 255), 0, 255)))


def mix(c0, c1, t: float) -> np.ndarray:
    """Linear blend of two colours: t = 0 gives c0, t = 1 gives c1."""
    return (1.0 - t) * np.asarray(c0, np.float64) + t * np.asarray(c1, np.float64)


def lerp_stops(stops: np.ndarray, t: float) -> np.ndarray:
    """Piecewise-linear colour ramp through evenly spaced ``stops`` (k x 3) at t in [0, 1]."""
    t = float(np.clip(t, 0.0, 1.0)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    return mix(stops[i], stops[i + 1], t - i)


_CIRCLES: dict[tuple[int, float, float], np.ndarray] = {}


def ellipse_points(cx: float, cy: float, rx: float, ry: float, n: int = 40,
                   t0: float = 0.0, t1: float = 2 * np.pi) -> np.ndarray:
    key = (n, t0, t1)
    unit = _CIRCLES.get(key)
    if unit is None:
        t = np.linspace(t0, t1, n, endpoint=(t1 - t0) < 2 * np.pi - 1e-9)
        unit = _CIRCLES.setdefault(key, np.stack([np.cos(t), np.sin(t)], axis=1))
    return unit * (rx, ry) + (cx, cy)


def superellipse_points(cx: float, cy: float, rx: float, ry: float, p: float,
                        t0: float, t1: float, n: int = 40) -> np.ndarray:
    """Points of |x/rx|^p + |y/ry|^p = 1 for angles t0..t1 (p = 2: ellipse, larger: boxier)."""
    t = np.linspace(t0, t1, n)
    c, s = np.cos(t), np.sin(t)
    x = np.sign(c) * np.abs(c) ** (2.0 / p)
    y = np.sign(s) * np.abs(s) ** (2.0 / p)
    return np.stack([cx + rx * x, cy + ry * y], axis=1)


def vertical_gradient(size: int, top, bottom) -> np.ndarray:
    """A size x 1 x 3 float column fading from ``top`` to ``bottom`` (Canvas stretches it)."""
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    column = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return column  # size x 1 x 3: a vertical gradient is one column, stretched by Canvas


class Canvas:
    """One supersampled image with a pose that maps unit-frame points to pixels."""

    def __init__(self, size: int, background: np.ndarray | tuple, *, scale: float = 1.0,
                 angle: float = 0.0, offset: tuple[float, float] = (0.0, 0.0), flip: bool = False):
        self.size = int(size)
        self.big = self.size * SUPERSAMPLE
        if isinstance(background, np.ndarray) and background.ndim == 3:
            small = Image.fromarray(np.ascontiguousarray(np.clip(background, 0, 255).astype(np.uint8)))
            self.image = small.resize((self.big, self.big), Image.BILINEAR)
        else:
            self.image = Image.new("RGB", (self.big, self.big), rgb(background))
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        c, s = np.cos(angle), np.sin(angle)
        half = self.big / 2.0
        lin = np.array([[c, -s], [s, c]]) * scale * half
        if flip:
            lin = lin @ np.diag([-1.0, 1.0])
        self._lin = lin
        self._shift = np.array([half + offset[0] * half, half + offset[1] * half])
        self.px_per_unit = scale * half

    def _xy(self, pts: np.ndarray) -> list[float]:
        p = np.asarray(pts, np.float64) @ self._lin.T + self._shift
        return p.ravel().tolist()

    def width(self, w: float) -> int:
        """A unit-frame stroke width in supersampled pixels (at least one)."""
        return max(1, int(round(w * self.px_per_unit)))

    def polygon(self, pts: np.ndarray, fill: Color, outline: Color | None = None, width: float = 0.0) -> None:
        xy = self._xy(pts)
        self.draw.polygon(xy, fill=fill)
        if outline is not None and width > 0:
            self.draw.line(xy + xy[:2], fill=outline, width=self.width(width), joint="curve")

    def line(self, pts: np.ndarray, fill: Color, width: float) -> None:
        self.draw.line(self._xy(pts), fill=fill, width=self.width(width), joint="curve")

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: Color, n: int = 40,
                outline: Color | None = None, width: float = 0.0) -> None:
        self.polygon(ellipse_points(cx, cy, rx, ry, n), fill, outline, width)

    def masked_fill(self, region: np.ndarray, fill: Color, paint) -> None:
        """Paint ``fill`` where ``paint(draw)`` draws (in white) inside polygon ``region``."""
        from PIL import ImageChops

        mask = Image.new("L", self.image.size, 0)
        ImageDraw.Draw(mask).polygon(self._xy(region), fill=255)
        pattern = Image.new("L", self.image.size, 0)
        paint(_PatternDraw(self, ImageDraw.Draw(pattern)))
        alpha = fill[3] / 255.0 if len(fill) == 4 else 1.0
        mask = ImageChops.multiply(mask, pattern.point(lambda v: int(v * alpha)))
        self.image.paste(fill[:3], mask=mask)

    def finish(self, light_dir: float = 0.0, light_amount: float = 0.0, brightness: float = 1.0) -> np.ndarray:
        """Downsample and apply a linear lighting ramp; returns uint8 size x size x 3."""
        small = np.asarray(self.image.reduce(SUPERSAMPLE), dtype=np.float32)
        if light_amount or brightness != 1.0:
            u = np.linspace(-1.0, 1.0, self.size, dtype=np.float32)
            ramp = np.cos(light_dir) * u[None, :] + np.sin(light_dir) * u[:, None]
            small = small * (brightness * (1.0 + light_amount * ramp))[:, :, None]
        return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def chaikin(pts: np.ndarray, iterations: int = 2, closed: bool = False) -> np.ndarray:
    """Corner-cutting smoothing of a polyline (keeps the end points of an open one)."""
    p = np.asarray(pts, np.float64)
    for _ in range(iterations):
        q = p if not closed else np.concatenate([p, p[:1]])
        a, b = q[:-1], q[1:]
        mid = np.empty((2 * len(a), 2))
        mid[0::2] = 0.75 * a + 0.25 * b
        mid[1::2] = 0.25 * a + 0.75 * b
        p = mid if closed else np.concatenate([p[:1], mid, p[-1:]])
    return p


def bezier(p0, p1, p2, n: int = 16) -> np.ndarray:
    """Quadratic Bezier curve from p0 to p2 pulled towards p1."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def render_each(render_one, strengths: np.ndarray, nuisance: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Render ``render_one(s, nuisance_of_row, size)`` for every row: uint8 n x size x size x 3."""
    strengths = np.asarray(strengths, np.float64)
    out = np.empty((len(strengths), size, size, 3), np.uint8)
    for i, s in enumerate(strengths):
        out[i] = render_one(s, {name: float(v[i]) for name, v in nuisance.items()}, size)
    return out
