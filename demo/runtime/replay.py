"""Meta-training replayed: the visitor's examples through the one inner loop, from snapshots of a start
taken along its outer loop (demo/runtime/snapshot_bank.py).

Each *row* is one snapshot (the start after so many outer iterations), each *column* one inner step;
every cell is previewed from the SAME fixed noise, so the cells differ only by what the parameters
are. Where meta-training worked, early snapshots barely move and later ones adapt. The snapshots differ in
their weights, so each is its own forward pass; the rows of one step run side by side on `workers`
threads (one private module copy per row and run: functional_call swaps module attributes).
"""
from __future__ import annotations

import copy
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from meta.checkpoint import Generator
from meta.inner import adapt_steps, initial
from meta.sampling import PREVIEW_STEPS, Interrupted, fixed_noise, sample

from .checkpoints import inner_config
from .engine import support_tensor, to_uint8

CELL_SAMPLES = 4  # samples per cell (2 x 2)
MAX_STEPS = 10  # inner steps (columns after step 0)


@dataclass
class ReplayFrame:
    step: int  # inner steps taken by every row
    samples: dict[int, np.ndarray]  # outer iteration -> uint8 (n, 32, 32) or (n, 32, 32, 3) after `step` inner steps
    seconds: float  # since the replay started


def check_steps(inner_steps) -> int:
    ok = isinstance(inner_steps, (int, float)) and not isinstance(inner_steps, bool) and math.isfinite(inner_steps)
    if not (ok and inner_steps == int(inner_steps) and 1 <= inner_steps <= MAX_STEPS):
        raise ValueError(f"Inner steps must be a whole number from 1 to {MAX_STEPS}, got {inner_steps!r}.")
    return int(inner_steps)


class _Row:
    """One snapshot's inner loop in a replay, on its own copy of the module."""

    def __init__(self, g: Generator, support: torch.Tensor, noise: torch.Tensor, steps: int, seed: int,
                 sampler_steps: int, should_stop: Callable[[], bool]):
        self.unet, self.config, self.guidance = copy.deepcopy(g.unet), g.config, g.guidance
        cfg = inner_config(g.record)  # its own inner loop, from the checkpoint's training.json
        self.params = initial(self.unet, g.params, support, cfg)  # step 0: where the inner loop starts
        self.steps = adapt_steps(self.unet, g.params, support, g.alphas_cumprod, cfg, seed=seed, steps=steps)
        self.noise, self.sampler_steps, self.should_stop = noise, sampler_steps, should_stop

    def job(self, advance: bool) -> np.ndarray:
        if advance:  # 1. one inner step on the support ...
            self.params = next(self.steps).params
        # 2. ... then the preview from the fixed noise
        stop = self.should_stop if advance else None
        return to_uint8(sample(self.unet, self.params, self.noise, self.config, steps=self.sampler_steps,
                               should_stop=stop, guidance=self.guidance))


def replay(snapshots: list[tuple[int, Generator]], shots, inner_steps: int, seed: int = 0,
           samples: int = CELL_SAMPLES, sampler_steps: int = PREVIEW_STEPS, workers: int = 1,
           should_stop: Callable[[], bool] = lambda: False) -> Iterator[ReplayFrame]:
    """Yield a ReplayFrame at step 0 and after every inner step, until done or `should_stop()`."""
    start = time.perf_counter()
    config, device = snapshots[0][1].config, next(iter(snapshots[0][1].params.values())).device
    support = support_tensor(shots).to(device)  # (N, C, 32, 32) in [-1, 1]
    if config.channels != support.shape[1]:
        raise ValueError(f"the generator draws {config.channels}-channel images, the examples have {support.shape[1]}")
    noise = fixed_noise(samples, config, seed)  # every row and step: the same x_T
    rows = {i: _Row(g, support, noise, inner_steps, seed, sampler_steps, should_stop) for i, g in snapshots}
    pool = ThreadPoolExecutor(min(workers, len(rows)), thread_name_prefix="outer-loop-row") if workers > 1 else None
    try:
        for step in range(inner_steps + 1):
            if step and should_stop():
                return
            run = lambda i: rows[i].job(step > 0)
            out = list(pool.map(run, rows) if pool else map(run, rows))
            yield ReplayFrame(step, dict(zip(rows, out)), time.perf_counter() - start)
    except Interrupted:
        return
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
