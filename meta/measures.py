"""Measures that a copy of the support or a repeated template cannot pass, and the reference inputs
("baselines") that show it.

Per task, for a set of samples of the target character:
  - diversity: mean pairwise distance among the samples in the judge's embedding, divided by the
    same among real held-out drawings of the character (1 = as varied as people, a repeated image = 0);
    the "diversity vs recognisability" view of one-shot generation (Boutin et al., NeurIPS 2022);
  - copy_distance: each sample's pixel distance to its nearest support drawing after the best shift
    within +-2 pixels, divided by the same for real held-out drawings (1 = as far from the support as
    another person's drawing; a copy or a shifted copy = 0).
Both units come from the task's *reference* drawings (held out, never scored as samples), so the
real-drawing baseline, scored on the other held-out drawings, lands near 1 without being 1 by
construction.

Baselines, scored like any sample set: `real` (held-out drawings, the ceiling), `copy` (the support
itself), `shifted_copy` (the support moved 1-2 pixels), `template` (the pixelwise majority of the
shots -- the mean for colour icons -- one image repeated). `template_context` (the support's pooled mean written into a sketch
context, zero inner steps) needs a generator and lives in `meta.evaluate`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MAX_SHIFT = 2  # copy_distance aligns within +-MAX_SHIFT pixels


def background(channels: int) -> float:
    """The page's value in [-1, 1]: glyphs are ink (+1) on black (-1), colour icons sit on white (+1)."""
    return -1.0 if channels == 1 else 1.0


def mean_pairwise(z: torch.Tensor) -> float:
    """Mean Euclidean distance over the distinct pairs of the rows of z (N, D); 0 for N < 2."""
    n = len(z)
    if n < 2:
        return 0.0
    d = torch.cdist(z, z)
    return float(d.sum() / (n * (n - 1)))


def shifted(x: torch.Tensor, max_shift: int = MAX_SHIFT, fill: float | None = None) -> torch.Tensor:
    """All integer shifts of images (N, C, H, W) within +-max_shift: (K, N, C, H, W), K = (2s+1)^2,
    the uncovered border filled with the background."""
    s = max_shift
    h, w = x.shape[-2:]
    padded = F.pad(x, (s, s, s, s), value=background(x.shape[-3]) if fill is None else fill)
    return torch.stack([padded[..., dy : dy + h, dx : dx + w] for dy in range(2 * s + 1) for dx in range(2 * s + 1)])


def nearest_support_distance(samples: torch.Tensor, support: torch.Tensor, max_shift: int = MAX_SHIFT) -> torch.Tensor:
    """(S,) root-mean-square pixel distance from each sample (S, C, H, W) to its nearest support
    drawing (K, C, H, W), each sample at its best shift within +-max_shift."""
    moved = shifted(samples.float(), max_shift).flatten(2)  # (shifts, S, C*H*W)
    flat = support.float().flatten(1)  # (K, C*H*W)
    d = torch.cdist(moved, flat.expand(len(moved), *flat.shape))  # (shifts, S, K)
    return d.amin(dim=(0, 2)) / flat.shape[1] ** 0.5


def template(support: torch.Tensor) -> torch.Tensor:
    """One image from the shots (K, C, H, W) -> (C, H, W): for glyphs the pixelwise majority (ink where
    most shots have ink: a clean binary glyph), for colour icons the pixelwise mean."""
    if support.shape[-3] != 1:
        return support.float().mean(0)
    ink = (support > 0).float().mean(0)
    return torch.where(ink > 0.5, 1.0, -1.0)


def shift_copy(support: torch.Tensor, seed: int) -> torch.Tensor:
    """Each support drawing moved by a random (dy, dx) with max(|dy|, |dx|) in {1, 2}."""
    rng = np.random.default_rng(seed)
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if max(abs(dy), abs(dx)) >= 1]
    out = []
    for image in support:
        dy, dx = offsets[rng.integers(len(offsets))]
        out.append(shifted(image[None], 2)[(dy + 2) * 5 + (dx + 2), 0])
    return torch.stack(out)


def template_images(support: torch.Tensor, n: int) -> torch.Tensor:
    """The `template` baseline for T tasks: (T, K, C, H, W) -> (T, n, C, H, W), one image repeated."""
    return torch.stack([template(s).expand(n, *s.shape[1:]) for s in support])


def pooled_mean(support: torch.Tensor, size: int) -> torch.Tensor:
    """The shots' mean drawing average-pooled to size x size: (..., K, C, H, W) -> (..., C, size, size).
    Written into a sketch context it is the `template_context` baseline (zero inner steps)."""
    mean = support.float().mean(-4)
    lead = mean.shape[:-3]
    pooled = F.adaptive_avg_pool2d(mean.reshape(-1, *mean.shape[-3:]), size)
    return pooled.reshape(*lead, *pooled.shape[-3:])
