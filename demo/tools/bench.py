"""Time the live run: first frame after Run, and one inner step plus its preview and the live chart's
measure, baseline off and on.

    python -m demo.tools.bench [--assets DIR] [--steps 10] [--threads N]

Each case runs twice: the lanes (and their leave-one-out probes) one after another with N torch
threads, and side by side on N workers with one torch thread each (what `python app.py` does on a
CPU). Without --assets it writes untrained checkpoints of the shipped size to a temp folder: the
timing depends on the size, not the weights (with no judge there, the chart's measure is not timed).
The lanes are the studio's: the default checkpoint and the one `Models.pairing` puts beside it.

This times the studio's engine as a visitor meets it (both lanes, their leave-one-out probes,
workers, Stop); `python -m meta.bench` times its parts alone (one inner step, one preview).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from demo.runtime.checkpoints import load_models, write_random_checkpoints
from demo.runtime.engine import Lane, Settings, adapt_live, default_workers
from demo.runtime.likeness import likeness, reference
from demo.runtime.request import make_lanes
from demo.runtime.shots import example_sets, glyph_from_image


def example_run(models, baseline: bool = True) -> tuple[list, dict[str, Lane]]:
    """The first built-in example set, and the studio's lanes for the default checkpoint."""
    shots = [glyph_from_image(im, "example") for im in next(iter(example_sets().values()))]
    return shots, make_lanes(models, models.default, None, baseline)


def time_run(models, baseline: bool, steps: int = 10, settings: Settings | None = None) -> dict:
    settings = settings or Settings(inner_steps=steps)
    shots, lanes = example_run(models, baseline)
    start = time.perf_counter()
    measure = likeness(models.folder, models.domain(models.default), shots)  # built per run, as the page does
    score = measure.score if measure else None
    stamps = [time.perf_counter() - start for _ in adapt_live(lanes, shots, settings, score=score)]
    steps_s = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"baseline": baseline, "first_frame_s": stamps[0], "step_median_s": statistics.median(steps_s),
            "steps": len(steps_s), "threads": torch.get_num_threads(), "workers": settings.workers,
            "lanes": list(lanes), "judged": score is not None}


def stop_latency(models, settings: Settings, after_s: float = 1.5) -> float:
    """Seconds from Stop (a flag set `after_s` into a run, mid-step) to the engine handing the worker back."""
    shots, lanes = example_run(models)
    stop_at = time.perf_counter() + after_s
    for _ in adapt_live(lanes, shots, settings, lambda: time.perf_counter() >= stop_at):
        pass
    return time.perf_counter() - stop_at


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", default=None, help="checkpoint folder (default: untrained ones of the shipped size)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="CPU cores to use (0 = demo.runtime.engine.default_workers())")
    args = p.parse_args(argv)
    cores = args.threads or default_workers()
    assets = args.assets or write_random_checkpoints(tempfile.mkdtemp(prefix="inner-loop-bench-"))
    start = time.perf_counter()
    models = load_models(assets)
    print(f"load_models (training.json files + the default pair's weights): {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    pair = models.pairing(models.default)
    models.warm([pair.meta, pair.baseline])
    reference(models.folder, models.domain(models.default))
    print(f"the app's background warm-up (preview networks of {pair.meta} and {pair.baseline}, the judge and its "
          f"distractors): {time.perf_counter() - start:.2f} s")
    results = []
    for threads, workers in ((cores, 1), (1, cores)) if cores > 1 else ((1, 1),):
        torch.set_num_threads(threads)
        for baseline in (False, True):
            r = time_run(models, baseline, args.steps, Settings(inner_steps=args.steps, workers=workers))
            results.append(r)
            print(f"baseline {'on ' if baseline else 'off'}, {threads} torch threads x {workers} workers: first frame "
                  f"{r['first_frame_s']:.2f} s, step + preview{' + judge' if r['judged'] else ''} median "
                  f"{r['step_median_s']:.3f} s over {r['steps']} steps")
        stops = [stop_latency(models, Settings(inner_steps=100, workers=workers), after_s) for after_s in (1.3, 1.5, 1.7)]
        print(f"Stop -> worker free (baseline on, {threads} x {workers}): max {max(stops):.3f} s over {len(stops)} tries")
    return results


if __name__ == "__main__":
    main()
