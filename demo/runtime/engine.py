"""The live run, without any UI: adapt one or more generators on the same shots, step by step.

Each *lane* is one starting point (the meta-learned generator, the joint baseline) running the one
inner loop, `meta.inner.adapt_steps`, with the inner settings from its own training.json. After
every inner step each lane is previewed from the SAME fixed noise, so the grids differ only by what
the parameters learned. With >= 2 shots a *probe* copy of each lane adapts on all shots but the last
and is scored on that held-out shot: a leave-one-out query loss, the number meta-learning optimises.
Given a `score` (demo/runtime/likeness.py: how many samples look like the examples' character), every
frame also carries each lane's score: the live chart's measure.
"""
from __future__ import annotations

import copy
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from meta.algorithms import fixed_query_noise
from meta.inner import InnerConfig, adapt_steps, adapted_keys
from meta.checkpoint import Generator
from meta.model import denoising_loss
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS, FirstStepMemo, Interrupted, captured_sampler, fixed_noise, sample

from .devices import pick_device

QUERY_COPIES = 4  # the held-out shot is scored at this many fixed (t, eps): less noisy than one


@dataclass
class Settings:
    inner_steps: int = 20
    samples: int = PREVIEW_SAMPLES
    sampler_steps: int = PREVIEW_STEPS
    seed: int = 0
    workers: int = 1  # threads running lanes (and their probes) side by side; 1 = one after another
    graphs: bool = True  # on CUDA: inner steps and previews captured as CUDA graphs and replayed (meta.graphs)


def default_workers() -> int:
    """On CPU, one worker per core (up to 4), each with one torch thread: at this model size running
    the lanes side by side beats splitting every small convolution over the cores (python -m
    demo.tools.bench measures both). On a GPU the kernels queue on one stream anyway: 1."""
    if pick_device().type == "cuda":
        return 1
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass
class Lane:
    generator: Generator
    cfg: InnerConfig  # the checkpoint's own inner loop (its inner_lr possibly overridden)


