"""A data-free colour world: procedurally drawn icon families (balloons, suns, trees, houses, ...).

A *family* is one kind of thing with its own shape and palette; a *member* is a seed that varies it
-- shade, size, pose, details -- the way emoji fonts draw the same object differently. Each icon is
drawn with PIL only (no emoji, no fonts) at 4x in a unit box, downsampled for anti-aliasing, and
returned as 128x128 RGBA on a transparent background; `meta.images.to_icon` turns it into what a
colour generator sees. The studio's built-in colour example sets are these families: no model was
trained on them.
"""
from __future__ import annotations

import colorsys
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from .images import to_icon

SIZE = 128  # the drawn icon
SUPERSAMPLE = 4  # drawn at 4x, then downsampled: PIL's shapes have no anti-aliasing of their own
OUTLINE = 0.022  # outline width, as a fraction of the box (~0.7 px once the icon is 32x32)


def shade(hsv, rng, hue: float = 0.02, sat: float = 0.08, val: float = 0.08) -> tuple[int, int, int]:
    """One member's colour: a base colour (h, s, v in [0, 1]) with its hue, saturation, value jittered."""
    h, s, v = hsv
    h = (h + rng.uniform(-hue, hue)) % 1.0
    s, v = np.clip(s + rng.uniform(-sat, sat), 0, 1), np.clip(v + rng.uniform(-val, val), 0, 1)
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))


def mix(rgb, other, t: float) -> tuple[int, int, int]:
    return tuple(round(a + (b - a) * t) for a, b in zip(rgb, other))


def darker(rgb, t: float = 0.45):
    return mix(rgb, (20, 20, 30), t)


def lighter(rgb, t: float = 0.5):
    return mix(rgb, (255, 255, 255), t)


