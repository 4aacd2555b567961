"""Long uptime: many short runs, one after another, through one API client.

    python -m demo.tools.soak [--runs 200] [--warmup 10] [--assets assets] [--json out.json]

After `--warmup` runs it notes the app's resident memory, threads and files in its temp folders
(Gradio's cache and TMPDIR); after the last run it reports the growth of each. Pass: memory grows
by at most --max-rss-mb, temp files and threads not at all. The app runs in a child process
(demo/tools/server.py). Runs cycle through 4 seeds, so the streamed grids repeat and a steady cache
stays the same size.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from demo.runtime.shots import example_sets

from .server import ROOT, serve

SEEDS = 4


def soak(server, runs: int, warmup: int, settings: dict, log=print) -> dict:
    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory(prefix="inner-loop-soak-") as folder:
        paths = []
        for k, im in enumerate(next(iter(example_sets().values()))[:3]):
            paths.append(str(Path(folder) / f"shot{k}.png"))
            im.save(paths[-1])
        client = Client(server.url, download_files=False, verbose=False)
        start, base, peak = time.perf_counter(), None, 0.0
        for i in range(runs):
            job = client.submit(images=[handle_file(p) for p in paths], seed=i % SEEDS, **settings, api_name="/adapt")
            job.result(timeout=300)
            if "done" not in job.outputs()[-1][3]:
                raise RuntimeError(f"run {i} did not finish: {job.outputs()[-1][3]}")
            stats = server.stats()
            peak = max(peak, stats["rss_mb"])
            if i + 1 == warmup:
                base = stats
            if (i + 1) % 20 == 0:
                log(f"run {i + 1}/{runs}: RSS {stats['rss_mb']:.0f} MB, {stats['threads']} threads, "
                    f"{stats['temp_files']} temp files ({stats['temp_mb']:.1f} MB)")
        client.close()
    end = server.stats()
    return {"runs": runs, "warmup": warmup, **settings, "seconds": time.perf_counter() - start,
            "rss_after_warmup_mb": base["rss_mb"], "rss_end_mb": end["rss_mb"], "rss_peak_mb": peak,
            "rss_growth_mb": end["rss_mb"] - base["rss_mb"], "thread_growth": end["threads"] - base["threads"],
            "temp_file_growth": end["temp_files"] - base["temp_files"], "temp_mb_end": end["temp_mb"]}


def passed(r: dict, max_rss_mb: float = 50) -> bool:
    return r["rss_growth_mb"] <= max_rss_mb and r["temp_file_growth"] <= 0 and r["thread_growth"] <= 0


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10, help="runs before the baseline is taken")
    p.add_argument("--assets", default=str(ROOT / "assets"), help="checkpoint folder the app serves")
    p.add_argument("--steps", type=int, default=2, help="inner steps per run")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--sampler-steps", type=int, default=2)
    p.add_argument("--max-rss-mb", type=float, default=50, help="allowed memory growth after warm-up")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if not 0 < args.warmup < args.runs:
        p.error("need 0 < --warmup < --runs")
    settings = {"inner_steps": args.steps, "samples": args.samples, "sampler_steps": args.sampler_steps}
    with serve(args.assets, env={"INNER_LOOP_STUB_AGE": "0"}) as server:  # runs are sequential: no upload in flight
        r = soak(server, args.runs, args.warmup, settings)
    r["passed"] = passed(r, args.max_rss_mb)
    print(f"{r['runs']} runs in {r['seconds']:.0f} s: RSS {r['rss_after_warmup_mb']:.0f} -> {r['rss_end_mb']:.0f} MB "
          f"(growth {r['rss_growth_mb']:+.1f} MB after {r['warmup']} warm-up runs, peak {r['rss_peak_mb']:.0f}), "
          f"threads {r['thread_growth']:+d}, temp files {r['temp_file_growth']:+d}: {'PASS' if r['passed'] else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    if not r["passed"]:
        raise SystemExit(1)
    return r


if __name__ == "__main__":
    main()