@dataclass
class Frame:
    step: int  # parameters after this many inner steps (0 = the starting point)
    samples: dict[str, np.ndarray]  # lane -> uint8 (samples, 32, 32), or (samples, 32, 32, 3) RGB, from the fixed noise
    support_loss: dict[str, float]  # lane -> support loss of the step that led here (absent at step 0)
    query_loss: dict[str, float]  # lane -> leave-one-out query loss after this step (>= 2 shots)
    seconds: float  # since the run started
    params: dict[str, dict] = field(default_factory=dict, repr=False)  # lane -> adapted parameters
    likeness: dict[str, float] = field(default_factory=dict)  # lane -> score(samples), when a score is given


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Samples (N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for one channel, (N, H, W, 3) RGB for three."""
    x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    return ((x.float().cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


def support_tensor(shots) -> torch.Tensor:
    """Shots (32, 32) glyphs or (3, 32, 32) icons -> (N, C, 32, 32) float32 in [-1, 1]."""
    support = torch.as_tensor(np.stack(shots), dtype=torch.float32)
    return support[:, None] if support.dim() == 3 else support


class _Runner:
    """One lane's state for a run: private module copies (thread safety), noise, inner loop(s).

    The main inner loop (then its preview) and the leave-one-out probe (then its query loss) are
    independent, so each owns a module copy (functional_call swaps module attributes) and the two
    can run on different workers.
    """

    def __init__(self, lane: Lane, support: torch.Tensor, settings: Settings, should_stop: Callable[[], bool]):
        g = lane.generator
        self.unet, self.config = copy.deepcopy(g.unet), g.config
        self.ac = g.alphas_cumprod
        device = next(iter(g.params.values())).device
        support = support.to(device)
        self.noise = fixed_noise(settings.samples, g.config, settings.seed).to(device)
        self.sampler_steps, self.should_stop = settings.sampler_steps, should_stop
        self.guidance = g.guidance  # the checkpoint's own sampler settings, as meta.evaluate measures them
        self.memos = (FirstStepMemo(), FirstStepMemo())  # the grid's halves (or the whole grid, then the first)
        self.params = g.params
        # on CUDA the inner steps and the preview replay captured graphs (made at the first step / preview)
        graphs = settings.graphs and device.type == "cuda"
        self.capture_preview, self.captured_preview = graphs, None
        self.adapted = adapted_keys(g.params, lane.cfg.adapt)
        run = dict(seed=settings.seed, steps=settings.inner_steps, graphs=graphs)
        self.steps = adapt_steps(self.unet, g.params, support, self.ac, lane.cfg, **run)
        self.probe = None
        if len(support) >= 2:  # leave the last shot out, adapt on the rest, score on it
            query = support[-1:].expand(QUERY_COPIES, -1, -1, -1)  # (Q, C, H, W)
            self.query, (self.t, self.eps) = query, fixed_query_noise(query)
            self.probe_unet = copy.deepcopy(g.unet)
            self.probe = adapt_steps(self.probe_unet, g.params, support[:-1], self.ac, lane.cfg, **run)
            self.probe_params = g.params
        self.support_loss = None
        self.helper = None  # (pool, module copy) when this lane may draw half its preview on another worker

    @torch.inference_mode()
    def preview(self, interruptible: bool = True) -> np.ndarray:
        stop = self.should_stop if interruptible else None
        if self.capture_preview:  # once; where it cannot be captured (None), the previews stay eager
            self.capture_preview = False
            self.captured_preview = captured_sampler(self.unet, self.params, self.noise, self.config, self.adapted,
                                                     steps=self.sampler_steps, guidance=self.guidance)
        if self.captured_preview is not None:
            return to_uint8(self.captured_preview(self.params))
        if self.helper is None or len(self.noise) < 2:
            return to_uint8(sample(self.unet, self.params, self.noise, self.config, steps=self.sampler_steps, should_stop=stop,
                                   guidance=self.guidance, memo=self.memos[0]))
        # one lane on several workers: the second half of the grid is drawn on another worker
        pool, unet = self.helper
        half = len(self.noise) // 2

        # meta.sampling.sample runs under inference_mode itself, on whichever thread calls it
        kw = dict(steps=self.sampler_steps, should_stop=stop, guidance=self.guidance)
        future = pool.submit(sample, unet, self.params, self.noise[half:], self.config, memo=self.memos[1], **kw)
        first = sample(self.unet, self.params, self.noise[:half], self.config, memo=self.memos[0], **kw)
        return to_uint8(torch.cat([first, future.result()]))

    def main_job(self, advance: bool) -> np.ndarray:
        """One inner step (unless at step 0), then the preview from the fixed noise (Stop is
        honoured between the two and between sampler steps: `Interrupted`; step 0 always completes)."""
        if advance:
            s = next(self.steps)
            self.params, self.support_loss = s.params, float(s.support_loss)
            if self.should_stop():
                raise Interrupted
        return self.preview(interruptible=advance)

    def probe_job(self, advance: bool) -> float | None:
        """The probe's inner step (unless at step 0), then its loss on the held-out shot."""
        if self.probe is None:
            return None
        if advance:
            self.probe_params = next(self.probe).params
        with torch.inference_mode():
            return float(denoising_loss(self.probe_unet, self.probe_params, self.ac, self.query, self.t, self.eps))


def check_lanes(lanes: dict[str, Lane], support: torch.Tensor) -> None:
    for name, lane in lanes.items():
        if lane.generator.config.channels != support.shape[1]:
            raise ValueError(f"lane {name!r}: the generator draws {lane.generator.config.channels}-channel images, "
                             f"the shots have {support.shape[1]}")


def adapt_live(lanes: dict[str, Lane], shots, settings: Settings, should_stop: Callable[[], bool] = lambda: False,
               score: Callable[[np.ndarray], float] | None = None) -> Iterator[Frame]:
    """Yield a Frame at step 0 and after every inner step, until done or `should_stop()`; with
    `score`, each frame's `likeness` holds score(samples) for every lane."""
    start = time.perf_counter()
    support = support_tensor(shots)  # (N, C, 32, 32) in [-1, 1]
    check_lanes(lanes, support)
    runners = {name: _Runner(lane, support, settings, should_stop) for name, lane in lanes.items()}
    jobs = [(n, "main") for n in runners] + [(n, "probe") for n, r in runners.items() if r.probe is not None]
    workers = max(1, min(settings.workers, len(jobs)))

    def frame(step: int, pool) -> Frame:
        # every lane: 1. one inner step, then its preview from the fixed noise; 2. its probe's step and
        # held-out loss. The jobs are independent, so `workers` threads run them side by side.
        run = lambda job: getattr(runners[job[0]], job[1] + "_job")(step > 0)
        out = dict(zip(jobs, pool.map(run, jobs) if pool else map(run, jobs), strict=True))
        samples = {n: out[(n, "main")] for n in runners}
        query = {n: out[(n, "probe")] for n in runners if (n, "probe") in out}
        losses = {n: r.support_loss for n, r in runners.items()} if step > 0 else {}
        scores = {n: score(s) for n, s in samples.items()} if score is not None else {}
        return Frame(step, samples, losses, query, time.perf_counter() - start,
                     {n: r.params for n, r in runners.items()}, scores)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="inner-loop-lane") if workers > 1 else None
    if pool is not None and len(runners) == 1:  # one lane: its preview is the long job, so share it out
        (only,) = runners.values()
        only.helper = (pool, copy.deepcopy(only.unet))
    try:
        yield frame(0, pool)
        for step in range(1, settings.inner_steps + 1):
            if should_stop():
                return
            yield frame(step, pool)
    except Interrupted:  # Stop pressed mid-step: the last whole frame stays the last one
        return
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