class Canvas:
    """Shapes in unit coordinates ((0, 0) top left, (1, 1) bottom right), scaled by `scale` about the
    centre; every filled shape gets a darker outline of its own colour, as emoji art does."""

    def __init__(self, scale: float = 1.0):
        self.px = SIZE * SUPERSAMPLE
        self.scale = scale
        self.image = Image.new("RGBA", (self.px, self.px), (0, 0, 0, 0))
        self.pen = ImageDraw.Draw(self.image)

    def p(self, x, y) -> tuple[float, float]:
        s = self.scale
        return ((0.5 + s * (x - 0.5)) * self.px, (0.5 + s * (y - 0.5)) * self.px)

    def w(self, width: float) -> int:
        return max(1, round(width * self.scale * self.px))

    def box(self, x0, y0, x1, y1):
        (a, b), (c, d) = self.p(x0, y0), self.p(x1, y1)
        return [a, b, c, d]

    def ellipse(self, cx, cy, rx, ry, fill, outline: bool = True):
        self.pen.ellipse(self.box(cx - rx, cy - ry, cx + rx, cy + ry), fill=fill,
                         outline=darker(fill) if outline else None, width=self.w(OUTLINE) if outline else 0)

    def circle(self, cx, cy, r, fill, outline: bool = True):
        self.ellipse(cx, cy, r, r, fill, outline)

    def polygon(self, points, fill, outline: bool = True):
        self.pen.polygon([self.p(*q) for q in points], fill=fill, outline=darker(fill) if outline else None,
                         width=self.w(OUTLINE) if outline else 0)

    def rect(self, x0, y0, x1, y1, fill, radius: float = 0.0, outline: bool = True):
        self.pen.rounded_rectangle(self.box(x0, y0, x1, y1), radius=self.w(radius), fill=fill,
                                   outline=darker(fill) if outline else None, width=self.w(OUTLINE) if outline else 0)

    def line(self, points, fill, width: float):
        xy = [self.p(*q) for q in points]
        self.pen.line(xy, fill=fill, width=self.w(width), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps
            r = self.w(width) / 2
            self.pen.ellipse([x - r, y - r, x + r, y + r], fill=fill)

    def arc(self, cx, cy, r, start, end, fill, width: float):
        self.pen.arc(self.box(cx - r, cy - r, cx + r, cy + r), start, end, fill=fill, width=self.w(width))


def wave(x0, y0, x1, y1, amplitude: float, turns: float, phase: float, n: int = 24):
    """Points along a wavy line from (x0, y0) to (x1, y1) (a balloon's string, steam)."""
    t = np.linspace(0, 1, n)
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    off = amplitude * np.sin(2 * math.pi * turns * t + phase)
    return list(zip(x0 + dx * t - dy / length * off, y0 + dy * t + dx / length * off))


# ---- the families: each draws one member on a Canvas and returns its pose (degrees, mirrored) ----

def balloon(c: Canvas, rng):
    body = shade((0.99, 0.78, 0.88), rng, hue=0.035)
    ry = rng.uniform(0.27, 0.31)
    rx, cy = ry * rng.uniform(0.78, 0.88), 0.36
    string = wave(0.5, cy + ry + 0.04, 0.5 + rng.uniform(-0.06, 0.06), 0.97, rng.uniform(0.015, 0.035), rng.uniform(1, 2), rng.uniform(0, 6))
    c.line(string, (90, 90, 100), 0.014)
    c.polygon([(0.5, cy + ry - 0.02), (0.45, cy + ry + 0.05), (0.55, cy + ry + 0.05)], darker(body, 0.15))
    c.ellipse(0.5, cy, rx, ry, body)
    c.ellipse(0.5 - rx * 0.42, cy - ry * 0.42, rx * 0.18, ry * 0.24, lighter(body, 0.65), outline=False)  # highlight
    return rng.uniform(-16, 16), False


def sun(c: Canvas, rng):
    disc, ray = shade((0.14, 0.85, 1.0), rng, hue=0.012, val=0.04), shade((0.09, 0.9, 0.98), rng, hue=0.02, val=0.04)
    n, r = int(rng.choice([8, 10, 12])), rng.uniform(0.2, 0.24)
    reach, half = rng.uniform(0.4, 0.47), math.pi / n * rng.uniform(0.45, 0.6)
    for k in range(n):
        a = 2 * math.pi * k / n
        c.polygon([(0.5 + (r - 0.02) * math.cos(a - half * 1.3), 0.5 + (r - 0.02) * math.sin(a - half * 1.3)),
                   (0.5 + reach * math.cos(a), 0.5 + reach * math.sin(a)),
                   (0.5 + (r - 0.02) * math.cos(a + half * 1.3), 0.5 + (r - 0.02) * math.sin(a + half * 1.3))], ray)
    c.circle(0.5, 0.5, r, disc)
    if rng.random() < 0.5:  # a smiling face
        eye = darker(ray, 0.6)
        c.circle(0.5 - r * 0.38, 0.5 - r * 0.2, r * 0.12, eye, outline=False)
        c.circle(0.5 + r * 0.38, 0.5 - r * 0.2, r * 0.12, eye, outline=False)
        c.arc(0.5, 0.5 + r * 0.05, r * 0.5, 30, 150, eye, 0.025)
    return rng.uniform(0, 360 / n), False


def tree(c: Canvas, rng):
    leaves, bark = shade((0.31, 0.72, 0.68), rng, hue=0.04, val=0.12), shade((0.07, 0.65, 0.5), rng, hue=0.015)
    top = rng.uniform(0.55, 0.62)
    c.rect(0.44, top, 0.56, 0.95, bark, radius=0.02)
    lobes = int(rng.integers(3, 6))
    for k in range(lobes):  # a cloud of round lobes around the crown's centre
        a = math.pi * (0.1 + 0.8 * k / (lobes - 1)) + rng.uniform(-0.15, 0.15)
        c.circle(0.5 - 0.15 * math.cos(a), 0.4 - 0.12 * math.sin(a) + 0.06, rng.uniform(0.15, 0.19), leaves)
    c.circle(0.5, 0.3, rng.uniform(0.17, 0.2), leaves)
    c.ellipse(0.5, 0.43, 0.22, 0.12, leaves, outline=False)  # fill the crown's inner outlines
    if rng.random() < 0.5:  # fruit
        fruit = shade((0.0, 0.85, 0.9), rng)
        for _ in range(int(rng.integers(3, 6))):
            c.circle(0.5 + rng.uniform(-0.22, 0.22), 0.36 + rng.uniform(-0.14, 0.12), 0.035, fruit)
    return rng.uniform(-6, 6), bool(rng.random() < 0.5)


def house(c: Canvas, rng):
    wall, roof = shade((0.11, 0.28, 0.95), rng, hue=0.03, sat=0.1, val=0.04), shade((0.01, 0.75, 0.78), rng, hue=0.02)
    eave = rng.uniform(0.44, 0.5)
    if rng.random() < 0.7:  # chimney
        c.rect(0.64, 0.2, 0.73, 0.4, darker(roof, 0.15))
    c.rect(0.22, eave - 0.02, 0.78, 0.92, wall)
    c.polygon([(0.12, eave + 0.02), (0.5, rng.uniform(0.12, 0.18)), (0.88, eave + 0.02)], roof)
    door = shade((0.07, 0.7, 0.55), rng)
    dx = rng.choice([0.3, 0.56])
    c.rect(dx, 0.66, dx + 0.14, 0.92, door, radius=0.02)
    glass = shade((0.56, 0.35, 0.98), rng, hue=0.02)
    wx = 0.58 if dx < 0.5 else 0.28
    c.rect(wx, eave + 0.1, wx + 0.14, eave + 0.24, glass)
    c.line([(wx + 0.07, eave + 0.1), (wx + 0.07, eave + 0.24)], darker(glass), 0.015)
    c.line([(wx, eave + 0.17), (wx + 0.14, eave + 0.17)], darker(glass), 0.015)
    return rng.uniform(-3, 3), False


def fish(c: Canvas, rng):
    body = shade((0.075, 0.88, 0.98), rng, hue=0.02, val=0.05)
    ry = rng.uniform(0.17, 0.22)
    c.polygon([(0.68, 0.5), (0.93, 0.5 - ry * 1.2), (0.88, 0.5), (0.93, 0.5 + ry * 1.2)], darker(body, 0.1))  # tail
    c.polygon([(0.38, 0.5 - ry + 0.02), (0.52, 0.5 - ry - 0.1), (0.6, 0.5 - ry + 0.03)], darker(body, 0.1))  # top fin
    c.ellipse(0.44, 0.5, 0.32, ry, body)
    if rng.random() < 0.6:  # stripes
        for x in (0.36, 0.54)[: int(rng.integers(1, 3))]:
            c.polygon([(x - 0.03, 0.5 - ry * 0.9), (x + 0.03, 0.5 - ry * 0.9), (x + 0.04, 0.5 + ry * 0.9), (x - 0.02, 0.5 + ry * 0.9)],
                      (250, 250, 250), outline=False)
    c.circle(0.24, 0.46, 0.055, (255, 255, 255))
    c.circle(0.23, 0.46, 0.028, (25, 25, 35), outline=False)
    return rng.uniform(-14, 14), bool(rng.random() < 0.5)


def flower(c: Canvas, rng):
    petal, stem = shade((0.9, 0.55, 0.95), rng, hue=0.05, sat=0.12), shade((0.33, 0.7, 0.6), rng, hue=0.03)
    c.line([(0.5, 0.45), (0.5 + rng.uniform(-0.04, 0.04), 0.96)], stem, 0.045)
    side = rng.choice([-1, 1])
    c.polygon([(0.5, 0.8), (0.5 + side * 0.13, 0.66), (0.5 + side * 0.24, 0.7), (0.5 + side * 0.12, 0.8)], stem)  # leaf
    n, phase = int(rng.integers(5, 9)), rng.uniform(0, math.pi)
    ring, r = rng.uniform(0.15, 0.17), rng.uniform(0.1, 0.12)
    for k in range(n):
        a = phase + 2 * math.pi * k / n
        c.circle(0.5 + ring * math.cos(a), 0.36 + ring * math.sin(a), r, petal)
    c.circle(0.5, 0.36, rng.uniform(0.08, 0.1), shade((0.13, 0.85, 1.0), rng, hue=0.01, val=0.03))
    return rng.uniform(-10, 10), False


def mug(c: Canvas, rng):
    body = shade((0.55, 0.7, 0.78), rng, hue=0.05, val=0.1)
    for k in range(int(rng.integers(1, 4))):  # steam
        x = 0.33 + 0.12 * k
        c.line(wave(x, 0.28, x, 0.06, 0.025, 1.0, rng.uniform(0, 6)), (175, 180, 190), 0.022)
    c.ellipse(0.76, 0.58, 0.13, 0.14, body)  # handle: a ring...
    c.ellipse(0.76, 0.58, 0.065, 0.075, (0, 0, 0, 0), outline=False)  # ...with a see-through hole
    c.rect(0.22, 0.32, 0.72, 0.9, body, radius=0.06)
    c.ellipse(0.47, 0.35, 0.23, 0.04, shade((0.07, 0.75, 0.42), rng, val=0.05))  # coffee
    if rng.random() < 0.5:  # a pale band round the middle
        c.rect(0.22, 0.56, 0.72, 0.64, lighter(body, 0.6), outline=False)
    return rng.uniform(-5, 5), bool(rng.random() < 0.5)


def mushroom(c: Canvas, rng):
    cap, stalk = shade((0.995, 0.82, 0.86), rng, hue=0.02), shade((0.12, 0.18, 0.96), rng, hue=0.02, val=0.03)
    c.rect(0.39, 0.48, 0.61, 0.9, stalk, radius=0.07)
    rx, ry, base = rng.uniform(0.36, 0.42), rng.uniform(0.26, 0.32), 0.55
    c.pen.pieslice(c.box(0.5 - rx, base - ry, 0.5 + rx, base + ry), 180, 360, fill=cap, outline=darker(cap), width=c.w(OUTLINE))
    spots = [(0.5, base - ry * 0.62), (0.5 - rx * 0.55, base - ry * 0.35), (0.5 + rx * 0.55, base - ry * 0.35),
             (0.5 - rx * 0.2, base - ry * 0.2), (0.5 + rx * 0.25, base - ry * 0.18)]
    for x, y in spots[: int(rng.integers(3, 6))]:
        c.circle(x + rng.uniform(-0.02, 0.02), y, rng.uniform(0.045, 0.065), (252, 250, 245), outline=False)
    return rng.uniform(-10, 10), False


FAMILIES: dict[str, Callable] = {"Balloons": balloon, "Suns": sun, "Trees": tree, "Houses": house, "Fish": fish,
                                 "Flowers": flower, "Mugs": mug, "Mushrooms": mushroom}


def draw(family: str, member: int) -> Image.Image:
    """One icon (RGBA 128x128, transparent background): member `member` of `family`."""
    if family not in FAMILIES:
        raise ValueError(f"unknown icon family {family!r}: one of {list(FAMILIES)}")
    rng = np.random.default_rng([list(FAMILIES).index(family), member])
    canvas = Canvas(scale=rng.uniform(0.8, 1.0))
    angle, mirrored = FAMILIES[family](canvas, rng)
    image = canvas.image.rotate(angle, resample=Image.Resampling.BICUBIC)
    if mirrored:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def example_sets(shots: int = 5) -> dict[str, list[Image.Image]]:
    """The studio's built-in colour example sets: family name -> `shots` members, as RGBA pictures."""
    return {name: [draw(name, m) for m in range(shots)] for name in FAMILIES}


def icon_arrays(shots: int = 5, first: int = 0) -> np.ndarray:
    """Every family's members first..first+shots as the model sees them: (families, shots, 3, 32, 32) in [-1, 1]."""
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    return np.stack([np.stack([to_icon(draw(name, m)) for m in range(first, first + shots)]) for name in FAMILIES])


if __name__ == "__main__":  # python -m meta.icons OUT.png [members]: a sheet of every family, as drawn and at 32x32
    import sys

    out, members = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8
    from .images import to_pil

    sheet = Image.new("RGB", (members * 2 * 68 + 8, len(FAMILIES) * 68 + 8), (255, 255, 255))
    for row, name in enumerate(FAMILIES):
        for m in range(members):
            icon = draw(name, m)
            sheet.paste(icon.resize((64, 64), Image.Resampling.LANCZOS), (8 + m * 68, 8 + row * 68), icon.resize((64, 64)))
            sheet.paste(to_pil(to_icon(icon), 2), (8 + (members + m) * 68, 8 + row * 68))
    sheet.save(out)
    print(f"wrote {out}: left, as drawn; right, what the model sees (32x32, shown 2x)")
