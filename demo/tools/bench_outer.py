"""Time the Outer-loop view's replay on this machine: loading a checkpoint's snapshots, the first frame
(step 0: every snapshot previewed) and each inner step after it (every snapshot: one inner step, then its
preview), for 1 worker and for side-by-side rows.

    python -m demo.tools.bench_outer --assets assets [--checkpoint NAME] [--steps 5] [--workers 1 2] [--out FILE.json]

Prints one JSON line per worker count (and writes them to --out). The first built-in example set is
the support; the cells hold 4 samples, the preview sampler's 8 steps.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from demo.runtime.checkpoints import load_models
from demo.runtime.first_run import set_shots
from demo.runtime.outer_grid import replay_grid
from demo.runtime.replay import replay
from demo.runtime.snapshot_bank import SnapshotBank
from demo.runtime.shots import example_sets

from .server import ROOT


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--assets", default=str(ROOT / "assets"))
    p.add_argument("--checkpoint", default=None, help="default: the studio's default, else the first with snapshots")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="rows run side by side")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the app: 1 when rows run side by side)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    models = load_models(args.assets)
    bank = SnapshotBank(args.assets, models.generators)
    name = args.checkpoint or (models.default if bank.iterations(models.default) else next(iter(bank.names()), None))
    if name is None:
        raise SystemExit(f"no checkpoint in {args.assets} has outer-loop snapshots")
    t = time.perf_counter()
    snapshots = bank.get(name)
    load_s = time.perf_counter() - t
    domain = models.domain(name)
    shots = set_shots(domain, next(iter(example_sets(domain))))
    results = []
    torch.set_num_threads(args.threads)
    for workers in args.workers:
        marks, frames, start = [], [], time.perf_counter()
        for frame in replay(snapshots, shots, args.steps, workers=workers):
            frames.append(frame)
            replay_grid([i for i, _ in snapshots], args.steps, frames)  # the picture is part of every update
            marks.append(time.perf_counter() - start)
        steps = [b - a for a, b in zip(marks, marks[1:])]
        results.append({"checkpoint": name, "snapshots": len(snapshots), "device": str(models.device), "workers": workers,
                        "torch_threads": torch.get_num_threads(), "snapshot_load_s": round(load_s, 2),
                        "first_frame_s": round(marks[0], 2), "per_step_s": round(statistics.median(steps), 2),
                        "total_s": round(marks[-1], 2), "inner_steps": args.steps})
        print(json.dumps(results[-1]))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
