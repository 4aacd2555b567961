"""One frame for each of several runs at once (the scheduler's unit of work, demo/runtime/scheduler.py).

The runs of a group share their checkpoints, shot count and preview size. Lanes that adapt only the
context (the meta-learned start) share their weights, so the group's inner steps are one batched
`meta.inner.inner_step` (support (T, N, C, H, W), contexts (T, c, h, w), each run's own noise, step
count and inner_lr) and its previews one batched `meta.sampling.sample`. Lanes that adapt all weights
(the ordinary start) have different weights per run: they step one run after another, since a batch of
different weights (grouped convolutions) is slower on CPU than the same convolutions one by one
(python -m demo.tools.load measures the whole).

A run's numbers do not depend on the runs batched with it: each of its images is computed from its
own rows, and with one torch thread the CPU kernels give every row the same bits whatever the batch
size, from MIN_ROWS rows up (matrix products of fewer rows take another code path). So every batch
here has at least MIN_ROWS rows (a small one is padded with copies of its first run, then dropped),
and a run's frames are the same bits alone or in any group (tests/test_scheduler.py); they are the
frames of demo.runtime.engine's one-at-a-time run too wherever that run's own batches are that large
(2+ shots with the shipped checkpoints, 4+ samples), else equal but for rare one-level pixels.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from meta.algorithms import fixed_query_noise
from meta.inner import initial, inner_step, support_noise
from meta.model import CONTEXT, denoising_loss
from meta.sampling import FirstStepMemo, fixed_noise, sample

from .engine import QUERY_COPIES, Frame, Lane, Settings, check_lanes, support_tensor, to_uint8

MIN_ROWS = 4  # images per network call, at least: from here up, a row's result does not depend on the batch size


@dataclass
class Loop:
    """One inner loop (a lane's main loop or its leave-one-out probe), advanced one step at a time."""

    support: torch.Tensor  # (N, C, H, W)
    params: dict  # after `step` steps (at step 0 the checkpoint's own, as the live run shows it)
    start: dict  # where the first step starts (`meta.inner.initial`)
    step: int = 0
    moments: dict | None = None  # Adam's, after `step` steps


class LaneRun:
    """One lane of one run: its inner loop, its probe, its preview noise and memo."""

    def __init__(self, lane: Lane, support: torch.Tensor, settings: Settings):
        g = self.g = lane.generator
        self.cfg, self.seed = lane.cfg, settings.seed
        device = next(iter(g.params.values())).device
        support = support.to(device)
        self.noise = fixed_noise(settings.samples, g.config, settings.seed).to(device)
        self.memo = FirstStepMemo()
        self.main = self._loop(support)
        self.probe = self.query = None
        if len(support) >= 2:  # leave the last shot out, adapt on the rest, score on it
            query = support[-1:].expand(QUERY_COPIES, -1, -1, -1)  # (Q, C, H, W)
            self.query, self.query_noise = query, fixed_query_noise(query)
            self.probe = self._loop(support[:-1])

    def _loop(self, support: torch.Tensor) -> Loop:
        return Loop(support, self.g.params, initial(self.g.unet, self.g.params, support, self.cfg))

    def query_loss(self, unet, probe_params: dict) -> float:
        """The probe's denoising loss on the held-out shot, at fixed (t, eps)."""
        with torch.inference_mode():
            t, eps = self.query_noise
            return float(denoising_loss(unet, probe_params, self.g.alphas_cumprod, self.query, t, eps))


class RunState:
    """Everything one run computes with: its lanes' loops, noise and memos; frames made so far."""

    def __init__(self, lanes: dict[str, Lane], shots, settings: Settings):
        support = support_tensor(shots)  # (N, C, 32, 32) in [-1, 1]
        check_lanes(lanes, support)
        self.settings, self.shots = settings, len(support)
        self.lanes = {name: LaneRun(lane, support, settings) for name, lane in lanes.items()}
        self.frames = 0  # the next frame's step
        self.started: float | None = None  # when its first frame began

    def key(self) -> tuple:
        """Runs with equal keys can share a group: the same checkpoints, inner loops (but for inner_lr),
        shot count, preview size, and both at step 0 or both past it."""
        lanes = tuple((name, id(lr.g), tuple(v for k, v in asdict(lr.cfg).items() if k != "inner_lr"))
                      for name, lr in self.lanes.items())
        s = self.settings
        return lanes, self.shots, s.samples, s.sampler_steps, self.frames == 0

    @property
    def done(self) -> bool:
        return self.frames > self.settings.inner_steps


class MemoRows:
    """The first-step memos of a batch of runs, one per row of x (T, S, C, H, W): `meta.sampling.sample`
    uses it like one `FirstStepMemo`; a batch where any run has no memo yet computes the whole step."""

    def __init__(self, memos: list[FirstStepMemo]):
        self.memos = memos

    def get(self, params, x, t, null):
        rows = [m.get(params, x[i], t, null) for i, m in enumerate(self.memos)]
        return None if any(r is None for r in rows) else torch.stack(rows)

    def put(self, params, x, t, null, eps):
        for i, m in enumerate(self.memos):
            m.put(params, x[i], t, null, eps[i].clone())


def _pad(items: list, rows: int) -> list:
    """`items` (one per run), with copies of the first added until they make MIN_ROWS rows of `rows` each."""
    return items + items[:1] * max(0, math.ceil(MIN_ROWS / rows) - len(items))


def _step_contexts(unet, lanes: list[LaneRun], loops: list[Loop]) -> list[tuple]:
    """One inner step of several context loops in one batch: [(params, moments, loss), ...] per loop."""
    g, cfg, n = lanes[0].g, lanes[0].cfg, len(loops)
    rows = len(loops[0].support) * cfg.noise_draws
    lanes, loops = _pad(lanes, rows), _pad(loops, rows)
    starts = [lp.start if lp.step == 0 else lp.params for lp in loops]
    support = torch.stack([lp.support for lp in loops])  # (T, N, C, H, W)
    noise = [support_noise(lp.support, cfg, lp.step + 1, lr.seed) for lr, lp in zip(lanes, loops)]
    ctx = torch.stack([p[CONTEXT] for p in starts])  # (T, c, h, w)
    moments = None
    if cfg.optimizer == "adam" and any(lp.moments for lp in loops):
        zeros = (torch.zeros_like(ctx[0]),) * 2
        own = [lp.moments[CONTEXT] if lp.moments else zeros for lp in loops]  # a loop's first step starts at zeros
        moments = {CONTEXT: (torch.stack([m for m, _ in own]), torch.stack([v for _, v in own]))}
    params, moments, loss = inner_step(
        unet, {**starts[0], CONTEXT: ctx}, support, g.alphas_cumprod, cfg,
        torch.stack([t for t, _ in noise]), torch.stack([e for _, e in noise]),
        step=[lp.step + 1 for lp in loops], moments=moments, inner_lr=[lr.cfg.inner_lr for lr in lanes])
    out = []
    for i in range(n):
        own = {CONTEXT: (moments[CONTEXT][0][i], moments[CONTEXT][1][i])} if moments else None
        out.append(({**params, CONTEXT: params[CONTEXT][i]}, own, loss[i]))
    return out


def _step_alone(unet, lane: LaneRun, loop: Loop) -> tuple:
    t, eps = support_noise(loop.support, lane.cfg, loop.step + 1, lane.seed)
    start = loop.start if loop.step == 0 else loop.params
    return inner_step(unet, start, loop.support, lane.g.alphas_cumprod, lane.cfg, t, eps, step=loop.step + 1,
                      moments=loop.moments, inner_lr=lane.cfg.inner_lr)


def _preview(unet, lanes: list[LaneRun], params: list[dict], settings: Settings, together: bool, should_stop) -> list:
    g, n = lanes[0].g, len(lanes)
    kw = dict(steps=settings.sampler_steps, guidance=g.guidance, should_stop=should_stop)
    if not together:
        return [to_uint8(sample(unet, p, lr.noise, g.config, memo=lr.memo, **kw)) for lr, p in zip(lanes, params)]
    lanes, params = _pad(lanes, settings.samples), _pad(params, settings.samples)
    ctx = torch.stack([p[CONTEXT] for p in params])  # (T, c, h, w): every run's own context, shared weights
    noise = torch.stack([lr.noise for lr in lanes])  # (T, S, C, H, W)
    x = sample(unet, {**params[0], CONTEXT: ctx}, noise, g.config, memo=MemoRows([lr.memo for lr in lanes]), **kw)
    return [to_uint8(row) for row in x[:n]]


def advance(runs: list[RunState], unets: dict[int, torch.nn.Module], should_stop=None) -> list[Frame]:
    """The next frame of every run in the group (one key): 1. one inner step of every lane's loop and
    probe (none at step 0), 2. each lane's preview from its fixed noise, 3. each probe's held-out loss.
    `unets` maps id(generator) to this worker's own copy of its module (functional_call swaps attributes);
    `should_stop` is asked before every sampler step (True: `meta.sampling.Interrupted`).
    Pure until the end: if anything raises, no run has moved."""
    updates, frames = [], [dict(samples={}, support_loss={}, query_loss={}, params={}) for _ in runs]
    for r in runs:
        r.started = time.perf_counter() if r.started is None else r.started
    for name, first in runs[0].lanes.items():
        lanes = [r.lanes[name] for r in runs]
        unet, together = unets[id(first.g)], first.cfg.adapt == "context"
        # 1. one inner step of each loop, main and probe: in one batch for context lanes, else one by one
        for which in ("main", "probe"):
            loops = [getattr(lr, which) for lr in lanes]
            if loops[0] is None or runs[0].frames == 0:
                continue
            stepped = _step_contexts(unet, lanes, loops) if together else [_step_alone(unet, lr, lp) for lr, lp in zip(lanes, loops)]
            for i, (lp, (params, moments, loss)) in enumerate(zip(loops, stepped)):
                updates.append((lp, params, moments))
                if which == "main":
                    frames[i]["support_loss"][name] = float(loss)
        # 2. the preview from each run's fixed noise, with its main loop's new parameters (not written back yet)
        new = {id(lp): p for lp, p, _ in updates}
        mains = [new.get(id(lr.main), lr.main.params) for lr in lanes]
        for i, grid in enumerate(_preview(unet, lanes, mains, runs[0].settings, together, should_stop)):
            frames[i]["samples"][name], frames[i]["params"][name] = grid, mains[i]
        # 3. the probe's loss on the held-out shot
        for i, lr in enumerate(lanes):
            if lr.probe is not None:
                frames[i]["query_loss"][name] = lr.query_loss(unet, new.get(id(lr.probe), lr.probe.params))
    # 4. commit: every loop takes its step, every run its frame
    for lp, params, moments in updates:
        lp.params, lp.moments, lp.step = params, moments, lp.step + 1
    now, out = time.perf_counter(), []
    for r, f in zip(runs, frames):
        out.append(Frame(r.frames, f["samples"], f["support_loss"], f["query_loss"], now - r.started, f["params"]))
        r.frames += 1
    return out
