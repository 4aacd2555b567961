"""What a visitor can take home: the filmstrip GIF and the adapted generator as a zip.

The zip holds a diffusers folder (config.json + diffusion_pytorch_model.safetensors) plus the
context map and a training.json saying where it came from, written by `meta.checkpoint.save_checkpoint`
on a private module copy: the shared, loaded generator is never modified.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from meta.checkpoint import Generator, save_checkpoint
from meta.model import PRIOR_MEAN, build_unet

from .render import frame_picture

GIF_MS = 150  # per frame; the last frame is held longer
GIF_FRAMES = 41  # at most: longer runs are subsampled evenly (first and last kept), so Stop stays quick


def filmstrip(frames, shots, folder: Path, names: dict, credit: str = "") -> Path:
    """At most GIF_FRAMES frames. Greyscale frames need no colour quantisation; colour ones share one
    palette, made from the first and last frames, so colours do not flicker from frame to frame."""
    if len(frames) > GIF_FRAMES:
        frames = [frames[round(i * (len(frames) - 1) / (GIF_FRAMES - 1))] for i in range(GIF_FRAMES)]
    pictures = [frame_picture(f, names, shots, credit=credit) for f in frames]
    if pictures[0].mode == "RGB":
        both = Image.new("RGB", (pictures[0].width, 2 * pictures[0].height))
        both.paste(pictures[0], (0, 0))
        both.paste(pictures[-1], (0, pictures[0].height))
        palette = both.quantize(256, method=Image.Quantize.MEDIANCUT)
        pictures = [p.quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures]
    path = Path(folder) / "inner-loop-filmstrip.gif"
    durations = [GIF_MS] * (len(pictures) - 1) + [1500]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations, loop=0)
    return path


def export_generator(generator: Generator, params: dict, folder: Path, *, checkpoint: str, inner, steps: int,
                     shots: int, seed: int) -> Path:
    """Write the adapted parameters as a checkpoint folder, zip it, return the zip's path."""
    folder = Path(folder)
    out = folder / "adapted-generator"
    shutil.rmtree(out, ignore_errors=True)
    unet = build_unet(generator.config, seed=None)  # a fresh module to write into (never the shared one)
    record = {"algo": "adapted", "adapted_from": checkpoint, "source_algo": generator.record.get("algo"),
              "data": generator.record.get("data", {}),  # what the source was trained on, and its credit
              "inner": asdict(inner), "inner_steps_run": steps, "shots": shots, "seed": seed,
              "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    record["_tensors"] = {}
    prior = getattr(generator.unet, "prior_mean", None)
    if prior is not None:  # the sampler's start: without it the download would not draw what the page showed
        record["_tensors"][PRIOR_MEAN] = prior.detach().cpu()
    if generator.guidance is not None:  # likewise the sampler's guidance, and the null context it needs
        record["sampling"] = dict(generator.record["sampling"])
        record["_tensors"]["null_context"] = generator.guidance.null_context.detach().cpu()
    save_checkpoint(out, unet, {k: v.detach().cpu() for k, v in params.items()}, generator.config, record)
    return Path(shutil.make_archive(str(folder / "adapted-generator"), "zip", root_dir=out))

