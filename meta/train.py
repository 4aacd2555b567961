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

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import emoji, omniglot
from .algorithms import META_ALGOS, joint_step, maml_step, per_task_contexts, query_loss, reptile_step
from .images import grid
from .inner import adapt
from .checkpoint import load_checkpoint, save_checkpoint
from .model import CONTEXT, PRIOR_MEAN, attach_sketch, build_unet, init_params, scheduler
from .prior import data_mean
from .sampling import fixed_noise, sample
from .snapshots import write_snapshot
from .tasks import TaskSampler
from .train_config import TrainConfig, parse_args, resolve, snapshot_iters


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
class Run:
    """What the outer loop updates and saves: the module, its parameter dict, the auto-decoder's
    per-character contexts and null context where used, the optimizer, and the record so far."""

    unet: torch.nn.Module
    params: dict
    alphas_cumprod: torch.Tensor
    opt: torch.optim.Optimizer
    named: dict  # name -> tensor the optimizer updates (its state is saved under these names)
    table: torch.nn.Parameter | None = None  # (K, c, h, w) a context per training character
    null: torch.Tensor | None = None  # the unconditional context (classifier-free guidance)
    start: int = 0  # iterations done before this run
    history: list = field(default_factory=list)
    compute: dict = field(default_factory=lambda: {"image_passes": 0, "train_seconds": 0.0})
    carry: dict = field(default_factory=dict)  # record entries kept from the source checkpoint (e.g. "sampling")

    def start_params(self, cfg: TrainConfig) -> dict:
        """What the checkpoint's inner loop starts from: with --start-context mean (auto-decoder), the table's mean context."""
        if cfg.algo == "autodecoder" and self.table is not None and cfg.start_context == "mean":
            return {**self.params, CONTEXT: self.table.detach().mean(0)}
        return self.params


def build(cfg: TrainConfig, acc, train_set, ckpt: Path) -> Run:
    """A fresh generator, a warm start (--init) or a resumed run (--resume), with its optimizer."""
    source = ckpt if cfg.resume and ckpt.exists() else (Path(cfg.init) if cfg.init else None)
    resumed = source is not None and source == ckpt
    table = null = None
    record, tensors = {}, {}
    if source is not None:
        unet, loaded, gen_cfg, record = load_checkpoint(source)
        if not resumed and cfg.generator.ctx_sketch and not gen_cfg.ctx_sketch:  # warm start a sketch-context model
            gen_cfg = replace(gen_cfg, ctx_sketch=True)
            attach_sketch(unet, gen_cfg)
        cfg.generator = gen_cfg
        tensors = record.get("_tensors", {})
        uses_table = cfg.algo == "autodecoder" or cfg.outer.joint_weight > 0
        table = tensors.get("context_table") if uses_table else None
        if "null_context" in tensors and cfg.algo == "autodecoder":
            # saved with --start-context mean: the checkpoint's context is the mean one (where its inner loop
            # starts); the auto-decoder itself keeps training the null context it was trained with
            loaded[CONTEXT] = tensors["null_context"]
        null = tensors.get("null_context") if cfg.algo != "autodecoder" else None
    else:
        unet = build_unet(cfg.generator, seed=cfg.seed)
    unet.to(acc.device)
    unet.prior_mean = data_mean(train_set).to(acc.device)  # where samples start (meta.sampling), saved below
    params = init_params(unet, cfg.generator)
    if source is not None:
        with torch.no_grad():
            for k, v in loaded.items():
                params[k] = params[k].copy_(v) if k != CONTEXT else v.clone()
    if CONTEXT in params:
        params[CONTEXT] = torch.nn.Parameter(params[CONTEXT].to(acc.device))
    groups = [{"params": [p for k, p in params.items() if k != CONTEXT]}]
    if CONTEXT in params:
        groups.append({"params": [params[CONTEXT]]})
    named = dict(params)
    if cfg.algo == "autodecoder" or cfg.outer.joint_weight > 0:
        if CONTEXT not in params:
            raise ValueError(f"{'--joint-weight' if cfg.algo != 'autodecoder' else 'autodecoder'} needs a context map: set --ctx-channels > 0")
        if table is None or len(table) != len(train_set):
            table = initial_table(train_set, params[CONTEXT].shape, cfg.table_init, cfg.seed)
        table = torch.nn.Parameter(table.to(acc.device))
        groups.append({"params": [table], "lr": cfg.context_lr})
        named["context_table"] = table
        if cfg.algo != "autodecoder":  # the joint term's unconditional context, apart from the meta-learned start
            null = torch.nn.Parameter((null if null is not None else params[CONTEXT].detach()).clone().to(acc.device))
            groups.append({"params": [null], "lr": cfg.context_lr})
            named["null_context"] = null
    opt = (torch.optim.SGD if cfg.outer_optimizer == "sgd" else torch.optim.Adam)(groups, lr=cfg.meta_lr)
    opt_file = ckpt / "optimizer.safetensors"
    if resumed and opt_file.exists():
        _load_optimizer_state(opt, named, load_file(str(opt_file)))
    run = Run(unet, params, scheduler(cfg.generator).alphas_cumprod.to(acc.device), opt, named, table, null,
              carry={k: record[k] for k in ("sampling",) if k in record})
    if resumed:
        run.start, run.history = int(record["iterations"]), record.get("validation", [])
        run.compute = record.get("compute", run.compute)
        run.carry.update({k: record[k] for k in ("warm_start", "snapshots") if k in record})
    elif source is not None:
        run.carry["warm_start"] = {"checkpoint": Path(cfg.init).name, "algo": record.get("algo"),
                                   "iterations": record.get("iterations"), "compute": record.get("compute")}
    return run


