"""Figures of an evaluation: its curves (`plot`, what `meta.evaluate --plot` draws) and the README's
sample figure, from the per-task grids `meta.evaluate --grid-dir` writes.

`python -m meta.figure --grid-dir DIR --meta LABEL --baseline LABEL --steps 0,5,20 --out samples.png`
Each column block is one task: its support images, then the meta-learned start's samples (the same
noise) before adaptation and after each grid step, then the baseline's after the last step.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PAD = 2  # meta.images.grid's padding


def safe_name(text: str) -> str:
    """A file name from a label: runs of anything but letters, digits, _ ( ) - become one _."""
    return re.sub(r"[^A-Za-z0-9_()-]+", "_", text)


COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)]


def plot(report: dict, path, size: tuple[int, int] = (330, 240)) -> Path:
    """Query loss, recognisability and novelty vs inner steps (log1p axis), one line per checkpoint."""
    panels = [("query_loss", "query loss"), ("recognisability", "recognisability"), ("novelty", "novelty")]
    results, (w, h), (left, top, bottom) = report["results"], size, (44, 22, 30)
    legend_h = 16 * len(results) + 8
    img = Image.new("RGB", (w * len(panels), h + legend_h), "white")
    draw = ImageDraw.Draw(img)
    steps = sorted({s for r in results.values() for s in r["steps"]})
    xpos = lambda s, x0: x0 + left + (w - left - 12) * np.log1p(s) / max(np.log1p(steps[-1]), 1e-9)
    for p, (key, title) in enumerate(panels):
        x0 = p * w
        values = [v for r in results.values() for v in r[key]] + ([0.0, 1.0] if key != "query_loss" else [])
        lo, hi = min(values), max(values) + 1e-9
        lo, hi = (lo, hi) if key != "query_loss" else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ypos = lambda v, lo=lo, hi=hi: top + (h - top - bottom) * (hi - v) / (hi - lo)
        draw.text((x0 + left, 4), title, fill="black")
        draw.line([(x0 + left, top), (x0 + left, h - bottom), (x0 + w - 8, h - bottom)], fill="black")
        dec = max(2, int(-np.floor(np.log10(hi - lo))) + 1)  # enough decimals to tell the ticks apart
        for v in np.linspace(lo, hi, 5):
            draw.text((x0 + 2, ypos(v) - 5), f"{v:.{dec}f}", fill="black")
        for s in steps:
            draw.line([(xpos(s, x0), h - bottom), (xpos(s, x0), h - bottom + 3)], fill="black")
            draw.text((xpos(s, x0) - 4, h - bottom + 5), str(s), fill="black")
        ref = {"recognisability": report.get("chance"), "novelty": 1.0}.get(key)  # chance; a real new drawing
        for x in range(int(x0 + left), int(x0 + w - 8), 8) if ref is not None else ():
            draw.line([(x, ypos(ref)), (x + 4, ypos(ref))], fill=(150, 150, 150))
        for c, r in enumerate(results.values()):
            pts = [(xpos(s, x0), ypos(v)) for s, v in zip(r["steps"], r[key])]
            draw.line(pts, fill=COLOURS[c % len(COLOURS)], width=2)
            for x, y in pts:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=COLOURS[c % len(COLOURS)])
        draw.text((x0 + w // 2 - 10, h - 12), "inner steps", fill="black")
    for c, name in enumerate(results):
        y = h + 4 + 16 * c
        draw.line([(left, y + 6), (left + 24, y + 6)], fill=COLOURS[c % len(COLOURS)], width=3)
        draw.text((left + 30, y), name, fill="black")
    img.save(path)
    return Path(path)


def tradeoff(report: dict, path, size: tuple[int, int] = (620, 460), only: list[str] | None = None) -> Path:
    """Diversity (x) against recognisability within the real spread (y): one point per start and inner
    step (joined in step order, labelled with the step count) and one per baseline (grey markers), with
    standard-error bars. The real drawings sit near (1, ceiling); a copy or a template cannot reach it."""
    results = {k: r for k, r in report["results"].items() if only is None or k in only}
    refs = report.get("baselines", {})
    (w, h), (left, right, top, bottom) = size, (52, 170, 24, 40)
    xs = [v for r in results.values() for v in r["diversity"]] + [m["diversity"] for m in refs.values()] + [0.0, 1.0]
    x_hi = max(1.4, max(xs) * 1.05)
    px = lambda v: left + (w - left - right) * v / x_hi
    py = lambda v: top + (h - top - bottom) * (1 - v)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.line([(left, top), (left, h - bottom), (w - right, h - bottom)], fill="black")
    for v in np.linspace(0, 1, 6):
        draw.text((4, py(v) - 5), f"{v:.1f}", fill="black")
        draw.line([(left - 3, py(v)), (left, py(v))], fill="black")
    for v in np.arange(0, x_hi + 1e-9, 0.2):
        draw.text((px(v) - 8, h - bottom + 5), f"{v:.1f}", fill="black")
        draw.line([(px(v), h - bottom), (px(v), h - bottom + 3)], fill="black")
    for y in range(top, h - bottom, 6):  # diversity of real drawings = 1
        draw.point((px(1.0), y), fill=(150, 150, 150))
    draw.text((left + 4, 4), "recognised within the real spread", fill="black")
    draw.text((w - right - 150, h - 16), "diversity (real drawings = 1)", fill="black")

    def bars(x, y, sx, sy, colour):
        draw.line([(px(x - sx), py(y)), (px(x + sx), py(y))], fill=colour)
        draw.line([(px(x), py(y - sy)), (px(x), py(y + sy))], fill=colour)

    legend = []
    for name, m in refs.items():
        x, y = m["diversity"], m["recognisability_within"]
        bars(x, y, m.get("diversity_stderr", 0), m.get("recognisability_within_stderr", 0), (120, 120, 120))
        fill = None if m["copy_distance"] < 0.7 else (200, 200, 200)  # hollow: a copy (copy_distance < 0.7)
        draw.rectangle([px(x) - 3, py(y) - 3, px(x) + 3, py(y) + 3], outline=(90, 90, 90), fill=fill)
        words = name.replace("template_context:", "template in ").replace("glyphs-", "").replace("_", " ")
        draw.text((px(x) + 5, py(y) - 12), words, fill=(90, 90, 90))
    for c, (name, r) in enumerate(results.items()):
        colour = COLOURS[c % len(COLOURS)]
        pts = [(px(x), py(y)) for x, y in zip(r["diversity"], r["recognisability_within"])]
        draw.line(pts, fill=colour, width=2)
        for k, (x, y) in enumerate(zip(r["diversity"], r["recognisability_within"])):
            bars(x, y, r["diversity_stderr"][k], r["recognisability_within_stderr"][k], colour)
            copy = r["copy_distance"][k] < 0.7  # hollow: samples that are copies of the support
            draw.ellipse([px(x) - 3, py(y) - 3, px(x) + 3, py(y) + 3], fill=None if copy else colour, outline=colour)
            draw.text((px(x) + 4, py(y) + 2), str(r["steps"][k]), fill=colour)
        legend.append((name, colour))
    for c, (name, colour) in enumerate(legend):
        y = top + 16 * c
        draw.line([(w - right + 10, y + 6), (w - right + 30, y + 6)], fill=colour, width=3)
        draw.text((w - right + 34, y), name, fill="black")
    draw.text((w - right + 10, top + 16 * len(legend) + 6), "numbers: inner steps", fill="black")
    draw.text((w - right + 10, top + 16 * len(legend) + 20), "grey: baselines", fill=(90, 90, 90))
    draw.text((w - right + 10, top + 16 * len(legend) + 34), "hollow: copies", fill="black")
    draw.text((w - right + 10, top + 16 * len(legend) + 48), "(copy_distance < 0.7)", fill="black")
    img.save(path)
    return Path(path)


def task_grids(grid_dir: Path, label: str) -> dict[int, Path]:
    """task index -> grid PNG written by meta.evaluate for `label`."""
    prefix = safe_name(label) + "_task"
    out = {}
    for path in sorted(grid_dir.glob(prefix + "*.png")):
        m = re.match(re.escape(prefix) + r"(\d+)_", path.name)
        if m:
            out[int(m.group(1))] = path
    return out


def rows_of(path: Path, n_rows: int, cols: int, keep: int) -> list[Image.Image]:
    """Split one grid PNG (n_rows rows of `cols` tiles) into rows of its first `keep` tiles."""
    img = Image.open(path).convert("RGB")
    tile = (img.width - PAD) // cols - PAD
    step = tile + PAD
    return [img.crop((0, r * step, PAD + keep * step, (r + 1) * step + PAD)) for r in range(n_rows)]


def figure(grid_dir, meta: str, baseline: str, steps: tuple[int, ...], tasks: list[int], cols: int, keep: int = 5) -> Image.Image:
    grid_dir = Path(grid_dir)
    mine, base = task_grids(grid_dir, meta), task_grids(grid_dir, baseline)
    tasks = [t for t in tasks if t in mine and t in base]
    if not tasks:
        raise ValueError(f"no task grids for both {meta!r} and {baseline!r} in {grid_dir}")
    labels = ["support"] + [f"meta, step {s}" for s in steps] + [f"baseline, step {steps[-1]}"]
    blocks = []
    for t in tasks:
        m = rows_of(mine[t], len(steps) + 1, cols, keep)
        b = rows_of(base[t], len(steps) + 1, cols, keep)
        blocks.append(m + [b[-1]])
    w, h = blocks[0][0].size
    lw, gap = 100, 8
    out = Image.new("RGB", (lw + len(blocks) * (w + gap), len(labels) * h), "white")
    draw = ImageDraw.Draw(out)
    for r, text in enumerate(labels):
        draw.text((4, r * h + h // 2 - 6), text, fill="black")
        for c, rows in enumerate(blocks):
            out.paste(rows[r], (lw + c * (w + gap), r * h))
    return out


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(prog="python -m meta.figure", description=__doc__)
    p.add_argument("--grid-dir", required=True)
    p.add_argument("--meta", required=True, help="label of the meta-learned start (its folder name)")
    p.add_argument("--baseline", required=True, help="label of the baseline start")
    p.add_argument("--steps", default="0,5,20", help="the --grid-steps the grids were written with")
    p.add_argument("--tasks", default="0,1,2,3")
    p.add_argument("--cols", type=int, default=10, help="tiles per grid row: max(shots, samples) of the evaluation")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    steps = tuple(int(s) for s in a.steps.split(","))
    img = figure(a.grid_dir, a.meta, a.baseline, steps, [int(t) for t in a.tasks.split(",")], a.cols)
    img.save(a.out, optimize=True)
    print(f"{a.out}: {img.size[0]}x{img.size[1]}")
    return Path(a.out)


if __name__ == "__main__":
    main()
