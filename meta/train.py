"""Meta-train a generator: `python -m meta.train --algo {reptile,fomaml,maml,joint,autodecoder} ...`

Two worlds: `--data omniglot` (handwritten characters, a task = a character; validation = whole
background alphabets) and `--data emoji --style noto|twemoji --channels 3` (colour icons, a task = a
Unicode emoji subgroup; validation = whole subgroups, `meta.emoji`).

Accelerate does device placement, mixed precision, processes (gradients are all-reduced
explicitly) and printing; the rest is plain PyTorch over a parameter dict. Every `--save-every`
iterations the output folder gets a diffusers checkpoint, `training.json`, the optimizer state
(safetensors) and a validation sample grid; `--resume` continues from it.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file, save_file

from . import emoji, omniglot
from .algorithms import ALGOS, joint_step, maml_step, per_task_contexts, query_loss, reptile_step
from .images import grid
from .inner import InnerConfig, adapt
from .checkpoint import load_checkpoint, save_checkpoint
from .model import CONTEXT, PRIOR_MEAN, GeneratorConfig, attach_sketch, build_unet, init_params, scheduler
from .prior import data_mean
from .sampling import fixed_noise, sample
from .tasks import TaskSampler


@dataclass
class TrainConfig:
    algo: str = "reptile"
    data: str = "omniglot"  # omniglot | emoji
    style: str = "noto"  # emoji: the art style trained on (the other one is for cross-style evaluation)
    data_dir: str = ""
    download: bool = False  # fetch the official Omniglot zips into data_dir first (needs network)
    out: str = "runs/glyphs"
    meta_iters: int = 1000
    time_budget: float = 0.0  # seconds: stop (validate, save) after this much training time; 0 = no limit
    meta_batch_size: int = 8  # tasks per meta-iteration
    batch_size: int = 64  # images per iteration for joint / autodecoder
    meta_lr: float = 1e-3
    outer_optimizer: str = "adam"  # adam | sgd (sgd with reptile = interpolation theta += meta_lr (theta' - theta))
    query_size: int = 10
    n_val_alphabets: int = 5  # background alphabets held out for validation (disjoint from training)
    n_val_subgroups: int = 12  # emoji: subgroups held out for validation (disjoint from training)
    rotations: bool = False
    init: str = ""  # warm start from a checkpoint folder (e.g. a joint or autodecoder run)
    resume: bool = False
    vmap: bool = False
    val_every: int = 250
    save_every: int = 250
    val_tasks: int = 16
    context_lr: float = 1e-2  # autodecoder: learning rate of the per-character context table
    p_null: float = 0.1  # autodecoder: fraction of images conditioned on the shared context
    table_init: str = "mean"  # autodecoder: contexts start as each character's pooled mean drawing, or "random"
    # autodecoder: the context a checkpoint's inner loop starts from: "null" (the unconditional context,
    # trained with p_null) or "mean" (the mean of the training characters' contexts: the middle of the
    # manifold the inner loop should land on; 42 % vs 32 % recognised after 5 steps on validation alphabets)
    start_context: str = "null"
    mixed_precision: str = "no"
    threads: int = 0  # torch CPU threads (0 = torch's default)
    seed: int = 0
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    inner: InnerConfig = field(default_factory=InnerConfig)


def versions() -> dict:
    import accelerate
    import diffusers

    return {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "accelerate": accelerate.__version__, "numpy": np.__version__}


def validate(unet, params, val: TaskSampler, alphas_cumprod, cfg: TrainConfig, out: Path, it: int) -> dict:
    """Query loss before / after the inner loop on fixed held-out tasks, and a sample grid PNG."""
    n = min(cfg.val_tasks, len(val.glyphs))
    tasks = [val.task(c) for c in np.linspace(0, len(val.glyphs) - 1, n).astype(int)]
    support = torch.stack([t.support for t in tasks]).to(alphas_cumprod.device)
    query = torch.stack([t.query for t in tasks]).to(alphas_cumprod.device)
    inner = replace(cfg.inner, first_order=True)
    base = {k: v.detach() for k, v in params.items()}
    before = query_loss(unet, base, alphas_cumprod, query)
    if inner.adapt == "context":  # all tasks at once, each with its own context
        adapted = adapt(unet, per_task_contexts(base, n), support, alphas_cumprod, inner)
        after = query_loss(unet, adapted, alphas_cumprod, query)
        per_task = [{**adapted, CONTEXT: adapted[CONTEXT][i]} for i in range(min(4, n))]
    else:
        per_task, after = [], []
        for i in range(n):
            a = adapt(unet, base, support[i], alphas_cumprod, inner)
            after.append(query_loss(unet, a, alphas_cumprod, query[i : i + 1])[0])
            per_task.append(a)
        after = torch.stack(after)
    # grid: per task, a row of support drawings, then samples before and after adaptation
    noise = fixed_noise(val.shots, cfg.generator, seed=0)
    rows = []
    for i in range(min(4, n)):
        rows += [support[i].cpu(), sample(unet, base, noise, cfg.generator).cpu(), sample(unet, per_task[i], noise, cfg.generator).cpu()]
    grid(torch.cat(rows).numpy(), nrow=val.shots, scale=2).save(out / f"val_{it:06d}.png")
    return {"iter": it, "query_loss_before": float(before.mean()), "query_loss_after": float(after.mean())}


def initial_table(glyphs, shape, how: str, seed: int) -> torch.Tensor:
    """Per-character contexts for the autodecoder, (C, c, h, w).

    "mean": channel 0 is the character's mean drawing average-pooled to h x w (the other
    channels 0), so from the first iteration the context says where the ink goes and the UNet
    learns to use it; the contexts stay trainable. "random": small noise (the plain auto-decoder).
    """
    if how == "random":
        return torch.randn(len(glyphs), *shape, generator=torch.Generator().manual_seed(seed)) * 0.01
    if how != "mean":
        raise ValueError(f"table_init must be 'mean' or 'random', not {how!r}")
    mean = torch.from_numpy(np.stack([glyphs.task_images(k).mean(0) for k in range(len(glyphs))]))  # (K, C, H, W)
    c = min(mean.shape[1], shape[0])
    table = torch.zeros(len(glyphs), *shape)
    table[:, :c] = torch.nn.functional.adaptive_avg_pool2d(mean[:, :c], shape[-2:])
    return table


def load_data(cfg: TrainConfig):
    """-> (train set, validation set, the record of what was trained on); the two share no task."""
    if cfg.data == "omniglot":
        if cfg.download:
            omniglot.download(cfg.data_dir, splits=("background",))
        background = omniglot.load(cfg.data_dir, "background")
        train_set, val_set = omniglot.split_alphabets(background, cfg.n_val_alphabets, seed=cfg.seed)
        return train_set, val_set, {"dataset": "omniglot", "train_alphabets": train_set.alphabet_names(),
                                    "val_alphabets": val_set.alphabet_names(), "rotations": cfg.rotations}
    if cfg.data == "emoji":
        if cfg.generator.channels != 3:
            raise ValueError(f"--data emoji is colour: it needs --channels 3 (got {cfg.generator.channels})")
        if cfg.rotations:
            raise ValueError("--rotations is an Omniglot augmentation; emoji are not rotated")
        if cfg.download:
            raise ValueError("--download fetches Omniglot only; the emoji files are built from the Noto / Twemoji "
                             "repositories (see meta/emoji.py)")
        train_set, val_set = emoji.load_split(cfg.data_dir, cfg.style, cfg.n_val_subgroups, seed=cfg.seed)
        return train_set, val_set, {"dataset": "emoji", "style": cfg.style, "train_subgroups": train_set.task_names(),
                                    "val_subgroups": val_set.task_names(), "credit": emoji.CREDITS[cfg.style]}
    raise ValueError(f"data must be 'omniglot' or 'emoji', not {cfg.data!r}")


def _optimizer_state(opt: torch.optim.Optimizer, names: dict) -> dict:
    state = {}
    for p, s in opt.state.items():
        for key, value in s.items():
            state[f"{names[p]}::{key}"] = value.detach().reshape(-1).clone() if key == "step" else value.detach().clone()
    return state


def _load_optimizer_state(opt: torch.optim.Optimizer, named: dict, tensors: dict) -> None:
    for name, p in named.items():
        keys = {k.split("::", 1)[1]: v for k, v in tensors.items() if k.split("::", 1)[0] == name}
        if keys:
            opt.state[p] = {k: (v.reshape(()) if k == "step" else v).to(p.device) for k, v in keys.items()}


@dataclass
class State:
    """What meta-training updates and a checkpoint keeps."""

    unet: UNet2DModel
    params: dict  # the meta-parameters theta (the context map a torch.nn.Parameter)
    table: torch.nn.Parameter | None  # autodecoder: one context per training character, else None
    opt: torch.optim.Optimizer  # the outer optimizer (meta_lr)
    start: int = 0  # iterations already done (--resume)
    history: list = field(default_factory=list)  # validation records, saved in training.json

    def named(self) -> dict:
        """Every optimized tensor by the name its optimizer state is saved under."""
        return {**self.params, **({"context_table": self.table} if self.table is not None else {})}

    def start_params(self, cfg: TrainConfig) -> dict:
        """What a checkpoint's inner loop starts from: with --start-context mean, the table's mean context."""
        if self.table is not None and cfg.start_context == "mean":
            return {**self.params, CONTEXT: self.table.detach().mean(0)}
        return self.params


def check(cfg: TrainConfig) -> None:
    if cfg.algo not in ALGOS:
        raise ValueError(f"algo must be one of {ALGOS}, not {cfg.algo!r}")
    cfg.inner.validate()
    if cfg.start_context not in ("null", "mean"):
        raise ValueError(f"start_context must be 'null' or 'mean', not {cfg.start_context!r}")


def build_or_resume(cfg: TrainConfig, device, train_set, ckpt: Path) -> State:
    """The model, fresh, warm-started (--init) or resumed (--resume, from `ckpt`, optimizer state
    included), with the autodecoder's context table and the outer optimizer."""
    resume = cfg.resume and ckpt.exists()
    source = ckpt if resume else (Path(cfg.init) if cfg.init else None)
    start, history, table, loaded = 0, [], None, {}
    if source is None:
        unet = build_unet(cfg.generator, seed=cfg.seed)
    else:
        unet, loaded, gen_cfg, record = load_checkpoint(source)
        if resume:
            start, history = int(record["iterations"]), record.get("validation", [])
        elif cfg.generator.ctx_sketch and not gen_cfg.ctx_sketch:  # warm start a sketch-context model
            gen_cfg = replace(gen_cfg, ctx_sketch=True)
            attach_sketch(unet, gen_cfg)
        cfg.generator = gen_cfg
        tensors = record.get("_tensors", {})
        if cfg.algo == "autodecoder":
            table = tensors.get("context_table")
            if "null_context" in tensors:
                # saved with --start-context mean: the checkpoint's context is the mean one (where its inner loop
                # starts: what a meta-learning phase warm-started from it should start from too); the
                # auto-decoder itself keeps training the null context it was trained with
                loaded[CONTEXT] = tensors["null_context"]
    unet.to(device)
    unet.prior_mean = data_mean(train_set).to(device)  # where samples start (meta.sampling), saved with the checkpoint
    params = init_params(unet, cfg.generator)
    with torch.no_grad():
        for k, v in loaded.items():
            params[k] = params[k].copy_(v) if k != CONTEXT else v.clone()
    if CONTEXT in params:
        params[CONTEXT] = torch.nn.Parameter(params[CONTEXT].to(device))
    if cfg.algo == "autodecoder":
        if CONTEXT not in params:
            raise ValueError("autodecoder needs a context map: set --ctx-channels > 0")
        if table is None or len(table) != len(train_set):
            table = initial_table(train_set, params[CONTEXT].shape, cfg.table_init, cfg.seed)
        table = torch.nn.Parameter(table.to(device))
    state = State(unet, params, table, outer_optimizer(cfg, params, table), start, history)
    opt_file = ckpt / "optimizer.safetensors"
    if cfg.resume and opt_file.exists():
        _load_optimizer_state(state.opt, state.named(), load_file(str(opt_file)))
    return state


