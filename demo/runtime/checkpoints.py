"""Find, describe and load the shipped generators.

Every folder under the assets folder that holds a `training.json` is a checkpoint, of one domain
(demo/runtime/domains.py: handwritten glyphs or colour icons); in each domain the one trained with algo
"joint" (plain DDPM on pooled images, no meta-learning) is the default comparison lane (demo/runtime/
pairing.py says which lane runs beside which). The app never trains: it only reads these folders
(safetensors, nothing unpickled), after checking them against the folder's SHA-256 manifest
(demo/runtime/manifest.py) where it has one.

Start-up reads every training.json (milliseconds) and the weights of the first domain's default pair
(a damaged file stops the app with one message); every other checkpoint is loaded on first use, and
each generator's frozen preview network is built on first use or by `Models.warm` in the background.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from meta.emoji import CREDITS
from meta.checkpoint import Generator, save_checkpoint
from meta.inner import InnerConfig
from meta.model import CONTEXT, GeneratorConfig, build_unet, init_params
from meta.sampling import warm_up

from .devices import pick_device
from .domains import DOMAINS, domain_of
from .manifest import how_to_restore, verify_manifest

if TYPE_CHECKING:
    from .scheduler import Scheduler

ASSETS_ENV = "INNER_LOOP_ASSETS"  # where the checkpoints are (default: assets/ beside app.py)
BASELINE_ALGO = "joint"
ALGO_WORDS = {"maml": "meta-learned, MAML", "fomaml": "meta-learned, first-order MAML", "reptile": "meta-learned, Reptile",
              "joint": "ordinary DDPM, not meta-learned", "autodecoder": "auto-decoder (a code per character), not meta-learned"}
ADAPT_WORDS = {"context": "adapts only its context map", "all": "adapts all weights",
               "weights": "adapts the UNet weights"}


def inner_config(record: dict, **overrides) -> InnerConfig:
    """The inner loop a checkpoint was trained with, run first order (the app never differentiates
    through it), with the page's `overrides` (e.g. inner_lr) on top; bad values raise ValueError."""
    return InnerConfig.from_record(record, first_order=True, **overrides)


def describe(name: str, record: dict) -> str:
    """Dropdown label: what the checkpoint adapts and how it was trained, from training.json."""
    inner = inner_config(record)
    algo = ALGO_WORDS.get(record.get("algo", "?"), record.get("algo", "?"))
    iters = record.get("iterations")
    trained = f"{algo}, {iters:,} iterations" if iters else algo
    warm = record.get("warm_start") or {}
    if warm.get("checkpoint"):  # continued from another checkpoint: say from which
        trained += f" from {warm['checkpoint']}" + (f" ({warm['iterations']:,})" if warm.get("iterations") else "")
    adapts = ADAPT_WORDS[inner.adapt]
    if record.get("generator", {}).get("ctx_sketch"):
        adapts = adapts.replace("context map", "sketch context")
    guidance = record.get("sampling", {}).get("guidance", 1.0)
    guided = f"; samples guided x{guidance:g}" if guidance != 1.0 else ""
    return f"{name}: {adapts} ({inner.optimizer}, lr {inner.inner_lr:g}); {trained}{guided}"


def find_checkpoints(folder) -> list[Path]:
    folder = Path(folder)
    return sorted(p.parent for p in folder.glob("*/training.json")) if folder.is_dir() else []


class Generators(Mapping):
    """name -> Generator, each loaded once, on first use (thread-safe); iterating lists the names
    without loading anything. Shared read-only by every session."""

    def __init__(self, paths: dict[str, Path], folder: Path, device: torch.device):
        self.paths, self.folder, self.device = paths, folder, device
        self._loaded: dict[str, Generator] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Generator:
        if name not in self._loaded:
            if name not in self.paths:
                raise KeyError(name)
            with self._lock:
                if name not in self._loaded:
                    self._loaded[name] = self._load(self.paths[name])
        return self._loaded[name]

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def _load(self, path: Path) -> Generator:
        try:
            g = Generator.load(path, self.device)
        except Exception as err:  # noqa: BLE001 -- a damaged file: one message naming it, not a traceback
            raise ValueError(f"checkpoint {path} could not be loaded ({type(err).__name__}: {err}); "
                             f"{how_to_restore(path, self.folder)}") from err
        g.unet.requires_grad_(False)  # the app differentiates w.r.t. parameter dicts, never the module
        return g


