"""Draw the product images of the bundled running-shoe dataset.

Every image in ``skfusion/data/shoes/images`` is a simple side-view shoe
illustration drawn by this script (kept in ``tools/``, outside the installed
package) with Pillow, so the skfusion project owns
the pictures and distributes them under the package licence (BSD-3-Clause).
No photograph or third-party artwork is involved.

The drawing is deterministic: it uses no randomness other than a fixed
integer hash, no fonts and no time stamps, so rerunning the script with the
same Pillow build reproduces the PNG files byte for byte.

Run it from the repository root with either of::

    python tools/draw_shoe_images.py [OUTPUT_DIR]

Without ``OUTPUT_DIR`` it overwrites the bundled images in
``skfusion/data/shoes/images``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

#: Where the package keeps the drawn images.
BUNDLED_IMAGES = Path(__file__).resolve().parents[1] / "skfusion" / "data" / "shoes" / "images"

__all__ = [
    "BUNDLED_IMAGES",
    "IMAGE_SIZE",
    "SHOE_SPECS",
    "ShoeSpec",
    "draw_all",
    "draw_shoe",
    "main",
]

#: Side length, in pixels, of the square RGB images.
IMAGE_SIZE = 224

# Everything is drawn SUPERSAMPLE times larger and then downsampled, which
# gives smooth (anti-aliased) edges.
_SUPERSAMPLE = 4
_GROUND_Y = 172.0
_HEEL_X = 26.0
_TOE_X = 204.0

Color = tuple[int, int, int]
Point = tuple[float, float]


@dataclass(frozen=True)
class ShoeSpec:
    """Look of one product's illustration.

    Coordinates are in the 224-pixel output frame, the toe points right.

    Parameters
    ----------
    background : tuple of int
        RGB background colour.
    upper : tuple of int
        Main colour of the upper.
    accent : tuple of int
        Colour of the heel counter, toe overlay and collar.
    midsole : tuple of int
        Colour of the foam midsole.
    outsole : tuple of int
        Colour of the rubber outsole strip (and lugs).
    laces : tuple of int
        Colour of the laces.
    logo : tuple of int
        Colour of the logo stripe.
    heel_stack : float
        Sole thickness under the heel.
    fore_stack : float
        Sole thickness under the forefoot.
    toe_spring : float
        How far the toe of the sole curves up off the ground (rocker).
    collar_height : float
        Height of the heel collar above the sole.
    tongue_height : float
        Height of the tongue top above the sole.
    logo_style : str
        One of ``"band"``, ``"stripes"``, ``"chevron"``, ``"wave"``.
    texture : str
        ``"mesh"`` (dotted grid), ``"wool"`` (knit speckles) or ``"plain"``.
    texture_color : tuple of int
        Colour of the texture marks.
    lugs : bool
        Draw deep outsole lugs (trail shoe).
    plate : bool
        Show a stiff plate line inside the midsole (racing shoe).
    medial_post : tuple of int or None
        Colour of a firmer heel wedge in the midsole (stability shoe).
    flare : float
        How far the midsole sticks out behind the heel and in front of the toe.
    """

    background: Color
    upper: Color
    accent: Color
    midsole: Color
    outsole: Color
    laces: Color
    logo: Color
    heel_stack: float
    fore_stack: float
    toe_spring: float
    collar_height: float
    tongue_height: float
    logo_style: str
    texture: str
    texture_color: Color
    lugs: bool = False
    plate: bool = False
    medial_post: Color | None = None
    flare: float = 3.0


#: Drawing specification of every product, keyed by product id. The image of
#: product ``id`` is written to ``<id>.png``.
SHOE_SPECS: dict[str, ShoeSpec] = {
    # Eco shoe: grey-green wool-like knit, cream sugarcane-foam sole.
    "allbirds-tree-dashers": ShoeSpec(
        background=(241, 246, 238),
        upper=(104, 142, 98),
        accent=(78, 112, 74),
        midsole=(238, 232, 212),
        outsole=(150, 136, 112),
        laces=(236, 232, 214),
        logo=(212, 224, 196),
        heel_stack=26,
        fore_stack=18,
        toe_spring=6,
        collar_height=56,
        tongue_height=70,
        logo_style="wave",
        texture="wool",
        texture_color=(152, 184, 138),
        flare=2,
    ),
    # Budget daily trainer: red upper, white sole, black stripes.
    "reebok-floatride-energy-4": ShoeSpec(
        background=(246, 243, 243),
        upper=(196, 42, 48),
        accent=(134, 24, 32),
        midsole=(244, 244, 244),
        outsole=(52, 52, 56),
        laces=(250, 250, 250),
        logo=(30, 30, 34),
        heel_stack=27,
        fore_stack=19,
        toe_spring=7,
        collar_height=58,
        tongue_height=72,
        logo_style="stripes",
        texture="mesh",
        texture_color=(222, 96, 100),
    ),
    # Lightweight daily trainer: low, slim, light blue with yellow stripe.
    "saucony-kinvara-14": ShoeSpec(
        background=(240, 244, 248),
        upper=(70, 150, 214),
        accent=(40, 98, 160),
        midsole=(250, 250, 250),
        outsole=(78, 84, 96),
        laces=(250, 250, 250),
        logo=(250, 212, 52),
        heel_stack=22,
        fore_stack=17,
        toe_spring=6,
        collar_height=48,
        tongue_height=60,
        logo_style="band",
        texture="mesh",
        texture_color=(120, 184, 232),
        flare=2,
    ),
    # Carbon-plated racer: tall, aggressive rocker, pink/orange, visible plate.
    "nike-vaporfly-3": ShoeSpec(
        background=(249, 244, 240),
        upper=(250, 104, 74),
        accent=(226, 60, 96),
        midsole=(248, 236, 226),
        outsole=(60, 60, 64),
        laces=(255, 255, 255),
        logo=(40, 40, 46),
        heel_stack=38,
        fore_stack=30,
        toe_spring=14,
        collar_height=46,
        tongue_height=58,
        logo_style="band",
        texture="plain",
        texture_color=(255, 150, 120),
        plate=True,
        flare=6,
    ),
    # Stability shoe: navy upper, white sole with a grey firmer heel wedge.
    "brooks-adrenaline-gts-23": ShoeSpec(
        background=(239, 241, 246),
        upper=(34, 50, 96),
        accent=(20, 30, 64),
        midsole=(246, 246, 246),
        outsole=(40, 40, 44),
        laces=(232, 236, 244),
        logo=(92, 178, 226),
        heel_stack=30,
        fore_stack=20,
        toe_spring=6,
        collar_height=62,
        tongue_height=76,
        logo_style="chevron",
        texture="mesh",
        texture_color=(72, 92, 146),
        medial_post=(150, 156, 168),
    ),
    # Max-cushion shoe: very thick flared sole, black upper, white foam.
    "hoka-bondi-8": ShoeSpec(
        background=(243, 243, 243),
        upper=(44, 44, 50),
        accent=(24, 24, 28),
        midsole=(252, 252, 252),
        outsole=(64, 64, 70),
        laces=(240, 240, 240),
        logo=(236, 236, 236),
        heel_stack=46,
        fore_stack=40,
        toe_spring=16,
        collar_height=56,
        tongue_height=70,
        logo_style="wave",
        texture="mesh",
        texture_color=(80, 80, 90),
        flare=9,
    ),
    # Trail shoe: deep lugs, dark grey/orange, chunky.
    "salomon-speedcross-6": ShoeSpec(
        background=(242, 240, 236),
        upper=(70, 72, 78),
        accent=(236, 112, 32),
        midsole=(58, 60, 64),
        outsole=(30, 30, 32),
        laces=(236, 112, 32),
        logo=(236, 112, 32),
        heel_stack=26,
        fore_stack=18,
        toe_spring=8,
        collar_height=60,
        tongue_height=74,
        logo_style="chevron",
        texture="mesh",
        texture_color=(98, 100, 108),
        lugs=True,
    ),
    # Minimalist barefoot shoe: paper-thin flat sole, low sand-coloured upper.
    "merrell-vapor-glove-6": ShoeSpec(
        background=(244, 242, 238),
        upper=(196, 170, 120),
        accent=(142, 116, 76),
        midsole=(96, 80, 60),
        outsole=(70, 58, 44),
        laces=(90, 74, 54),
        logo=(110, 90, 64),
        heel_stack=8,
        fore_stack=8,
        toe_spring=3,
        collar_height=44,
        tongue_height=56,
        logo_style="stripes",
        texture="plain",
        texture_color=(210, 190, 150),
        flare=1,
    ),
}


# --------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------


def _scale(points: Sequence[Point]) -> list[Point]:
    """Scale points from the 224-pixel frame to the supersampled canvas."""
    return [(x * _SUPERSAMPLE, y * _SUPERSAMPLE) for x, y in points]


def _catmull_rom(points: Sequence[Point], closed: bool, steps: int = 16) -> list[Point]:
    """Sample a smooth Catmull-Rom spline through ``points``."""
    n = len(points)
    out: list[Point] = []
    segments = n if closed else n - 1
    for i in range(segments):
        p0 = points[(i - 1) % n] if closed or i > 0 else points[0]
        p1 = points[i]
        p2 = points[(i + 1) % n]
        p3 = points[(i + 2) % n] if closed or i + 2 < n else points[-1]
        for k in range(steps):
            t = k / steps
            t2, t3 = t * t, t * t * t
            x = 0.5 * (
                2 * p1[0]
                + (p2[0] - p0[0]) * t
                + (2 * p0[0] - 5 * p1[0] + 4 * p2[0] - p3[0]) * t2
                + (3 * p1[0] - p0[0] - 3 * p2[0] + p3[0]) * t3
            )
            y = 0.5 * (
                2 * p1[1]
                + (p2[1] - p0[1]) * t
                + (2 * p0[1] - 5 * p1[1] + 4 * p2[1] - p3[1]) * t2
                + (3 * p1[1] - p0[1] - 3 * p2[1] + p3[1]) * t3
            )
            out.append((x, y))
    if not closed:
        out.append(points[-1])
    return out


def _hash01(i: int, j: int, salt: int) -> float:
    """Deterministic pseudo-random number in [0, 1) from integer inputs."""
    h = (i * 73856093) ^ (j * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    h ^= h >> 16
    return (h & 0xFFFF) / 65536.0


def _sole_top(spec: ShoeSpec, x: float) -> float:
    """Y coordinate of the top of the sole (where the upper sits) at ``x``."""
    t = min(max((x - _HEEL_X) / (_TOE_X - _HEEL_X), 0.0), 1.0)
    stack = spec.heel_stack + (spec.fore_stack - spec.heel_stack) * min(t / 0.75, 1.0)
    return _sole_bottom(spec, x) - stack


def _sole_bottom(spec: ShoeSpec, x: float) -> float:
    """Y coordinate of the bottom of the sole (above lugs) at ``x``."""
    base = _GROUND_Y - (7.0 if spec.lugs else 0.0)
    # Toe spring: the front 30 % of the sole curves up off the ground,
    # the back edge of the heel is bevelled slightly.
    t = (x - _HEEL_X) / (_TOE_X - _HEEL_X)
    lift = 0.0
    if t > 0.62:
        u = (t - 0.62) / 0.38
        lift = spec.toe_spring * u * u
    elif t < 0.06:
        u = (0.06 - t) / 0.06
        lift = 3.0 * u * u
    return base - lift


def _upper_outline(spec: ShoeSpec) -> list[Point]:
    """Closed outline of the upper (heel at left, toe at right)."""
    heel_base = _sole_top(spec, _HEEL_X + 4)
    toe_base = _sole_top(spec, _TOE_X - 8)
    collar = heel_base - spec.collar_height
    tongue = _sole_top(spec, 80) - spec.tongue_height
    anchors: list[Point] = [
        (_HEEL_X + 4, heel_base + 4),
        (_HEEL_X - 2, heel_base - spec.collar_height * 0.45),
        (_HEEL_X + 2, collar + 2),
        (_HEEL_X + 12, collar - 2),
        (_HEEL_X + 32, collar + 10),
        (68, tongue + 12),
        (74, tongue),
        (84, tongue + 2),
        (110, tongue + spec.tongue_height * 0.26),
        (146, tongue + spec.tongue_height * 0.52),
        (178, toe_base - 22),
        (_TOE_X - 2, toe_base - 9),
        (_TOE_X - 4, toe_base + 4),
        (130, _sole_top(spec, 130) + 4),
        (70, _sole_top(spec, 70) + 4),
    ]
    return _catmull_rom(anchors, closed=True)


def _top_edge_y(outline: Sequence[Point], x: float) -> float:
    """Smallest y (top edge) of the closed ``outline`` at abscissa ``x``."""
    best = math.inf
    n = len(outline)
    for i in range(n):
        (x0, y0), (x1, y1) = outline[i], outline[(i + 1) % n]
        if x0 == x1 or not (min(x0, x1) <= x <= max(x0, x1)):
            continue
        y = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        best = min(best, y)
    return best


def _sole_outline(spec: ShoeSpec, top_offset: float = 0.0) -> list[Point]:
    """Closed outline of the midsole (from sole top down to sole bottom)."""
    # The foam flares out towards the ground: the bottom edge is longer.
    inset = 0.6 * spec.flare
    start, stop = _HEEL_X - spec.flare, _TOE_X + spec.flare
    top_xs = [start + inset + i * (stop - start - 2 * inset) / 40 for i in range(41)]
    bottom_xs = [start + i * (stop - start) / 40 for i in range(41)]
    top = [(x, _sole_top(spec, x) + top_offset) for x in top_xs]
    bottom = [(x, _sole_bottom(spec, x)) for x in reversed(bottom_xs)]
    return top + bottom


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------


def _draw_texture(spec: ShoeSpec, size: int, salt: int) -> Image.Image:
    """Texture layer for the upper, to be pasted through the upper mask."""
    layer = Image.new("RGB", (size, size), spec.upper)
    if spec.texture == "plain":
        return layer
    draw = ImageDraw.Draw(layer)
    s = _SUPERSAMPLE
    if spec.texture == "mesh":
        step = 5
        for j in range(0, IMAGE_SIZE // step):
            for i in range(0, IMAGE_SIZE // step):
                cx = (i * step + (step / 2 if j % 2 else 0)) * s
                cy = float(j * step * s)
                r = 0.9 * s
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=spec.texture_color)
    elif spec.texture == "wool":
        step = 4
        for j in range(0, IMAGE_SIZE // step):
            for i in range(0, IMAGE_SIZE // step):
                h = _hash01(i, j, salt)
                if h < 0.45:
                    continue
                cx = (i * step + 3 * _hash01(j, i, salt + 1)) * s
                cy = (j * step + 3 * _hash01(i + 7, j, salt + 2)) * s
                length = (1.2 + 1.6 * h) * s
                color = spec.texture_color if h > 0.7 else spec.accent
                draw.line((cx, cy, cx + length, cy - length * 0.35), fill=color, width=s)
    return layer


def _draw_logo(draw: ImageDraw.ImageDraw, spec: ShoeSpec, outline: Sequence[Point]) -> None:
    """Draw the logo stripe on the side of the upper."""
    base = _sole_top(spec, 110)
    top = _top_edge_y(outline, 110)
    h = base - top
    s = _SUPERSAMPLE
    if spec.logo_style == "band":
        # One gently curved band of constant width with rounded ends.
        pts = _catmull_rom(
            [(50, base - 0.22 * h), (96, base - 0.26 * h), (146, base - 0.50 * h)], closed=False
        )
        draw.line(_scale(pts), fill=spec.logo, width=5 * s, joint="curve")
        for x, y in (pts[0], pts[-1]):
            r = 2.5
            draw.ellipse(((x - r) * s, (y - r) * s, (x + r) * s, (y + r) * s), fill=spec.logo)
    elif spec.logo_style == "stripes":
        # Two thin parallel "speed lines" rising towards the toe.
        for k in range(2):
            y0 = base - 0.20 * h - 7 * k
            pts = [(46, y0 + 2), (150, y0 - 0.22 * h)]
            draw.line(_scale(pts), fill=spec.logo, width=2 * s)
    elif spec.logo_style == "chevron":
        for k in range(2):
            off = 12 * k
            pts = [
                (70 + off, base - 0.18 * h),
                (100 + off, base - 0.50 * h),
                (70 + off, base - 0.82 * h + 8),
            ]
            draw.line(_scale(pts), fill=spec.logo, width=4 * s, joint="curve")
    elif spec.logo_style == "wave":
        pts = [(50 + 3 * k, base - 0.40 * h + 6 * math.sin(k * 0.42)) for k in range(0, 31)]
        draw.line(_scale(pts), fill=spec.logo, width=4 * s, joint="curve")
    else:  # pragma: no cover - guarded by the spec table
        raise ValueError(f"unknown logo style {spec.logo_style!r}")


def _draw_laces(
    draw: ImageDraw.ImageDraw, spec: ShoeSpec, outline: Sequence[Point], dark: Color
) -> None:
    """Draw eyelets, lace bars and a bow along the top of the vamp."""
    s = _SUPERSAMPLE
    xs = [86 + 12 * k for k in range(5)]
    eyelets = [(x, _top_edge_y(outline, x) + 6) for x in xs]
    # Lace bars run from each eyelet forwards over the top edge of the
    # upper, like laces seen from the side.
    for x, y in eyelets:
        end = (x + 7, _top_edge_y(outline, x + 7) - 1.5)
        draw.line(_scale([(x, y), end]), fill=dark, width=5 * s)
        draw.line(_scale([(x, y), end]), fill=spec.laces, width=3 * s)
    for x, y in eyelets:
        r = 1.6
        draw.ellipse(
            tuple(v * s for v in (x - r, y - r, x + r, y + r)), fill=dark, outline=spec.laces
        )
    # The bow: two loops and two loose ends at the first lace bar.
    x0 = xs[0] + 4
    y0 = _top_edge_y(outline, x0) - 1
    for box in ((x0 - 11, y0 - 7, x0, y0 + 1), (x0 - 2, y0 - 9, x0 + 8, y0 - 1)):
        draw.ellipse(tuple(v * s for v in box), outline=dark, width=3 * s)
        inner = (box[0] + 0.5, box[1] + 0.5, box[2] - 0.5, box[3] - 0.5)
        draw.ellipse(tuple(v * s for v in inner), outline=spec.laces, width=2 * s)
    for dx in (-6.0, 3.0):
        tail = [(x0, y0), (x0 + dx, y0 + 9)]
        draw.line(_scale(tail), fill=spec.laces, width=2 * s)


def draw_shoe(spec: ShoeSpec, salt: int = 0) -> Image.Image:
    """Draw one side-view shoe illustration.

    Parameters
    ----------
    spec : ShoeSpec
        Colours and shape of the shoe.
    salt : int, default=0
        Seed of the deterministic hash used for knit textures.

    Returns
    -------
    PIL.Image.Image
        A 224×224 RGB image.
    """
    s = _SUPERSAMPLE
    size = IMAGE_SIZE * s
    img = Image.new("RGB", (size, size), spec.background)
    draw = ImageDraw.Draw(img)

    # Soft ground shadow.
    shadow = tuple(max(c - 22, 0) for c in spec.background)
    draw.ellipse(
        (14 * s, (_GROUND_Y - 4) * s, 214 * s, (_GROUND_Y + 8) * s),
        fill=shadow,
    )

    # Upper: textured body through a mask, then overlays.
    outline = _upper_outline(spec)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(_scale(outline), fill=255)
    img.paste(_draw_texture(spec, size, salt), (0, 0), mask)

    # Heel counter and toe overlay in the accent colour, clipped to the upper.
    overlay = Image.new("L", (size, size), 0)
    odraw = ImageDraw.Draw(overlay)
    heel_base = _sole_top(spec, _HEEL_X)
    odraw.polygon(
        _scale(
            _catmull_rom(
                [
                    (_HEEL_X - 6, heel_base + 4),
                    (_HEEL_X - 6, heel_base - spec.collar_height * 0.75),
                    (_HEEL_X + 16, heel_base - spec.collar_height * 0.45),
                    (_HEEL_X + 30, heel_base + 4),
                ],
                closed=False,
            )
        ),
        fill=255,
    )
    toe_base = _sole_top(spec, _TOE_X - 10)
    odraw.polygon(
        _scale(
            _catmull_rom(
                [
                    (_TOE_X + 4, toe_base + 4),
                    (170, toe_base + 4),
                    (180, toe_base - 14),
                    (_TOE_X + 4, toe_base - 30),
                ],
                closed=False,
            )
        ),
        fill=255,
    )
    overlay = Image.composite(overlay, Image.new("L", (size, size), 0), mask)
    img.paste(spec.accent, (0, 0, size, size), overlay)

    _draw_logo(draw, spec, outline)

    # Collar lining: a darker rim along the ankle opening.
    collar_pts = [p for p in outline if _HEEL_X <= p[0] <= 70 and p[1] < heel_base - 20]
    if collar_pts:
        draw.line(_scale(collar_pts), fill=spec.accent, width=3 * s, joint="curve")
    # Heel pull tab.
    dark: Color = (
        int(spec.accent[0] * 0.45),
        int(spec.accent[1] * 0.45),
        int(spec.accent[2] * 0.45),
    )
    tab_x = _HEEL_X + 3
    tab_y = _top_edge_y(outline, tab_x)
    draw.rounded_rectangle(
        ((tab_x - 3) * s, (tab_y - 5) * s, (tab_x + 3) * s, (tab_y + 8) * s),
        radius=2 * s,
        fill=spec.laces,
        outline=dark,
        width=s,
    )

    _draw_laces(draw, spec, outline, dark)

    # Outline of the upper for a clean illustration look.
    draw.line(_scale([*outline, outline[0]]), fill=dark, width=s + 1, joint="curve")

    # Sole: outsole strip, midsole, optional plate and medial post.
    sole = _sole_outline(spec)
    draw.polygon(_scale(sole), fill=spec.midsole, outline=dark, width=s)
    if spec.medial_post is not None:
        post_top = [(x, y + 3) for x, y in sole[:16]]
        post_bottom = [(x, _sole_bottom(spec, x) - 3) for x, _ in reversed(sole[:16])]
        draw.polygon(_scale(post_top + post_bottom), fill=spec.medial_post)
    if spec.plate:
        plate = [
            (x, _sole_top(spec, x) + 0.45 * (_sole_bottom(spec, x) - _sole_top(spec, x)))
            for x, _ in sole[:41]
        ]
        draw.line(_scale(plate), fill=(30, 30, 34), width=2 * s, joint="curve")
    bottom_xs = [x for x, _ in reversed(sole[41:])]
    strip = [(x, _sole_bottom(spec, x) - 3.5) for x in bottom_xs]
    strip += [(x, _sole_bottom(spec, x)) for x in reversed(bottom_xs)]
    draw.polygon(_scale(strip), fill=spec.outsole)
    if spec.lugs:
        for k in range(11):
            x = _HEEL_X + 4 + k * (_TOE_X - _HEEL_X - 14) / 10
            y = _sole_bottom(spec, x)
            lug = [(x - 5, y - 1), (x + 5, y - 1), (x + 3, y + 7), (x - 3, y + 7)]
            draw.polygon(_scale(lug), fill=spec.outsole)
    # Flex grooves / foam texture line along the midsole.
    if spec.heel_stack >= 20:
        line = [
            (x, _sole_top(spec, x) + 0.7 * (_sole_bottom(spec, x) - _sole_top(spec, x)))
            for x, _ in sole[4:37]
        ]
        light = tuple(max(c - 26, 0) for c in spec.midsole)
        draw.line(_scale(line), fill=light, width=s, joint="curve")

    return img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)


def draw_all(output_dir: str | Path | None = None) -> list[Path]:
    """Draw every product image and write ``<id>.png`` files.

    Parameters
    ----------
    output_dir : str or path-like, optional
        Directory that receives the PNG files; created if missing. Defaults
        to the bundled images, ``skfusion/data/shoes/images``.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of :data:`SHOE_SPECS`.
    """
    out = Path(output_dir) if output_dir is not None else BUNDLED_IMAGES
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for salt, (product_id, spec) in enumerate(SHOE_SPECS.items()):
        path = out / f"{product_id}.png"
        # No metadata, fixed compression: identical bytes on every run.
        draw_shoe(spec, salt=salt).save(path, format="PNG", optimize=True)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status (0).
    """
    parser = argparse.ArgumentParser(description="Draw the skfusion running-shoe images.")
    parser.add_argument(
        "output_dir",
        nargs="?",
        default=None,
        help="where to write the PNG files (default: the bundled images folder)",
    )
    args = parser.parse_args(argv)
    for path in draw_all(args.output_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
