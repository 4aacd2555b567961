"""Where the studio computes: its own process's device, and whether it runs on a ZeroGPU Space.

On ZeroGPU (`SPACES_ZERO_GPU=true`, the variable the `spaces` package reads) `spaces` makes
`torch.cuda.is_available()` answer True in the studio's process although no GPU is attached there:
the generators then stay on the CPU, and each run borrows a GPU in a worker process of its own
(demo/runtime/zerogpu.py). Nothing here starts CUDA.
"""
from __future__ import annotations

import os

import torch

ZERO_GPU_ENV = "SPACES_ZERO_GPU"


def on_zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space (the `spaces` package's own reading of the variable)."""
    return os.environ.get(ZERO_GPU_ENV, "").lower() in ("1", "t", "true")


def pick_device() -> torch.device:
    """The device the generators are loaded on: CUDA where this process has a GPU of its own, else the CPU."""
    return torch.device("cuda" if not on_zero_gpu() and torch.cuda.is_available() else "cpu")
