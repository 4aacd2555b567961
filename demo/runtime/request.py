"""What a run asks for, checked before it starts: the checkpoint, the settings, the examples' world;
and the lanes it runs. A bad request raises ValueError with a message for the user (the page shows
it as a gr.Error); nothing is clamped or rounded."""
from __future__ import annotations

import math

from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

from .checkpoints import Models
from .domains import DOMAINS, shots_domain
from .engine import Lane, Settings
from .lanes import lane_configs

LIMITS = {"Inner steps": (1, 100), "Samples per grid": (1, 16), "Sampler steps": (1, 50), "Seed": (0, 2**32 - 1)}


def require_checkpoint(models: Models, checkpoint) -> None:
    if checkpoint not in models.generators:
        raise ValueError(f"Unknown checkpoint {checkpoint!r}: pick one of {list(models.generators)}.")


def whole_number(label: str, value) -> int:
    """A setting as an int within LIMITS[label], or a ValueError naming it."""
    lo, hi = LIMITS[label]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and value == int(value) and lo <= value <= hi):
        raise ValueError(f"{label} must be a whole number from {lo} to {hi}, got {value!r}.")
    return int(value)


def run_settings(inner_steps, samples=None, sampler_steps=None, seed=None, workers: int = 1) -> Settings:
    """The run's settings from the page's (or the API's) values, each checked against LIMITS; None
    means the preview's default samples and sampler steps, and seed 0."""
    return Settings(whole_number("Inner steps", inner_steps),
                    whole_number("Samples per grid", PREVIEW_SAMPLES if samples is None else samples),
                    whole_number("Sampler steps", PREVIEW_STEPS if sampler_steps is None else sampler_steps),
                    whole_number("Seed", 0 if seed is None else seed), workers=workers)


def check_domain(models: Models, checkpoint: str, shots) -> None:
    """A glyph shot never reaches an icon generator, nor an icon shot a glyph one."""
    want, have = models.domain(checkpoint), shots_domain(shots)
    if have != want:
        others = [n for n in models.generators if models.domain(n) == have]
        raise ValueError(f"{checkpoint} draws {DOMAINS[want].label.lower()}, but your {len(shots)} examples are "
                         f"{DOMAINS[have].label.lower()}: pick one of {others or 'the other checkpoints'}, or switch the "
                         f"studio to {DOMAINS[want].label} and bring {DOMAINS[want].noun}s.")


def make_lanes(models: Models, checkpoint: str, inner_lr, baseline: bool) -> dict[str, Lane]:
    """The selected generator and, with `baseline`, the lane beside it (`Models.pairing`), each with the
    inner loop `demo.runtime.lanes.lane_configs` gives it (`inner_lr`, when given, overrides the selected
    one's, and the baseline's too where both run the same loop)."""
    require_checkpoint(models, checkpoint)
    pair = models.pairing(checkpoint)
    try:
        configs = lane_configs(models, pair, None if inner_lr is None else float(inner_lr))
    except ValueError as err:
        raise ValueError(f"Bad inner-loop setting: {err}") from None
    names = {"meta": pair.meta, "baseline": pair.baseline if baseline else None}
    return {lane: Lane(models.generators[name], configs[lane]) for lane, name in names.items() if name}