def image_passes(cfg: TrainConfig) -> int:
    """UNet image evaluations (forward + backward) in one outer iteration: the compute unit of training.json."""
    i = cfg.inner
    if cfg.algo in ("joint", "autodecoder"):
        return cfg.batch_size
    steps = (i.inner_steps + 1) / 2 if cfg.outer.steps == "random" else i.inner_steps  # the mean of U{1..K}
    support = round(i.shots * i.noise_draws * steps)
    if cfg.algo == "reptile":
        return cfg.meta_batch_size * (i.shots + cfg.query_size) * i.noise_draws * i.inner_steps
    return cfg.meta_batch_size * (support + cfg.query_size) + (cfg.batch_size if cfg.outer.joint_weight > 0 else 0)


def outer_step(cfg: TrainConfig, run: Run, tasks: TaskSampler, train_set, gen: torch.Generator, device) -> float:
    """One outer iteration's gradient into p.grad; returns the logged loss."""
    if cfg.algo in ("joint", "autodecoder"):
        batch, chars = train_set.pool_batch(gen, cfg.batch_size)  # (B, C, H, W), each image's task
        return joint_step(run.unet, run.params, batch.to(device), run.alphas_cumprod, gen, run.table, chars.to(device), cfg.p_null)
    support, query, _ = tasks.sample(cfg.meta_batch_size)
    support, query = support.to(device), query.to(device)
    if cfg.algo == "reptile":
        return reptile_step(run.unet, run.params, support, query, run.alphas_cumprod, cfg.inner, gen, vmap=cfg.vmap)
    loss = maml_step(run.unet, run.params, support, query, run.alphas_cumprod, cfg.inner, gen, vmap=cfg.vmap, outer=cfg.outer)
    if cfg.outer.joint_weight > 0:  # the auto-decoder's own loss keeps the denoiser intact while the outer loop works
        batch, chars = train_set.pool_batch(gen, cfg.batch_size)
        joint_step(run.unet, run.params, batch.to(device), run.alphas_cumprod, gen, run.table, chars.to(device), cfg.p_null,
                   null=run.null, weight=cfg.outer.joint_weight)
    return loss


