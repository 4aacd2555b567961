"""The outer loop's curve: validation measures vs outer iteration, beside the replay.

Read from `<checkpoint>/outer_loop.json` (meta.evaluate on the validation alphabets, one entry per
snapshot: recognisability after each inner-step count, its standard error, diversity); where a
checkpoint has none, from its training.json "validation" history (query loss before and after the
inner loop, measured while it trained); else there is no curve. Drawn with PIL on a log(1 + n) axis.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from .render import font

FILE = "outer_loop.json"
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


@dataclass
class Series:
    label: str
    x: list[int]  # outer iterations
    y: list[float]
    err: list[float] = field(default_factory=list)  # standard errors (drawn as bars), or none


@dataclass
class Panel:
    title: str
    series: list[Series]


@dataclass
class Curve:
    caption: str  # where the numbers come from, in words
    panels: list[Panel]


def from_outer_loop(data: dict) -> Curve:
    """outer_loop.json -> recognisability (and diversity) panels, one line per inner-step count."""
    try:
        steps, snaps = [int(s) for s in data["steps"]], sorted(data["snapshots"], key=lambda s: int(s["iter"]))
        panels = []
        for key, title in (("recognisability_within", "recognisability (higher is better)"), ("diversity", "diversity")):
            if not all(key in s for s in snaps):
                continue
            series = []
            for j, k in enumerate(steps):
                err = [float(s[key + "_stderr"][j]) for s in snaps] if all(key + "_stderr" in s for s in snaps) else []
                series.append(Series(f"after {k} inner step{'s' if k != 1 else ''}", [int(s["iter"]) for s in snaps],
                                     [float(s[key][j]) for s in snaps], err))
            panels.append(Panel(title, series))
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"{FILE} does not follow its schema ({type(err).__name__}: {err})") from None
    if not panels or not snaps:
        raise ValueError(f"{FILE} holds no measures")
    split = data.get("split", "validation")
    return Curve(f"Measured by meta.evaluate on the {split} alphabets (never trained on), from each snapshot.", panels)


def from_history(record: dict) -> Curve | None:
    """training.json "validation" -> the query losses logged while it trained (None without two points)."""
    rows = [r for r in record.get("validation", []) if {"iter", "query_loss_before", "query_loss_after"} <= set(r)]
    if len(rows) < 2:
        return None
    x = [int(r["iter"]) for r in rows]
    k = record.get("inner", {}).get("inner_steps", "its")
    series = [Series("before the inner loop", x, [float(r["query_loss_before"]) for r in rows]),
              Series(f"after {k} inner steps", x, [float(r["query_loss_after"]) for r in rows])]
    return Curve("Query loss (denoising loss on held-out drawings of validation characters) logged during meta-training: "
                 "lower is better. No recognisability curve is shipped for this checkpoint.",
                 [Panel("validation query loss (lower is better)", series)])


def load_curve(folder, record: dict) -> tuple[Curve | None, str]:
    """-> (the curve or None, a note saying where it comes from or why there is none)."""
    path = Path(folder) / FILE
    if path.exists():
        try:
            curve = from_outer_loop(json.loads(path.read_text()))
            return curve, curve.caption
        except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            note = f"{FILE} could not be read ({err}); "
    else:
        note = ""
    curve = from_history(record)
    if curve is not None:
        return curve, note + curve.caption
    return None, note + "No outer-loop curve is shipped with this checkpoint."


def log1p_ticks(hi: int) -> list[int]:
    ticks, t = [0], 1
    while t <= hi:
        ticks.append(t)
        t *= 10
    return ticks


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round values (steps of 1, 2 or 5 x 10^k) between lo and hi."""
    raw = (hi - lo) / most
    step = min(m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10) if m * 10 ** math.floor(math.log10(raw)) >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step) + 1)]


def curve_picture(curve: Curve, marks: list[int] = (), size: tuple[int, int] = (430, 250)) -> Image.Image:
    """One panel per measure, stacked; x = outer iteration on a log(1 + n) axis; `marks`: the snapshots
    the replay shows (light vertical lines); the legend (one line per series) below."""
    w, h = size
    left, right, top, bottom = 52, 14, 26, 34
    n = max(len(p.series) for p in curve.panels)
    img = Image.new("RGB", (w, h * len(curve.panels) + 18 * n + 6), "white")
    draw = ImageDraw.Draw(img)
    hi = max(max([x for p in curve.panels for s in p.series for x in s.x] + list(marks)), 1)
    px = lambda x: left + (w - left - right) * math.log1p(x) / math.log1p(hi)
    for p, panel in enumerate(curve.panels):
        y0 = p * h
        ys = [v + sgn * e for s in panel.series for v, e in zip(s.y, s.err or [0] * len(s.y)) for sgn in (-1, 1)]
        lo, top_y = min(ys), max(ys)
        pad = (top_y - lo) * 0.08 or 0.05
        lo, top_y = lo - pad, top_y + pad
        py = lambda y: y0 + top + (h - top - bottom) * (1 - (y - lo) / (top_y - lo))
        draw.text((left, y0 + 4), panel.title, fill=(20, 20, 20), font=font(14))
        draw.rectangle([left, y0 + top, w - right, y0 + h - bottom], outline=(160, 160, 160))
        for y in nice_ticks(lo, top_y):
            draw.line([(left + 1, py(y)), (w - right - 1, py(y))], fill=(238, 238, 238))
            draw.text((4, py(y) - 6), f"{y:g}", fill=(80, 80, 80), font=font(11))
        for m in marks:
            draw.line([(px(m), y0 + top + 1), (px(m), y0 + h - bottom - 1)], fill=(215, 215, 215))
        for t in log1p_ticks(hi):
            draw.line([(px(t), y0 + h - bottom), (px(t), y0 + h - bottom + 4)], fill=(120, 120, 120))
            draw.text((px(t) - 8, y0 + h - bottom + 6), f"{t:,}" if t < 10_000 else f"{t // 1000}k", fill=(80, 80, 80),
                      font=font(11))
        draw.text((left + 40, y0 + h - 14), "outer iterations (log scale)", fill=(80, 80, 80), font=font(11))
        for i, s in enumerate(panel.series):
            colour = COLOURS[i % len(COLOURS)]
            points = [(px(x), py(y)) for x, y in zip(s.x, s.y)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            for (cx, cy), y, e in zip(points, s.y, s.err or [0] * len(s.y)):
                if e:
                    draw.line([(cx, py(y - e)), (cx, py(y + e))], fill=colour, width=1)
                draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=colour)
    for i, s in enumerate(curve.panels[0].series):  # the panels share their series' labels and colours
        y = h * len(curve.panels) + 2 + 18 * i
        draw.line([(left, y + 7), (left + 22, y + 7)], fill=COLOURS[i % len(COLOURS)], width=3)
        draw.text((left + 28, y), s.label, fill=(40, 40, 40), font=font(12))
    return img
