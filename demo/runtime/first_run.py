"""Pre-computed runs of the built-in example sets: what the page plays on arrival, before anyone presses Run.

`python -m demo.tools.precompute --assets assets` runs each built-in set through the live engine
(the default checkpoint beside its baseline, the page's default settings) and writes the streamed
frames as uint8 arrays, one small .npz per set, into `<assets>/first-run/`, with an index.json. Each
entry is keyed by checkpoint name + example set + a *fingerprint*: a SHA-256 of every lane's weights,
tensors and inner/sampler settings, the set's shots and the run's settings. The page recomputes the
fingerprint from what it loaded and plays only an entry that matches, so frames made with other
weights (or other example drawings) are never shown.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

from .checkpoints import Models
from .engine import Frame, Lane, Settings, adapt_live
from .request import make_lanes
from .shots import example_sets, shot_from_image

FOLDER, INDEX = "first-run", "index.json"
DEFAULT = Settings(inner_steps=20, samples=PREVIEW_SAMPLES, sampler_steps=PREVIEW_STEPS, seed=0)  # the page's defaults


def set_shots(domain: str, name: str) -> list[np.ndarray]:
    return [shot_from_image(im, name, domain) for im in example_sets(domain)[name]]


def _tensor_bytes(h, name: str, t: torch.Tensor) -> None:
    h.update(name.encode())
    h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())


def fingerprint(lanes: dict[str, Lane], shots, settings: Settings) -> str:
    """SHA-256 of what a run's frames depend on (the number of inner steps aside: a shorter run's frames
    are a longer one's first frames)."""
    h = hashlib.sha256()
    for name, lane in lanes.items():
        g = lane.generator
        h.update(name.encode())
        for k in sorted(g.params):
            _tensor_bytes(h, k, g.params[k])
        for k, t in sorted(g.record.get("_tensors", {}).items()):
            _tensor_bytes(h, k, t)
        h.update(json.dumps([asdict(lane.cfg), g.record.get("sampling", {}), asdict(g.config)], sort_keys=True).encode())
    h.update(np.stack(shots).astype(np.float32).tobytes())
    h.update(json.dumps([settings.samples, settings.sampler_steps, settings.seed]).encode())
    return h.hexdigest()


def _file_name(checkpoint: str, name: str) -> str:
    return f"{checkpoint}--{''.join(c if c.isalnum() else '-' for c in name.lower())}.npz"


def write_first_run(models: Models, folder, checkpoint: str, name: str, settings: Settings = DEFAULT) -> dict:
    """Run one built-in set live and save its frames; -> its index entry."""
    domain = models.domain(checkpoint)
    shots, lanes = set_shots(domain, name), make_lanes(models, checkpoint, None, True)
    frames = list(adapt_live(lanes, shots, settings))
    arrays = {}
    for lane in lanes:
        arrays[f"samples/{lane}"] = np.stack([f.samples[lane] for f in frames])  # (T, n, 32, 32[, 3]) uint8
        arrays[f"support_loss/{lane}"] = np.array([f.support_loss.get(lane, np.nan) for f in frames], np.float32)
        arrays[f"query_loss/{lane}"] = np.array([f.query_loss.get(lane, np.nan) for f in frames], np.float32)
    folder = Path(folder) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    file = _file_name(checkpoint, name)
    np.savez_compressed(folder / file, **arrays)
    return {"checkpoint": checkpoint, "example_set": name, "domain": domain, "fingerprint": fingerprint(lanes, shots, settings),
            "file": file, "lanes": {k: lane.generator.record.get("algo", "?") for k, lane in lanes.items()},
            "baseline": models.baselines.get(domain) if "baseline" in lanes else None, "steps": frames[-1].step, "samples": settings.samples,
            "sampler_steps": settings.sampler_steps, "seed": settings.seed}


def write_index(folder, entries: list[dict]) -> Path:
    path = Path(folder) / FOLDER / INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"entries": entries}, indent=1))
    return path


@dataclass
class Stored:
    entry: dict
    frames: list[Frame]


class FirstRuns:
    """The shipped frames, checked against the loaded weights before they are played; shared
    read-only by every session (made once by the page)."""

    def __init__(self, folder, models: Models):
        self.folder, self.models = Path(folder) / FOLDER, models
        try:
            self.entries = json.loads((self.folder / INDEX).read_text())["entries"]
        except (OSError, ValueError, KeyError, TypeError):  # none shipped (or unreadable): nothing to play
            self.entries = []
        self._prints: dict = {}

    def expected(self, checkpoint: str, name: str, settings: Settings) -> str | None:
        """The fingerprint a run of this set would have now (None where the set or checkpoint is unknown)."""
        key = (checkpoint, name, settings.samples, settings.sampler_steps, settings.seed)
        if key not in self._prints:
            domain = self.models.domains.get(checkpoint)
            if domain is None or name not in example_sets(domain):
                return None
            lanes = make_lanes(self.models, checkpoint, None, True)
            self._prints[key] = fingerprint(lanes, set_shots(domain, name), settings)
        return self._prints[key]

    def find(self, checkpoint: str, name: str, settings: Settings) -> Stored | None:
        """The stored run of `name` on `checkpoint` that matches today's weights and `settings` (its
        first settings.inner_steps + 1 frames), or None."""
        same = [e for e in self.entries if e.get("checkpoint") == checkpoint and e.get("example_set") == name]
        want = self.expected(checkpoint, name, settings) if same else None
        entry = next((e for e in same if e.get("fingerprint") == want and e.get("steps", -1) >= settings.inner_steps), None)
        if entry is None:
            return None
        try:
            with np.load(self.folder / entry["file"]) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError):
            return None
        lanes = [k.split("/", 1)[1] for k in arrays if k.startswith("samples/")]
        frames = []
        for t in range(settings.inner_steps + 1):
            loss = lambda kind: {n: float(arrays[f"{kind}/{n}"][t]) for n in lanes if np.isfinite(arrays[f"{kind}/{n}"][t])}
            frames.append(Frame(t, {n: arrays[f"samples/{n}"][t] for n in lanes}, loss("support_loss"), loss("query_loss"), 0.0))
        return Stored(entry, frames)

    def stale(self) -> list[str]:
        """Entries whose fingerprint no longer matches the loaded weights (for a start-up warning)."""
        out = []
        for e in self.entries:
            s = Settings(0, e.get("samples", 0), e.get("sampler_steps", 0), e.get("seed", 0))
            if e.get("checkpoint") in self.models.generators and e.get("fingerprint") != self.expected(e["checkpoint"], e.get("example_set"), s):
                out.append(f"{e['checkpoint']} / {e.get('example_set')}")
        return out
