"""Pictures, tables and words made from streamed frames: sample grids, before/after, the live chart,
loss curves, filmstrip frames and the status line. `names` maps each lane to its short name
(demo/runtime/lanes.py: "meta-learned", "ordinary", ...)."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from meta.images import grid, to_pil

CEILING = "your own examples (ceiling)"
COLUMNS = 4  # samples per grid row (3 where that fills the rows: 6 and 9 samples)
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
    columns = 3 if len(x) in (5, 6, 9) else COLUMNS
    return grid(np.moveaxis(x, -1, 1) if x.ndim == 4 else x, nrow=columns, scale=scale)


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


def frame_picture(frame, names: dict, shots=None, scale: int = 2, credit: str = "") -> Image.Image:
    """Both lanes' grids (and optionally the shots) side by side, titled; used for the GIF."""
    panels = [("Your examples", shots_grid(shots, scale))] if shots is not None else []
    for lane, samples in frame.samples.items():
        panels.append((f"{names[lane]}, step {frame.step}", sample_grid(samples, scale)))
    return titled_row(panels, credit=credit)


def before_after(frames, shots, names: dict, credit: str = "") -> Image.Image:
    """Examples | each lane at step 0 | each lane at its last step."""
    first, last = frames[0], frames[-1]
    panels = [("Your examples", shots_grid(shots, SCALE))]
    for lane in first.samples:
        panels.append((f"{names[lane]}: step 0", sample_grid(first.samples[lane])))
        panels.append((f"{names[lane]}: step {last.step}", sample_grid(last.samples[lane])))
    return titled_row(panels, credit=credit)


def likeness_table(frames, names: dict, ceiling: float | None, steps: int) -> pd.DataFrame:
    """Long table (step, percent, curve) for the live chart: each lane's share of samples that look like
    your examples, after every step; the ceiling (your own examples, leave-one-out) as a flat line."""
    rows = [(f.step, 100 * v, names[lane]) for f in frames for lane, v in f.likeness.items()]
    if ceiling is not None and rows:
        rows += [(0, 100 * ceiling, CEILING), (steps, 100 * ceiling, CEILING)]
    table = pd.DataFrame(rows, columns=["step", "percent", "curve"])
    return table.astype({"step": "int64", "percent": "float64", "curve": "str"})  # typed even when empty


def loss_curves(name: str) -> tuple[str, str]:
    """A lane's two curves in the loss chart: on the support, and on the held-out shot."""
    return f"{name}: on your examples", f"{name}: on the held-out example"


def loss_table(frames, names: dict) -> pd.DataFrame:
    """Long table (step, loss, curve) for gr.LinePlot. The loss on your examples (the support) is drawn
    at the step it was measured at (before the update); the held-out one after the update."""
    rows = []
    for f in frames:
        rows += [(f.step - 1, v, loss_curves(names[lane])[0]) for lane, v in f.support_loss.items()]
        rows += [(f.step, v, loss_curves(names[lane])[1]) for lane, v in f.query_loss.items()]
    table = pd.DataFrame(rows, columns=["step", "loss", "curve"])
    return table.astype({"step": "int64", "loss": "float64", "curve": "str"})  # typed even when empty


def verdict(frame, names: dict) -> str:
    """Which lane is ahead, in words, from each lane's likeness ("" without one)."""
    counts = {lane: (round(v * len(frame.samples[lane])), len(frame.samples[lane])) for lane, v in frame.likeness.items()}
    if not counts:
        return ""
    said = {lane: f"{k} of {n}" for lane, (k, n) in counts.items()}
    if len(counts) == 1:
        (lane,) = counts
        return f"{said[lane]} samples look like your examples"
    (a, (ka, _)), (b, (kb, _)) = counts.items()
    if ka == kb:
        return f"level: {said[a]} samples on each side look like your examples"
    lead, other = (a, b) if ka > kb else (b, a)
    return (f"the {names[lead]} start is ahead: {said[lead]} of its samples look like your examples "
            f"({names[other]}: {said[other]})")


def status_line(frame, total: int, names: dict, device=None, stopped: bool = False, done: bool = False) -> str:
    """The run in words: step k of n, what is happening, which lane is ahead, and how fast."""
    head = f"**Step {frame.step} of {total}**"
    if stopped:
        head += " · stopped"
    elif done:
        head += " · done"
    ahead = verdict(frame, names)
    if frame.step == 0 and not stopped:
        doing = "before any learning step, from the same noise" + (f": {ahead}" if ahead else "")
    else:
        doing = (ahead[0].upper() + ahead[1:]) if ahead else "learning from your examples"
    if "ZeroGPU" in str(device):  # a GPU lent per run on a Hugging Face ZeroGPU Space
        where = "a lent GPU (ZeroGPU)"
    else:
        where = "the GPU" if device is not None and getattr(device, "type", str(device)) == "cuda" else "the CPU"
    pace = f" · {frame.seconds / frame.step:.1f} s a step on {where}" if frame.step and frame.seconds > 0 else ""
    return f"{head} · {doing}{pace}"


WAITING = "**Waiting for a turn**"  # how a waiting run's status starts (demo.tools.load looks for it)


def waiting_line(waiting) -> str:
    """A run waiting for a place (demo.runtime.scheduler.Waiting): where it stands and for about how long."""
    wait = f", about {waiting.wait_s:.0f} s" if waiting.wait_s is not None else ""
    going = f"{waiting.active} run{'' if waiting.active == 1 else 's'} going now"
    return f"{WAITING}: number {waiting.position} in line{wait} ({going}). Your run starts by itself; **Stop** leaves the line."
