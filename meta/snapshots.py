"""Snapshots of a start along its outer loop: small fp16 copies that `meta.train --snapshots I1,I2,...`
writes into `<checkpoint>/snapshots/`, so the studio can replay meta-training ("learning to learn":
early starts do not adapt, later ones do). A snapshot holds every parameter of the start (the UNet's
weights and the start context) and the null context where there is one; its generator is the
checkpoint's own module and record with the snapshot's parameters.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .checkpoint import Generator

FOLDER = "snapshots"
NAME = re.compile(r"iter_(\d{6,})\.safetensors")


def write_snapshot(ckpt, it: int, tensors: dict) -> str:
    """Save tensors (name -> tensor) in fp16 as <ckpt>/snapshots/iter_<it>.safetensors; -> the file name."""
    folder = Path(ckpt) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = f"iter_{it:06d}.safetensors"
    save_file({k: v.detach().to("cpu", torch.float16).contiguous() for k, v in tensors.items()}, str(folder / name))
    return name


def list_snapshots(ckpt) -> list[int]:
    """The outer iterations a checkpoint has snapshots of, increasing."""
    folder = Path(ckpt) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := NAME.fullmatch(p.name)))


def load_snapshot(ckpt, it: int, base: Generator | None = None) -> Generator:
    """The checkpoint's generator with the parameters of its snapshot after `it` outer iterations
    (float32; `base`: the checkpoint already loaded, whose module and record are shared)."""
    base = base or Generator.load(ckpt)
    path = Path(ckpt) / FOLDER / f"iter_{it:06d}.safetensors"
    if not path.exists():
        raise ValueError(f"{ckpt} has no snapshot after {it} outer iterations (it has: {list_snapshots(ckpt)})")
    tensors = {k: v.float() for k, v in load_file(str(path)).items()}
    missing = set(base.params) - set(tensors)
    if missing:
        raise ValueError(f"snapshot {path.name} lacks {sorted(missing)[:3]}...")
    params = {k: tensors[k] for k in base.params}
    record = dict(base.record)
    record["_tensors"] = {**record.get("_tensors", {}), **({"null_context": tensors["null_context"]} if "null_context" in tensors else {})}
    record["snapshot_iteration"] = it
    return Generator(base.unet, params, base.config, record)
