"""A classroom at once: N concurrent API sessions, each with its own examples and seed.

    python -m demo.tools.load [--sessions 16] [--steps 5] [--scheduler batch|single] [--compare] [--json out.json]

1. every session's run alone, one after another: the reference frames;
2. all sessions submitted at once, each from its own gradio_client.Client;
3. checks: every session's streamed grids are bit-identical to its run alone (no cross-talk), no
   session got an error, queued sessions were told their position; and it reports p50/p95 time to
   first frame (from submit, queue wait included), per-step latency (between streamed frames), the
   whole wall time and the app's peak resident memory.
The app runs in a child process (demo/tools/server.py) with the chosen scheduler (batch: concurrent runs
advance together; single: one run at a time) and --concurrency runs at once in Gradio's queue (0: app's
default). --compare runs the same load against both schedulers, single first, and checks the batch
scheduler's grids against the one-at-a-time runs alone; the JSON then has the batch figures at the top
level, the single ones under "single", and single / batch ratios under "ratio".
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from demo.runtime.render import WAITING
from demo.runtime.shots import example_sets

from .server import ROOT, serve

POLL_S = 0.02  # how often a session looks for new frames and its queue position
SCHEDULERS = ("batch", "single")
RATIOS = ("ttff_p50_s", "ttff_p95_s", "step_p50_s", "step_p95_s", "wall_s", "rss_peak_mb")


def session_inputs(sessions: int, folder: Path) -> list[dict]:
    """Session i: built-in set i % 6 with 2-5 shots, seed i: no two sessions alike."""
    sets = list(example_sets().values())
    inputs = []
    for i in range(sessions):
        pictures = sets[i % len(sets)][: 2 + i % 4]
        paths = []
        for k, im in enumerate(pictures):
            paths.append(str(folder / f"session{i}-shot{k}.png"))
            im.save(paths[-1])
        inputs.append({"paths": paths, "seed": i})
    return inputs


def percentile(values, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))] if values else float("nan")


def grid_digest(http: httpx.Client, url: str, output) -> str:
    """SHA-256 of an image output's bytes (a FileData dict; None for an absent grid)."""
    if not output:
        return "-"
    file_url = output["url"] if output.get("url", "").startswith("http") else f"{url}/gradio_api/file={output['path']}"
    return hashlib.sha256(http.get(file_url).content).hexdigest()


def waiting_place(output) -> int | None:
    """The place in line a streamed output reports (the batch scheduler's status), None for a frame."""
    status = output[3] if isinstance(output[3], str) else ""
    if not status.startswith(WAITING):
        return None
    found = re.search(r"number (\d+) in line", status)
    return int(found.group(1)) if found else 0


def run_session(url: str, inp: dict, settings: dict) -> dict:
    """Submit one run; poll its frames and queue position; return timings, ranks and frame digests."""
    from gradio_client import Client, handle_file

    record = {"seed": inp["seed"], "error": None, "ranks": [], "frame_times": []}
    client = Client(url, download_files=False, verbose=False)
    start = time.perf_counter()
    job = client.submit(images=[handle_file(p) for p in inp["paths"]], seed=inp["seed"], **settings, api_name="/adapt")
    try:
        seen = 0
        while True:
            done = job.done()
            status = job.status()
            if status.rank is not None and status.code.name == "IN_QUEUE":  # Gradio's queue (single scheduler)
                record["ranks"].append(status.rank)
            outputs = job.outputs()
            for o in outputs[seen:]:
                place = waiting_place(o)  # the batch scheduler's line, in the status text
                if place is None:
                    record["frame_times"].append(time.perf_counter() - start)
                elif place:
                    record["ranks"].append(place)
            seen = len(outputs)
            if done:
                break
            time.sleep(POLL_S)
        job.result()
        outputs = [o for o in job.outputs() if waiting_place(o) is None]
    except Exception as err:  # noqa: BLE001 -- a load test reports errors, it does not stop at the first
        record["error"] = f"{type(err).__name__}: {err}"
        return record
    with httpx.Client(timeout=30) as http:  # grids: meta, baseline of every streamed frame and the final one
        record["digests"] = [(grid_digest(http, url, o[0]), grid_digest(http, url, o[1])) for o in outputs]
    client.close()
    return record


def peak_memory(server, stop: threading.Event, out: list) -> None:
    """Sample the app's resident memory until `stop`; the peak goes into out[0]."""
    while not stop.wait(0.5):
        out[0] = max(out[0], server.stats()["rss_mb"])


