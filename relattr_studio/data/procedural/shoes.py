"""toy-shoes: side-view catalogue shoes with the shoe lexicon and exact ground truth.

Continuous strengths in [0, 1] (Gaussian-copula prior, :mod:`.prior`), each with a visible
change that is monotonic in its strength, whatever the shape:

=========  ===========================================================================
open       the throat opening deepens and reaches toward the toe (straps thin on sandals)
pointy     the toe reaches further forward and tapers to a sharp tip
sporty     thick white midsole with tread marks, a side stripe, laces
comfort    lower, wider heel; padded collar
colorful   saturation of the body and contrast of accents (toe cap, heel tab, pattern)
sleek      slimmer, lower profile and a glossy highlight
=========  ===========================================================================

Categorical attributes (for retrieval), one per shoe model (identity) and drawn from its
attribute latent so they co-occur sensibly (sandals are open, pumps pointy and uncomfortable,
sneakers sporty): shape, colour (named palette), pattern. Nuisance: facing direction, tilt,
offset, scale, background, lighting, sole and lining shades.
"""

from __future__ import annotations

import colorsys

import numpy as np

from relattr_studio.data.procedural.canvas import Canvas, bezier, chaikin, mix, rgb, rgba, render_each, vertical_gradient
from relattr_studio.data.procedural.prior import (
    CopulaPrior, Identities, assign_identities, categorical_from_latent, correlation_from_pairs, to_strength,
)

SHOE_ATTRIBUTES: tuple[str, ...] = ("open", "pointy", "sporty", "comfort", "colorful", "sleek")

SHOE_PRIOR = CopulaPrior(
    names=SHOE_ATTRIBUTES,
    correlation=correlation_from_pairs(SHOE_ATTRIBUTES, {
        ("sporty", "comfort"): 0.50,
        ("sleek", "pointy"): 0.55,
        ("sporty", "pointy"): -0.45,
        ("sporty", "sleek"): -0.35,
        ("comfort", "pointy"): -0.35,
        ("comfort", "sleek"): -0.20,
        ("open", "sporty"): -0.20,
        ("colorful", "sporty"): 0.25,
    }),
    within_identity=np.array([0.15, 0.10, 0.10, 0.15, 0.15, 0.10]),
)

SHAPES = ("sneaker", "boot", "pump", "sandal", "loafer")
COLOURS = {
    "black": (38, 36, 38), "white": (236, 234, 228), "grey": (140, 140, 144), "brown": (112, 70, 40),
    "tan": (196, 150, 100), "navy": (36, 50, 100), "red": (200, 40, 45), "pink": (236, 120, 170),
    "blue": (40, 110, 210), "green": (40, 150, 80), "yellow": (236, 196, 40), "purple": (120, 60, 170),
}
PATTERNS = ("plain", "stripes", "dots", "checks")
CATEGORICAL = {"shape": list(SHAPES), "colour": list(COLOURS), "pattern": list(PATTERNS)}

# Logit weights on the attribute latent (rows: open, pointy, sporty, comfort, colorful, sleek).
_SHAPE_W = np.array([
    [-1.0, -1.5, 0.3, 2.8, -0.3],
    [-1.0, 0.0, 1.5, -0.3, 0.3],
    [2.0, -0.3, -1.5, -0.3, -0.8],
    [1.0, 0.3, -1.5, 0.2, 0.5],
    [0.3, -0.3, 0.2, 0.3, -0.5],
    [-0.8, 0.0, 1.2, 0.0, 0.6],
])
_SHAPE_B = np.array([0.0, -0.2, -0.3, -0.6, 0.0])
_NEUTRAL = np.array([n in ("black", "white", "grey", "brown", "tan", "navy") for n in COLOURS])
_COLOUR_W = np.zeros((6, len(COLOURS)))
_COLOUR_W[4] = np.where(_NEUTRAL, -1.5, 1.5)
_PATTERN_W = np.zeros((6, len(PATTERNS)))
_PATTERN_W[4] = [-1.2, 0.6, 0.6, 0.6]
_PATTERN_W[2] = [0.0, 0.6, 0.0, 0.0]
_PATTERN_B = np.array([1.2, 0.0, -0.2, -0.4])

# Per shape: back height of the upper, instep height, heel height scale.
_BACK = {"sneaker": 0.48, "boot": 0.85, "pump": 0.34, "sandal": 0.36, "loafer": 0.38}
_INSTEP = {"sneaker": 0.44, "boot": 0.56, "pump": 0.30, "sandal": 0.36, "loafer": 0.42}
_SHAFT = {"sneaker": 0.22, "boot": 0.36, "pump": 0.16, "sandal": 0.16, "loafer": 0.2}
_HEEL = {"sneaker": 0.08, "boot": 0.26, "pump": 0.50, "sandal": 0.30, "loafer": 0.14}


