"""The sampler's prior mean: the mean of the images a checkpoint was trained on.

`meta.sampling.sample` centres its start where the forward process's marginal at its first timestep
is centred, noise + sqrt(abar) * mean, when the checkpoint carries this mean (extra.safetensors,
key `prior_mean`). `meta.train` stores it in every checkpoint it writes; for a checkpoint made
before, `python -m meta.prior CKPT [CKPT ...] --data-dir DIR` computes it from the training tasks its
training.json names (the same alphabets / subgroups, nothing else) and adds it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .model import PRIOR_MEAN


def data_mean(dataset) -> torch.Tensor:
    """The mean image (C, H, W) over every image of every task of a GlyphSet / IconSet."""
    total, count = None, 0
    for k in range(len(dataset)):
        images = dataset.task_images(k).astype(np.float64)
        total = images.sum(0) if total is None else total + images.sum(0)
        count += len(images)
    if not count:
        raise ValueError("the dataset holds no images")
    return torch.from_numpy(total / count).float()


def training_set(record: dict, data_dir: str):
    """The training tasks a checkpoint's training.json names, loaded from data_dir."""
    from . import emoji, omniglot

    data = record.get("data", {})
    if data.get("dataset") == "omniglot" and data.get("train_alphabets"):
        return omniglot.load(data_dir, "background").subset(data["train_alphabets"])
    if data.get("dataset") == "emoji" and data.get("train_subgroups"):
        return emoji.load(data_dir, data["style"]).subset(data["train_subgroups"])
    raise ValueError("training.json does not name its training alphabets / subgroups (data.train_alphabets or "
                     "data.train_subgroups): the prior mean cannot be computed from what it trained on")


def add_prior_mean(ckpt, data_dir: str) -> torch.Tensor:
    ckpt = Path(ckpt)
    record = json.loads((ckpt / "training.json").read_text())
    mean = data_mean(training_set(record, data_dir))
    channels = record["generator"]["channels"]
    if mean.shape[0] != channels:
        raise ValueError(f"the data has {mean.shape[0]} channels, the checkpoint {channels}")
    extra_file = ckpt / "extra.safetensors"
    extra = load_file(str(extra_file)) if extra_file.exists() else {}
    extra[PRIOR_MEAN] = mean.contiguous()
    save_file(extra, str(extra_file))
    return mean


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m meta.prior", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="+")
    p.add_argument("--data-dir", required=True, help="the data the checkpoints trained on (Omniglot zips / emoji npz)")
    args = p.parse_args(argv)
    for ckpt in args.checkpoint:
        mean = add_prior_mean(ckpt, args.data_dir)
        print(f"{ckpt}: prior mean {tuple(mean.shape)}, average {float(mean.mean()):.3f}")


if __name__ == "__main__":
    main()
