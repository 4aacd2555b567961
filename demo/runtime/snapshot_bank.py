"""Snapshots of a start along its outer loop (`meta.train --snapshots`, read by `meta.snapshots`), as the
studio holds them: at most MAX_ROWS per checkpoint, spread over the outer loop, each with a module of its
own (so the sampler's compiled copy applies to its weights), loaded once and shared read-only by every session."""
from __future__ import annotations

import copy
import math
import threading
from pathlib import Path

import torch

from meta.checkpoint import Generator
from meta.model import CONTEXT
from meta.sampling import warm_up
from meta.snapshots import list_snapshots, load_snapshot

MAX_ROWS = 6  # snapshots shown (spread over the outer loop when a checkpoint has more)


def spread(iterations: list[int], rows: int = MAX_ROWS) -> list[int]:
    """At most `rows` of the iterations, evenly spaced on a log(1 + n) scale; the first and last are kept."""
    its = sorted(set(iterations))
    if len(its) <= rows:
        return its
    lo, hi = math.log1p(its[0]), math.log1p(its[-1])
    picked = []
    for k in range(rows):
        target = lo + (hi - lo) * k / (rows - 1)
        best = min((i for i in its if i not in picked), key=lambda i: abs(math.log1p(i) - target))
        picked.append(best)
    return sorted(picked)


def own_module(g: Generator) -> Generator:
    """The snapshot's generator with a module that holds its weights, so the sampler's compiled
    copy (meta.preview_net) applies to them as it does to a loaded checkpoint's."""
    unet = copy.deepcopy(g.unet)
    unet.__dict__.pop("_frozen", None)  # the base module's compiled copy holds the base's weights
    with torch.no_grad():
        for k, p in unet.named_parameters():
            p.copy_(g.params[k])
    params = {k: v.detach() for k, v in unet.named_parameters()}
    if CONTEXT in g.params:  # (snapshots are read on the CPU; the module may be on a GPU)
        params[CONTEXT] = g.params[CONTEXT].to(next(iter(params.values())).device)
    warm_up(unet, params)
    return Generator(unet, params, g.config, g.record)


class SnapshotBank:
    """Each checkpoint's snapshots, loaded on first use and then shared read-only by every session
    (like the loaded checkpoints themselves): made once by the page, never a module global."""

    def __init__(self, folder, generators: dict[str, Generator], rows: int = MAX_ROWS):
        self.folder, self.generators, self.rows = Path(folder), generators, rows
        self._loaded: dict[str, list[tuple[int, Generator]]] = {}
        self._lock = threading.Lock()

    def iterations(self, name: str) -> list[int]:
        """The snapshots a replay of `name` shows (spread over its outer loop); [] when it has none."""
        return spread(list_snapshots(self.folder / name), self.rows) if name in self.generators else []

    def names(self) -> list[str]:
        return [n for n in self.generators if self.iterations(n)]

    def get(self, name: str) -> list[tuple[int, Generator]]:
        if name not in self.generators:
            raise ValueError(f"Unknown checkpoint {name!r}: pick one of {list(self.generators)}.")
        its = self.iterations(name)
        if not its:
            others = self.names()
            raise ValueError(f"{name} has no snapshots of its outer loop (meta.train --snapshots writes them): "
                             + (f"pick one of {others}." if others else "no installed checkpoint has any."))
        with self._lock:
            if [i for i, _ in self._loaded.get(name, [])] != its:
                base = self.generators[name]
                self._loaded[name] = [(i, own_module(load_snapshot(self.folder / name, i, base))) for i in its]
            return self._loaded[name]


def preload(bank: SnapshotBank, name: str | None) -> threading.Thread | None:
    """Load a checkpoint's snapshots on a background thread (start-up stays as fast; the first replay
    does not wait for them); a damaged snapshot is left for the replay to report."""
    if not name or not bank.iterations(name):
        return None

    def load():
        try:
            bank.get(name)
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=load, name="outer-loop-preload", daemon=True)
    thread.start()
    return thread
