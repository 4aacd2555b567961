"""Hugging Face ZeroGPU: a GPU lent for one run at a time, in a process of its own.

On a ZeroGPU Space (`SPACES_ZERO_GPU=true`, which the `spaces` package reads) the studio's own
process never starts CUDA: the generators stay on the CPU there, and `spaces.GPU` runs each run in
a forked worker that holds a GPU while it runs (demo/page/handlers.py). `borrowed_frames` is what
that worker runs: it copies the generators to its device once, runs the one live loop
(`engine.adapt_live`) and yields frames that hold only CPU data (they are pickled back to the studio).

`gpu_duration` is how long a run asks to borrow the GPU for: the visitor's daily quota is a few
minutes, a request longer than what is left is refused outright, and shorter requests queue first.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Iterator

import torch

from .checkpoints import Models
from .engine import Frame, Lane, Settings, adapt_live
from .fallback import on_device
from .request import make_lanes

# What one lane costs per inner step on a GPU, from the eager figures measured on an H100
# (assets/bench-h100.json: inner step 24.7 ms, preview 53.1 ms for 6 samples x 8 sampler steps;
# assets/bench-h100-profile.txt: 6.0 ms of it GPU work). The loop is launch-bound, so a sampler step
# costs about the same for any grid, plus a little per sample.
INNER_STEP_MS = 25.0  # one inner step (the lane's, and again its leave-one-out probe's)
SAMPLER_STEP_MS = 6.7  # one UNet evaluation of the preview (also the probe's held-out loss)
SAMPLE_MS = 0.15  # GPU work per sample and sampler step
GPU_START_S = 5.0  # ZeroGPU forks the worker and starts CUDA there (unmeasured: a guess with room)
FIRST_FRAME_S = 3.0  # the run's own start: copy the generators, first kernels, CUDA graphs (unmeasured: likewise)
MARGIN = 2.0  # a ZeroGPU slice is not an H100, and the host CPU launches the kernels
MAX_GPU_S = 120.0  # never ask for more: a longer run stops itself at the limit, like a CPU run at its own


def gpu_duration(inner_steps: int, samples: int, sampler_steps: int, baseline: bool) -> float:
    """Seconds of GPU a run asks ZeroGPU for: step 0 and `inner_steps` steps of one lane (two with the
    baseline beside it), each an inner step, its probe's step and held-out loss, and the preview;
    times MARGIN, plus the starts; whole seconds, at most MAX_GPU_S. The default run asks for 18 s."""
    lane_ms = 2 * INNER_STEP_MS + SAMPLER_STEP_MS + sampler_steps * (SAMPLER_STEP_MS + SAMPLE_MS * samples)
    run_s = (2 if baseline else 1) * lane_ms * (inner_steps + 1) / 1000
    return float(min(MAX_GPU_S, math.ceil(GPU_START_S + FIRST_FRAME_S + MARGIN * run_s)))


def run_seconds(limit: float, inner_steps: int, samples: int, sampler_steps: int, baseline: bool) -> float:
    """How long the run may go on once the worker has its GPU: within what it asked for, so that it
    stops itself (and keeps its frames) before ZeroGPU would cut it off."""
    return max(1.0, min(limit, gpu_duration(inner_steps, samples, sampler_steps, baseline) - GPU_START_S))


def borrowed_frames(models: Models, checkpoint: str, inner_lr, baseline: bool, shots, settings: Settings,
                    seconds: float) -> Iterator[tuple[str, Frame]]:
    """(device, frame) for the run, computed on this process's GPU (the CPU where it has none); each
    frame's parameters are only those the run changed, on the CPU (`with_start_params` adds the rest)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    lanes = make_lanes(models, checkpoint, inner_lr, baseline)
    here = {name: Lane(on_device(lane.generator, device), lane.cfg) for name, lane in lanes.items()}
    deadline = time.monotonic() + seconds
    for frame in adapt_live(here, shots, replace(settings, workers=1), lambda: time.monotonic() > deadline):
        start = {name: lane.generator.params for name, lane in here.items()}
        frame.params = {name: {k: v.cpu() for k, v in p.items() if v is not start[name].get(k)}
                        for name, p in frame.params.items()}
        yield str(device), frame


def with_start_params(frame: Frame, lanes: dict[str, Lane]) -> Frame:
    """A frame from `borrowed_frames` with each lane's unchanged parameters put back (the CPU generator's own)."""
    frame.params = {name: {**lanes[name].generator.params, **changed} for name, changed in frame.params.items()}
    return frame
