"""The generator: a plain diffusers `UNet2DModel`, a DDPM noise schedule, and a context map.

Notation: x0 = a clean glyph, eps = Gaussian noise, t = timestep, abar_t = alphas_cumprod[t],
x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; the UNet predicts eps from (x_t, context, t).

The *context* is a small spatial map (ctx_channels x ctx_size x ctx_size) upsampled and
concatenated to x_t as extra input channels. It is the handle for context adaptation (CAVIA):
the inner loop can adapt only it, only the UNet weights, or both. All parameters live in one
flat dict, `{"context": ..., <unet parameter names>: ...}`, so the one inner loop
(`meta.inner.adapt`) can adapt any subset with `torch.func.functional_call`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel

CONTEXT = "context"  # key of the context map in a parameter dict
# extra.safetensors key of the training images' mean (C, H, W): where the sampler's start is centred
# (`meta.sampling.sample`); a property of the data the checkpoint was trained on, never adapted
PRIOR_MEAN = "prior_mean"


@dataclass
class GeneratorConfig:
    channels: int = 1  # image channels (1 = glyphs, 3 = colour icons)
    block_out_channels: tuple[int, ...] = (16, 32, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    ctx_channels: int = 4  # 0 = no context map (a plain unconditional DDPM)
    ctx_size: int = 8
    sample_size: int = 32
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    # "sketch" context: the first `channels` context channels are also a low-resolution sketch of x0,
    # added to the UNet's x0 estimate with weight sqrt(1 - abar_t) (see `predict_noise`)
    ctx_sketch: bool = False

    def unet_kwargs(self) -> dict:
        n = len(self.block_out_channels)
        return dict(
            sample_size=self.sample_size,
            in_channels=self.channels + self.ctx_channels,
            out_channels=self.channels,
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            norm_num_groups=self.norm_num_groups,
            down_block_types=("DownBlock2D",) * n,
            up_block_types=("UpBlock2D",) * n,
            # attention-free: SDPA has no double backward, and second-order MAML must work
            add_attention=False,
        )


def build_unet(config: GeneratorConfig, seed: int | None = 0) -> UNet2DModel:
    """A fresh UNet; with a seed its initial weights are reproducible (torch's global RNG is left as it was)."""
    if seed is None:
        return attach_sketch(UNet2DModel(**config.unet_kwargs()), config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return attach_sketch(UNet2DModel(**config.unet_kwargs()), config)


def attach_sketch(unet: UNet2DModel, config: GeneratorConfig) -> UNet2DModel:
    """Give the module the noise schedule a sketch context needs (a plain attribute, not a weight),
    and its conv weights the channels-last layout (oneDNN's fast path on CPU; `meta.bench` times it)."""
    unet.to(memory_format=torch.channels_last)
    device = next(unet.parameters()).device  # beside the weights: nothing crosses devices while the UNet runs
    unet.sketch_abar = scheduler(config).alphas_cumprod.to(device) if config.ctx_sketch and config.ctx_channels else None
    return unet


def init_params(unet: UNet2DModel, config: GeneratorConfig) -> dict[str, torch.Tensor]:
    """Fresh parameter dict: the UNet's own tensors plus a zero context map."""
    params = dict(unet.named_parameters())
    if config.ctx_channels:
        params[CONTEXT] = torch.zeros(config.ctx_channels, config.ctx_size, config.ctx_size)
    return params


def scheduler(config: GeneratorConfig) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule)


def predict_noise(unet: UNet2DModel, params: dict, x_t: torch.Tensor, t: torch.Tensor, net=None) -> torch.Tensor:
    """eps_theta(x_t, t; context) for x_t of shape (..., C, H, W).

    `net`, when given, is `meta.preview_net.frozen_net(unet, params)`: the same UNet with these
    weights, compiled for inference; only the context then comes from `params`.

    A context of shape (c, h, w) is shared by the whole batch; one of shape (T, c, h, w) gives
    each of T tasks its own context, with x_t shaped (T, N, C, H, W): many tasks' support sets
    then go through the UNet in one forward pass.

    With a sketch context (config.ctx_sketch) the x0 estimate implied by the returned eps is the
    UNet's own plus sqrt(1 - abar_t) * upsample(sketch): at high noise the sketch *is* the drawing's
    coarse shape, so the gradient of the denoising loss with respect to the context points straight
    at the support drawings' coarse shape, and a few inner steps can move it there.
    """
    lead = x_t.shape[:-3]
    x = x_t.reshape(-1, *x_t.shape[-3:])  # (B, C, H, W)
    t = t.reshape(-1)
    sketch = None
    if CONTEXT in params:
        ctx = params[CONTEXT].reshape(-1, *params[CONTEXT].shape[-3:])  # (T|1, c, h, w)
        per_item = x.shape[0] // ctx.shape[0]
        def per_image(m):  # (T|1, k, H, W) -> (B, k, H, W)
            return m.repeat_interleave(per_item, dim=0) if m.shape[0] > 1 else m.expand(x.shape[0], -1, -1, -1)
        if getattr(unet, "sketch_abar", None) is not None:
            c = x.shape[1]
            s = ctx[:, :c] if ctx.shape[1] >= c else ctx[:, :1].expand(-1, c, -1, -1)
            sketch = per_image(F.interpolate(s, size=x.shape[-2:], mode="bilinear", align_corners=False))
        x = torch.cat([x, per_image(F.interpolate(ctx, size=x.shape[-2:], mode="nearest")).to(x.dtype)], dim=1)
    if net is not None:
        eps = net(x, t)
    else:
        weights = {k: v for k, v in params.items() if k != CONTEXT}
        eps = torch.func.functional_call(unet, weights, (x, t)).sample
    if sketch is not None:  # eps for x0_hat = x0_unet + sqrt(1 - abar) * sketch
        abar = unet.sketch_abar.to(t.device)[t].reshape(-1, 1, 1, 1)
        eps = eps - abar.sqrt().to(eps.dtype) * sketch.to(eps.dtype)
    return eps.reshape(*lead, *eps.shape[1:])


def add_noise(alphas_cumprod: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    abar = alphas_cumprod.to(x0.device)[t].reshape(*t.shape, *([1] * (x0.dim() - t.dim())))
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def denoising_loss(unet, params, alphas_cumprod, x0, t, eps, reduce_tasks: bool = True) -> torch.Tensor:
    """Mean squared error of the eps prediction; x0, eps: (..., C, H, W), t: x0.shape[:-3].

    With x0 shaped (T, N, C, H, W) the loss is the *sum* over tasks of each task's mean, so the
    gradient with respect to task i's context is exactly the gradient of task i's own loss; with
    reduce_tasks=False it is each task's mean, (T,).
    """
    x_t = add_noise(alphas_cumprod, x0, eps, t)
    err = (predict_noise(unet, params, x_t, t) - eps).pow(2)
    if x0.dim() == 5:
        per_task = err.flatten(1).mean(1)
        return per_task.sum() if reduce_tasks else per_task
    return err.mean()


def count_params(params: dict) -> int:
    return sum(p.numel() for p in params.values())
