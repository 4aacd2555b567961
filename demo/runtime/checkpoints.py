"""Find, describe and load the shipped generators once, when the app starts.

Every folder under the assets folder that holds a `training.json` is a checkpoint, of one domain
(demo/runtime/domains.py: handwritten glyphs or colour icons); in each domain the one trained with algo
"joint" (plain DDPM on pooled images, no meta-learning) is the baseline shown side by side. The
app never trains: it only reads these folders (safetensors, nothing unpickled), after checking them
against the folder's SHA-256 manifest (demo/runtime/manifest.py) where it has one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from meta.emoji import CREDITS
from meta.checkpoint import Generator, save_checkpoint
from meta.inner import InnerConfig
from meta.model import GeneratorConfig, build_unet, init_params
from meta.sampling import warm_up

from .domains import DOMAINS, domain_of
from .manifest import how_to_restore, verify_manifest

if TYPE_CHECKING:
    from .scheduler import Scheduler

ASSETS_ENV = "INNER_LOOP_ASSETS"  # where the checkpoints are (default: assets/ beside app.py)
BASELINE_ALGO = "joint"
ALGO_WORDS = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile",
              "joint": "ordinary (joint) training, not meta-learned", "autodecoder": "auto-decoder (joint + contexts)"}
ADAPT_WORDS = {"context": "adapts only its context map", "all": "adapts all weights",
               "weights": "adapts the UNet weights"}


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def inner_config(record: dict, **overrides) -> InnerConfig:
    """The inner loop a checkpoint was trained with, run first order (the app never differentiates
    through it), with the page's `overrides` (e.g. inner_lr) on top; bad values raise ValueError."""
    return InnerConfig.from_record(record, first_order=True, **overrides)


def describe(name: str, record: dict) -> str:
    """Dropdown label: what the checkpoint adapts and how it was trained, from training.json."""
    inner = inner_config(record)
    algo = ALGO_WORDS.get(record.get("algo", "?"), record.get("algo", "?"))
    iters = record.get("iterations")
    trained = f"{algo}, {iters} iterations" if iters else algo
    adapts = ADAPT_WORDS[inner.adapt]
    if record.get("generator", {}).get("ctx_sketch"):
        adapts = adapts.replace("context map", "sketch context")
    guidance = record.get("sampling", {}).get("guidance", 1.0)
    guided = f"; samples guided x{guidance:g}" if guidance != 1.0 else ""
    return f"{name}: {adapts} ({inner.optimizer}, lr {inner.inner_lr:g}); {trained}{guided}"


def find_checkpoints(folder) -> list[Path]:
    folder = Path(folder)
    return sorted(p.parent for p in folder.glob("*/training.json")) if folder.is_dir() else []


@dataclass
class Models:
    """The generators, loaded once and shared read-only by every session."""

    generators: dict[str, Generator]
    labels: dict[str, str]  # name -> dropdown label
    default: str  # the meta-learned checkpoint selected at start (of the first domain shipped)
    baseline: str | None  # the joint (not meta-learned) checkpoint beside it, if shipped
    device: torch.device
    workers: int = 1  # threads that run a run's lanes side by side (demo.runtime.engine.Settings.workers)
    scheduler: Scheduler | None = None  # demo.runtime.scheduler.Scheduler: concurrent runs advance together; None: one run at a time
    domains: dict[str, str] = field(default_factory=dict)  # name -> domain ("glyphs", "icons")
    defaults: dict[str, str] = field(default_factory=dict)  # domain -> its default checkpoint (`default`: the first's)
    baselines: dict[str, str | None] = field(default_factory=dict)  # domain -> its joint checkpoint, if shipped

    def choices(self, domain: str | None = None) -> list[tuple[str, str]]:
        return [(self.labels[n], n) for n in self.generators if domain is None or self.domain(n) == domain]

    def domain(self, name: str) -> str:
        return self.domains[name]

    def shipped_domains(self) -> list[str]:
        """The domains with at least one checkpoint, glyphs first; the first is the studio's start."""
        return list(self.defaults)


