"""Pre-computed runs of the built-in example sets: what the page plays on arrival, before anyone presses Run.

`python -m demo.tools.precompute --assets assets` runs each built-in set through the live engine
(the default checkpoint beside its baseline, the page's default settings) and writes the streamed
frames as uint8 arrays, one small .npz per set, into `<assets>/first-run/`, with an index.json, and
where the domain's judge is shipped each frame's live-chart score (demo/runtime/likeness.py) and the
set's ceiling, stamped with the judge's own SHA-256 (a score made by another judge is not shown). Each
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
from .domains import DOMAINS
from .engine import Frame, Lane, Settings, adapt_live
from .lanes import names as lane_names
from .likeness import likeness
from .manifest import sha256
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


def judge_print(folder, domain: str) -> str | None:
    """SHA-256 of the domain's shipped judge weights (None where none is shipped)."""
    path = Path(folder) / DOMAINS[domain].judge / "model.safetensors"
    return sha256(path) if path.is_file() else None


def _file_name(checkpoint: str, name: str) -> str:
    return f"{checkpoint}--{''.join(c if c.isalnum() else '-' for c in name.lower())}.npz"


def write_first_run(models: Models, folder, checkpoint: str, name: str, settings: Settings = DEFAULT) -> dict:
    """Run one built-in set live and save its frames; -> its index entry."""
    domain = models.domain(checkpoint)
    shots, lanes = set_shots(domain, name), make_lanes(models, checkpoint, None, True)
    measure = likeness(models.folder, domain, shots)  # the live chart's measure, as a live run scores it
    frames = list(adapt_live(lanes, shots, settings, score=measure.score if measure else None))
    arrays = {}
    for lane in lanes:
        arrays[f"samples/{lane}"] = np.stack([f.samples[lane] for f in frames])  # (T, n, 32, 32[, 3]) uint8
        for kind in ("support_loss", "query_loss", "likeness"):
            arrays[f"{kind}/{lane}"] = np.array([getattr(f, kind).get(lane, np.nan) for f in frames], np.float32)
    folder = Path(folder) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    file = _file_name(checkpoint, name)
    np.savez_compressed(folder / file, **arrays)
    return {"checkpoint": checkpoint, "example_set": name, "domain": domain, "fingerprint": fingerprint(lanes, shots, settings),
            "file": file, "lanes": {k: lane.generator.record.get("algo", "?") for k, lane in lanes.items()},
            "baseline": models.pairing(checkpoint).baseline if "baseline" in lanes else None, "steps": frames[-1].step,
            "samples": settings.samples, "sampler_steps": settings.sampler_steps, "seed": settings.seed,
            "judge": judge_print(models.folder, domain) if measure else None, "ceiling": measure.ceiling if measure else None}


def write_index(folder, entries: list[dict]) -> Path:
    path = Path(folder) / FOLDER / INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"entries": entries}, indent=1))
    return path


@dataclass
class Stored:
    entry: dict
    frames: list[Frame]  # each with its live-chart score where one was stored with today's judge
    names: dict[str, str]  # lane -> its short name (demo/runtime/lanes.py)
    ceiling: float | None  # the set's own examples scored the same way (None: no score, or one example)


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
        # a score is shown only where it was made by the judge shipped today (older entries have none)
        scored = entry.get("judge") is not None and entry["judge"] == judge_print(self.models.folder or self.folder.parent,
                                                                                  self.models.domain(checkpoint))

        def values(kind, t):
            if f"{kind}/{lanes[0]}" not in arrays or (kind == "likeness" and not scored):
                return {}
            return {n: float(arrays[f"{kind}/{n}"][t]) for n in lanes if np.isfinite(arrays[f"{kind}/{n}"][t])}

        frames = [Frame(t, {n: arrays[f"samples/{n}"][t] for n in lanes}, values("support_loss", t), values("query_loss", t),
                        0.0, likeness=values("likeness", t)) for t in range(settings.inner_steps + 1)]
        names = lane_names({k: v for k, v in make_lanes(self.models, checkpoint, None, True).items() if k in lanes})
        return Stored(entry, frames, names, entry.get("ceiling") if scored else None)

    def stale(self) -> list[str]:
        """Entries whose fingerprint no longer matches the loaded weights (for a start-up warning)."""
        out = []
        for e in self.entries:
            s = Settings(0, e.get("samples", 0), e.get("sampler_steps", 0), e.get("seed", 0))
            if e.get("checkpoint") in self.models.generators and e.get("fingerprint") != self.expected(e["checkpoint"], e.get("example_set"), s):
                out.append(f"{e['checkpoint']} / {e.get('example_set')}")
        return out
