"""toy-faces: cartoon faces with the face lexicon of the papers and exact ground truth.

Strengths are in [0, 1] (uniform marginals, correlated through a Gaussian copula; see
:mod:`.prior`). Each attribute drives one clearly visible change, monotonic in its strength:

=================  ====================================================================
bald               crown skin patch grows, hair volume above the skull shrinks
dark_hair          hair (and brow) colour from platinum blond to black
big_eyes           eye opening size (sclera, iris and pupil scale together)
masculine          jaw width and squareness, brow thickness, stubble; lips less red
mouth_open         height of the dark opening between the lips (teeth show)
smiling            mouth-corner lift (curvature), mouth width, smile lines
visible_forehead   front hairline height: bangs at the brows -> hairline near the crown
young              wrinkles (forehead, eye corners, nose-to-mouth folds) fade, blush grows
=================  ====================================================================

Nuisance factors, not attributes: skin tone, hair style and tint, iris colour, face width,
shirt colour (per identity); head pose (rotation, offset), scale, background gradient and
lighting (per image).
"""

from __future__ import annotations

import colorsys

import numpy as np

from relattr_studio.data.procedural.canvas import (
    Canvas, ellipse_points, lerp_stops, mix, render_each, rgb, rgba, superellipse_points,
    vertical_gradient,
)
from relattr_studio.data.procedural.prior import (
    CopulaPrior, Identities, assign_identities, correlation_from_pairs, to_strength,
)

FACE_ATTRIBUTES: tuple[str, ...] = (
    "bald", "dark_hair", "big_eyes", "masculine", "mouth_open", "smiling", "visible_forehead", "young",
)

FACE_PRIOR = CopulaPrior(
    names=FACE_ATTRIBUTES,
    correlation=correlation_from_pairs(FACE_ATTRIBUTES, {
        ("bald", "masculine"): 0.45,
        ("bald", "young"): -0.45,
        ("bald", "visible_forehead"): 0.55,
        ("bald", "dark_hair"): -0.15,
        ("dark_hair", "young"): 0.20,
        ("big_eyes", "young"): 0.30,
        ("big_eyes", "masculine"): -0.20,
        ("masculine", "smiling"): -0.10,
        ("masculine", "visible_forehead"): 0.20,
        ("mouth_open", "smiling"): 0.55,
    }),
    # Expressions change between photos of one person; hair and build barely do.
    within_identity=np.array([0.10, 0.05, 0.15, 0.05, 0.80, 0.80, 0.30, 0.10]),
)

HAIR_STYLES = ("short", "long", "bob", "curly")
_SKIN = np.array([[250, 224, 204], [238, 194, 164], [204, 152, 112], [152, 102, 70], [96, 64, 46]], float)
_HAIR = np.array([[244, 222, 160], [206, 160, 90], [134, 86, 48], [72, 46, 32], [24, 20, 20]], float)
_IRIS = np.array([[92, 60, 36], [70, 110, 160], [80, 120, 70]], float)