def load_models(folder, device: torch.device | None = None) -> Models:
    device = device or pick_device()
    paths = find_checkpoints(folder)
    if not paths:
        raise ValueError(f"no checkpoints in {Path(folder).resolve()} (folders with training.json); "
                         f"set {ASSETS_ENV} or --assets, or write test ones with `python -m demo.runtime.checkpoints DIR`")
    verify_manifest(folder)
    generators = {}
    for path in paths:
        try:
            g = Generator.load(path, device)
        except Exception as err:  # noqa: BLE001 -- a damaged file: one message naming it, not a traceback
            raise ValueError(f"checkpoint {path} could not be loaded ({type(err).__name__}: {err}); "
                             f"{how_to_restore(path, Path(folder))}") from err
        g.unet.requires_grad_(False)  # the app differentiates w.r.t. parameter dicts, never the module
        warm_up(g.unet, g.params)  # the compiled preview network, built before anyone waits for a frame
        generators[path.name] = g
    labels = {n: describe(n, g.record) for n, g in generators.items()}
    domains = {n: domain_of(g.record) for n, g in generators.items()}
    defaults, baselines = {}, {}
    for d in DOMAINS:  # per domain: the preferred meta-learned checkpoint, and the joint one beside it
        names = [n for n in generators if domains[n] == d]
        if not names:
            continue
        joint = [n for n in names if generators[n].record.get("algo") == BASELINE_ALGO]
        meta = [n for n in names if n not in joint]
        defaults[d] = next((n for n in DOMAINS[d].preferred if n in meta), meta[0] if meta else names[0])
        baselines[d] = joint[0] if joint else None
    first = next(iter(defaults))
    return Models(generators, labels, defaults[first], baselines[first], device, domains=domains, defaults=defaults,
                  baselines=baselines)


GLYPH_ALGOS = (("glyphs-cavia", "fomaml", "context", 0.1), ("glyphs-joint", "joint", "all", 1e-4))
ICON_ALGOS = (("emoji-autodecoder", "autodecoder", "context", 0.1), ("emoji-joint", "joint", "all", 1e-4))
UNTRAINED_ICON_DATA = {"dataset": "emoji", "style": "noto", "credit": CREDITS["noto"], "note": "random (untrained)"}


def write_random_checkpoints(folder, config: GeneratorConfig | None = None, algos=GLYPH_ALGOS, data: dict | None = None):
    """Untrained checkpoints with the shipped layout, for tests and for trying the app without assets.
    With `config.channels == 3` (and `algos=ICON_ALGOS`) they are colour-icon checkpoints."""
    config = config or GeneratorConfig()
    data = data or (UNTRAINED_ICON_DATA if config.channels == 3 else {"dataset": "random (untrained)"})
    folder = Path(folder)
    for i, (name, algo, adapt, lr) in enumerate(algos):
        unet = build_unet(config, seed=i)
        inner = InnerConfig(adapt=adapt, inner_lr=lr, inner_steps=10, shots=5, t_min=0, t_max=1000)
        save_checkpoint(folder / name, unet, init_params(unet, config), config,
                        {"algo": algo, "inner": asdict(inner), "iterations": 0, "data": dict(data)})
    return folder


if __name__ == "__main__":  # python -m demo.runtime.checkpoints DIR [--small] [--icons]: untrained glyph (and icon) checkpoints
    import sys

    small = dict(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=4) if "--small" in sys.argv else {}
    out = write_random_checkpoints(sys.argv[1], GeneratorConfig(**small))
    if "--icons" in sys.argv:
        write_random_checkpoints(out, GeneratorConfig(channels=3, **small), ICON_ALGOS)
    print(f"wrote untrained checkpoints to {out}: {[p.name for p in find_checkpoints(out)]}")