@dataclass(frozen=True)
class Pairing:
    """The lanes of a run: the selected checkpoint and the one beside it (None: it runs alone)."""

    meta: str
    baseline: str | None
    same_loop: bool  # the baseline runs the selected checkpoint's inner loop (same architecture)
    named: bool  # the selected checkpoint's training.json names the baseline ("compare_with")


@dataclass
class Models:
    """The shipped generators (loaded on first use) and what their training.json files say."""

    generators: Mapping[str, Generator]  # name -> Generator (a `Generators`: loads on first use)
    labels: dict[str, str]  # name -> dropdown label
    default: str  # the checkpoint selected at start (of the first domain shipped)
    baseline: str | None  # the joint (not meta-learned) checkpoint of that domain, if shipped
    device: torch.device
    workers: int = 1  # threads that run a run's lanes side by side (demo.runtime.engine.Settings.workers)
    scheduler: Scheduler | None = None  # demo.runtime.scheduler.Scheduler: concurrent runs advance together; None: one run at a time
    domains: dict[str, str] = field(default_factory=dict)  # name -> domain ("glyphs", "icons")
    defaults: dict[str, str] = field(default_factory=dict)  # domain -> its default checkpoint (`default`: the first's)
    baselines: dict[str, str | None] = field(default_factory=dict)  # domain -> its joint checkpoint, if shipped
    records: dict[str, dict] = field(default_factory=dict)  # name -> its training.json, read at start
    folder: Path | None = None  # the assets folder (also holds the judges, demo/runtime/likeness.py)

    def __post_init__(self):
        if not self.records:  # built from loaded generators (tests, tools): their records
            self.records = {n: g.record for n, g in self.generators.items()}

    def choices(self, domain: str | None = None) -> list[tuple[str, str]]:
        return [(self.labels[n], n) for n in self.generators if domain is None or self.domain(n) == domain]

    def domain(self, name: str) -> str:
        return self.domains[name]

    def shipped_domains(self) -> list[str]:
        """The domains with at least one checkpoint, glyphs first; the first is the studio's start."""
        return list(self.defaults)

    def pairing(self, checkpoint: str) -> "Pairing":
        """Which lane runs beside `checkpoint`: the checkpoint its training.json names in
        "compare_with" (shipped, same domain), run with `checkpoint`'s own inner loop where the two share
        an architecture; else the domain's joint checkpoint with its own loop; else none."""
        record, domain = self.records[checkpoint], self.domain(checkpoint)
        other = record.get("compare_with")
        if other and other != checkpoint and other in self.records and self.domain(other) == domain:
            same = self.records[other].get("generator") == record.get("generator")
            return Pairing(checkpoint, other, same_loop=same, named=True)
        joint = self.baselines.get(domain)
        return Pairing(checkpoint, joint if joint != checkpoint else None, same_loop=False, named=False)

    def warm(self, names) -> None:
        """Load these generators and build their preview networks now (e.g. in a background thread
        after launch), so that the first Run does not wait for them."""
        for name in names:
            if name:
                g = self.generators[name]
                warm_up(g.unet, g.params)


