"""The live run, without any UI: adapt one or more generators on the same shots, step by step.

Each *lane* is one starting point (the meta-learned generator, the joint baseline) running the one
inner loop, `meta.inner.adapt_steps`, with the inner settings from its own training.json. After
every inner step each lane is previewed from the SAME fixed noise, so the grids differ only by what
the parameters learned. With >= 2 shots a *probe* copy of each lane adapts on all shots but the last
and is scored on that held-out shot: a leave-one-out query loss, the number meta-learning optimises.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from meta.algorithms import fixed_query_noise
from meta.inner import InnerConfig, adapt_steps
from meta.model import Generator, denoising_loss
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS, fixed_noise, sample

QUERY_COPIES = 4  # the held-out shot is scored at this many fixed (t, eps): less noisy than one


@dataclass
class Settings:
    inner_steps: int = 20
    samples: int = PREVIEW_SAMPLES
    sampler_steps: int = PREVIEW_STEPS
    seed: int = 0


@dataclass
class Lane:
    generator: Generator
    cfg: InnerConfig  # the checkpoint's own inner loop (its inner_lr possibly overridden)


@dataclass
class Frame:
    step: int  # parameters after this many inner steps (0 = the starting point)
    samples: dict[str, np.ndarray]  # lane -> uint8 (samples, 32, 32), from the fixed noise
    support_loss: dict[str, float]  # lane -> support loss of the step that led here (absent at step 0)
    query_loss: dict[str, float]  # lane -> leave-one-out query loss after this step (>= 2 shots)
    seconds: float  # since the run started
    params: dict[str, dict] = field(default_factory=dict, repr=False)  # lane -> adapted parameters


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x[:, 0].float().cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


class _Runner:
    """One lane's state for a run: a private module copy (thread safety), noise, inner loop(s)."""

    def __init__(self, lane: Lane, support: torch.Tensor, settings: Settings):
        g = lane.generator
        self.unet, self.config = copy.deepcopy(g.unet), g.config  # functional_call swaps module attributes
        self.ac = g.alphas_cumprod
        device = next(iter(g.params.values())).device
        support = support.to(device)
        self.noise = fixed_noise(settings.samples, g.config, settings.seed).to(device)
        self.sampler_steps = settings.sampler_steps
        self.params = g.params
        run = dict(seed=settings.seed, steps=settings.inner_steps)
        self.steps = adapt_steps(self.unet, g.params, support, self.ac, lane.cfg, **run)
        self.probe = None
        if len(support) >= 2:  # leave the last shot out, adapt on the rest, score on it
            query = support[-1:].expand(QUERY_COPIES, -1, -1, -1)  # (Q, C, H, W)
            self.query, (self.t, self.eps) = query, fixed_query_noise(query)
            self.probe = adapt_steps(self.unet, g.params, support[:-1], self.ac, lane.cfg, **run)
            self.probe_params = g.params

    @torch.inference_mode()
    def preview(self) -> np.ndarray:
        return to_uint8(sample(self.unet, self.params, self.noise, self.config, sampler="ddim", steps=self.sampler_steps))

    @torch.inference_mode()
    def query_loss(self) -> float | None:
        if self.probe is None:
            return None
        return float(denoising_loss(self.unet, self.probe_params, self.ac, self.query, self.t, self.eps))

    def advance(self) -> float:
        s = next(self.steps)
        self.params = s.params
        if self.probe is not None:
            self.probe_params = next(self.probe).params
        return float(s.support_loss)


def adapt_live(lanes: dict[str, Lane], shots, settings: Settings,
               should_stop: Callable[[], bool] = lambda: False) -> Iterator[Frame]:
    """Yield a Frame at step 0 and after every inner step, until done or `should_stop()`."""
    start = time.perf_counter()
    support = torch.as_tensor(np.stack(shots), dtype=torch.float32)[:, None]  # (N, 1, 32, 32) in [-1, 1]
    runners = {name: _Runner(lane, support, settings) for name, lane in lanes.items()}

    def frame(step: int, support_loss: dict) -> Frame:
        samples = {n: r.preview() for n, r in runners.items()}
        query = {n: q for n, r in runners.items() if (q := r.query_loss()) is not None}
        return Frame(step, samples, support_loss, query, time.perf_counter() - start,
                     {n: r.params for n, r in runners.items()})

    yield frame(0, {})
    for step in range(1, settings.inner_steps + 1):
        if should_stop():
            return
        # 1. one inner step per lane (and its leave-one-out probe), 2. preview from the fixed noise
        losses = {n: r.advance() for n, r in runners.items()}
        yield frame(step, losses)
