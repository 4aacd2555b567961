"""What an evaluation measures and how (`meta.evaluate`): shots, tasks, inner step counts, the
sampler and the judge, and the flags that override each checkpoint's own inner loop or guidance."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .sampling import PREVIEW_SAMPLER, Guidance

DEFAULT_JUDGE = Path(__file__).resolve().parents[1] / "assets" / "judge"
DEFAULT_JUDGES = {"omniglot": DEFAULT_JUDGE, "emoji": DEFAULT_JUDGE.with_name("judge-emoji")}


@dataclass
class EvalConfig:
    shots: int = 5
    steps: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50)
    tasks: int = 50
    seed: int = 0
    samples: int = 10  # samples per task and step count
    ways: int = 20  # characters the judge chooses among (fewer if the alphabet has fewer)
    reference: int = 5  # non-support drawings per character that make its prototype
    sampler: str = PREVIEW_SAMPLER  # the app's sampler, at more steps than its live preview
    sampler_steps: int = 20
    judge: str = str(DEFAULT_JUDGE)
    judge_runs: int = 1000  # runs of the judge's own 20-way one-shot benchmark
    inner_lr: float | None = None  # None: each checkpoint's own inner-loop settings
    adapt: str | None = None
    optimizer: str | None = None
    init_context: str | None = None  # None: the checkpoint's own inner-loop start ("start" | "template")
    guidance: float | None = None  # None: each checkpoint's own sampler guidance; 1: none
    guidance_t_min: int = 0  # with guidance: guide only sampler steps at t >= this
    grid_dir: str = ""  # per-task sample grids (support row, then samples after grid_steps)
    grid_steps: tuple[int, ...] = (0, 5, 20)
    grid_tasks: int = 4
    baselines: str = "all"  # all | none: score the reference inputs (real, copy, shifted copy, templates)

    def validate(self, n_drawings: int) -> EvalConfig:
        if sorted(set(self.steps)) != list(self.steps) or self.steps[0] < 0:
            raise ValueError(f"steps must be distinct, increasing and >= 0, got {self.steps}")
        if self.shots < 1 or self.reference < 1 or self.shots + self.reference >= n_drawings:
            raise ValueError(f"need shots >= 1, reference >= 1, shots + reference < {n_drawings}; got {self.shots}, {self.reference}")
        if self.tasks < 1 or self.samples < 1 or self.ways < 2:
            raise ValueError(f"need tasks >= 1, samples >= 1, ways >= 2; got {self.tasks}, {self.samples}, {self.ways}")
        if self.guidance is not None:
            Guidance.check_scale(self.guidance)
        if self.baselines not in ("all", "none"):
            raise ValueError(f"baselines must be 'all' or 'none', not {self.baselines!r}")
        if self.grid_dir and not set(self.grid_steps) <= set(self.steps):
            raise ValueError(f"grid steps {self.grid_steps} must be among the measured steps {self.steps}")
        return self
