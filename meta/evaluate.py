"""Few-shot evaluation: adapt each checkpoint to unseen characters and measure after k inner steps.

A task is one character of the chosen split: `shots` drawings are the support, the other drawings
the query. After each listed number of inner steps (the checkpoint's own inner loop, `meta.inner`),
per task with standard errors over tasks:
  - recognisability: fraction of samples (fixed noise, the app's sampler) the judge assigns to the
    target character, among up to `ways` characters of its alphabet (chance = 1 / ways);
    recognisability_within: recognised *and* inside the real drawings' spread around the prototype;
  - diversity and copy_distance (`meta.measures`): how varied the samples are, and how far from the
    nearest support drawing after the best +-2 pixel shift, both in units of real held-out drawings;
  - query_loss (uniform t) and query_loss_low / _mid / _high: the denoising loss on the query at fixed
    (t, eps) in the noise bands t < 300, 300-700, >= 700 (`meta.algorithms.BANDS`);
  - novelty: nearest-support judge distance in units of a real new drawing's (kept for reference;
    a 1-pixel shift of the support passes it, so no claim rests on it).
Beside the checkpoints, `"baselines"` scores reference inputs on the same tasks and measures: real
held-out drawings, a copy of the support, the support shifted 1-2 pixels, the shots' template image
repeated, and for a sketch-context checkpoint the support's pooled mean written into its context
with zero inner steps (`template_context:<label>`). `--baselines none` skips them.
Drawings per task: support | reference (the target's prototype and the measures' units) | rest (the
real-drawing ceiling). `python -m meta.evaluate --checkpoint DIR --data-dir DIR --json OUT.json`;
`--split validation` evaluates on the background alphabets `meta.train` holds out.

Colour icons (`--data emoji --style noto|twemoji`): a task is an emoji subgroup none of the listed
checkpoints trained on (their training.json names their training subgroups); the judge is
assets/judge-emoji (a ProtoNet over subgroups, trained on the training subgroups only) and a sample
counts as recognised when its nearest subgroup prototype, among up to `ways` unseen subgroups, is
its own. With fewer subgroups than --tasks, subgroups repeat with fresh support draws.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import emoji, omniglot
from .algorithms import BANDS, meta_learned, per_task_contexts, query_loss
from .checkpoint import Generator
from .eval_config import DEFAULT_JUDGES, EvalConfig  # EvalConfig: also importable from here, as before
from .eval_tasks import Tasks, make_icon_tasks, make_tasks
from .figure import plot, safe_name
from .images import grid
from .inner import InnerConfig, adapt_steps, initial
from .judge import Judge, few_shot_accuracy, one_shot_accuracy
from .measures import pooled_mean, shift_copy, template_images
from .model import CONTEXT, GeneratorConfig, build_unet, init_params
from .omniglot import GlyphSet
from .sampling import Guidance, fixed_noise, sample
from .snapshots import load_snapshot

def scratch(seed: int = 0, channels: int = 1) -> Generator:
    """A randomly initialised generator that adapts all its weights: the no-meta-learning baseline."""
    config = GeneratorConfig(channels=channels)
    unet = build_unet(config, seed=seed).eval()
    params = {k: v.detach() for k, v in init_params(unet, config).items()}
    return Generator(unet, params, config, {"algo": "scratch", "iterations": 0,
                                            "inner": asdict(InnerConfig(adapt="all", inner_lr=1e-3, optimizer="adam"))})


def inner_config(record: dict, cfg: EvalConfig) -> InnerConfig:
    """The checkpoint's own inner loop, with the flags that were given overriding it."""
    return InnerConfig.from_record(record, shots=cfg.shots, first_order=True, inner_lr=cfg.inner_lr, adapt=cfg.adapt,
                                   optimizer=cfg.optimizer, init_context=cfg.init_context)


