"""The evaluation's tasks: which unseen characters (or emoji subgroups) are adapted to, their support,
query and held-out drawings, the judge's prototypes for each, and how samples of them are scored.

`meta.evaluate` builds them once per run (`make_tasks` for glyphs, `make_icon_tasks` for colour
icons) and scores every checkpoint's samples against the same tasks (`Tasks.score`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import emoji
from .eval_config import EvalConfig
from .judge import Judge, distances, novelty, novelty_scale, recognisability
from .measures import mean_pairwise, nearest_support_distance
from .omniglot import GlyphSet


@dataclass
class Tasks:
    """T tasks and what the judge needs to score samples of them (embeddings computed once)."""

    info: list[dict]  # alphabet, character, ways per task
    support: torch.Tensor  # (T, shots, 1, H, W)
    query: torch.Tensor  # (T, D - shots, 1, H, W): every drawing not in the support
    rest: torch.Tensor  # (T, D - shots - reference, 1, H, W): real drawings neither support nor prototype
    prototypes: list[torch.Tensor]  # per task (ways, E), the target first
    support_emb: torch.Tensor  # (T, shots, E)
    scale: torch.Tensor  # (T,) novelty's unit
    reference: torch.Tensor  # (T, reference, C, H, W): held-out drawings that make the prototype and the units
    diversity_unit: torch.Tensor  # (T,) mean pairwise judge distance among the reference drawings
    copy_unit: torch.Tensor  # (T,) mean aligned nearest-support pixel distance of the reference drawings
    radius: float = float("inf")  # recognisability_within's reach (set by `set_radius`)

    def set_radius(self, judge: Judge, quantile: float = 0.95) -> Tasks:
        """The `quantile` of real held-out drawings' distances to their own character's prototype,
        pooled over all tasks (a few drawings per task are too few for a per-task quantile)."""
        z = judge.embed(self.rest)
        d = torch.cat([distances(z[i], self.prototypes[i][:1]).flatten() for i in range(len(z))])
        self.radius = float(torch.quantile(d, quantile))
        return self

    def subset(self, idx) -> Tasks:
        """The tasks at positions idx (an index array), with the same radius."""
        idx = [int(i) for i in idx]
        if idx == list(range(len(self.info))):
            return self
        pick = lambda x: x[idx]
        return Tasks([self.info[i] for i in idx], pick(self.support), pick(self.query), pick(self.rest),
                     [self.prototypes[i] for i in idx], pick(self.support_emb), pick(self.scale), pick(self.reference),
                     pick(self.diversity_unit), pick(self.copy_unit), self.radius)

    def score(self, judge: Judge, samples: torch.Tensor) -> dict[str, np.ndarray]:
        """samples (T, S, C, H, W) -> per-task measures, each (T,): recognisability,
        recognisability_within, diversity, copy_distance (`meta.measures`) and novelty."""
        z = judge.embed(samples)
        n = range(len(z))
        return {
            "recognisability": np.array([recognisability(z[i], self.prototypes[i]) for i in n]),
            "recognisability_within": np.array([recognisability(z[i], self.prototypes[i], radius=self.radius) for i in n]),
            "diversity": np.array([mean_pairwise(z[i]) / float(self.diversity_unit[i]) for i in n]),
            "copy_distance": np.array([float(nearest_support_distance(samples[i], self.support[i]).mean() / self.copy_unit[i])
                                       for i in n]),
            "novelty": np.array([novelty(z[i], self.support_emb[i], float(self.scale[i])) for i in n]),
        }


def units(reference: torch.Tensor, reference_emb: torch.Tensor, support: torch.Tensor) -> tuple[float, float]:
    """diversity's and copy_distance's units for one task: the held-out reference drawings' mean
    pairwise judge distance, and their mean aligned distance to the nearest support drawing."""
    return mean_pairwise(reference_emb), float(nearest_support_distance(reference, support).mean())


def make_tasks(glyphs: GlyphSet, judge: Judge, cfg: EvalConfig) -> Tasks:
    """Characters and drawers chosen by cfg.seed; distractors from the target's own alphabet."""
    n_char, n_draw = glyphs.images.shape[:2]
    if cfg.tasks > n_char:
        raise ValueError(f"--tasks {cfg.tasks} exceeds the {n_char} characters of this split")
    rng = np.random.default_rng(cfg.seed)
    emb = judge.embed(glyphs.images[:, :, None])  # (C, D, E)
    images = torch.from_numpy(glyphs.images)[:, :, None]
    info, support, query, rest, protos, support_emb, scale, reference, unit = [], [], [], [], [], [], [], [], []
    for c in rng.choice(n_char, cfg.tasks, replace=False):
        order = rng.permutation(n_draw)
        s, r = order[: cfg.shots], order[cfg.shots : cfg.shots + cfg.reference]
        same = np.flatnonzero((glyphs.alphabets == glyphs.alphabets[c]) & (np.arange(n_char) != c))
        others = rng.choice(same, min(cfg.ways - 1, len(same)), replace=False)
        protos.append(torch.stack([emb[c, r].mean(0)] + [emb[o, rng.choice(n_draw, cfg.reference, replace=False)].mean(0) for o in others]))
        support.append(images[c, s]), query.append(images[c, order[cfg.shots :]]), rest.append(images[c, order[cfg.shots + cfg.reference :]])
        support_emb.append(emb[c, s])
        scale.append(novelty_scale(emb[c, r], emb[c, s]))
        reference.append(images[c, r])
        unit.append(units(images[c, r], emb[c, r], images[c, s]))
        info.append({"alphabet": str(glyphs.alphabets[c]), "character": str(glyphs.characters[c]), "ways": len(others) + 1})
    return Tasks(info, torch.stack(support), torch.stack(query), torch.stack(rest), protos, torch.stack(support_emb),
                 torch.tensor(scale), torch.stack(reference), *torch.tensor(unit, dtype=torch.float64).T)


