"""The outer loop in numbers: how well the start adapts, snapshot by snapshot along meta-training.

`python -m meta.outer_loop CKPT --data-dir DIR` evaluates every snapshot `meta.train --snapshots`
kept in CKPT/snapshots/ (iteration 0 = the start meta-training began from) with the checkpoint's own
inner loop on the validation alphabets (`meta.evaluate --split validation`), and writes
CKPT/outer_loop.json: per snapshot, recognisability within the real spread, diversity and
copy_distance after each listed number of inner steps. The studio's "Outer loop" view draws it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .eval_config import EvalConfig
from .evaluate import evaluate, load_split
from .snapshots import list_snapshots

MEASURES = ("recognisability", "recognisability_within", "diversity", "copy_distance")


def outer_loop(ckpt, data_dir, cfg: EvalConfig, split: str = "validation", seed: int = 0) -> dict:
    """-> {"split", "steps", "tasks", "snapshots": [{"iter", measure: [one per step], measure_stderr: [...]}]}."""
    iters = list_snapshots(ckpt)
    if not iters:
        raise ValueError(f"{ckpt} has no snapshots (train with meta.train --snapshots I1,I2,...)")
    report = evaluate({str(i): f"{ckpt}@{i}" for i in iters}, load_split(data_dir, split, seed=seed), cfg)
    rows = [{"iter": i, **{k: report["results"][str(i)][k] for m in MEASURES for k in (m, f"{m}_stderr")}} for i in iters]
    return {"split": split, "steps": list(cfg.steps), "tasks": cfg.tasks, "samples": cfg.samples,
            "real_drawings": {m: report["real_drawings"][m] for m in MEASURES}, "snapshots": rows}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m meta.outer_loop", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint folder with snapshots/")
    p.add_argument("--data-dir", required=True, help="folder with the Omniglot zips")
    p.add_argument("--split", default="validation", choices=("validation", "evaluation"))
    p.add_argument("--steps", default="0,1,3,10", help="inner step counts to measure at")
    p.add_argument("--tasks", type=int, default=30)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="the validation split's seed (meta.train's --seed)")
    p.add_argument("--out", default="", help="default: CHECKPOINT/outer_loop.json")
    a = p.parse_args(argv)
    cfg = EvalConfig(tasks=a.tasks, samples=a.samples, steps=tuple(int(s) for s in a.steps.split(",")), judge_runs=50,
                     baselines="none")
    result = outer_loop(a.checkpoint, a.data_dir, cfg, a.split, a.seed)
    out = Path(a.out or Path(a.checkpoint) / "outer_loop.json")
    out.write_text(json.dumps(result, indent=1))
    for row in result["snapshots"]:
        print(row["iter"], [round(x, 3) for x in row["recognisability_within"]])
    return result


if __name__ == "__main__":
    main()
