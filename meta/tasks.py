"""Task distributions: a task is one character; support = `shots` drawings, query = others."""
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
        n_draw = glyphs.images.shape[1]
        if shots < 1 or query_size < 1 or shots + query_size > n_draw:
            raise ValueError(f"need 1 <= shots, 1 <= query_size and shots + query_size <= {n_draw}; got {shots}, {query_size}")
        self.glyphs, self.shots, self.query_size, self.rotations = glyphs, shots, query_size, rotations
        self.rng = np.random.default_rng(seed)

    def sample(self, n_tasks: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """-> support (T, shots, 1, H, W), query (T, Q, 1, H, W), character indices (T,)."""
        images = self.glyphs.images
        chars = self.rng.choice(len(images), n_tasks, replace=n_tasks > len(images))
        support, query = [], []
        for c in chars:
            order = self.rng.permutation(images.shape[1])
            x = images[c][order[: self.shots + self.query_size]]
            if self.rotations:
                x = np.rot90(x, k=int(self.rng.integers(4)), axes=(-2, -1))
            support.append(x[: self.shots])
            query.append(x[self.shots :])
        to = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a)))[:, :, None]
        return to(support), to(query), chars

    def task(self, character: int, drawers: np.ndarray | None = None) -> Task:
        """A fixed task: the character's drawings in `drawers` order (default: 0, 1, 2, ...)."""
        x = self.glyphs.images[character]
        order = np.arange(len(x)) if drawers is None else drawers
        x = torch.from_numpy(np.ascontiguousarray(x[order]))[:, None]
        return Task(x[: self.shots], x[self.shots : self.shots + self.query_size], character)
