"""The replay's picture: rows = snapshots along the outer loop, columns = inner steps, one cell of
samples from the same noise each; cells not computed yet are left blank."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from meta.images import grid

from .render import font

CELL_COLUMNS = 2  # samples per cell row (4 samples -> 2 x 2)
LABEL_W, HEAD_H, PAD = 190, 34, 6  # the picture is shown scaled down: large type


def row_label(iteration: int) -> tuple[str, str]:
    return f"after {iteration:,}", "outer iterations" if iteration != 1 else "outer iteration"


def replay_grid(iterations: list[int], steps: int, frames, scale: int = 2) -> Image.Image:
    """frames: ReplayFrames streamed so far (columns 0..len-1); -> one picture, greyscale or RGB."""
    first = frames[0].samples[iterations[0]] if frames else None
    rgb = first is not None and first.ndim == 4
    n = len(first) if first is not None else 4
    cell_w = 32 * scale * CELL_COLUMNS + 2 * (CELL_COLUMNS + 1)
    cell_h = 32 * scale * -(-n // CELL_COLUMNS) + 2 * (-(-n // CELL_COLUMNS) + 1)
    width = LABEL_W + (steps + 1) * (cell_w + PAD) + PAD
    height = HEAD_H + len(iterations) * (cell_h + PAD) + PAD
    mode = "RGB" if rgb else "L"
    ink = (lambda v: (v, v, v)) if rgb else (lambda v: v)
    sheet = Image.new(mode, (width, height), ink(250))
    draw = ImageDraw.Draw(sheet)
    x0 = LABEL_W
    for step in range(steps + 1):
        text = "inner step 0" if step == 0 else str(step)
        draw.text((x0 + step * (cell_w + PAD) + PAD, 6), text, fill=ink(40), font=font(20))
    by_step = {f.step: f for f in frames}
    for r, it in enumerate(iterations):
        y = HEAD_H + r * (cell_h + PAD) + PAD
        top, bottom = row_label(it)
        draw.text((PAD, y + cell_h // 2 - 24), top, fill=ink(20), font=font(22))
        draw.text((PAD, y + cell_h // 2 + 4), bottom, fill=ink(90), font=font(17))
        for step in range(steps + 1):
            x = x0 + step * (cell_w + PAD) + PAD
            frame = by_step.get(step)
            if frame is None or it not in frame.samples:
                draw.rectangle([x, y, x + cell_w - 1, y + cell_h - 1], fill=ink(232))
                continue
            cell = cell_picture(frame.samples[it], scale)
            sheet.paste(cell.convert(mode), (x, y))
    return sheet


def cell_picture(samples: np.ndarray, scale: int) -> Image.Image:
    """uint8 samples -> a CELL_COLUMNS-wide tile (render.sample_grid tiles 4 wide)."""
    x = samples.astype(np.float32) / 127.5 - 1.0
    return grid(np.moveaxis(x, -1, 1) if x.ndim == 4 else x, nrow=CELL_COLUMNS, scale=scale)
