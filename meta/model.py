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

import json
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from safetensors.torch import load_file, save_file

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
    and its conv weights the channels-last layout (oneDNN's fast path on CPU: inner step 108 -> 93 ms,
    8-step preview 253 -> 224 ms on a 2-core CPU; `meta.bench` measures it)."""
    unet.to(memory_format=torch.channels_last)
    unet.sketch_abar = scheduler(config).alphas_cumprod if config.ctx_sketch and config.ctx_channels else None
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

    `net`, when given, is `frozen_net(unet, params)`: the same UNet with these weights, compiled for
    inference; only the context then comes from `params`.

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


class _Eps(torch.nn.Module):
    """The UNet's forward as (x, t) -> eps: a plain tensor function, which is what tracing takes."""

    def __init__(self, unet: UNet2DModel):
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, return_dict=False)[0]


_FREEZE_LOCK = threading.Lock()  # two workers sampling from one shared module build its frozen copy once


def weights_key(params: dict) -> dict:
    """Which weight tensors these are, and whether they changed since: name -> (storage, in-place
    version) for every weight, the context left out. Equal keys mean the same weights, unchanged
    (an optimizer step in place bumps the version; inference tensors keep no version counter, so for
    them only the storage is compared)."""
    return {k: (v.data_ptr(), -1 if v.is_inference() else v._version) for k, v in params.items() if k != CONTEXT}


class _Frozen:
    """A frozen copy of a UNet and the weight tensors it was made from (held, so that their storage
    cannot be reused by other tensors while the copy is in use). Immutable: deep copies of the module
    (the studio copies it per run, see demo.engine) share it instead of copying it."""

    def __init__(self, weights: dict, net):
        self.weights, self.net, self.key = weights, net, weights_key(weights)

    def matches(self, weights: dict) -> bool:
        return weights_key(weights) == self.key

    def __deepcopy__(self, memo):
        return self


def frozen_net(unet: UNet2DModel, params: dict):
    """The UNet with `params`' weights as a frozen TorchScript function (x, t) -> eps, or None where
    it does not apply.

    Sampling on CPU evaluates the same fixed-shape network 8-20 times per preview, and at 32 x 32
    much of each evaluation is Python and dispatch: traced and frozen (weights folded in as constants),
    one evaluation of a batch of 6 went from 60 to 41 ms on this 2-core CPU (one thread, `meta.bench`
    measures the preview). `optimize_for_inference` on top was slower here: it converts every
    convolution's input to oneDNN's layout and back (~2,700 conversions per 8-step preview): an A/B
    of whole guided previews (2 threads, interleaved rounds) gave 225-247 ms with it, 189-205 ms
    without. The frozen constants share the weights' storage, so `_Frozen` holds the weights, and an
    in-place change to them (checked by version) rebuilds the copy. `torch.compile`
    gives about the same speed after a 2-minute compile on 2 cores, which a Space cannot afford;
    this takes ~1-2 s, once per checkpoint (cached on the module, rebuilt if its weights change).

    Applies only without autograd, on CPU, in float32, and to the weights the module was loaded with
    (context adaptation, unadapted previews); a lane that adapts the weights themselves gets None and
    samples through `functional_call` as before. It is built only from the module's own weights
    (`meta.sampling.warm_up` at load); copies of the module reuse it for those same weights.
    """
    first = next(unet.parameters())
    if torch.is_grad_enabled() or first.device.type != "cpu" or first.dtype != torch.float32:
        return None
    weights = {k: v for k, v in params.items() if k != CONTEXT}
    cached = getattr(unet, "_frozen", None)
    if cached is not None and cached.matches(weights):
        return cached.net
    own = dict(unet.named_parameters())
    if weights.keys() != own.keys() or any(weights[k].data_ptr() != p.data_ptr() for k, p in own.items()):
        return None
    with _FREEZE_LOCK:
        cached = getattr(unet, "_frozen", None)
        if cached is None or not cached.matches(weights):
            c = unet.config
            example = (torch.randn(2, c.in_channels, c.sample_size, c.sample_size), torch.full((2,), 500))
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarnings and torch.jit's deprecation notice
                traced = torch.jit.trace(_Eps(unet).eval(), example, check_trace=False)
                net = torch.jit.freeze(traced)
            unet._frozen = cached = _Frozen(dict(weights), net)
        return cached.net