def _hsv(h, s, v) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def sample_faces(n: int, seed: int, *, n_identities: int | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], Identities]:
    """Draw ``n`` faces: (strengths n x 8 float32 in [0, 1], nuisance per image, identities).

    Deterministic in ``seed``. ``n_identities`` defaults to one identity per ~5 images.
    """
    rng = np.random.default_rng([seed, 0xFACE])
    k = n_identities or max(1, n // 5)
    identity = assign_identities(rng, n, k)
    strengths, _, z_id = FACE_PRIOR.sample(rng, identity, k)

    per_id = {
        "skin": rng.uniform(0.0, 1.0, k),
        "hair_style": rng.integers(0, len(HAIR_STYLES), k).astype(np.float32),
        "hair_tint": rng.uniform(-1.0, 1.0, k),
        "iris": rng.integers(0, len(_IRIS), k).astype(np.float32),
        "face_width": rng.uniform(0.93, 1.05, k),
        "shirt_hue": rng.uniform(0.0, 1.0, k),
    }
    nuisance = {name: v[identity].astype(np.float32) for name, v in per_id.items()}
    hue = rng.uniform(0.0, 1.0, n)
    nuisance.update({
        "angle": rng.uniform(-0.12, 0.12, n),
        "dx": rng.uniform(-0.06, 0.06, n),
        "dy": rng.uniform(-0.03, 0.07, n),
        "scale": rng.uniform(1.1, 1.25, n),
        "bg_hue": hue,
        "bg_hue2": hue + rng.uniform(-0.15, 0.15, n),
        "bg_sat": rng.uniform(0.15, 0.45, n),
        "bg_val": rng.uniform(0.65, 0.95, n),
        "light_dir": rng.uniform(0.0, 2 * np.pi, n),
        "light_amount": rng.uniform(0.0, 0.12, n),
        "brightness": rng.uniform(0.92, 1.06, n),
    })
    nuisance = {name: np.asarray(v, np.float32) for name, v in nuisance.items()}
    return strengths, nuisance, Identities(identity, to_strength(z_id))


def render_faces(strengths: np.ndarray, nuisance: dict[str, np.ndarray], size: int = 64) -> np.ndarray:
    """Render faces: uint8 n x size x size x 3, one per row of ``strengths``."""
    return render_each(render_face, strengths, nuisance, size)


def render_face(s: np.ndarray, nz: dict[str, float], size: int = 64) -> np.ndarray:
    bald, dark, eyes, masc, mouth, smile, forehead, young = np.clip(s, 0.0, 1.0)
    bg_top = _hsv(nz["bg_hue"], nz["bg_sat"], nz["bg_val"])
    bg_bottom = _hsv(nz["bg_hue2"], nz["bg_sat"] * 1.2, nz["bg_val"] * 0.8)
    cv = Canvas(size, vertical_gradient(size, bg_top, bg_bottom), scale=nz["scale"],
                angle=nz["angle"], offset=(nz["dx"], nz["dy"]))
    skin = lerp_stops(_SKIN, nz["skin"])
    shade = skin * 0.78
    hair = lerp_stops(_HAIR, dark) + nz["hair_tint"] * np.array([16.0, 0.0, -10.0]) * (1 - dark)
    style = HAIR_STYLES[int(nz["hair_style"])]

    fx = 0.43 * nz["face_width"]
    cy, top_ry, low_ry = 0.04, 0.54, 0.60
    top_y = cy - top_ry

    # -- behind the head: long hair, neck, shirt
    length = {"long": 0.78, "bob": 0.40, "curly": 0.30, "short": 0.0}[style] * (1.0 - 0.6 * bald)
    if length > 0:
        back = np.concatenate([ellipse_points(0, cy, fx + 0.10, top_ry + 0.08, 24, np.pi, 2 * np.pi),
                               [[fx + 0.12, cy + length], [-fx - 0.12, cy + length]]])
        cv.polygon(back, rgb(hair * 0.85))
    neck_w = 0.16 + 0.07 * masc
    cv.polygon(np.array([[-neck_w, 0.3], [neck_w, 0.3], [neck_w + 0.02, 0.9], [-neck_w - 0.02, 0.9]]), rgb(shade))
    shirt = _hsv(nz["shirt_hue"], 0.45, 0.75)
    cv.polygon(np.concatenate([ellipse_points(0, 1.25, 0.95, 0.45, 24, np.pi, 2 * np.pi), [[0.95, 1.1], [-0.95, 1.1]]]), rgb(shirt))
    cv.polygon(np.array([[-neck_w, 0.82], [0, 0.95], [neck_w, 0.82]]), rgb(shade))

    # -- head
    for side in (-1, 1):
        cv.ellipse(side * fx * 0.98, cy + 0.08, 0.075, 0.12, rgb(shade))
    jaw = 0.80 + 0.26 * masc
    lower = superellipse_points(0, cy, 1.0, low_ry, 2.0 + 2.4 * masc, 0.0, np.pi, 36)
    frac = np.abs(lower[:, 1] - cy) / low_ry
    lower[:, 0] *= fx * (1.0 - (1.0 - jaw) * frac ** 1.5)
    upper = superellipse_points(0, cy, fx, top_ry, 2.2, np.pi, 2 * np.pi, 36)
    face = np.concatenate([lower, upper])
    cv.polygon(face, rgb(skin))

    # -- age, cheeks, stubble
    ye = 0.05
    wrinkle = rgba(skin * 0.35, 1.0 - young)
    for k in range(3):
        y = -0.17 - 0.065 * k
        cv.line(np.stack([np.linspace(-0.2, 0.2, 9), y + 0.02 * np.linspace(-1, 1, 9) ** 2], 1), wrinkle, 0.026)
    mw = 0.12 + 0.05 * smile
    for side in (-1, 1):
        cv.ellipse(side * 0.26, 0.24, 0.075, 0.055, rgba((235, 100, 115), 0.70 * young))
        fold = np.array([[side * 0.10, 0.20], [side * (mw + 0.03), 0.30], [side * (mw + 0.05), 0.44]])
        cv.line(fold, wrinkle, 0.028)
        cv.line(np.array([[side * 0.11, ye + 0.09], [side * 0.175, ye + 0.115], [side * 0.24, ye + 0.09]]), wrinkle, 0.016)
        cv.line(np.array([[side * 0.32, ye - 0.03], [side * 0.39, ye - 0.07]]), wrinkle, 0.018)
        cv.line(np.array([[side * 0.32, ye + 0.03], [side * 0.39, ye + 0.07]]), wrinkle, 0.018)
    beard = np.clip((masc - 0.4) / 0.6, 0.0, 1.0)
    if beard > 0:
        chin = lower[frac > 0.45]
        cv.polygon(np.concatenate([chin, [[-fx * 0.55, 0.30], [fx * 0.55, 0.30]]]), rgba((60, 52, 52), 0.45 * beard))

    # -- eyes and brows
    rx = 0.050 + 0.070 * eyes
    ry = rx * 0.62
    iris = _IRIS[int(nz["iris"])]
    for side in (-1, 1):
        ex = side * 0.175
        cv.ellipse(ex, ye, rx, ry, (250, 250, 250), outline=rgb(skin * 0.35), width=0.010)
        cv.ellipse(ex, ye, ry * 0.92, ry * 0.92, rgb(iris))
        cv.ellipse(ex, ye, ry * 0.45, ry * 0.45, (20, 15, 15))
        cv.ellipse(ex + ry * 0.3, ye - ry * 0.3, ry * 0.18, ry * 0.18, (255, 255, 255))
        lid = ellipse_points(ex, ye, rx, ry, 16, np.pi, 2 * np.pi)
        cv.line(lid, (25, 20, 20), 0.012 + 0.014 * (1.0 - masc))
        by = ye - ry - 0.045
        brow = np.stack([ex + np.linspace(-1.1, 1.2, 7) * side * 0.09,
                         by - 0.025 * (1 - np.linspace(-1.0, 1.0, 7) ** 2)], 1)
        cv.line(brow, rgb(hair * 0.8), 0.020 + 0.040 * masc)

    # -- nose and mouth
    cv.line(np.array([[-0.04, 0.25], [0.0, 0.27], [0.04, 0.25]]), rgba(skin * 0.5, 0.8), 0.016)
    cv.line(np.array([[0.015, ye + 0.05], [0.035, 0.22]]), rgba(skin * 0.6, 0.5), 0.014)
    _mouth(cv, mw, 0.40, smile, mouth, masc)

    # -- hair over the head: cap, receding crown, side locks
    _hair(cv, hair, skin, style, fx, cy, top_ry, top_y, bald, forehead)
    return cv.finish(nz["light_dir"], nz["light_amount"], nz["brightness"])


def _mouth(cv: Canvas, w: float, ym: float, smile: float, opening: float, masc: float) -> None:
    u = np.linspace(-1.0, 1.0, 21)
    curve = (-0.04 + 0.16 * smile) * u ** 2
    h = 0.004 + 0.14 * opening
    bulge = 1.0 - u ** 2
    yc = ym - curve
    upper = np.stack([w * u, yc - 0.25 * h * bulge], 1)
    lower = np.stack([w * u, yc + 0.75 * h * bulge], 1)
    cv.polygon(np.concatenate([upper, lower[::-1]]), (70, 22, 28))
    if h > 0.02:
        teeth = np.stack([w * u, yc - 0.25 * h * bulge + min(0.35 * h, 0.04) * bulge], 1)
        cv.polygon(np.concatenate([upper, teeth[::-1]]), (240, 238, 228))
    lip = mix((200, 62, 78), (170, 100, 92), masc)
    thick = 0.018 + 0.016 * (1.0 - masc)
    cv.line(upper - [0, thick * 0.4], rgb(lip), thick)
    cv.line(lower + [0, thick * 0.5], rgb(lip), thick * 1.2)
    dimple = np.clip((smile - 0.35) / 0.65, 0.0, 1.0)
    if dimple > 0:
        for side in (-1, 1):
            x0, y0 = side * w, ym - (-0.04 + 0.16 * smile)
            arc = np.array([[x0 + side * 0.015, y0 - 0.04], [x0 + side * 0.035, y0], [x0 + side * 0.015, y0 + 0.04]])
            cv.line(arc, rgba((120, 60, 50), 0.6 * dimple), 0.012)


def _hair(cv: Canvas, hair: np.ndarray, skin: np.ndarray, style: str, fx: float, cy: float, top_ry: float,
          top_y: float, bald: float, forehead: float) -> None:
    volume = (0.10 if style == "curly" else 0.055) * (1.0 - bald) ** 0.8
    t = np.linspace(np.pi, 2 * np.pi, 40)
    bump = 0.025 * (np.abs(np.sin(9 * t)) - 0.5) * (style == "curly") * (1.0 - bald)
    outer = np.stack([(fx + volume + bump) * np.cos(t), cy + (top_ry + volume + bump) * np.sin(t)], 1)
    hairline = -0.06 - 0.40 * forehead
    tilt = {"short": 0.0, "long": 0.06, "bob": -0.05, "curly": 0.0}[style]
    x = np.linspace(fx * 0.92, -fx * 0.92, 15)
    inner = np.stack([x, hairline + 0.06 * (x / fx) ** 2 + tilt * x / fx], 1)
    inner[:, 1] = np.maximum(inner[:, 1], _skull_y(inner[:, 0], fx, cy, top_ry) + 0.02)
    sides = np.array([[fx * 0.97, cy - 0.02]]), np.array([[-fx * 0.97, cy - 0.02]])
    cap = np.concatenate([outer, sides[0], inner, sides[1]])
    cv.polygon(cap, rgb(hair))
    if bald > 0.02:
        g = bald ** 1.4
        crown = ellipse_points(0.0, top_y + 0.02, fx * 1.1 * g, 0.36 * g, 40)
        half = fx * np.sqrt(np.clip(1.0 - ((crown[:, 1] - cy) / top_ry) ** 2, 0.0, 1.0))
        crown[:, 0] = np.clip(crown[:, 0], -half, half)
        crown[:, 1] = np.maximum(crown[:, 1], top_y)
        cv.polygon(crown, rgb(skin))
        cv.ellipse(-0.1, top_y + 0.1 * g, 0.12 * g, 0.05 * g, rgba((255, 255, 255), 0.35 * g))
    for side in (-1, 1):
        lock = np.array([[side * fx * 1.0, cy - 0.26], [side * (fx + volume * 0.5 + 0.02), cy - 0.2],
                         [side * (fx + 0.015), cy + 0.06], [side * fx * 0.93, cy + 0.05], [side * fx * 0.91, cy - 0.22]])
        cv.polygon(lock, rgb(hair))


def _skull_y(x: np.ndarray, fx: float, cy: float, top_ry: float) -> np.ndarray:
    return cy - top_ry * np.sqrt(np.clip(1.0 - (x / fx) ** 2, 0.0, 1.0))
