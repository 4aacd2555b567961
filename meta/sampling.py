"""Few-step sampling from fixed noise: the preview the app streams after every inner step.

`python -m meta.sampling CKPT --guidance SCALE [--guidance-t-min T]` sets a checkpoint's
classifier-free guidance (training.json "sampling"), which the studio, meta.evaluate and meta.bench
then use; `--guidance 1` turns it off.

The loop is ours; the arithmetic of each step is diffusers' (DDIM, eta = 0, or DPM-Solver++),
so the same noise and parameters give the same samples, bit for bit.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from safetensors.torch import load_file

from .graphs import capture
from .model import CONTEXT, GeneratorConfig, predict_noise
from .preview_net import frozen_net, weights_key

SAMPLERS = ("ddim", "dpm")
PREVIEW_SAMPLES = 6  # the app's default preview grid: samples ...
PREVIEW_STEPS = 8  # ... and sampler steps (chosen by looking at grids and timing them: see meta.bench)
PREVIEW_SAMPLER = "dpm"  # DPM-Solver++(2M): more samples recognised than DDIM at 8 steps


def make_scheduler(config: GeneratorConfig, sampler: str = PREVIEW_SAMPLER, steps: int = 10):
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    if not 1 <= steps <= 1000:
        raise ValueError(f"sampler steps must be in 1..1000, got {steps}")
    # "leading" spacing starts at 1000 - 1000 / steps + 1 (876 for 8 steps), not at t = 999: under the
    # cosine schedule abar_999 ~ 0, so an x0 estimate made there is noise amplified ~10^4 times and
    # clipped into saturated blobs (README, "Training")
    common = dict(num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule,
                  timestep_spacing="leading", steps_offset=1)
    if sampler == "ddim":
        sched = DDIMScheduler(**common, clip_sample=True, set_alpha_to_one=True)
    else:
        sched = DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                            thresholding=True, sample_max_value=1.0)
    sched.set_timesteps(steps)
    return sched


def fixed_noise(n: int, config: GeneratorConfig, seed: int, tasks: int | None = None) -> torch.Tensor:
    """x_T for `n` samples (or `tasks` x n): the same seed always gives the same noise."""
    gen = torch.Generator().manual_seed(seed)
    shape = (n, config.channels, config.sample_size, config.sample_size)
    return torch.randn(((tasks,) if tasks else ()) + shape, generator=gen)


def warm_up(unet, params: dict) -> bool:
    """Build the compiled sampling copy of a loaded generator now (a second or two), so that the first
    preview a user waits for does not; True where the compiled path applies (see `frozen_net`)."""
    with torch.inference_mode():
        return frozen_net(unet, params) is not None


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance (Ho & Salimans 2022) toward the adapted context.

    A context-conditioned checkpoint trained with a shared *null* context for a fraction of its
    images (`meta.train --p-null`, the auto-decoder) predicts eps_null without a character; the
    sampler then uses eps_null + scale * (eps_context - eps_null): scale 1 is plain sampling, > 1
    moves samples further toward what the context holds. Both predictions share one UNet call.
    Only sampler steps with t_min <= t <= t_max are guided."""

    scale: float
    null_context: torch.Tensor
    t_min: int = 0
    t_max: int = 1000

    @staticmethod
    def check_scale(scale: float) -> None:
        if not 0 < scale <= 20:
            raise ValueError(f"guidance scale must be in (0, 20], got {scale}")

    def __post_init__(self):
        self.check_scale(self.scale)
        if not 0 <= self.t_min <= self.t_max:
            raise ValueError(f"guidance needs 0 <= t_min <= t_max, got {self.t_min}, {self.t_max}")

    def applies(self, t: int) -> bool:
        return self.scale != 1 and self.t_min <= t <= self.t_max


