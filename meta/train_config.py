"""`meta.train`'s settings: the TrainConfig, each algorithm's defaults, the checks of `resolve`, and the
command line that builds them (a flag per dataclass field), as `meta.eval_config` is for `meta.evaluate`."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from .algorithms import ALGOS, OuterConfig
from .inner import InnerConfig
from .model import GeneratorConfig


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
    batch_size: int = 64  # images per iteration for joint / autodecoder (and the --joint-weight term)
    meta_lr: float | None = None  # None: the algorithm's default (ALGO_DEFAULTS)
    outer_optimizer: str | None = None  # adam | sgd (sgd with reptile = interpolation theta += meta_lr (theta' - theta))
    snapshots: str = ""  # comma-separated outer iterations (0 = the start) at which to keep an fp16 copy of the start
    # the checkpoint the studio shows beside this one (training.json "compare_with"): the same network trained
    # without the outer loop, run with this checkpoint's inner loop
    compare_with: str = ""
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
    outer: OuterConfig = field(default_factory=OuterConfig)


# Each algorithm's defaults for the settings left unset on the command line, so that
# `python -m meta.train --algo X --data-dir DIR --out OUT` works for every X.
ALGO_DEFAULTS = {
    "reptile": {"adapt": "all", "inner_lr": 3e-4, "meta_lr": 0.1, "outer_optimizer": "sgd"},
    "fomaml": {"adapt": "context", "inner_lr": 0.1, "meta_lr": 1e-3, "outer_optimizer": "adam"},
    "maml": {"adapt": "context", "inner_lr": 0.1, "meta_lr": 1e-3, "outer_optimizer": "adam"},
    "joint": {"adapt": "all", "inner_lr": 3e-4, "meta_lr": 5e-4, "outer_optimizer": "adam"},
    "autodecoder": {"adapt": "context", "inner_lr": 0.3, "meta_lr": 2e-4, "outer_optimizer": "adam"},
}


def resolve(cfg: TrainConfig, given: set[str] | None = None) -> TrainConfig:
    """Fill the algorithm's defaults into unset settings and refuse impossible combinations.

    given: the inner-loop settings set on the command line; the others (adapt, inner_lr) take the
    algorithm's defaults. None (the Python API): the InnerConfig is taken as it is. first_order
    follows the algorithm: fomaml is first order, maml second order."""
    if cfg.algo not in ALGOS:
        raise ValueError(f"algo must be one of {ALGOS}, not {cfg.algo!r}")
    d = ALGO_DEFAULTS[cfg.algo]
    inner = asdict(cfg.inner)
    if given is not None:
        inner.update({k: d[k] for k in ("adapt", "inner_lr") if k not in given})
        if "first_order" in given and cfg.algo in ("maml", "fomaml") and inner["first_order"] != (cfg.algo == "fomaml"):
            other = "fomaml" if cfg.algo == "maml" else "maml"
            raise ValueError(f"--algo {cfg.algo} is {'second' if cfg.algo == 'maml' else 'first'} order by definition; "
                             f"for the other one use --algo {other}")
    inner["first_order"] = cfg.algo != "maml"
    cfg = replace(cfg, inner=InnerConfig(**inner).validate(), outer=cfg.outer.validate(),
                  meta_lr=d["meta_lr"] if cfg.meta_lr is None else cfg.meta_lr,
                  outer_optimizer=d["outer_optimizer"] if cfg.outer_optimizer is None else cfg.outer_optimizer)
    if cfg.outer_optimizer not in ("adam", "sgd"):
        raise ValueError(f"outer_optimizer must be 'adam' or 'sgd', not {cfg.outer_optimizer!r}")
    if not (cfg.meta_lr > 0 and np.isfinite(cfg.meta_lr)):
        raise ValueError(f"meta_lr must be a positive number, got {cfg.meta_lr}")
    if cfg.start_context not in ("null", "mean"):
        raise ValueError(f"start_context must be 'null' or 'mean', not {cfg.start_context!r}")
    if cfg.algo == "reptile" and cfg.inner.adapt == "context":
        raise ValueError("reptile adapts weights (--adapt all or weights); for context adaptation use --algo fomaml or maml")
    if cfg.outer != OuterConfig() and cfg.algo not in ("fomaml", "maml"):
        raise ValueError(f"the --outer-* settings shape (FO)MAML's outer loss; --algo {cfg.algo} has none")
    if not cfg.init and not cfg.resume:
        g = cfg.generator
        if (cfg.algo == "autodecoder" or cfg.inner.adapt == "context" or cfg.outer.joint_weight > 0) and not g.ctx_channels:
            raise ValueError(f"--algo {cfg.algo} with --adapt {cfg.inner.adapt} needs a context map: set --ctx-channels > 0")
        if cfg.inner.init_context == "template" and not (g.ctx_sketch and g.ctx_channels):
            raise ValueError("--init-context template needs a sketch context: --ctx-sketch and --ctx-channels > 0")
    snapshot_iters(cfg.snapshots)
    return cfg


def snapshot_iters(text: str) -> list[int]:
    """'0,10,100' -> [0, 10, 100] (distinct, increasing, >= 0)."""
    if not text:
        return []
    try:
        iters = [int(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"snapshots must be comma-separated iterations like 0,10,100, got {text!r}") from None
    if iters != sorted(set(iters)) or iters[0] < 0:
        raise ValueError(f"snapshots must be distinct, increasing and >= 0, got {text!r}")
    return iters



TYPES = {"meta_lr": float, "outer_optimizer": str}  # fields whose default (None) does not tell their type


def _add_fields(parser, cls, skip=(), prefix="", suppress=False):
    """A kebab-case flag per dataclass field. suppress: unset flags stay out of the parsed args (so the
    caller can tell which were given)."""
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        default = argparse.SUPPRESS if suppress else f.default
        kw = {"dest": prefix.replace("-", "_") + f.name, "default": default}
        if suppress:
            kw["help"] = (f"(default: the algorithm's, {', '.join(f'{a} {d[f.name]}' for a, d in ALGO_DEFAULTS.items())})"
                          if f.name in ALGO_DEFAULTS["joint"] else "(default: maml second order, the others first order)"
                          if f.name == "first_order" else f"(default: {f.default})")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif isinstance(f.default, tuple):
            parser.add_argument(flag, type=int, nargs="+", **{**kw, "default": list(f.default) if not suppress else default})
        else:
            parser.add_argument(flag, type=TYPES.get(f.name, type(f.default)), **kw)


def parse_args(argv=None, description: str = "") -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m meta.train", description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_fields(parser, TrainConfig, skip=("generator", "inner", "outer"))
    _add_fields(parser, GeneratorConfig)
    _add_fields(parser, InnerConfig, suppress=True)
    _add_fields(parser, OuterConfig, skip=("joint_weight",), prefix="outer-")
    parser.add_argument("--joint-weight", type=float, default=OuterConfig.joint_weight, dest="outer_joint_weight",
                        help="(FO)MAML: weight of the auto-decoder's own denoising loss (per-character contexts, "
                             "--batch-size images) mixed into the outer objective")
    args = vars(parser.parse_args(argv))
    pick = lambda cls, prefix="": {f.name: args[prefix + f.name] for f in fields(cls)}
    gen = pick(GeneratorConfig)
    gen["block_out_channels"] = tuple(gen["block_out_channels"])
    if not args["data_dir"]:
        parser.error("--data-dir is required (omniglot: a folder holding images_background.zip or images_background/; "
                     "emoji: a folder holding noto_emoji_32.npz / twemoji_32.npz)")
    given = {f.name for f in fields(InnerConfig) if f.name in args}
    inner = InnerConfig(**{f.name: args.get(f.name, f.default) for f in fields(InnerConfig)})
    train_args = {f.name: args[f.name] for f in fields(TrainConfig) if f.name not in ("generator", "inner", "outer")}
    cfg = TrainConfig(**train_args, generator=GeneratorConfig(**gen), inner=inner, outer=OuterConfig(**pick(OuterConfig, "outer_")))
    try:
        return resolve(cfg, given)
    except ValueError as err:
        parser.error(str(err))
