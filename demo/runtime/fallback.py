"""When the accelerator runs out of memory mid-run, finish the run on the CPU instead of failing.

`frames_with_fallback` wraps `engine.adapt_live` (or the shared `scheduler.Scheduler`, given one): on
`torch.cuda.OutOfMemoryError` it frees the GPU's cache, tells the visitor (through the page's `warn`), and
restarts the same run (same shots, seed and noise) from step 0, alone, with CPU copies of the generators. The CPU copies are made once per generator and shared read-only,
like the originals.
"""
from __future__ import annotations

import copy
import threading
from typing import Callable, Iterator

import torch

from meta.checkpoint import Generator

from .engine import Frame, Lane, Settings, adapt_live
from .scheduler import Scheduler, Waiting

CPU = torch.device("cpu")
_cpu_copies: dict[int, Generator] = {}  # id(generator on the accelerator) -> its CPU copy
_lock = threading.Lock()


def on_cpu(g: Generator) -> Generator:
    with _lock:
        if id(g) not in _cpu_copies:
            _cpu_copies[id(g)] = Generator(copy.deepcopy(g.unet).to(CPU), {k: v.to(CPU) for k, v in g.params.items()},
                                           g.config, g.record)
        return _cpu_copies[id(g)]


def frames_with_fallback(lanes: dict[str, Lane], shots, settings: Settings, should_stop: Callable[[], bool],
                         restart: Callable[[torch.device], None], warn: Callable[[str], None],
                         scheduler: Scheduler | None = None) -> Iterator[Frame | Waiting]:
    """adapt_live, or the scheduler's frames (`Waiting` notices first, while the run waits for a place); after an
    out-of-memory error, `warn(message)`, `restart(cpu)`, then the whole run again on the CPU, alone."""
    try:
        yield from scheduler.frames(lanes, shots, settings, should_stop) if scheduler else adapt_live(lanes, shots, settings, should_stop)
        return
    except torch.cuda.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    warn("The GPU ran out of memory (too many runs at once?): this run restarts on the CPU, more slowly.")
    restart(CPU)
    cpu_lanes = {name: Lane(on_cpu(lane.generator), lane.cfg) for name, lane in lanes.items()}
    yield from adapt_live(cpu_lanes, shots, settings, should_stop)