def measure(url: str, sessions: int, settings: dict, server=None, alone: list | None = None) -> dict:
    """The load against one app: `alone`, when given, are the reference runs (else they are made here)."""
    with tempfile.TemporaryDirectory(prefix="inner-loop-load-") as folder:
        inputs = session_inputs(sessions, Path(folder))
        # 1. alone, one after another: the reference
        own = alone is None
        alone = [run_session(url, inp, settings) for inp in inputs] if own else alone
        # 2. all at once, one thread and one Client per session
        together: list[dict] = [{}] * sessions

        def go(i):
            together[i] = run_session(url, inputs[i], settings)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(sessions)]
        rss, stop = [server.stats()["rss_mb"] if server else float("nan")], threading.Event()
        sampler = threading.Thread(target=peak_memory, args=(server, stop, rss), daemon=True) if server else None
        wall = time.perf_counter()
        if sampler:
            sampler.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        stop.set()
    errors = [r["error"] for r in (alone if own else []) + together if r["error"]]
    ok = [(a, b) for a, b in zip(alone, together, strict=True) if not a["error"] and not b["error"]]
    mismatched = [b["seed"] for a, b in ok if a["digests"] != b["digests"]]
    ttff = [r["frame_times"][0] for r in together if r["frame_times"]]
    steps = [t1 - t0 for r in together for t0, t1 in zip(r["frame_times"][:-2], r["frame_times"][1:-1], strict=False)]
    alone_steps = [t1 - t0 for r in alone for t0, t1 in zip(r["frame_times"][:-2], r["frame_times"][1:-1], strict=False)]
    return {
        "sessions": sessions, **settings, "wall_s": wall, "errors": errors,
        "identical": len(ok) - len(mismatched), "mismatched_seeds": mismatched,
        "saw_position": sum(1 for r in together if r["ranks"]), "max_position": max((max(r["ranks"]) for r in together if r["ranks"]), default=None),
        "ttff_p50_s": percentile(ttff, 50), "ttff_p95_s": percentile(ttff, 95),
        "step_p50_s": percentile(steps, 50), "step_p95_s": percentile(steps, 95),
        "alone_ttff_p50_s": percentile([r["frame_times"][0] for r in alone if r["frame_times"]], 50),
        "alone_step_p50_s": statistics.median(alone_steps) if alone_steps else float("nan"),
        "rss_peak_mb": rss[0], "_alone": alone,
    }


def report(r: dict) -> str:
    return (f"[{r['scheduler']}] {r['sessions']} sessions, {r['inner_steps']} inner steps, {r['samples']} samples x {r['sampler_steps']} sampler steps: "
            f"{r['identical']}/{r['sessions']} bit-identical to their runs alone, {len(r['errors'])} errors, "
            f"{r['saw_position']} saw their queue position (max {r['max_position']}); "
            f"time to first frame p50 {r['ttff_p50_s']:.2f} s / p95 {r['ttff_p95_s']:.2f} s "
            f"(alone p50 {r['alone_ttff_p50_s']:.2f} s); step p50 {r['step_p50_s']:.3f} s / p95 {r['step_p95_s']:.3f} s "
            f"(alone p50 {r['alone_step_p50_s']:.3f} s); all at once took {r['wall_s']:.1f} s, peak memory {r['rss_peak_mb']:.0f} MB")


def run_load(args, settings: dict, scheduler: str, alone: list | None = None) -> dict:
    env = {"INNER_LOOP_SCHEDULER": scheduler}
    with serve(args.assets, args.concurrency, args.threads, env=env) as server:
        result = measure(server.url, args.sessions, settings, server, alone)
    return {**result, "scheduler": scheduler, "concurrency": args.concurrency, "threads": args.threads}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--assets", default=str(ROOT / "assets"), help="checkpoint folder the app serves")
    p.add_argument("--concurrency", type=int, default=0, help="runs at once in the app (0 = its default)")
    p.add_argument("--threads", type=int, default=1, help="torch threads in the app")
    p.add_argument("--steps", type=int, default=5, help="inner steps per run")
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--sampler-steps", type=int, default=8)
    p.add_argument("--scheduler", choices=SCHEDULERS, default="batch", help="the app's scheduler")
    p.add_argument("--compare", action="store_true", help="run the load against both schedulers (single first)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    settings = {"inner_steps": args.steps, "samples": args.samples, "sampler_steps": args.sampler_steps}
    if args.compare:
        single = run_load(args, settings, "single")
        print(report(single))
        result = run_load(args, settings, "batch", alone=single["_alone"])  # equal to today's runs alone?
        result["single"] = {k: v for k, v in single.items() if not k.startswith("_")}
        result["ratio"] = {k: single[k] / result[k] if result[k] else float("nan") for k in RATIOS}
    else:
        result = run_load(args, settings, args.scheduler)
    result.pop("_alone")
    print(report(result))
    if args.compare:
        print("single / batch: " + ", ".join(f"{k} {v:.2f}" for k, v in result["ratio"].items()))
    for e in result["errors"]:
        print("error:", e)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
