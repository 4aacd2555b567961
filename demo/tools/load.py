"""A classroom at once: N concurrent API sessions, each with its own examples and seed.

    python -m demo.tools.load [--sessions 16] [--assets assets] [--steps 5] [--concurrency 0] [--json out.json]

1. every session's run alone, one after another: the reference frames;
2. all sessions submitted at once, each from its own gradio_client.Client;
3. checks: every session's streamed grids are bit-identical to its run alone (no cross-talk), no
   session got an error, queued sessions were told their position; and it reports p50/p95 time to
   first frame (from submit, queue wait included) and per-step latency (between streamed frames).
The app runs in a child process (demo/tools/server.py) with --concurrency runs at once (0: app's default).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from demo.runtime.shots import example_sets

from .server import ROOT, serve

POLL_S = 0.02  # how often a session looks for new frames and its queue position


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
            if status.rank is not None and status.code.name == "IN_QUEUE":
                record["ranks"].append(status.rank)
            n = len(job.outputs())
            record["frame_times"] += [time.perf_counter() - start] * (n - seen)
            seen = n
            if done:
                break
            time.sleep(POLL_S)
        job.result()
        outputs = job.outputs()
    except Exception as err:  # noqa: BLE001 -- a load test reports errors, it does not stop at the first
        record["error"] = f"{type(err).__name__}: {err}"
        return record
    with httpx.Client(timeout=30) as http:  # grids: meta, baseline of every streamed frame and the final one
        record["digests"] = [(grid_digest(http, url, o[0]), grid_digest(http, url, o[1])) for o in outputs]
    client.close()
    return record


def measure(url: str, sessions: int, settings: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="inner-loop-load-") as folder:
        inputs = session_inputs(sessions, Path(folder))
        # 1. alone, one after another: the reference
        alone = [run_session(url, inp, settings) for inp in inputs]
        # 2. all at once, one thread and one Client per session
        together: list[dict] = [{}] * sessions

        def go(i):
            together[i] = run_session(url, inputs[i], settings)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(sessions)]
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
    errors = [r["error"] for r in alone + together if r["error"]]
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
    }


def report(r: dict) -> str:
    return (f"{r['sessions']} sessions, {r['inner_steps']} inner steps, {r['samples']} samples x {r['sampler_steps']} sampler steps: "
            f"{r['identical']}/{r['sessions']} bit-identical to their runs alone, {len(r['errors'])} errors, "
            f"{r['saw_position']} saw their queue position (max {r['max_position']}); "
            f"time to first frame p50 {r['ttff_p50_s']:.2f} s / p95 {r['ttff_p95_s']:.2f} s "
            f"(alone p50 {r['alone_ttff_p50_s']:.2f} s); step p50 {r['step_p50_s']:.3f} s / p95 {r['step_p95_s']:.3f} s "
            f"(alone p50 {r['alone_step_p50_s']:.3f} s); all at once took {r['wall_s']:.1f} s")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--assets", default=str(ROOT / "assets"), help="checkpoint folder the app serves")
    p.add_argument("--concurrency", type=int, default=0, help="runs at once in the app (0 = its default)")
    p.add_argument("--threads", type=int, default=1, help="torch threads in the app")
    p.add_argument("--steps", type=int, default=5, help="inner steps per run")
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--sampler-steps", type=int, default=8)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    settings = {"inner_steps": args.steps, "samples": args.samples, "sampler_steps": args.sampler_steps}
    with serve(args.assets, args.concurrency, args.threads) as server:
        result = {**measure(server.url, args.sessions, settings), "concurrency": args.concurrency, "threads": args.threads}
    print(report(result))
    for e in result["errors"]:
        print("error:", e)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
