""""Looks like your examples": the live chart's measure, from the shipped judge and nothing else.

The judge (assets/judge for glyphs, assets/judge-emoji for colour icons; meta/judge.py) is a small
ProtoNet: it embeds a 32x32 picture so that two drawings of one character lie close together. There
is no Omniglot at run time, so the measure is built from what the page has, your examples and
distractors drawn by code (meta.glyphs' invented characters, meta.icons' icon families):

- your *prototype* is the mean embedding of your examples; a distractor's is the mean of 5 drawings;
- your *spread* (radius) is the largest distance from one of your examples to the prototype of the
  others (leave-one-out): how far a genuine new drawing of your character may land;
- a sample *looks like your examples* when its nearest prototype is yours (not a distractor's) and
  it lies within your spread of your prototype;
- the *ceiling* is your own examples scored the same way, each against the prototype of the others.

Distractors the judge places within your spread are dropped (to the judge they are your character).
With one example there is no leave-one-out: only the nearest-prototype test applies, and no ceiling.
A copy of one of your examples passes: the measure says "recognisable", not "new".
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from meta.glyphs import EXAMPLE_CHARACTERS, draw as draw_glyph
from meta.icons import icon_arrays
from meta.images import to_glyph
from meta.judge import Judge

from .domains import DOMAINS, ICONS

DISTRACTOR_GLYPHS = range(100, 120)  # invented characters none of the built-in example sets uses
DISTRACTOR_DRAWINGS = 5
assert not set(DISTRACTOR_GLYPHS) & set(EXAMPLE_CHARACTERS.values())
_lock = threading.Lock()


@dataclass(frozen=True)
class Reference:
    """A domain's judge and its distractors' prototypes (D_n, E): built once, shared read-only."""

    judge: Judge
    distractors: torch.Tensor


def distractor_pictures(domain: str) -> np.ndarray:
    """(classes, 5, C, 32, 32) in [-1, 1]: invented glyph characters, or every icon family (members 5-9)."""
    if domain == ICONS:
        return icon_arrays(DISTRACTOR_DRAWINGS, first=DISTRACTOR_DRAWINGS)
    return np.stack([[to_glyph(draw_glyph(c, d)) for d in range(DISTRACTOR_DRAWINGS)]
                     for c in DISTRACTOR_GLYPHS])[:, :, None]


@functools.cache
def _reference(folder: str, domain: str) -> Reference | None:
    path = Path(folder) / DOMAINS[domain].judge
    if not (path / "model.safetensors").exists():
        return None
    judge = Judge.load(path)
    return Reference(judge, judge.embed(distractor_pictures(domain)).mean(1))


def reference(folder, domain: str) -> Reference | None:
    """The domain's shipped judge and distractors (None where the assets folder has no judge for it)."""
    if folder is None:
        return None
    with _lock:  # built once, even when two runs ask at the same moment
        return _reference(str(folder), domain)


def as_images(pictures) -> torch.Tensor:
    """Shots (N, 32, 32) / (N, 3, 32, 32) in [-1, 1], or uint8 samples (N, 32, 32) / (N, 32, 32, 3) -> (N, C, 32, 32)."""
    x = np.asarray(pictures)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 127.5 - 1.0
        x = np.moveaxis(x, -1, 1) if x.ndim == 4 else x[:, None]
    elif x.ndim == 3:
        x = x[:, None]
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


class Likeness:
    """Scores pictures against one set of examples: `score(samples)` and `ceiling`, fractions in [0, 1]."""

    def __init__(self, ref: Reference, shots):
        self.judge = ref.judge
        own = self.judge.embed(as_images(shots))  # (K, E)
        self.prototype = own.mean(0)
        k = len(own)
        if k >= 2:
            others = (own.sum(0, keepdim=True) - own) / (k - 1)  # (K, E): each example's leave-one-out prototype
            self.radius = float((own - others).norm(dim=-1).max())
        else:
            others, self.radius = None, float("inf")
        # a distractor within your spread is, to the judge, your character (with one example: no spread, keep all)
        self.distractors = ref.distractors[(ref.distractors - self.prototype).norm(dim=-1) > self.radius] if k >= 2 \
            else ref.distractors
        self.ceiling = None if others is None else float(np.mean([
            self._looks_like(own[i : i + 1], others[i]) for i in range(k)]))

    def _looks_like(self, z: torch.Tensor, prototype: torch.Tensor) -> float:
        """Fraction of embeddings z (n, E) nearest to `prototype` among it and the distractors, within the radius."""
        own = (z - prototype).norm(dim=-1)
        nearest = own < torch.cdist(z, self.distractors).min(-1).values if len(self.distractors) else torch.ones_like(own, dtype=torch.bool)
        return float((nearest & (own <= self.radius)).float().mean())

    def score(self, samples) -> float:
        """Fraction of `samples` (uint8, as the engine streams them) that look like your examples."""
        return self._looks_like(self.judge.embed(as_images(samples)), self.prototype)


def likeness(folder, domain: str, shots) -> Likeness | None:
    """The measure for these examples, or None where no judge is shipped for the domain."""
    ref = reference(folder, domain)
    return None if ref is None else Likeness(ref, shots)