def outer_optimizer(cfg: TrainConfig, params: dict, table) -> torch.optim.Optimizer:
    """Adam (or SGD) over the UNet weights, the context, and the autodecoder's table (at context_lr)."""
    groups = [{"params": [p for k, p in params.items() if k != CONTEXT]}]
    if CONTEXT in params:
        groups.append({"params": [params[CONTEXT]]})
    if table is not None:
        groups.append({"params": [table], "lr": cfg.context_lr})
    opt_cls = torch.optim.SGD if cfg.outer_optimizer == "sgd" else torch.optim.Adam
    return opt_cls(groups, lr=cfg.meta_lr)


def save(cfg: TrainConfig, acc, state: State, data_record: dict, ckpt: Path, it: int) -> None:
    """The checkpoint after `it` iterations (its context: where its inner loop starts), and the optimizer state."""
    if not acc.is_main_process:
        return
    extra = {"context_table": state.table.detach()} if state.table is not None else {}
    extra[PRIOR_MEAN] = state.unet.prior_mean
    saved = state.start_params(cfg)
    if saved is not state.params:  # keep the trained null context for --resume
        extra["null_context"] = state.params[CONTEXT].detach()
    record = {"algo": cfg.algo, "iterations": it, "data": {"data_dir": cfg.data_dir, **data_record}, "inner": asdict(cfg.inner),
              "train": {k: v for k, v in asdict(cfg).items() if k not in ("generator", "inner")},
              "command": " ".join(["python -m meta.train", *sys.argv[1:]]), "versions": versions(),
              "validation": state.history, "_tensors": extra}
    save_checkpoint(ckpt, state.unet, saved, cfg.generator, record)
    names = {p: n for n, p in state.named().items()}
    save_file({k: v.contiguous() for k, v in _optimizer_state(state.opt, names).items()}, str(ckpt / "optimizer.safetensors"))


