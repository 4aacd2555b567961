"""The preview network: a UNet with fixed weights, traced and frozen into a TorchScript function
(x, t) -> eps, which the sampler (`meta.sampling`) uses on CPU instead of `functional_call`."""
from __future__ import annotations

import threading
import warnings

import torch
from diffusers import UNet2DModel

from .model import CONTEXT


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
    (the studio copies it per run, see demo.runtime.engine) share it instead of copying it."""

    def __init__(self, weights: dict, net):
        self.weights, self.net, self.key = weights, net, weights_key(weights)

    def matches(self, weights: dict) -> bool:
        return weights_key(weights) == self.key

    def __deepcopy__(self, memo):
        return self


def frozen_net(unet: UNet2DModel, params: dict):
    """The UNet with `params`' weights as a frozen TorchScript function (x, t) -> eps, or None where
    it does not apply.

    At 32 x 32 much of a CPU network evaluation is Python and dispatch, which tracing and freezing
    (weights folded in as constants) remove (README, "Speed"). The constants share the weights'
    storage, so `_Frozen` holds the weights; an in-place change to them (checked by version) rebuilds
    the copy, which is cached on the module.

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
