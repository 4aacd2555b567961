"""One benchmark for the two speeds users feel: `python -m meta.bench --json OUT.json [--md OUT.md]`.

1. live loop with a shipped checkpoint: one inner step (5 shots) of a running inner loop, one
   preview grid (the app's default samples and sampler steps), step + preview, and time to first
   frame of a fresh run; on the CPU, or on CUDA (`--device cuda`) eagerly and with the step and
   the preview captured as CUDA graphs (`meta.graphs`; "cuda_graphs"). The studio's whole engine,
   both lanes with their probes and workers, is timed by `python -m demo.tools.bench`;
2. meta-training throughput (tasks/s, peak memory) for reptile / fomaml / maml at the shipped
   default configuration: tasks mapped with torch.func.vmap vs a sequential per-task loop (the
   pattern learn2learn and higher use), and, for context adaptation, all tasks in one batched
   forward pass against the same algorithm called task by task ("per_task"); each measured in its
   own subprocess so peak memory is its own;
3. adaptation efficiency: inner steps the meta-learned start needs to reach the query loss the
   joint start reaches after 50 steps (same shots, each with its own inner loop), on unseen alphabets.
Medians over repeats after warm-up. Timing lives here, never in unit tests.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .glyphs import glyph_set
from .inner import InnerConfig, adapt_steps, adapted_keys
from .checkpoint import Generator
from .model import CONTEXT
from .sampling import PREVIEW_SAMPLES, PREVIEW_STEPS, FirstStepMemo, captured_sampler, fixed_noise, sample, warm_up

ROOT = Path(__file__).resolve().parents[1]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_ms(fn, device, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def live(checkpoint: Path, device: torch.device, repeats: int = 20, graphs: bool = False) -> dict:
    """Per-step costs of the studio's loop: adapt one step, then draw the preview from fixed noise;
    with `graphs` (CUDA), both replay captured CUDA graphs, as the studio does on a GPU."""
    t_load = time.perf_counter()
    g = Generator.load(checkpoint, device)
    g.unet.requires_grad_(False)  # as the studio loads it
    warm_up(g.unet, g.params)  # as the studio does when it loads its checkpoints
    load_s = time.perf_counter() - t_load
    cfg = InnerConfig.from_record(g.record, first_order=True)
    support = torch.from_numpy(glyph_set(1, 5, first=500).images[0])[:, None].to(device)
    noise = fixed_noise(PREVIEW_SAMPLES, g.config, seed=0).to(device)
    ac = g.alphas_cumprod.to(device)

    def previewer(params):
        """preview(params) -> samples, as the studio draws them: captured, or eager with a FirstStepMemo."""
        drawn = captured_sampler(g.unet, params, noise, g.config, adapted_keys(params, cfg.adapt), steps=PREVIEW_STEPS,
                                 guidance=g.guidance) if graphs else None
        memo = FirstStepMemo()  # as the studio keeps one per run
        return drawn or (lambda p: sample(g.unet, p, noise, g.config, steps=PREVIEW_STEPS, guidance=g.guidance, memo=memo))

    loop = adapt_steps(g.unet, g.params, support, ac, cfg, steps=10**6, graphs=graphs)  # one running inner loop
    one_step = lambda: next(loop).params
    adapted = one_step()
    inner_ms = _median_ms(one_step, device, repeats)
    preview = previewer(g.params)
    preview_ms = _median_ms(lambda: preview(adapted), device, repeats)
    both_ms = _median_ms(lambda: preview(one_step()), device, repeats)

    def first_frame():  # a fresh run: preprocessing of the shots, step 0 preview, first inner step + preview
        from .glyphs import draw
        from .images import to_glyph

        shots = torch.from_numpy(np.stack([to_glyph(draw(600, d)) for d in range(5)]))[:, None].to(device)
        fresh = previewer(g.params)
        fresh(g.params)
        step = next(adapt_steps(g.unet, g.params, shots, ac, cfg, steps=cfg.inner_steps, graphs=graphs))
        return fresh(step.params)

    first_frame_s = _median_ms(first_frame, device, max(3, repeats // 4), warmup=1) / 1000
    return {"checkpoint": checkpoint.name, "inner_step_ms": round(inner_ms, 2), "preview_ms": round(preview_ms, 2),
            "step_plus_preview_ms": round(both_ms, 2), "first_frame_s": round(first_frame_s, 3), "load_s": round(load_s, 2),
            "preview_samples": PREVIEW_SAMPLES, "preview_sampler_steps": PREVIEW_STEPS, "shots": 5, "adapt": cfg.adapt,
            "graphs": graphs}


def throughput_one(checkpoint: Path, algo: str, mode: str, device: str, meta_batch_size: int, iters: int) -> dict:
    """Tasks/s of one meta-training configuration (run in a fresh subprocess by `throughput`).

    With a context-adapting checkpoint, fomaml / maml use its own inner loop and outer recipe
    (training.json train.outer): "batched" adapts the meta-batch's contexts in one pass, "per_task"
    one task at a time (the same arithmetic); "vmap", "sequential" (and Reptile) adapt all weights."""
    from .algorithms import OuterConfig, maml_step, reptile_step

    dev = torch.device(device)
    g = Generator.load(checkpoint, dev)
    inner = InnerConfig.from_record(g.record, first_order=algo != "maml")
    outer = OuterConfig(**g.record.get("train", {}).get("outer", {})) if inner.adapt == "context" else OuterConfig()
    # reptile adapts weights; vmap vs loop is a question about full-parameter adaptation
    if inner.adapt == "context" and (algo == "reptile" or mode in ("vmap", "sequential")):
        inner, outer = replace(inner, adapt="all", init_context="start"), OuterConfig()
    params = {k: v.detach().clone().requires_grad_(True) for k, v in g.params.items()}
    glyphs = glyph_set(meta_batch_size, 15, first=700)
    data = torch.from_numpy(glyphs.images)[:, :, None].to(dev)
    support, query = data[:, : inner.shots], data[:, inner.shots :]
    gen = torch.Generator().manual_seed(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ac = g.alphas_cumprod.to(dev)

    def run():
        for p in params.values():
            p.grad = None
        if algo == "reptile":
            reptile_step(g.unet, params, support, query, ac, inner, gen, vmap=mode == "vmap")
        elif mode == "per_task":  # the same algorithm, called once per task of the meta-batch
            for i in range(meta_batch_size):
                maml_step(g.unet, params, support[i : i + 1], query[i : i + 1], ac, inner, gen, outer=outer)
        else:
            maml_step(g.unet, params, support, query, ac, inner, gen, vmap=mode == "vmap", outer=outer)

    ms = _median_ms(run, dev, iters, warmup=1)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"tasks_per_s": round(meta_batch_size / (ms / 1000), 2), "peak_mem_mb": round(peak, 1),
            "rss_before_mb": round(rss0 / 1024, 1), "adapt": inner.adapt, "init_context": inner.init_context,
            "inner_steps": inner.inner_steps, "outer_steps": outer.steps, "meta_batch_size": meta_batch_size}


ALGOS = ("reptile", "fomaml", "maml")


def throughput(checkpoint: Path, device: str, meta_batch_size: int, iters: int, algos=ALGOS, on_row=None,
               mode_timeout: float | None = None) -> dict:
    """Every mode of every algorithm in `algos`, each in its own process (stopped, and recorded as
    such, after `mode_timeout` seconds); `on_row(out)` is called after each algorithm's row."""
    out = {}
    for algo in algos:
        row = {}
        modes = ["vmap", "sequential"] + (["batched", "per_task"] if algo != "reptile" else [])
        for mode in modes:
            cmd = [sys.executable, "-m", "meta.bench", "--_one", algo, mode, "--checkpoint", str(checkpoint),
                   "--device", device, "--meta-batch-size", str(meta_batch_size), "--iters", str(iters)]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=mode_timeout)
            except subprocess.TimeoutExpired:
                row[mode] = {"error": f"timed out after {mode_timeout} s"}
                continue
            if res.returncode:
                row[mode] = {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
                continue
            row[mode] = json.loads(res.stdout.strip().splitlines()[-1])
        ok = lambda m: "tasks_per_s" in row.get(m, {})
        row["vmap_tasks_per_s"] = row["vmap"].get("tasks_per_s") if ok("vmap") else None
        row["sequential_tasks_per_s"] = row["sequential"].get("tasks_per_s") if ok("sequential") else None
        row["peak_mem_mb"] = max((row[m]["peak_mem_mb"] for m in modes if ok(m)), default=None)
        if ok("vmap") and ok("sequential"):
            row["vmap_over_sequential"] = round(row["vmap_tasks_per_s"] / row["sequential_tasks_per_s"], 3)
        if ok("batched") and ok("per_task"):  # context adaptation: one batched pass vs a loop over tasks
            row["batched_over_per_task"] = round(row["batched"]["tasks_per_s"] / row["per_task"]["tasks_per_s"], 3)
        out[algo] = row
        if on_row is not None:
            on_row(out)
    return out


def higher_baseline(checkpoint: Path, inner_steps: int = 10, shots: int = 5) -> dict:
    """First-order MAML on one task through `higher.innerloop_ctx` (the library learn2learn-era code
    used), on the same UNet, if `higher` is installed (`pip install -r requirements-bench.txt`) and
    still runs on this torch; otherwise the reason it does not."""
    try:
        import higher
    except ImportError:
        return {"status": "not installed (pip install -r requirements-bench.txt)"}
    from .model import denoising_loss

    g = Generator.load(checkpoint)
    unet = g.unet
    for p in unet.parameters():
        p.requires_grad_(True)
    x = torch.from_numpy(glyph_set(1, shots, first=700).images[0])[:, None]
    opt = torch.optim.Adam(unet.parameters(), lr=3e-4)
    context = {CONTEXT: g.params[CONTEXT]} if CONTEXT in g.params else {}

    def loss(model, gen):
        t, eps = torch.randint(0, 1000, (shots,), generator=gen), torch.randn(x.shape, generator=gen)
        return denoising_loss(model, {**dict(model.named_parameters()), **context}, g.alphas_cumprod, x, t, eps)

    def task():
        gen = torch.Generator().manual_seed(0)
        with higher.innerloop_ctx(unet, opt, copy_initial_weights=False, track_higher_grads=False) as (fmodel, diffopt):
            for _ in range(inner_steps):
                diffopt.step(loss(fmodel, gen))
            loss(fmodel, gen).backward()

    try:
        ms = _median_ms(task, torch.device("cpu"), 3, warmup=1)
    except Exception as err:  # record how it fails, do not hide it
        from importlib.metadata import version
        return {"status": "fails", "version": version("higher"), "error": f"{type(err).__name__}: {err}"}
    return {"status": "ok", "tasks_per_s": round(1000 / ms, 3), "inner_steps": inner_steps}


def steps_to_template(ckpt: Path, data_dir: str, tasks: int, max_steps: int = 10, seed: int = 0) -> dict:
    """Inner steps the start needs before its samples are recognised within the real spread at least as
    often as the template baselines (the shots' template image repeated, and -- for a sketch context --
    the support's pooled mean written into the context with zero steps), on `tasks` unseen characters."""
    from . import omniglot
    from .eval_config import EvalConfig
    from .evaluate import evaluate

    cfg = EvalConfig(tasks=tasks, steps=tuple(range(max_steps + 1)), samples=8, judge_runs=50, seed=seed)
    report = evaluate({"start": ckpt}, omniglot.load(data_dir, "evaluation"), cfg)
    curve = report["results"]["start"]["recognisability_within"]
    out = {"tasks": tasks, "checkpoint": Path(ckpt).name, "recognisability_within": [round(v, 3) for v in curve]}
    for name, m in report["baselines"].items():
        if name.startswith("template"):
            hit = [k for k, v in enumerate(curve) if v >= m["recognisability_within"]]
            out[name.split(":")[0]] = {"recognisability_within": round(m["recognisability_within"], 3),
                                       "steps_to_reach": hit[0] if hit else None}
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"Machine: {env['cpu']}, {env['threads']} torch threads, torch {env['torch']}"
             + (f", GPU {env['gpu']}" if env.get("gpu") else "")]
    if report.get("live"):
        lines += ["", "| live loop | inner step (ms) | preview (ms) | step + preview (ms) | first frame (s) |", "|---|---|---|---|---|"]
    for dev, r in report.get("live", {}).items():
        lines.append(f"| {dev} ({r['checkpoint']}, {r['preview_samples']} samples x {r['preview_sampler_steps']} steps) | "
                     f"{r['inner_step_ms']} | {r['preview_ms']} | {r['step_plus_preview_ms']} | {r['first_frame_s']} |")
    if report.get("meta_training"):
        lines += ["", "| meta-training | vmap tasks/s | sequential tasks/s | vmap / sequential | batched tasks/s | "
                      "per-task tasks/s | batched / per-task | peak MB |", "|---|---|---|---|---|---|---|---|"]
        for algo, r in report["meta_training"].items():
            b, t = (r.get(m, {}).get("tasks_per_s", "–") for m in ("batched", "per_task"))
            lines.append(f"| {algo} | {r['vmap_tasks_per_s']} | {r['sequential_tasks_per_s']} | {r.get('vmap_over_sequential', '–')} | "
                         f"{b} | {t} | {r.get('batched_over_per_task', '–')} | {r['peak_mem_mb']} |")
    if report.get("higher"):
        h = report["higher"]
        lines += ["", f"`higher.innerloop_ctx` on the same UNet (first-order, one task): {h['status']}"
                      + (f", {h['tasks_per_s']} tasks/s" if "tasks_per_s" in h else "") + (f" -- {h['error']}" if "error" in h else "")]
    if report.get("steps_to_template"):
        a = report["steps_to_template"]
        for name in ("template", "template_context"):
            if name in a:
                lines += ["", f"Inner steps for {a['checkpoint']}'s samples to be recognised within the real spread as often as "
                              f"the {name.replace('_', ' ')} baseline ({a[name]['recognisability_within']:.0%}, {a['tasks']} unseen "
                              f"characters): **{a[name]['steps_to_reach']}** (none within the steps measured if None)"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m meta.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", default="bench.json")
    p.add_argument("--md", default="")
    p.add_argument("--checkpoint", default=str(ROOT / "assets" / "glyphs-autodecoder"))
    p.add_argument("--joint", default=str(ROOT / "assets" / "glyphs-joint"))
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "omniglot"))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--meta-batch-size", type=int, default=8)
    p.add_argument("--tasks", type=int, default=20)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to measure the live loop and meta-training (auto: cuda where there is one)")
    p.add_argument("--skip", nargs="*", default=[], choices=["live", "meta_training", "higher", "steps_to_template"])
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS, help="meta-training algorithms to measure")
    p.add_argument("--mode-timeout", type=float, default=None, help="seconds one meta-training configuration may take")
    p.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._one:
        print(json.dumps(throughput_one(Path(args.checkpoint), *args._one, args.device, args.meta_batch_size, args.iters)))
        return {}
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"python -m meta.bench: --device cuda, but this machine has no CUDA device "
                         f"(torch {torch.__version__}, torch.cuda.is_available() is False)")
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    ckpt = Path(args.checkpoint)
    report = {"environment": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "python": platform.python_version(),
                              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}}
    # written after every part: a run cut short by a time limit (a lent GPU's slot) keeps what it measured
    save = lambda: Path(args.json).write_text(json.dumps(report, indent=2))
    if "live" not in args.skip:
        report["live"] = {}
        for name, graphs in ((device, False),) + ((("cuda_graphs", True),) if device == "cuda" else ()):
            report["live"][name] = live(ckpt, torch.device(device), args.repeats, graphs)
            save()
    if "meta_training" not in args.skip:
        def on_row(rows):
            report["meta_training"] = rows
            save()
        throughput(ckpt, device, args.meta_batch_size, args.iters, args.algos, on_row, args.mode_timeout)
    if "higher" not in args.skip:
        report["higher"] = higher_baseline(Path(args.joint))
        save()
    if "steps_to_template" not in args.skip:
        report["steps_to_template"] = steps_to_template(ckpt, args.data_dir, args.tasks)
    save()
    md = markdown(report)
    if args.md:
        Path(args.md).write_text(md)
    print(md)
    return report


if __name__ == "__main__":
    main()
