"""Time the live run: first frame after Run, and one inner step plus its preview, baseline off and on.

    python -m demo.bench [--assets DIR] [--steps 10] [--threads N]

Without --assets it writes untrained checkpoints of the shipped size (UNet block_out_channels
(16, 32, 64), ~0.6M parameters) to a temp folder: the timing depends on the size, not the weights.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from .checkpoints import inner_config, load_models, write_random_checkpoints
from .engine import Lane, Settings, adapt_live
from .shots import example_sets, glyph_from_image


def time_run(models, baseline: bool, steps: int = 10, settings: Settings | None = None) -> dict:
    settings = settings or Settings(inner_steps=steps)
    shots = [glyph_from_image(im, "example") for im in next(iter(example_sets().values()))]
    names = [models.default] + ([models.baseline] if baseline and models.baseline else [])
    lanes = {lane: Lane(models.generators[n], inner_config(models.generators[n].record))
             for lane, n in zip(("meta", "baseline"), names, strict=False)}
    start = time.perf_counter()
    stamps = [time.perf_counter() - start for _ in adapt_live(lanes, shots, settings)]
    steps_s = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"baseline": baseline, "first_frame_s": stamps[0], "step_median_s": statistics.median(steps_s),
            "steps": len(steps_s), "threads": torch.get_num_threads()}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", default=None, help="checkpoint folder (default: untrained ones of the shipped size)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    assets = args.assets or write_random_checkpoints(tempfile.mkdtemp(prefix="inner-loop-bench-"))
    models = load_models(assets)
    results = [time_run(models, baseline, args.steps) for baseline in (False, True)]
    for r in results:
        print(f"baseline {'on ' if r['baseline'] else 'off'}: first frame {r['first_frame_s']:.2f} s, "
              f"step + preview median {r['step_median_s']:.3f} s over {r['steps']} steps ({r['threads']} threads)")
    return results


if __name__ == "__main__":
    main()
