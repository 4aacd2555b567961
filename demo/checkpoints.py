"""Find, describe and load the shipped generators once, when the app starts.

Every folder under the assets folder that holds a `training.json` is a checkpoint; the one trained
with algo "joint" (plain DDPM on pooled images, no meta-learning) is the baseline shown side by
side. The app never trains: it only reads these folders (safetensors, nothing unpickled), after
checking them against the folder's SHA-256 manifest (demo/manifest.py) where it has one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from meta.inner import InnerConfig
from meta.model import Generator, GeneratorConfig, build_unet, init_params, save_checkpoint

from .manifest import how_to_restore, verify_manifest

ASSETS_ENV = "INNER_LOOP_ASSETS"  # where the checkpoints are (default: assets/ beside app.py)
BASELINE_ALGO = "joint"
# the default, in this order: the variant that measurably adapts visibly first (README "Results")
PREFERRED = ("glyphs-cavia", "glyphs-autodecoder", "glyphs-reptile", "glyphs-fomaml")
ALGO_WORDS = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile",
              "joint": "ordinary (joint) training, not meta-learned", "autodecoder": "auto-decoder (joint + contexts)"}
ADAPT_WORDS = {"context": "adapts only its context map", "all": "adapts all weights",
               "weights": "adapts the UNet weights"}


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def inner_config(record: dict) -> InnerConfig:
    """The inner loop a checkpoint was trained with (always run first order in the app)."""
    return InnerConfig(**{**record.get("inner", {}), "first_order": True}).validate()


def describe(name: str, record: dict) -> str:
    """Dropdown label: what the checkpoint adapts and how it was trained, from training.json."""
    inner = inner_config(record)
    algo = ALGO_WORDS.get(record.get("algo", "?"), record.get("algo", "?"))
    iters = record.get("iterations")
    trained = f"{algo}, {iters} iterations" if iters else algo
    adapts = ADAPT_WORDS[inner.adapt]
    if record.get("generator", {}).get("ctx_sketch"):
        adapts = adapts.replace("context map", "sketch context")
    return f"{name}: {adapts} ({inner.optimizer}, lr {inner.inner_lr:g}); {trained}"


def find_checkpoints(folder) -> list[Path]:
    folder = Path(folder)
    return sorted(p.parent for p in folder.glob("*/training.json")) if folder.is_dir() else []


@dataclass
class Models:
    """The generators, loaded once and shared read-only by every session."""

    generators: dict[str, Generator]
    labels: dict[str, str]  # name -> dropdown label
    default: str  # the meta-learned checkpoint selected at start
    baseline: str | None  # the joint (not meta-learned) checkpoint, if shipped
    device: torch.device
    workers: int = 1  # threads that run a run's lanes side by side (demo.engine.Settings.workers)

    def choices(self) -> list[tuple[str, str]]:
        return [(self.labels[n], n) for n in self.generators]


def load_models(folder, device: torch.device | None = None) -> Models:
    device = device or pick_device()
    paths = find_checkpoints(folder)
    if not paths:
        raise ValueError(f"no checkpoints in {Path(folder).resolve()} (folders with training.json); "
                         f"set {ASSETS_ENV} or --assets, or write test ones with `python -m demo.checkpoints DIR`")
    verify_manifest(folder)
    generators = {}
    for path in paths:
        try:
            g = Generator.load(path, device)
        except Exception as err:  # noqa: BLE001 -- a damaged file: one message naming it, not a traceback
            raise ValueError(f"checkpoint {path} could not be loaded ({type(err).__name__}: {err}); "
                             f"{how_to_restore(path, Path(folder))}") from err
        g.unet.requires_grad_(False)  # the app differentiates w.r.t. parameter dicts, never the module
        generators[path.name] = g
    labels = {n: describe(n, g.record) for n, g in generators.items()}
    baselines = [n for n, g in generators.items() if g.record.get("algo") == BASELINE_ALGO]
    meta = [n for n in generators if n not in baselines]
    default = next((n for n in PREFERRED if n in meta), meta[0] if meta else next(iter(generators)))
    return Models(generators, labels, default, baselines[0] if baselines else None, device)


def write_random_checkpoints(folder, config: GeneratorConfig | None = None,
                             algos=(("glyphs-cavia", "fomaml", "context", 0.1), ("glyphs-joint", "joint", "all", 1e-4))):
    """Untrained checkpoints with the shipped layout, for tests and for trying the app without assets."""
    config = config or GeneratorConfig()
    folder = Path(folder)
    for i, (name, algo, adapt, lr) in enumerate(algos):
        unet = build_unet(config, seed=i)
        inner = InnerConfig(adapt=adapt, inner_lr=lr, inner_steps=10, shots=5, t_min=0, t_max=1000)
        save_checkpoint(folder / name, unet, init_params(unet, config), config,
                        {"algo": algo, "inner": asdict(inner), "iterations": 0, "data": {"dataset": "random (untrained)"}})
    return folder


if __name__ == "__main__":  # python -m demo.checkpoints DIR [--small]
    import sys

    small = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=4)
    out = write_random_checkpoints(sys.argv[1], small if "--small" in sys.argv else None)
    print(f"wrote untrained checkpoints to {out}: {[p.name for p in find_checkpoints(out)]}")
