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
    """uint8 (n, 32, 32) -> one tiled greyscale picture; (n, 32, 32, 3) -> an RGB one."""
    x = samples.astype(np.float32) / 127.5 - 1.0
    return grid(np.moveaxis(x, -1, 1) if x.ndim == 4 else x, nrow=COLUMNS, scale=scale)


def shot_pictures(shots, scale: int = 4) -> list[Image.Image]:
    return [to_pil(s, scale) for s in shots]


def titled_row(panels, pad: int = 10, title_h: int = 24, credit: str = "") -> Image.Image:
    """[(title, PIL image), ...] -> one picture, panels side by side under their titles: greyscale,
    or RGB when any panel is in colour; `credit` (the data's attribution) goes in small type below."""
    mode = "RGB" if any(im.mode in ("RGB", "RGBA", "P") for _, im in panels) else "L"
    panels = [(t, im.convert(mode)) for t, im in panels]
    width = sum(im.width for _, im in panels) + pad * (len(panels) + 1)
    height = max(im.height for _, im in panels) + title_h + 2 * pad + (16 if credit else 0)
    grey = (lambda v: v) if mode == "L" else (lambda v: (v, v, v))
    sheet = Image.new(mode, (width, height), grey(250))
    draw, x = ImageDraw.Draw(sheet), pad
    for title, im in panels:
        draw.text((x, pad), title, fill=grey(20), font=font())
        sheet.paste(im, (x, pad + title_h))
        x += im.width + pad
    if credit:
        draw.text((pad, height - pad - 12), credit, fill=grey(90), font=font(11))
    return sheet


def shots_grid(shots, scale: int) -> Image.Image:
    return grid(np.stack(shots), nrow=2, scale=scale)


def frame_picture(frame, shots=None, scale: int = 2, credit: str = "") -> Image.Image:
    """Both lanes' grids (and optionally the shots) side by side, titled; used for the GIF."""
    panels = [("Your examples", shots_grid(shots, scale))] if shots is not None else []
    for lane, samples in frame.samples.items():
        panels.append((f"{SHORT[lane]}, step {frame.step}", sample_grid(samples, scale)))
    return titled_row(panels, credit=credit)


def before_after(frames, shots, credit: str = "") -> Image.Image:
    """Examples | each lane at step 0 | each lane at its last step."""
    first, last = frames[0], frames[-1]
    panels = [("Your examples", shots_grid(shots, SCALE))]
    for lane in first.samples:
        panels.append((f"{SHORT[lane]}: step 0", sample_grid(first.samples[lane])))
        panels.append((f"{SHORT[lane]}: step {last.step}", sample_grid(last.samples[lane])))
    return titled_row(panels, credit=credit)


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


WAITING = "**Waiting for a turn**"  # how a waiting run's status starts (demo.tools.load looks for it)


def waiting_line(waiting) -> str:
    """A run waiting for a place (demo.runtime.scheduler.Waiting): where it stands and for about how long."""
    wait = f", about {waiting.wait_s:.0f} s" if waiting.wait_s is not None else ""
    going = f"{waiting.active} run{'' if waiting.active == 1 else 's'} going now"
    return f"{WAITING}: number {waiting.position} in line{wait} ({going}). Your run starts by itself; **Stop** leaves the line."
