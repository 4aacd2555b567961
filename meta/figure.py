"""The README's sample figure, from the per-task grids `meta.evaluate --grid-dir` writes.

`python -m meta.figure --grid-dir DIR --meta LABEL --baseline LABEL --steps 0,5,20 --out samples.png`
Each column block is one task: its support images, then the meta-learned start's samples (the same
noise) before adaptation and after each grid step, then the baseline's after the last step.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from PIL import Image, ImageDraw

PAD = 2  # meta.images.grid's padding


def task_grids(grid_dir: Path, label: str) -> dict[int, Path]:
    """task index -> grid PNG written by meta.evaluate for `label`."""
    prefix = re.sub(r"[^A-Za-z0-9_()-]+", "_", label) + "_task"
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