def make_icon_tasks(icons: emoji.IconSet, judge: Judge, cfg: EvalConfig) -> Tasks:
    """Tasks from emoji subgroups (any sizes >= shots + reference + 2): subgroups in a seeded order,
    repeated with fresh draws when cfg.tasks exceeds them; distractors are the other subgroups."""
    sizes = icons.sizes()
    eligible = np.flatnonzero(sizes >= cfg.shots + cfg.reference + 2)
    if len(eligible) < 2:
        raise ValueError(f"need >= 2 subgroups with >= {cfg.shots + cfg.reference + 2} icons, found {len(eligible)}")
    n_query = min(int(sizes[eligible].min()) - cfg.shots, 15)  # the same for every task, so the query stacks
    rng = np.random.default_rng(cfg.seed)
    emb = judge.embed(icons.images)  # (N, E)
    members = {int(k): np.flatnonzero(icons.labels == k) for k in eligible}
    order = rng.permutation(eligible)
    info, support, query, rest, protos, support_emb, scale, reference, unit = [], [], [], [], [], [], [], [], []
    images = torch.from_numpy(icons.images)
    for i in range(cfg.tasks):
        k = int(order[i % len(order)])
        mine = rng.permutation(members[k])
        s, r = mine[: cfg.shots], mine[cfg.shots : cfg.shots + cfg.reference]
        others = rng.choice([o for o in order if o != k], min(cfg.ways - 1, len(order) - 1), replace=False)
        protos.append(torch.stack([emb[r].mean(0)] + [emb[rng.choice(members[int(o)], cfg.reference, replace=False)].mean(0)
                                                      for o in others]))
        support.append(images[s]), query.append(images[mine[cfg.shots : cfg.shots + n_query]])
        rest.append(images[mine[cfg.shots + cfg.reference : cfg.shots + n_query]])
        support_emb.append(emb[s])
        scale.append(novelty_scale(emb[r], emb[s]))
        reference.append(images[r])
        unit.append(units(images[r], emb[r], images[s]))
        group, subgroup = str(icons.names[k]).split("/", 1)
        info.append({"alphabet": group, "character": subgroup.replace(" ", "_"), "subgroup": str(icons.names[k]),
                     "ways": len(others) + 1})
    return Tasks(info, torch.stack(support), torch.stack(query), torch.stack(rest), protos, torch.stack(support_emb),
                 torch.tensor(scale), torch.stack(reference), *torch.tensor(unit, dtype=torch.float64).T)