def outer_step(cfg: TrainConfig, acc, state: State, train_set, tasks: TaskSampler, alphas_cumprod, gen) -> float:
    """One meta-iteration: the algorithm leaves the outer gradient in p.grad, the outer optimizer steps."""
    state.opt.zero_grad(set_to_none=True)
    with acc.autocast():
        if cfg.algo in ("joint", "autodecoder"):
            batch, chars = train_set.pool_batch(gen, cfg.batch_size)  # (B, C, H, W), each image's task
            loss = joint_step(state.unet, state.params, batch.to(acc.device), alphas_cumprod, gen, state.table,
                              chars.to(acc.device), cfg.p_null)
        else:
            support, query, _ = tasks.sample(cfg.meta_batch_size)  # (T, N, C, H, W), (T, Q, C, H, W)
            step = reptile_step if cfg.algo == "reptile" else maml_step
            loss = step(state.unet, state.params, support.to(acc.device), query.to(acc.device), alphas_cumprod, cfg.inner,
                        gen, vmap=cfg.vmap)
    if acc.num_processes > 1:  # explicit all-reduce: no DDP hooks around a functional model
        for group in state.opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = acc.reduce(p.grad, reduction="mean")
    state.opt.step()
    return loss


def outer_loop(cfg: TrainConfig, acc, state: State, train_set, tasks: TaskSampler, val: TaskSampler, save_at) -> None:
    """Meta-iterations from state.start to cfg.meta_iters (or the time budget), validating every
    cfg.val_every and calling `save_at(iteration)` every cfg.save_every and at the end."""
    from tqdm.auto import tqdm

    alphas_cumprod = scheduler(cfg.generator).alphas_cumprod.to(acc.device)
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + state.start + acc.process_index)
    bar = tqdm(range(state.start, cfg.meta_iters), initial=state.start, total=cfg.meta_iters, disable=not acc.is_local_main_process)
    t0, done = time.time(), 0
    for it in bar:
        # 1. one outer step
        loss = outer_step(cfg, acc, state, train_set, tasks, alphas_cumprod, gen)
        done, elapsed = done + 1, time.time() - t0
        episodic = cfg.algo not in ("joint", "autodecoder")
        bar.set_postfix(loss=f"{loss:.4f}", tasks_per_s=f"{done * cfg.meta_batch_size / elapsed:.2f}" if episodic else None,
                        images_per_s=f"{done * cfg.batch_size / elapsed:.1f}")
        last = it + 1 == cfg.meta_iters or 0 < cfg.time_budget <= time.time() - t0
        # 2. query loss before / after the inner loop on the held-out tasks
        if acc.is_main_process and (((it + 1) % cfg.val_every == 0) or last):
            scores = validate(state.unet, state.start_params(cfg), val, alphas_cumprod, cfg, Path(cfg.out), it + 1)
            state.history.append({**scores, "train_loss": loss, "elapsed_s": round(time.time() - t0, 1)})
            acc.print(json.dumps(state.history[-1]))
        # 3. a checkpoint
        if ((it + 1) % cfg.save_every == 0) or last:
            save_at(it + 1)
        if last:
            break


