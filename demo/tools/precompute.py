"""Pre-compute the runs the page plays on arrival: every built-in example set of the studio's first world,
through the default checkpoint beside its baseline, at the page's default settings.

    python -m demo.tools.precompute --assets assets [--domains glyphs icons] [--steps 20] [--seed 0]

Writes `<assets>/first-run/*.npz` (uint8 frames, the losses and the live chart's score, per lane) and `index.json`, keyed by
checkpoint + example set + a fingerprint of the weights (demo/runtime/first_run.py): rerun it after
changing a checkpoint, or the page stops playing the old frames.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from demo.runtime.checkpoints import load_models
from demo.runtime.domains import DOMAINS
from demo.runtime.first_run import DEFAULT, FOLDER, write_first_run, write_index
from demo.runtime.shots import example_sets

from .server import ROOT


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--assets", default=str(ROOT / "assets"), help="folder of checkpoints (the frames go in its first-run/)")
    p.add_argument("--domains", nargs="+", choices=list(DOMAINS), default=None,
                   help="worlds to pre-compute (default: the first shipped, where the page opens)")
    p.add_argument("--steps", type=int, default=DEFAULT.inner_steps, help="inner steps (the page's default)")
    p.add_argument("--seed", type=int, default=DEFAULT.seed)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = load_models(args.assets, torch.device("cpu"))
    settings = replace(DEFAULT, inner_steps=args.steps, seed=args.seed)
    entries = []
    for domain in args.domains or models.shipped_domains()[:1]:
        if domain not in models.defaults:
            raise SystemExit(f"no {DOMAINS[domain].label.lower()} checkpoint in {args.assets}")
        checkpoint = models.defaults[domain]
        for name in example_sets(domain):
            t = time.perf_counter()
            entries.append(write_first_run(models, args.assets, checkpoint, name, settings))
            print(f"{checkpoint} / {name}: {entries[-1]['steps']} steps in {time.perf_counter() - t:.0f} s")
    index = write_index(args.assets, entries)
    size = sum(f.stat().st_size for f in (Path(args.assets) / FOLDER).iterdir())
    print(f"wrote {index} and {len(entries)} runs ({size / 1e6:.2f} MB in {FOLDER}/)")
    return index


if __name__ == "__main__":
    main()