def guidance_for(gen: Generator, cfg: EvalConfig) -> Guidance | None:
    """The checkpoint's own sampler guidance, or cfg.guidance's scale at t >= cfg.guidance_t_min (1: none)."""
    if cfg.guidance is None:
        return gen.guidance
    if cfg.guidance == 1:
        return None
    null = gen.record.get("_tensors", {}).get("null_context")
    if null is None:
        raise ValueError(f"--guidance {cfg.guidance} needs a checkpoint trained with a null context (the auto-decoder); "
                         f"{gen.record.get('algo')} has none")
    return Guidance(cfg.guidance, null, cfg.guidance_t_min)


MEASURES = ("recognisability", "recognisability_within", "diversity", "copy_distance", "novelty")


def stderr(a: np.ndarray) -> float | list[float]:
    """Standard error of the mean over tasks (the last axis)."""
    n = a.shape[-1]
    se = a.std(-1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(a.shape[:-1])
    return se.tolist() if np.ndim(se) else float(se)


def summary(per_task: dict[str, np.ndarray]) -> dict:
    """{measure: (..., T) per task} -> means and standard errors over tasks (lists along leading axes)."""
    out = {}
    for k, a in per_task.items():
        mean = a.mean(-1)
        out[k], out[f"{k}_stderr"] = (mean.tolist() if np.ndim(mean) else float(mean)), stderr(a)
    if "recognisability_within" in per_task:  # per task, for paired comparisons on the same tasks (meta.report)
        out["per_task"] = {"recognisability_within": np.round(per_task["recognisability_within"], 4).tolist()}
    return out


def has_sketch(gen: Generator) -> bool:
    return bool(gen.config.ctx_sketch and gen.config.ctx_channels and CONTEXT in gen.params)


def template_context(params: dict, support: torch.Tensor, config: GeneratorConfig) -> dict:
    """params with each task's sketch channel(s) set to its support's pooled mean drawing (the rest of the
    context as the checkpoint starts it): the zero-step `template_context` shortcut. support (T, K, C, H, W)."""
    ctx = params[CONTEXT]
    ctx = ctx.expand(len(support), *ctx.shape[-3:]).clone() if ctx.dim() == 3 else ctx.clone()
    c = min(config.channels, ctx.shape[1])
    ctx[:, :c] = pooled_mean(support, config.ctx_size)[:, :c].to(ctx)
    return {**params, CONTEXT: ctx}


def evaluate_generator(gen: Generator, tasks: Tasks, judge: Judge, cfg: EvalConfig, label: str = "") -> dict:
    """Adapt to every task and measure after each of cfg.steps; context adaptation runs all tasks in one batch."""
    inner = inner_config(gen.record, cfg)
    guidance = guidance_for(gen, cfg)
    alphas, n_tasks = gen.alphas_cumprod, len(tasks.support)
    noise = fixed_noise(cfg.samples, gen.config, cfg.seed, tasks=n_tasks)  # (T, S, C, H, W), the same for every step
    base = {k: v.detach() for k, v in gen.params.items()}
    scores = {m: np.zeros((len(cfg.steps), n_tasks)) for m in MEASURES + ("query_loss",) + tuple(f"query_loss_{b}" for b in BANDS)}
    grids = {}
    if inner.adapt == "context":  # every task owns its context: (T, c, h, w)
        groups = [(np.arange(n_tasks), per_task_contexts(base, n_tasks), cfg.seed)]
    else:  # full-parameter adaptation: one task at a time
        groups = [(np.array([i]), base, cfg.seed + i) for i in range(n_tasks)]

    def draw(p: dict, x_T: torch.Tensor, n: int) -> torch.Tensor:
        return sample(gen.unet, p, x_T, gen.config, sampler=cfg.sampler, steps=cfg.sampler_steps, guidance=guidance).reshape(n, *x_T.shape[-4:])

    def measure(j: int, p: dict, idx: np.ndarray, query: torch.Tensor, x_T: torch.Tensor) -> None:
        # 1. query loss at fixed (t, eps), overall and by noise band, 2. samples from fixed noise, 3. the judge's scores
        scores["query_loss"][j, idx] = query_loss(gen.unet, p, alphas, query).numpy()
        for b, band in BANDS.items():
            scores[f"query_loss_{b}"][j, idx] = query_loss(gen.unet, p, alphas, query, band=band).numpy()
        x0 = draw(p, x_T, len(idx))
        for m, v in tasks.subset(idx).score(judge, x0).items():
            scores[m][j, idx] = v
        for k, i in enumerate(idx):
            if i < cfg.grid_tasks and cfg.steps[j] in cfg.grid_steps:
                grids.setdefault(int(i), {})[cfg.steps[j]] = x0[k].numpy()

    for idx, params, seed in groups:
        support, query, x_T = tasks.support[idx], tasks.query[idx], noise[idx]
        if inner.adapt != "context":  # one task: (N, C, H, W)
            support, x_T = support[0], x_T[0]
        if cfg.steps[0] == 0:
            measure(0, initial(gen.unet, params, support, inner), idx, query, x_T)
        for step in adapt_steps(gen.unet, params, support, alphas, inner, seed=seed, steps=cfg.steps[-1]):
            if step.step in cfg.steps:
                measure(cfg.steps.index(step.step), step.params, idx, query, x_T)
    if cfg.grid_dir:
        save_grids(grids, tasks, cfg, label)
    result = {"steps": list(cfg.steps), **summary(scores),
              "algo": gen.record.get("algo"), "meta_learned": meta_learned(gen.record),
              "iterations": gen.record.get("iterations"), "inner": asdict(inner),
              "guidance": ({"scale": guidance.scale, "t_min": guidance.t_min, "t_max": guidance.t_max} if guidance else None)}
    if has_sketch(gen) and cfg.baselines != "none":  # the zero-step shortcut, same weights, guidance and noise
        result["template_context"] = summary(tasks.score(judge, draw(template_context(base, tasks.support, gen.config), noise, n_tasks)))
    return result


def baselines(tasks: Tasks, judge: Judge, cfg: EvalConfig) -> dict:
    """Reference inputs scored like samples: held-out real drawings (the ceiling), the support itself,
    the support shifted 1-2 pixels, and one template image of the shots repeated (`meta.measures`)."""
    inputs = {"real": tasks.rest, "copy": tasks.support,
              "shifted_copy": torch.stack([shift_copy(s, cfg.seed * 1000 + i) for i, s in enumerate(tasks.support)]),
              "template": template_images(tasks.support, cfg.samples)}
    return {name: summary(tasks.score(judge, x)) for name, x in inputs.items()}


def save_grids(grids: dict, tasks: Tasks, cfg: EvalConfig, label: str) -> None:
    """One PNG per task: the support row (padded), then one row of samples per grid step."""
    out = Path(cfg.grid_dir)
    out.mkdir(parents=True, exist_ok=True)
    cols = max(cfg.shots, cfg.samples)
    for i, rows in grids.items():
        support = np.full((cols, *tasks.support.shape[-3:]), -1.0, np.float32)
        support[: cfg.shots] = tasks.support[i].numpy()
        pad = lambda x: np.concatenate([x, np.full((cols - len(x), *x.shape[1:]), -1.0, np.float32)])
        sheet = np.concatenate([support] + [pad(rows[s]) for s in cfg.grid_steps if s in rows])
        name = safe_name(f"{label}_task{i:02d}_{tasks.info[i]['alphabet']}_{tasks.info[i]['character']}") + ".png"
        grid(sheet, nrow=cols, scale=2).save(out / name)


def load_any(ckpt) -> Generator:
    """A checkpoint folder, or FOLDER@ITER: its snapshot after ITER outer iterations (`meta.snapshots`)."""
    path, _, it = str(ckpt).rpartition("@") if "@" in str(ckpt) else (str(ckpt), "", "")
    if not it:
        return Generator.load(path)
    if not it.isdigit():
        raise ValueError(f"{ckpt!r}: expected FOLDER@ITERATION with a whole number of outer iterations")
    return load_snapshot(path, int(it))


def labels_for(paths: list[str]) -> list[str]:
    """Each checkpoint's folder name (with its @ITER for a snapshot); the shortest distinguishing path
    suffix when names repeat."""
    parts = [Path(p).resolve().parts if p != "scratch" else ("scratch",) for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    raise ValueError(f"the same checkpoint is listed twice: {paths}")


def evaluate(checkpoints, glyphs: GlyphSet | emoji.IconSet, cfg: EvalConfig) -> dict:
    """checkpoints: folders (or 'scratch'), or a dict {label: Generator | folder}. -> the JSON dict.

    glyphs: a GlyphSet (characters), or an IconSet of unseen emoji subgroups (see `unseen_subgroups`)."""
    icons = isinstance(glyphs, emoji.IconSet)
    cfg.validate(int(glyphs.sizes().min()) if not icons else 10**9)
    judge = Judge.load(cfg.judge)
    if not isinstance(checkpoints, dict):
        checkpoints = dict(zip(labels_for([str(c) for c in checkpoints]), checkpoints))
    if icons:  # W-way one-shot subgroup classification of real icons: the judge's own ceiling
        emb = judge.embed(glyphs.images)
        classes = [emb[torch.from_numpy(glyphs.labels == k)] for k in range(len(glyphs))]
        one_shot = {**few_shot_accuracy(classes, shots=1, ways=cfg.ways, runs=cfg.judge_runs, seed=cfg.seed),
                    "subgroups": glyphs.task_names(), "style": glyphs.style}
        tasks = make_icon_tasks(glyphs, judge, cfg)
    else:
        one_shot = one_shot_accuracy(judge.embed(glyphs.images[:, :, None]), glyphs, runs=cfg.judge_runs, seed=cfg.seed)
        tasks = make_tasks(glyphs, judge, cfg)
    real = summary(tasks.set_radius(judge).score(judge, tasks.rest))
    refs = baselines(tasks, judge, cfg) if cfg.baselines == "all" else {}
    results = {}
    for label, ckpt in checkpoints.items():
        t0, cpu0 = time.time(), time.process_time()
        gen = ckpt if isinstance(ckpt, Generator) else scratch(cfg.seed, 3 if icons else 1) if str(ckpt) == "scratch" else load_any(ckpt)
        results[label] = {**evaluate_generator(gen, tasks, judge, cfg, label), "checkpoint": label,
                          "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - cpu0, 1)}
        if "template_context" in results[label]:
            refs[f"template_context:{label}"] = results[label]["template_context"]
    return {"judge_one_shot_accuracy": one_shot["accuracy"], "judge_one_shot": one_shot,
            "real_drawings": {**real, "radius": tasks.radius}, "baselines": refs,
            "chance": float(np.mean([1 / t["ways"] for t in tasks.info])), "tasks": tasks.info,
            "config": portable(asdict(cfg)), "results": results}


def portable(config: dict) -> dict:
    """The config as recorded: folders by name only, so a shipped report holds no paths of the machine that made it."""
    return {k: (Path(v).name if k in ("judge", "grid_dir") and v else v) for k, v in config.items()}


def load_split(data_dir, split: str, n_val_alphabets: int = 5, seed: int = 0) -> GlyphSet:
    """Omniglot's 'background' or 'evaluation' set, or 'validation': the background alphabets that
    `meta.train --seed SEED --n-val-alphabets N` holds out from training."""
    if split == "validation":
        return omniglot.split_alphabets(omniglot.load(data_dir, "background"), n_val_alphabets, seed=seed)[1]
    return omniglot.load(data_dir, split)


# ---- the CLI ----

def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,5, got {text!r}") from None


def main(argv=None) -> dict:
    d = EvalConfig()
    p = argparse.ArgumentParser(prog="python -m meta.evaluate", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", action="append", required=True, help="checkpoint folder, or 'scratch' (repeatable)")
    p.add_argument("--data", default="omniglot", choices=("omniglot", "emoji"), help="the world: glyphs or colour icons")
    p.add_argument("--data-dir", required=True, help="folder with the Omniglot zips (or the emoji npz files)")
    p.add_argument("--split", default="evaluation", choices=("background", "evaluation", "validation"),
                   help="omniglot: where the tasks come from -- 'validation' is the background alphabets meta.train holds out "
                        "(chosen by --split-seed, as meta.train's --seed): choose settings there, run 'evaluation' once per "
                        "result (emoji: always the subgroups no checkpoint trained on)")
    p.add_argument("--split-seed", type=int, default=0, help="validation split: meta.train's --seed")
    p.add_argument("--n-val-alphabets", type=int, default=5, help="validation split: meta.train's --n-val-alphabets")
    p.add_argument("--baselines", default=d.baselines, choices=("all", "none"),
                   help="score the reference inputs (real, copy, shifted copy, template, template in the context)")
    p.add_argument("--style", default="noto", choices=sorted(emoji.STYLES), help="emoji: the art style of the tasks")
    p.add_argument("--json", required=True, help="where to write the results")
    p.add_argument("--plot", default="", help="PNG of the curves")
    p.add_argument("--steps", type=_ints, default=d.steps, help="inner step counts to measure at, e.g. 0,1,2,5")
    helps = {"shots": "support drawings per task", "tasks": "characters evaluated", "seed": "picks tasks, drawers, noise",
             "samples": "samples per task and step", "ways": "characters the judge chooses among",
             "reference": "drawings per prototype", "sampler_steps": "denoising steps per sample",
             "judge_runs": "runs of the judge's 20-way one-shot benchmark", "grid_tasks": "tasks with a grid PNG"}
    for name, text in helps.items():
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name), help=text)
    p.add_argument("--sampler", default=d.sampler, choices=("ddim", "dpm"), help="the app's sampler")
    p.add_argument("--judge", default="", help="folder of the trained judge (default: assets/judge, or assets/judge-emoji)")
    p.add_argument("--grid-dir", default="", help="write per-task sample grids here")
    p.add_argument("--grid-steps", type=_ints, default=d.grid_steps, help="sample rows in each grid")
    p.add_argument("--inner-lr", type=float, default=None, help="override the checkpoints' inner_lr")
    p.add_argument("--adapt", default=None, choices=("context", "all", "weights"), help="override what the inner loop adapts")
    p.add_argument("--optimizer", default=None, choices=("adam", "sgd"), help="override the inner optimizer")
    p.add_argument("--init-context", default=None, choices=("start", "template"),
                   help="override where the inner loop starts (template: the support's pooled mean in the sketch context)")
    p.add_argument("--guidance", type=float, default=None,
                   help="override the checkpoints' classifier-free guidance scale (1 = none; default: each checkpoint's own)")
    p.add_argument("--guidance-t-min", type=int, default=0, help="with --guidance: guide only sampler steps at t >= this")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = vars(p.parse_args(argv))
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    args["judge"] = args["judge"] or str(DEFAULT_JUDGES[args["data"]])
    cfg = EvalConfig(**{k: v for k, v in args.items() if k in EvalConfig.__dataclass_fields__})
    if args["data"] == "emoji":
        try:
            data = emoji.unseen_subgroups(emoji.load(args["data_dir"], args["style"]), args["checkpoint"])
        except ValueError as err:
            p.error(str(err))
        report = evaluate(args["checkpoint"], data, cfg)
        report.update(data="emoji", style=args["style"], split="unseen subgroups", credit=emoji.CREDITS[args["style"]])
    else:
        report = evaluate(args["checkpoint"], load_split(args["data_dir"], args["split"], args["n_val_alphabets"], args["split_seed"]), cfg)
        report.update(data="omniglot", split=args["split"])
        if args["split"] == "validation":
            report.update(split_seed=args["split_seed"], n_val_alphabets=args["n_val_alphabets"])
    Path(args["json"]).parent.mkdir(parents=True, exist_ok=True)
    Path(args["json"]).write_text(json.dumps(report, indent=2))
    if args["plot"]:
        plot(report, args["plot"])
    show = ("recognisability_within", "diversity", "copy_distance", "query_loss_high")
    rows = {**{f"baseline {k}": {m: round(v[m], 3) for m in show if m in v} for k, v in report["baselines"].items()},
            **{k: {m: [round(x, 3) for x in r[m]] for m in show} for k, r in report["results"].items()}}
    print(json.dumps(rows, indent=1))
    return report


if __name__ == "__main__":
    main()
