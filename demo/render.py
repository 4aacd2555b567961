"""Pictures and tables made from streamed frames: sample grids, before/after, loss curves, filmstrip."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from meta.images import grid, to_pil

TITLES = {"meta": "Meta-learned start", "baseline": "Ordinary start (joint training)"}
SHORT = {"meta": "meta-learned", "baseline": "ordinary"}
COLUMNS = 4  # samples per grid row
SCALE = 3  # 32 px -> 96 px on screen


@functools.cache
def font(size: int = 15):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def sample_grid(samples: np.ndarray, scale: int = SCALE) -> Image.Image:
    """uint8 (n, 32, 32) -> one tiled greyscale picture."""
    return grid(samples.astype(np.float32) / 127.5 - 1.0, nrow=COLUMNS, scale=scale)


def shot_pictures(shots, scale: int = 4) -> list[Image.Image]:
    return [to_pil(s, scale) for s in shots]


def titled_row(panels, pad: int = 10, title_h: int = 24) -> Image.Image:
    """[(title, PIL image), ...] -> one greyscale picture, panels side by side under their titles."""
    panels = [(t, im.convert("L")) for t, im in panels]
    width = sum(im.width for _, im in panels) + pad * (len(panels) + 1)
    height = max(im.height for _, im in panels) + title_h + 2 * pad
    sheet = Image.new("L", (width, height), 250)
    draw, x = ImageDraw.Draw(sheet), pad
    for title, im in panels:
        draw.text((x, pad), title, fill=20, font=font())
        sheet.paste(im, (x, pad + title_h))
        x += im.width + pad
    return sheet


def frame_picture(frame, shots=None, scale: int = 2) -> Image.Image:
    """Both lanes' grids (and optionally the shots) side by side, titled; used for the GIF."""
    panels = [("Your examples", grid(np.stack(shots), nrow=2, scale=scale))] if shots is not None else []
    for lane, samples in frame.samples.items():
        panels.append((f"{SHORT[lane]}, step {frame.step}", sample_grid(samples, scale)))
    return titled_row(panels)


def before_after(frames, shots) -> Image.Image:
    """Examples | each lane at step 0 | each lane at its last step."""
    first, last = frames[0], frames[-1]
    panels = [("Your examples", grid(np.stack(shots), nrow=2, scale=SCALE))]
    for lane in first.samples:
        panels.append((f"{SHORT[lane]}: step 0", sample_grid(first.samples[lane])))
        panels.append((f"{SHORT[lane]}: step {last.step}", sample_grid(last.samples[lane])))
    return titled_row(panels)


def loss_table(frames) -> pd.DataFrame:
    """Long table (step, loss, curve) for gr.LinePlot. Support loss is drawn at the step it was
    measured at (before the update); query loss after the update, at the step it belongs to."""
    rows = []
    for f in frames:
        rows += [(f.step - 1, v, f"{SHORT[lane]}: support") for lane, v in f.support_loss.items()]
        rows += [(f.step, v, f"{SHORT[lane]}: held-out query") for lane, v in f.query_loss.items()]
    table = pd.DataFrame(rows, columns=["step", "loss", "curve"])
    return table.astype({"step": "int64", "loss": "float64", "curve": "str"})  # typed even when empty


def status_line(frame, device, total: int, stopped: bool = False, done: bool = False) -> str:
    rate = frame.step / frame.seconds if frame.seconds > 0 and frame.step else 0.0
    state = "stopped" if stopped else ("done" if done else "adapting")
    losses = ", ".join(f"{SHORT[k]} query {v:.4f}" for k, v in frame.query_loss.items())
    return (f"**Step {frame.step} / {total}** ({state}) · {rate:.1f} steps/s · {frame.seconds:.1f} s · "
            f"device: `{device}`" + (f" · {losses}" if losses else ""))
