"""Task distributions: a task is one character (or one emoji subgroup); support = `shots` images,
query = others. Works with any set exposing `__len__`, `sizes()` and `task_images(k)`: a
`meta.omniglot.GlyphSet` (every character has 20 drawings) or a `meta.emoji.IconSet`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .omniglot import GlyphSet


@dataclass
class Task:
    support: torch.Tensor  # (shots, C, H, W)
    query: torch.Tensor  # (query_size, C, H, W)
    index: int  # the character's row in its GlyphSet


class TaskSampler:
    """Draws meta-batches of tasks from a GlyphSet (optionally with 90-degree rotations as new
    characters, the usual Omniglot augmentation)."""

    def __init__(self, glyphs: GlyphSet, shots: int, query_size: int, rotations: bool = False, seed: int = 0):
        n_draw = int(glyphs.sizes().min())
        if shots < 1 or query_size < 1 or shots + query_size > n_draw:
            raise ValueError(f"need 1 <= shots, 1 <= query_size and shots + query_size <= {n_draw}; got {shots}, {query_size}")
        self.glyphs, self.shots, self.query_size, self.rotations = glyphs, shots, query_size, rotations
        self.rng = np.random.default_rng(seed)

    def sample(self, n_tasks: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """-> support (T, shots, C, H, W), query (T, Q, C, H, W), task indices (T,)."""
        n = len(self.glyphs)
        chars = self.rng.choice(n, n_tasks, replace=n_tasks > n)
        support, query = [], []
        for c in chars:
            images = self.glyphs.task_images(c)
            order = self.rng.permutation(len(images))
            x = images[order[: self.shots + self.query_size]]
            if self.rotations:
                x = np.rot90(x, k=int(self.rng.integers(4)), axes=(-2, -1))
            support.append(x[: self.shots])
            query.append(x[self.shots :])
        to = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a)))
        return to(support), to(query), chars

    def task(self, character: int, drawers: np.ndarray | None = None) -> Task:
        """A fixed task: the character's drawings in `drawers` order (default: 0, 1, 2, ...)."""
        x = self.glyphs.task_images(character)
        order = np.arange(len(x)) if drawers is None else drawers
        x = torch.from_numpy(np.ascontiguousarray(x[order]))
        return Task(x[: self.shots], x[self.shots : self.shots + self.query_size], character)