def add_noise(alphas_cumprod: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    abar = alphas_cumprod.to(x0.device)[t].reshape(*t.shape, *([1] * (x0.dim() - t.dim())))
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def denoising_loss(unet, params, alphas_cumprod, x0, t, eps, reduce_tasks: bool = True) -> torch.Tensor:
    """Mean squared error of the eps prediction; x0, eps: (..., C, H, W), t: x0.shape[:-3].

    With x0 shaped (T, N, C, H, W) the loss is the *sum* over tasks of each task's mean, so the
    gradient with respect to task i's context is exactly the gradient of task i's own loss.
    """
    x_t = add_noise(alphas_cumprod, x0, eps, t)
    err = (predict_noise(unet, params, x_t, t) - eps).pow(2)
    if x0.dim() == 5 and reduce_tasks:
        return err.flatten(1).mean(1).sum()
    return err.mean()


# ---- checkpoints: diffusers folder (config.json + safetensors) + context + training.json ----

def save_checkpoint(path, unet: UNet2DModel | None, params: dict, config: GeneratorConfig, training: dict) -> Path:
    """Write `params` as a diffusers folder + extra.safetensors + training.json.

    The UNet written is a fresh module built from `config` (the `unet` argument is unused and
    kept for call-site symmetry), so saving never changes a module someone else is using.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    out = build_unet(config, seed=None)
    out.load_state_dict({k: v.detach().cpu() for k, v in params.items() if k != CONTEXT})
    out.save_pretrained(path, safe_serialization=True)
    extra = {CONTEXT: params[CONTEXT].detach().contiguous().cpu()} if CONTEXT in params else {}
    extra.update({k: v.detach().contiguous().cpu() for k, v in training.get("_tensors", {}).items()})
    if extra:
        save_file(extra, str(path / "extra.safetensors"))
    record = {"generator": asdict(config), **{k: v for k, v in training.items() if k != "_tensors"}}
    (path / "training.json").write_text(json.dumps(record, indent=2, default=str))
    return path


def load_checkpoint(path, device="cpu") -> tuple[UNet2DModel, dict, GeneratorConfig, dict]:
    """-> (unet, params, config, training record). Safetensors only: nothing is unpickled."""
    path = Path(path)
    if not (path / "config.json").exists() or not (path / "training.json").exists():
        raise ValueError(f"{path} is not an Inner Loop checkpoint (needs config.json and training.json)")
    record = json.loads((path / "training.json").read_text())
    gen = dict(record["generator"])
    gen["block_out_channels"] = tuple(gen["block_out_channels"])
    config = GeneratorConfig(**gen)
    unet = attach_sketch(UNet2DModel.from_pretrained(path, use_safetensors=True).to(device).eval(), config)
    params = {k: v.detach() for k, v in unet.named_parameters()}
    extra_file = path / "extra.safetensors"
    extra = load_file(str(extra_file), device=str(device)) if extra_file.exists() else {}
    unet.prior_mean = extra.get(PRIOR_MEAN)  # a plain attribute, like sketch_abar: the sampler reads it
    if config.ctx_channels:
        params[CONTEXT] = extra.get(CONTEXT, torch.zeros(config.ctx_channels, config.ctx_size, config.ctx_size, device=device))
    record["_tensors"] = {k: v for k, v in extra.items() if k != CONTEXT}
    return unet, params, config, record


def count_params(params: dict) -> int:
    return sum(p.numel() for p in params.values())


@dataclass
class Generator:
    """What the app and the evaluation hold: the module, its parameters and how it was trained."""

    unet: UNet2DModel
    params: dict
    config: GeneratorConfig
    record: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path, device="cpu") -> "Generator":
        return cls(*load_checkpoint(path, device))

    @property
    def guidance(self):
        """The checkpoint's classifier-free guidance (training.json "sampling": {"guidance": scale,
        "guidance_t_min", "guidance_t_max"}, with its null context), or None: what every sampler
        that shows or measures this checkpoint uses (the studio, meta.evaluate, meta.bench)."""
        from .sampling import Guidance  # sampling imports this module
        s, null = self.record.get("sampling", {}), self.record.get("_tensors", {}).get("null_context")
        if null is None or s.get("guidance", 1.0) == 1.0:
            return None
        return Guidance(float(s["guidance"]), null, int(s.get("guidance_t_min", 0)), int(s.get("guidance_t_max", 1000)))

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        if "_alphas_cumprod" not in self.__dict__:
            self.__dict__["_alphas_cumprod"] = scheduler(self.config).alphas_cumprod.to(next(iter(self.params.values())).device)
        return self.__dict__["_alphas_cumprod"]