def read_record(path: Path, folder: Path) -> dict:
    try:
        return json.loads((path / "training.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"checkpoint {path} has an unreadable training.json ({err}); {how_to_restore(path, folder)}") from None


def load_models(folder, device: torch.device | None = None, eager: bool = False) -> Models:
    """Read every checkpoint's training.json and load the first domain's default pair (the rest on
    first use, or all now with `eager`); a missing or damaged file raises ValueError naming it."""
    device, folder = device or pick_device(), Path(folder)
    paths = find_checkpoints(folder)
    if not paths:
        raise ValueError(f"no checkpoints in {folder.resolve()} (folders with training.json); "
                         f"set {ASSETS_ENV} or --assets, or write test ones with `python -m demo.runtime.checkpoints DIR`")
    verify_manifest(folder)
    records = {p.name: read_record(p, folder) for p in paths}
    generators = Generators({p.name: p for p in paths}, folder, device)
    labels = {n: describe(n, r) for n, r in records.items()}
    domains = {n: domain_of(r) for n, r in records.items()}
    defaults, baselines = {}, {}
    for d in DOMAINS:  # per domain: the preferred meta-learned checkpoint, and the joint one beside it
        names = [n for n in records if domains[n] == d]
        if not names:
            continue
        joint = [n for n in names if records[n].get("algo") == BASELINE_ALGO]
        meta = [n for n in names if n not in joint]
        defaults[d] = next((n for n in DOMAINS[d].preferred if n in meta), meta[0] if meta else names[0])
        baselines[d] = joint[0] if joint else None
    first = next(iter(defaults))
    models = Models(generators, labels, defaults[first], baselines[first], device, domains=domains, defaults=defaults,
                    baselines=baselines, records=records, folder=folder)
    for name in list(generators) if eager else (models.default, models.pairing(models.default).baseline):
        if name:
            generators[name]  # load now: a damaged default stops the app at start, not at the first Run
    return models


GLYPH_ALGOS = (("glyphs-cavia", "fomaml", "context", 0.1), ("glyphs-joint", "joint", "all", 1e-4))
ICON_ALGOS = (("emoji-autodecoder", "autodecoder", "context", 0.1), ("emoji-joint", "joint", "all", 1e-4))
UNTRAINED_ICON_DATA = {"dataset": "emoji", "style": "noto", "credit": CREDITS["noto"], "note": "random (untrained)"}


def write_random_checkpoints(folder, config: GeneratorConfig | None = None, algos=GLYPH_ALGOS, data: dict | None = None,
                             extra: dict[str, dict] | None = None):
    """Untrained checkpoints with the shipped layout, for tests and for trying the app without assets.
    With `config.channels == 3` (and `algos=ICON_ALGOS`) they are colour-icon checkpoints; `extra` adds
    fields to a checkpoint's training.json (name -> fields, e.g. {"compare_with": ...})."""
    config = config or GeneratorConfig()
    data = data or (UNTRAINED_ICON_DATA if config.channels == 3 else {"dataset": "random (untrained)"})
    folder = Path(folder)
    for i, (name, algo, adapt, lr) in enumerate(algos):
        unet = build_unet(config, seed=i)
        inner = InnerConfig(adapt=adapt, inner_lr=lr, inner_steps=10, shots=5, t_min=0, t_max=1000)
        record = {"algo": algo, "inner": asdict(inner), "iterations": 0, "data": dict(data), **(extra or {}).get(name, {})}
        save_checkpoint(folder / name, unet, init_params(unet, config), config, record)
    return folder


def write_random_snapshots(ckpt, iterations=(0, 10, 100, 1000), seed: int = 100) -> list[str]:
    """Untrained outer-loop snapshots (meta.snapshots) for a checkpoint written above: each with its own
    random weights and start context, so the rows of a replay differ (for tests and trying the view)."""
    from meta.snapshots import write_snapshot

    config = Generator.load(ckpt).config
    names = []
    for k, it in enumerate(iterations):
        unet = build_unet(config, seed=seed + k)
        tensors = init_params(unet, config)
        if CONTEXT in tensors:
            tensors[CONTEXT] = torch.randn(tensors[CONTEXT].shape, generator=torch.Generator().manual_seed(seed + k)) * 0.5
        names.append(write_snapshot(ckpt, it, tensors))
    return names


if __name__ == "__main__":  # python -m demo.runtime.checkpoints DIR [--small] [--icons] [--snapshots]: untrained checkpoints
    import sys

    small = dict(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=4) if "--small" in sys.argv else {}
    out = write_random_checkpoints(sys.argv[1], GeneratorConfig(**small))
    if "--icons" in sys.argv:
        write_random_checkpoints(out, GeneratorConfig(channels=3, **small), ICON_ALGOS)
    if "--snapshots" in sys.argv:  # outer-loop snapshots of the meta-learned glyph checkpoint
        write_random_snapshots(out / GLYPH_ALGOS[0][0], (0, 10, 100, 1000, 10000))
    print(f"wrote untrained checkpoints to {out}: {[p.name for p in find_checkpoints(out)]}")
