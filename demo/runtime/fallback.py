"""When the accelerator runs out of memory mid-run, finish the run on the CPU instead of failing.

`frames_with_fallback` wraps `engine.adapt_live` (or the shared `scheduler.Scheduler`, given one): on
`torch.cuda.OutOfMemoryError` it frees the GPU's cache, tells the visitor (through the page's `warn`), and
restarts the same run (same shots, seed and noise) from step 0, alone, with CPU copies of the generators.
Copies on another device (`on_device`: these CPU copies, and a ZeroGPU worker's GPU copies) are made once
per generator and device and shared read-only, like the originals.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterator

import torch

from meta.checkpoint import Generator

from .engine import Frame, Lane, Settings, adapt_live
from .scheduler import Scheduler, Waiting

CPU = torch.device("cpu")
_copies: dict[tuple[int, str], Generator] = {}  # (id(generator), device) -> its copy there
_lock = threading.Lock()


def on_device(g: Generator, device: torch.device) -> Generator:
    """`g` itself where it already is on `device`, else its copy there (made once)."""
    device, here = torch.device(device), next(iter(g.params.values())).device
    if here.type == device.type and device.index in (None, here.index):
        return g
    with _lock:
        key = (id(g), str(device))
        if key not in _copies:
            _copies[key] = g.to(device)
        return _copies[key]


def on_cpu(g: Generator) -> Generator:
    return on_device(g, CPU)


def frames_with_fallback(lanes: dict[str, Lane], shots, settings: Settings, should_stop: Callable[[], bool],
                         restart: Callable[[torch.device], None], warn: Callable[[str], None], score=None,
                         scheduler: Scheduler | None = None) -> Iterator[Frame | Waiting]:
    """adapt_live, or the scheduler's frames (`Waiting` notices first, while the run waits for a place), each
    frame scored with `score` when given; after an out-of-memory error, `warn(message)`, `restart(cpu)`, then
    the whole run again on the CPU, alone."""
    try:
        if scheduler is not None:
            yield from scheduler.frames(lanes, shots, settings, should_stop, score)
        else:
            yield from adapt_live(lanes, shots, settings, should_stop, score)
        return
    except torch.cuda.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    warn("The GPU ran out of memory (too many runs at once?): this run restarts on the CPU, more slowly.")
    restart(CPU)
    cpu_lanes = {name: Lane(on_cpu(lane.generator), lane.cfg) for name, lane in lanes.items()}
    yield from adapt_live(cpu_lanes, shots, settings, should_stop, score)