def save(cfg: TrainConfig, run: Run, ckpt: Path, it: int, data_record: dict) -> None:
    """The checkpoint (diffusers folder + extra.safetensors + training.json) and the optimizer state."""
    extra = {"context_table": run.table.detach()} if run.table is not None else {}
    extra[PRIOR_MEAN] = run.unet.prior_mean
    saved = run.start_params(cfg)
    if saved is not run.params:  # keep the auto-decoder's trained null context for --resume
        extra["null_context"] = run.params[CONTEXT].detach()
    elif run.null is not None:
        extra["null_context"] = run.null.detach()
    record = {"algo": cfg.algo, "meta_learned": cfg.algo in META_ALGOS, "iterations": it,
              **({"compare_with": cfg.compare_with} if cfg.compare_with else {}),
              "data": {"data_dir": Path(cfg.data_dir).name, **data_record}, "inner": asdict(cfg.inner),
              "train": {k: v for k, v in asdict(cfg).items() if k not in ("generator", "inner")},
              "command": portable_command(sys.argv[1:]), "versions": versions(), "compute": {**run.compute, "train_seconds": round(run.compute["train_seconds"], 3)},
              "validation": run.history, **run.carry, "_tensors": extra}
    record["train"].update(data_dir=Path(cfg.data_dir).name, out=Path(cfg.out).name, init=Path(cfg.init).name if cfg.init else "")
    save_checkpoint(ckpt, run.unet, saved, cfg.generator, record)
    state = _optimizer_state(run.opt, {p: n for n, p in run.named.items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(ckpt / "optimizer.safetensors"))


def portable_command(argv: list[str]) -> str:
    """The command line with absolute paths shortened to their last component (no machine paths in records)."""
    return " ".join(["python -m meta.train", *[Path(a).name if a.startswith("/") else a for a in argv]])


def save_snapshot(cfg: TrainConfig, run: Run, ckpt: Path, it: int) -> None:
    """An fp16 copy of the start after `it` outer iterations (`meta.snapshots` loads it)."""
    tensors = {k: v.detach() for k, v in run.start_params(cfg).items()}
    if run.null is not None:
        tensors["null_context"] = run.null.detach()
    name = write_snapshot(ckpt, it, tensors)
    run.carry["snapshots"] = sorted({*run.carry.get("snapshots", []), name})


def train(cfg: TrainConfig) -> Path:
    """The recipe: 1. data, 2. build or resume, 3. the outer loop (validate, snapshot, save as it goes)."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    cfg = resolve(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    acc = Accelerator(mixed_precision=cfg.mixed_precision)
    out = Path(cfg.out)
    ckpt = out / "checkpoint"
    out.mkdir(parents=True, exist_ok=True)

    # 1. data: meta-training and meta-validation tasks are disjoint (whole alphabets / subgroups)
    train_set, val_set, data_record = load_data(cfg)
    episodic = train_set if cfg.data == "omniglot" else train_set.min_size(cfg.inner.shots + cfg.query_size)
    tasks = TaskSampler(episodic, cfg.inner.shots, cfg.query_size, cfg.rotations, seed=cfg.seed + acc.process_index)
    val = TaskSampler(val_set, cfg.inner.shots, min(cfg.query_size, int(val_set.sizes().min()) - cfg.inner.shots))

    # 2. model: fresh, warm-started (--init) or resumed (--resume)
    run = build(cfg, acc, train_set, ckpt)
    snapshots = snapshot_iters(cfg.snapshots)
    if run.start in snapshots and acc.is_main_process:
        save_snapshot(cfg, run, ckpt, run.start)

    # 3. the outer loop
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + run.start + acc.process_index)
    bar = tqdm(range(run.start, cfg.meta_iters), initial=run.start, total=cfg.meta_iters, disable=not acc.is_local_main_process)
    t0, passes = time.time(), image_passes(cfg)
    for it in bar:
        t_it = time.time()
        run.opt.zero_grad(set_to_none=True)
        with acc.autocast():
            loss = outer_step(cfg, run, tasks, train_set, gen, acc.device)
        if acc.num_processes > 1:  # explicit all-reduce: no DDP hooks around a functional model
            for p in [q for g in run.opt.param_groups for q in g["params"]]:
                if p.grad is not None:
                    p.grad = acc.reduce(p.grad, reduction="mean")
        run.opt.step()
        run.compute["image_passes"] += passes * acc.num_processes
        run.compute["train_seconds"] += time.time() - t_it  # rounded only when written (short iterations add up)
        done = it + 1 - run.start
        bar.set_postfix(loss=f"{loss:.4f}", it_per_s=f"{done / (time.time() - t0):.3f}")
        last = it + 1 == cfg.meta_iters or 0 < cfg.time_budget <= time.time() - t0
        if acc.is_main_process and (((it + 1) % cfg.val_every == 0) or last):
            run.history.append({**validate(run.unet, run.start_params(cfg), val, run.alphas_cumprod, cfg, out, it + 1),
                                "train_loss": loss, "elapsed_s": round(time.time() - t0, 1)})
            acc.print(json.dumps(run.history[-1]))
        if acc.is_main_process and it + 1 in snapshots:
            save_snapshot(cfg, run, ckpt, it + 1)
        if acc.is_main_process and (((it + 1) % cfg.save_every == 0) or last):
            save(cfg, run, ckpt, it + 1, data_record)
        if last:
            break
    if run.start >= cfg.meta_iters:
        acc.print(f"{ckpt} already has {run.start} iterations (--meta-iters {cfg.meta_iters}): nothing to do")
    return ckpt


# ---- CLI: kebab-case flags, one adapter from flags to dataclasses ----

def main(argv=None) -> Path:
    cfg = parse_args(argv, __doc__)
    return train(cfg)


if __name__ == "__main__":
    main()
