"""Checkpoints: a diffusers folder (config.json + safetensors), extra.safetensors (the context map
and other tensors) and training.json (how it was trained); and `Generator`, what a loaded one is."""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file, save_file

from .model import CONTEXT, PRIOR_MEAN, GeneratorConfig, attach_sketch, build_unet, scheduler
from .sampling import Guidance


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

    def to(self, device) -> "Generator":
        """A copy on `device`: the module, its parameters, the tensors its record holds (the null context)
        and the module's plain tensor attributes (the sampler's prior mean, the sketch schedule), so
        that nothing is copied between devices while it adapts or samples."""
        unet = copy.deepcopy(self.unet).to(device)
        for name in ("prior_mean", "sketch_abar"):
            if getattr(unet, name, None) is not None:
                setattr(unet, name, getattr(unet, name).to(device))
        record = {**self.record, "_tensors": {k: v.to(device) for k, v in self.record.get("_tensors", {}).items()}}
        # weights that are the module's own stay its own in the copy (what `meta.preview_net.frozen_net` checks)
        mine, copied = dict(self.unet.named_parameters()), dict(unet.named_parameters())
        params = {k: copied[k].detach() if k in mine and v.data_ptr() == mine[k].data_ptr() else v.to(device)
                  for k, v in self.params.items()}
        return Generator(unet, params, self.config, record)

    @property
    def guidance(self):
        """The checkpoint's classifier-free guidance (training.json "sampling": {"guidance": scale,
        "guidance_t_min", "guidance_t_max"}, with its null context), or None: what every sampler
        that shows or measures this checkpoint uses (the studio, meta.evaluate, meta.bench)."""
        s, null = self.record.get("sampling", {}), self.record.get("_tensors", {}).get("null_context")
        if null is None or s.get("guidance", 1.0) == 1.0:
            return None
        return Guidance(float(s["guidance"]), null, int(s.get("guidance_t_min", 0)), int(s.get("guidance_t_max", 1000)))

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        if "_alphas_cumprod" not in self.__dict__:
            self.__dict__["_alphas_cumprod"] = scheduler(self.config).alphas_cumprod.to(next(iter(self.params.values())).device)
        return self.__dict__["_alphas_cumprod"]