def train(cfg: TrainConfig) -> Path:
    """Meta-train as `cfg` says; -> the checkpoint folder (written every cfg.save_every iterations)."""
    from accelerate import Accelerator

    check(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    acc = Accelerator(mixed_precision=cfg.mixed_precision)
    ckpt = Path(cfg.out) / "checkpoint"
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    # 1. data: meta-training and meta-validation tasks are disjoint (whole alphabets / subgroups)
    train_set, val_set, data_record = load_data(cfg)
    episodic = train_set if cfg.data == "omniglot" else train_set.min_size(cfg.inner.shots + cfg.query_size)
    tasks = TaskSampler(episodic, cfg.inner.shots, cfg.query_size, cfg.rotations, seed=cfg.seed + acc.process_index)
    val = TaskSampler(val_set, cfg.inner.shots, min(cfg.query_size, int(val_set.sizes().min()) - cfg.inner.shots))
    # 2. model: fresh, warm-started (--init) or resumed (--resume)
    state = build_or_resume(cfg, acc.device, train_set, ckpt)
    # 3. the outer loop, validating and saving as it goes
    outer_loop(cfg, acc, state, train_set, tasks, val, lambda it: save(cfg, acc, state, data_record, ckpt, it))
    if state.start >= cfg.meta_iters:
        acc.print(f"{ckpt} already has {state.start} iterations (--meta-iters {cfg.meta_iters}): nothing to do")
    return ckpt


# ---- CLI: kebab-case flags, one adapter from flags to dataclasses ----

def _add_fields(parser, cls, skip=()):
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=int, nargs="+", default=list(default))
        else:
            parser.add_argument(flag, type=type(default), default=default)


def parse_args(argv=None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m meta.train", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_fields(parser, TrainConfig, skip=("generator", "inner"))
    _add_fields(parser, GeneratorConfig)
    _add_fields(parser, InnerConfig)
    args = vars(parser.parse_args(argv))
    pick = lambda cls: {f.name: args[f.name] for f in fields(cls)}
    gen = pick(GeneratorConfig)
    gen["block_out_channels"] = tuple(gen["block_out_channels"])
    if not args["data_dir"]:
        parser.error("--data-dir is required (omniglot: a folder holding images_background.zip or images_background/; "
                     "emoji: a folder holding noto_emoji_32.npz / twemoji_32.npz)")
    train_args = {f.name: args[f.name] for f in fields(TrainConfig) if f.name not in ("generator", "inner")}
    return TrainConfig(**train_args, generator=GeneratorConfig(**gen), inner=InnerConfig(**pick(InnerConfig)))


def main(argv=None) -> Path:
    cfg = parse_args(argv)
    return train(cfg)


if __name__ == "__main__":
    main()