def _hsv(h, s, v) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def sample_shoes(n: int, seed: int, *, n_identities: int | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], Identities]:
    """Draw ``n`` shoes: (strengths n x 6 float32 in [0, 1], nuisance per image, identities).

    The nuisance dict also carries the categorical classes per image (``shape``, ``colour``,
    ``pattern`` as class indices). Deterministic in ``seed``.
    """
    rng = np.random.default_rng([seed, 0x5E0E])
    k = n_identities or max(1, n // 5)
    identity = assign_identities(rng, n, k)
    strengths, _, z_id = SHOE_PRIOR.sample(rng, identity, k)
    per_id = {
        "shape": categorical_from_latent(rng, z_id, _SHAPE_W, _SHAPE_B),
        "colour": categorical_from_latent(rng, z_id, _COLOUR_W, np.zeros(len(COLOURS))),
        "pattern": categorical_from_latent(rng, z_id, _PATTERN_W, _PATTERN_B),
        "accent_hue": rng.uniform(0.0, 1.0, k),
        "sole_shade": rng.uniform(0.0, 1.0, k),
        "lining_shade": rng.uniform(0.0, 1.0, k),
    }
    nuisance = {name: v[identity] for name, v in per_id.items()}
    nuisance.update({
        "flip": (rng.uniform(size=n) < 0.5).astype(np.float32),
        "angle": rng.uniform(-0.08, 0.08, n),
        "dx": rng.uniform(-0.06, 0.06, n),
        "dy": rng.uniform(-0.06, 0.06, n),
        "scale": rng.uniform(1.05, 1.15, n),
        "bg_hue": rng.uniform(0.0, 1.0, n),
        "bg_sat": rng.uniform(0.0, 0.25, n),
        "bg_val": rng.uniform(0.82, 0.98, n),
        "light_dir": rng.uniform(0.0, 2 * np.pi, n),
        "light_amount": rng.uniform(0.0, 0.10, n),
        "brightness": rng.uniform(0.94, 1.05, n),
    })
    nuisance = {name: np.asarray(v, np.float32) for name, v in nuisance.items()}
    return strengths, nuisance, Identities(identity, to_strength(z_id))


def render_shoes(strengths: np.ndarray, nuisance: dict[str, np.ndarray], size: int = 64) -> np.ndarray:
    """Render shoes: uint8 n x size x size x 3, one per row of ``strengths``."""
    return render_each(render_shoe, strengths, nuisance, size)


_FOAM = np.array((240, 206, 150))  # the cushioned footbed: warm cream, unlike sporty's white sole
_PAD = np.array((246, 236, 214))  # padded collar


def render_shoe(s: np.ndarray, nz: dict[str, float], size: int = 64) -> np.ndarray:
    open_, pointy, sporty, comfort, colorful, sleek = np.clip(s, 0.0, 1.0)
    shape = SHAPES[int(nz["shape"])]
    bg = _hsv(nz["bg_hue"], nz["bg_sat"] * 0.6, 0.6 * nz["bg_val"] + 0.4)  # light, product-photo backdrop
    flip = nz["flip"] > 0.5
    centre = 0.08 * nz["scale"] * (1.0 if flip else -1.0)  # the shoe's middle in the middle of the frame
    cv = Canvas(size, vertical_gradient(size, bg, bg * 0.9), scale=nz["scale"], angle=nz["angle"],
                offset=(nz["dx"] + centre, nz["dy"] - 0.03), flip=flip)

    named = np.array(list(COLOURS.values())[int(nz["colour"])], float)
    grey = np.full(3, named.mean())
    body = mix(mix(grey, named, 0.25), named, colorful)
    bright = _hsv(nz["accent_hue"], 0.95, 0.95)
    accent = mix(body * 0.85, bright, colorful)
    lining = mix((70, 58, 50), (150, 130, 110), nz["lining_shade"])
    sole_dark = mix((40, 36, 34), (120, 90, 60), nz["sole_shade"])
    edge = body * 0.55

    # sleek: a longer, lower, slimmer silhouette; comfort: a thick cushioned footbed, a flat wide
    # heel, a roomy rounded toe box and a padded collar.
    ground = 0.48
    x_heel = -0.62 - 0.10 * sleek
    sole_t = 0.04 + 0.14 * sporty
    foam = 0.012 + 0.10 * comfort
    heel_h = _HEEL[shape] * (0.25 + 0.75 * (1.0 - comfort)) + 0.01
    y_ff = ground - sole_t - foam  # top of the footbed under the ball of the foot
    y_fh = y_ff - heel_h  # raised heel seat
    x_ball, x_tip = 0.22, 0.50 + 0.28 * pointy + 0.10 * sleek
    slim = (1.0 - 0.45 * sleek) * (1.0 + 0.12 * comfort)
    h_vamp = (0.34 - 0.15 * pointy) * slim * (1.0 + 0.25 * comfort)
    y_collar = y_fh - _BACK[shape] * slim
    y_instep = y_ff - _INSTEP[shape] * slim
    x_dip = -0.22 + 0.20 * open_
    y_dip = y_instep + open_ * (y_ff - 0.05 - y_instep)
    x_vamp = 0.02 + 0.28 * open_

    # soft contact shadow under the sole
    cx, rx = 0.5 * (x_heel + x_tip), 0.5 * (x_tip - x_heel)
    for k in range(2):
        cv.ellipse(cx, ground + 0.012, rx + 0.08 - 0.06 * k, 0.045 - 0.015 * k, (0, 0, 0, 40), n=24)

    # heel block, outsole, footbed
    heel_w = 0.06 + 0.16 * comfort
    if heel_h > 0.04:
        cv.polygon(np.array([[x_heel - 0.02, y_fh + foam], [x_heel + heel_w + 0.08, y_fh + foam],
                             [x_heel + heel_w, ground], [x_heel + 0.01, ground]]), rgb(sole_dark))
    floor = bezier((x_heel - 0.03, y_fh), (x_ball - 0.35, y_ff), (x_tip - 0.1 * (1 - pointy), y_ff), 14)
    mid = mix(sole_dark, (245, 245, 242), sporty)
    toe_end = np.array([[x_tip + 0.02, y_ff + 0.01], [x_tip - 0.04, ground]])
    sole = np.concatenate([floor + [0, foam], toe_end, floor[::-1] + [0, foam + sole_t]])
    cv.polygon(sole, rgb(mid))
    bed = np.concatenate([floor, [[x_tip + 0.03, y_ff + 0.5 * foam]], floor[::-1] + [0, foam]])
    cv.polygon(bed, rgb(_FOAM), outline=rgb(_FOAM * 0.72), width=0.012)
    if sporty > 0.1:
        for x in np.linspace(x_heel + 0.05, x_tip - 0.1, 9):
            cv.line(np.array([[x, ground - 0.012], [x + 0.03, ground - 0.012]]), rgba((60, 60, 60), sporty), 0.02)

    # far wall: what the opening shows
    tip_h = 0.15 * (1.0 - pointy) + 0.015 + 0.08 * comfort
    toe = np.concatenate([
        bezier((x_vamp, y_ff - h_vamp), (x_tip - 0.04 - 0.3 * pointy, y_ff - h_vamp * (1.0 - 0.25 * pointy)),
               (x_tip, y_ff - tip_h), 12),
        bezier((x_tip, y_ff - tip_h), (x_tip, y_ff), (x_tip - 0.1 * (1 - pointy), y_ff), 6)[1:]])
    back = [[x_heel - 0.03, y_fh], [x_heel - 0.06, y_collar], [x_heel + _SHAFT[shape], y_collar + 0.03]]
    wall = np.concatenate([back, [[x_vamp, y_ff - h_vamp]], toe, floor[::-1]])
    if shape == "sandal":
        _sandal(cv, floor, back, toe, x_dip, y_dip, x_vamp, y_ff, open_, body, accent, lining, sporty,
                comfort)
    else:
        cv.polygon(wall, rgb(lining))
        top = chaikin(np.array([back[1], back[2], [x_dip, y_dip], [x_vamp, y_ff - h_vamp]]), 2)
        upper = np.concatenate([[back[0]], top, toe, floor[::-1]])
        cv.polygon(upper, rgb(body), outline=rgb(edge), width=0.012)
        _pattern(cv, upper, nz, mix(body * 0.6, _hsv(nz["accent_hue"] + 0.5, 0.9, 0.95), colorful),
                 x_heel, x_tip, y_collar, y_ff)
        cv.polygon(np.concatenate([toe[6:], floor[-1:] + [0, 0]]), rgb(accent))
        cv.polygon(np.array([back[0], back[1], [x_heel + 0.06, (y_collar + y_fh) / 2], [x_heel + 0.08, y_fh]]),
                   rgb(accent))
        if sporty > 0.05:
            stripe = bezier((x_heel + 0.1, y_fh - 0.03), (-0.05, y_ff - 0.02), (x_vamp + 0.05, y_ff - h_vamp * 0.8), 10)
            cv.line(stripe, rgba(accent * 0.6 + 100, sporty), 0.045)
            for k in range(4):
                t = (k + 0.5) / 4
                x0 = x_dip + t * (x_vamp - x_dip)
                y0 = y_dip + t * (y_ff - h_vamp - y_dip)
                cv.line(np.array([[x0 - 0.04, y0 - 0.01], [x0 + 0.04, y0 + 0.02]]), rgba((245, 245, 245), sporty), 0.02)
        # padded collar: a cream roll along the top line that thickens with comfort
        collar = top[: len(top) * 2 // 3]
        w = 0.015 + 0.095 * comfort
        cv.line(collar, rgb(_PAD * 0.62), w + 0.025)
        cv.line(collar, rgb(_PAD), w)
    # gloss: a long specular streak along the upper that brightens and widens with sleek
    y_mid = y_ff - 0.45 * h_vamp
    gloss = np.array([back[1], [x_dip + 0.05, y_dip - 0.02]]) if shape == "sandal" else bezier((x_heel + 0.02, y_fh - 0.55 * (y_fh - y_collar) + 0.04), (x_ball - 0.3, y_mid - 0.02),
                   (x_tip - 0.08, y_ff - 0.6 * tip_h), 10)
    cv.line(gloss, rgba((255, 255, 255), 0.15 + 0.75 * sleek), 0.012 + 0.03 * sleek)
    return cv.finish(nz["light_dir"], nz["light_amount"], nz["brightness"])


def _pattern(cv: Canvas, region: np.ndarray, nz: dict[str, float], colour, x0, x1, y0, y1) -> None:
    name = PATTERNS[int(nz["pattern"])]
    if name == "plain":
        return

    def paint(d):
        if name == "stripes":
            for x in np.arange(x0 - 0.6, x1 + 0.2, 0.11):
                d.line(np.array([[x, y1 + 0.05], [x + 0.4, y0 - 0.1]]), 0.035)
        elif name == "dots":
            for j, y in enumerate(np.arange(y0, y1 + 0.05, 0.09)):
                for x in np.arange(x0 - 0.05 + 0.045 * (j % 2), x1 + 0.05, 0.09):
                    d.polygon(np.stack([x + 0.022 * np.cos(np.linspace(0, 6.2, 10)),
                                        y + 0.022 * np.sin(np.linspace(0, 6.2, 10))], 1))
        else:
            for x in np.arange(x0 - 0.1, x1 + 0.1, 0.10):
                d.line(np.array([[x, y0 - 0.1], [x, y1 + 0.1]]), 0.03)
            for y in np.arange(y0, y1 + 0.1, 0.10):
                d.line(np.array([[x0 - 0.1, y], [x1 + 0.1, y]]), 0.03)

    cv.masked_fill(region, rgb(colour), paint)


def _sandal(cv: Canvas, floor, back, toe, x_dip, y_dip, x_vamp, y_ff, open_, body, accent, lining, sporty,
            comfort) -> None:
    """Straps instead of an upper: they thin out as the sandal gets more open (padded with comfort)."""
    bed = np.concatenate([floor, floor[::-1] - [0, 0.03]])
    cv.polygon(bed, rgb(lining))
    w = 0.09 * (1.0 - 0.75 * open_) + 0.015
    colour = rgb(body)
    heel_strap = np.array([back[0], back[1], [back[1][0] + w + 0.03, back[1][1]], [back[0][0] + w + 0.06, back[0][1]]])
    cv.polygon(heel_strap, rgb(accent))
    ankle = np.array([back[1], [x_dip + 0.05, y_dip - 0.02]])
    cv.line(ankle, colour, w * 0.8)
    cv.line(ankle[:1] + [[0.0, 0.0], [0.0, 0.18]], rgb(_PAD * 0.62), 0.035 + 0.07 * comfort)  # padded heel strap
    cv.line(ankle[:1] + [[0.0, 0.0], [0.0, 0.18]], rgb(_PAD), 0.012 + 0.07 * comfort)
    for frac in (0.35, 0.75):
        x = x_vamp + frac * (toe[-1][0] - x_vamp)
        top = toe[int(frac * (len(toe) - 1))]
        cv.polygon(np.array([[x - w, y_ff + 0.005], [x + w * 0.3, top[1] - 0.005], [x + w * 1.6, top[1]],
                             [x + w * 0.5, y_ff + 0.005]]), colour)
    cv.line(np.array([[x_dip, y_ff], [x_dip + 0.03, y_dip], [x_vamp, y_ff - 0.04]]), rgb(accent), w)
