"""A data-free task family: procedurally drawn glyphs of an invented script.

A *character* is a seed: 1-4 strokes (Bezier curves, lines, hooks, dots) in a unit box. A *drawer*
is another seed: jitter of the control points, stroke width, a small affine map and a smooth
wobble along each stroke -- the way twenty people draw the same Omniglot character. No font or
data file is needed, so tests and the app's built-in example sets work on any machine.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .images import to_glyph
from .omniglot import GlyphSet

CANVAS = 105  # Omniglot's drawing size


def _bezier(points: np.ndarray, n: int = 40) -> np.ndarray:
    """Points along a Bezier curve with the given control points (k, 2) -> (n, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    k = len(points) - 1
    coeff = [math.comb(k, i) * t**i * (1 - t) ** (k - i) for i in range(k + 1)]
    return sum(c * p for c, p in zip(coeff, points))


def character_strokes(character: int) -> list[np.ndarray]:
    """The ideal strokes of a character: a list of control-point arrays in [0.1, 0.9]^2 (dots have 1 point)."""
    rng = np.random.default_rng(10_000 + character)
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["curve", "line", "hook"], p=[0.5, 0.3, 0.2])
        n_ctrl = {"curve": 3, "line": 2, "hook": 4}[kind]
        start = rng.uniform(0.15, 0.85, 2)
        pts = [start]
        for _ in range(n_ctrl - 1):  # each control point a step away from the previous one
            angle, length = rng.uniform(0, 2 * math.pi), rng.uniform(0.25, 0.55)
            pts.append(np.clip(pts[-1] + length * np.array([math.cos(angle), math.sin(angle)]), 0.1, 0.9))
        strokes.append(np.array(pts))
    if rng.random() < 0.35:  # a diacritic dot
        strokes.append(rng.uniform(0.15, 0.85, (1, 2)))
    return strokes


def draw(character: int, drawer: int) -> Image.Image:
    """One drawing (RGB, dark ink on white, 105x105) of `character` by `drawer`."""
    rng = np.random.default_rng((character + 1) * 1_000_003 + drawer)
    angle, scale = rng.normal(0, 0.08), rng.uniform(0.88, 1.08)
    shear = rng.normal(0, 0.08)
    affine = scale * np.array([[math.cos(angle), -math.sin(angle) + shear], [math.sin(angle), math.cos(angle)]])
    shift = rng.normal(0, 0.02, 2)
    width = int(rng.integers(5, 10))
    img = Image.new("RGB", (CANVAS, CANVAS), "white")
    pen = ImageDraw.Draw(img)
    for ctrl in character_strokes(character):
        ctrl = ctrl + rng.normal(0, 0.035, ctrl.shape)  # where this drawer puts each control point
        if len(ctrl) == 1:
            path = ctrl
        else:
            path = _bezier(ctrl)
            wobble = np.cumsum(rng.normal(0, 0.004, path.shape), axis=0)  # a hand's slow drift
            path = path + wobble - wobble.mean(0)
        path = (path - 0.5) @ affine.T + 0.5 + shift
        xy = [tuple(p) for p in (path * CANVAS)]
        if len(xy) == 1:
            r = width * 0.8
            pen.ellipse([xy[0][0] - r, xy[0][1] - r, xy[0][0] + r, xy[0][1] + r], fill="black")
        else:
            pen.line(xy, fill="black", width=width, joint="curve")
            for end in (xy[0], xy[-1]):  # round caps
                pen.ellipse([end[0] - width / 2, end[1] - width / 2, end[0] + width / 2, end[1] + width / 2], fill="black")
    return img


def glyph_set(n_characters: int, n_drawers: int = 20, first: int = 0) -> GlyphSet:
    """A GlyphSet of procedural characters first..first+n, as the model sees them (32x32, [-1, 1])."""
    if n_characters < 1 or n_drawers < 1:
        raise ValueError(f"need n_characters >= 1 and n_drawers >= 1, got {n_characters}, {n_drawers}")
    chars = range(first, first + n_characters)
    images = np.stack([np.stack([to_glyph(draw(c, d)) for d in range(n_drawers)]) for c in chars]).astype(np.float32)
    return GlyphSet(images, np.array([f"Procedural{(c - first) // 20:02d}" for c in chars]), np.array([f"character{c:04d}" for c in chars]))


EXAMPLE_CHARACTERS = {"Knot": 2, "Dots and curve": 10, "Star": 11, "Hook and dot": 17, "Bowl and dot": 19, "Fish": 36}


def example_sets(shots: int = 5) -> dict[str, list[Image.Image]]:
    """The app's built-in example sets: name -> `shots` drawings of one procedural character."""
    return {name: [draw(c, d) for d in range(shots)] for name, c in EXAMPLE_CHARACTERS.items()}