def guided_noise(unet, params: dict, x: torch.Tensor, t: torch.Tensor, guidance: Guidance, net=None,
                 uncond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps_null + scale * (eps_context - eps_null), eps_null) for x (N, C, H, W) or (T, N, C, H, W) and
    params' context (c, h, w) or (T, c, h, w): the conditional and null predictions in one batch of
    twice the size, or only the conditional one where `uncond` (eps_null, already known) is given."""
    ctx = params[CONTEXT]
    xs = x if x.dim() == 5 else x[None]  # (T, N, C, H, W)
    ctxs = ctx.reshape(-1, *ctx.shape[-3:]).expand(xs.shape[0], -1, -1, -1)  # (T, c, h, w)
    ts = t.reshape(xs.shape[:2])  # (T, N)
    if uncond is None:
        null = guidance.null_context.to(ctxs).expand_as(ctxs)
        eps = predict_noise(unet, {**params, CONTEXT: torch.cat([ctxs, null])}, torch.cat([xs, xs]), torch.cat([ts, ts]), net)
        cond, uncond = (e.reshape(x.shape) for e in eps.chunk(2))
    else:
        cond = predict_noise(unet, {**params, CONTEXT: ctxs}, xs, ts, net).reshape(x.shape)
    return uncond + guidance.scale * (cond - uncond), uncond


class FirstStepMemo:
    """The null prediction of a run's first guided sampler step, kept by the caller for one run.

    In a live run that adapts only the context, every preview starts from the same x_T at the same
    t with the same weights, so the first step's null-context prediction is the same each time; with
    this memo it is computed once, and later previews run that step at half the batch (one of the
    preview's ~10 network evaluations saved). It is used only when x, t, the null context and every
    weight tensor (same storage, not changed in place) are the ones it was made with."""

    def __init__(self):
        self._key, self._eps = None, None

    def get(self, params: dict, x: torch.Tensor, t: int, null: torch.Tensor) -> torch.Tensor | None:
        if self._key is None:
            return None
        wx, wt, wnull, wweights = self._key
        same = wt == t and wweights == weights_key(params) and wx.shape == x.shape and torch.equal(wx, x)
        return self._eps if same and torch.equal(wnull, null) else None

    def put(self, params: dict, x: torch.Tensor, t: int, null: torch.Tensor, eps: torch.Tensor) -> None:
        self._key, self._eps = (x.clone(), t, null.clone(), weights_key(params)), eps


class Interrupted(Exception):
    """Raised by `sample` when its `should_stop` callback says so (a user pressed Stop)."""


@torch.inference_mode()  # no autograd bookkeeping at all (a few % faster than no_grad on CPU)
def sample(unet, params: dict, noise: torch.Tensor, config: GeneratorConfig, *, sampler: str = PREVIEW_SAMPLER,
           steps: int = 10, should_stop: Callable[[], bool] | None = None, guidance: Guidance | None = None,
           memo: FirstStepMemo | None = None) -> torch.Tensor:
    """Denoise x_T = noise (N, C, H, W) -- or (T, N, C, H, W) with per-task contexts -- to x_0 in [-1, 1].

    `should_stop` is asked before every sampler step; when it answers True, `Interrupted` is raised.
    `guidance` (a checkpoint's `Generator.guidance`) turns on classifier-free guidance; `memo` (one
    per run and grid) then saves recomputing the first step's null prediction (see `FirstStepMemo`).

    The first step is at t0 < 999 (see `make_scheduler`), where the forward process still holds
    sqrt(abar_t0) of the image. A checkpoint that knows its training images' mean (`unet.prior_mean`,
    from extra.safetensors) starts at noise + sqrt(abar_t0) * mean, centred like the marginal (whose
    variance, 1 - abar + abar * var(x0), is ~1 like the noise's). For colour icons on white (data mean
    0.52) a start at N(0, I) reads as a grey image and every sample came out a full-frame colour
    field; from the shifted start they are centred objects on white."""
    sched = make_scheduler(config, sampler, steps)
    params = {k: v.detach() for k, v in params.items()}
    x = noise.to(next(iter(params.values())).device)
    prior = getattr(unet, "prior_mean", None)
    if prior is not None:  # centre the start where the forward process's marginal at t0 is centred
        abar = sched.alphas_cumprod[int(sched.timesteps[0])]
        x = x + abar.sqrt() * prior.to(x.device, x.dtype)
    net = frozen_net(unet, params)  # on CPU with the module's own weights: a compiled copy, ~1.5x faster
    for i, t in enumerate(sched.timesteps):
        if should_stop is not None and should_stop():
            raise Interrupted
        # 1. predict the noise in x_t (guided toward the context, where the checkpoint asks for it)
        tt = torch.full(x.shape[:-3], int(t), device=x.device)
        if guidance is not None and CONTEXT in params and guidance.applies(int(t)):
            known = memo.get(params, x, int(t), guidance.null_context) if memo is not None and i == 0 else None
            eps, uncond = guided_noise(unet, params, x, tt, guidance, net, known)
            if memo is not None and i == 0 and known is None:
                memo.put(params, x, int(t), guidance.null_context, uncond)
        else:
            eps = predict_noise(unet, params, x, tt, net)
        # 2. step x_t -> x_{t-1} (DDIM / DPM-Solver++ update, x_0 clipped / thresholded to [-1, 1])
        x = sched.step(eps, t, x).prev_sample
    return x.clamp(-1, 1)


def captured_sampler(unet, params: dict, noise: torch.Tensor, config: GeneratorConfig, changing, *,
                     sampler: str = PREVIEW_SAMPLER, steps: int = 10, guidance: Guidance | None = None, backend=None):
    """`sample` from this fixed noise as one CUDA graph (meta.graphs): -> preview(params) -> x_0 (a new
    tensor), or None where it cannot be captured. Only the parameters named in `changing` (what the
    inner loop adapts) are copied in at each call; the others are `params`' own tensors, read in place.
    Without a stop check between sampler steps (a replay is milliseconds) and without a FirstStepMemo
    (its test reads tensors back to the CPU, which a graph cannot)."""
    changing = [k for k in params if k in set(changing)]
    fixed = {k: v.detach() for k, v in params.items() if k not in changing}

    def preview(changed: dict) -> torch.Tensor:
        return sample(unet, {**fixed, **changed}, noise, config, sampler=sampler, steps=steps, guidance=guidance)

    captured = capture(preview, ({k: params[k] for k in changing},), backend)
    if captured is None:
        return None
    return lambda p: captured({k: p[k] for k in changing}).clone()


def set_guidance(ckpt, scale: float, t_min: int = 0, t_max: int = 1000, note: str = "") -> dict:
    """Write a checkpoint's sampler guidance into its training.json (scale 1 removes it)."""
    ckpt = Path(ckpt)
    record = json.loads((ckpt / "training.json").read_text())
    extra = ckpt / "extra.safetensors"
    null = load_file(str(extra)).get("null_context") if extra.exists() else None
    if scale == 1:
        record.pop("sampling", None)
    else:
        if null is None:
            raise ValueError(f"{ckpt} has no null context (extra.safetensors 'null_context'): only a checkpoint trained "
                             f"with one (the auto-decoder, --p-null > 0) can be guided")
        Guidance(scale, null, t_min, t_max)  # validates
        record["sampling"] = {"guidance": scale, "guidance_t_min": t_min, "guidance_t_max": t_max, **({"note": note} if note else {})}
    (ckpt / "training.json").write_text(json.dumps(record, indent=2))
    return record.get("sampling", {})


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m meta.sampling", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="+")
    p.add_argument("--guidance", type=float, required=True, help="classifier-free guidance scale (1 = none)")
    p.add_argument("--guidance-t-min", type=int, default=0, help="guide only sampler steps at t >= this")
    p.add_argument("--guidance-t-max", type=int, default=1000, help="... and t <= this")
    p.add_argument("--note", default="", help="how the setting was chosen (kept in training.json)")
    args = p.parse_args(argv)
    for ckpt in args.checkpoint:
        try:
            print(ckpt, set_guidance(ckpt, args.guidance, args.guidance_t_min, args.guidance_t_max, args.note))
        except ValueError as err:
            p.error(str(err))


if __name__ == "__main__":
    main()
