"""Colour icons: Unicode emoji subgroups as few-shot tasks (Noto Color Emoji, Twemoji).

A *task* is one subgroup of Unicode's emoji-test.txt (e.g. `Food & Drink/food-fruit`); its images are
that subgroup's emoji in one art style. Read from the files `../shared/data/emoji/` holds (and that a
user builds from the official sources): `noto_emoji_32.npz`, `twemoji_32.npz` (32x32 RGBA, labelled by
group and subgroup) and `emoji-test.txt`. Preprocessing, the same for training, evaluation and the
app (`meta.images.to_icon`): straight RGBA composited over `meta.images.BACKGROUND`, values in [-1, 1].

- Skin-tone variants are thinned to one image per base emoji (the unmodified one when it exists), so
  five recolourings of one hand do not dominate `People & Body` tasks; group `Component` (skin-tone
  swatches, hair pieces) is dropped.
- `split_subgroups` holds out whole subgroups for validation, so meta-training and meta-validation
  never share a task; evaluation uses every subgroup a checkpoint was not trained on.
Twemoji graphics are CC BY 4.0 (Twitter, Inc. and contributors): credit them wherever they are shown.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .images import rgba_to_icon

STYLES = {"noto": "noto_emoji_32.npz", "twemoji": "twemoji_32.npz"}
CREDITS = {"noto": "Noto Color Emoji (Google), SIL OFL 1.1 / Apache 2.0",
           "twemoji": "Twemoji (Twitter, Inc. and contributors), CC BY 4.0"}
DROP_GROUPS = ("Component",)


@dataclass
class IconSet:
    """Icons grouped into tasks: `images[labels == k]` are the icons of task `names[k]`."""

    images: np.ndarray  # (N, 3, 32, 32) float32 in [-1, 1]
    labels: np.ndarray  # (N,) int, index into names
    names: np.ndarray  # (K,) str, "Group/subgroup"
    emoji: np.ndarray  # (N,) str, the emoji's CLDR name
    style: str

    def __len__(self) -> int:
        return len(self.names)

    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.names))

    def task_images(self, k: int) -> np.ndarray:
        """The icons of task k, (n_k, 3, 32, 32)."""
        return self.images[self.labels == k]

    def subset(self, names) -> "IconSet":
        """The tasks named (in the given order), relabelled 0..len(names)-1."""
        names = list(names)
        index = {n: i for i, n in enumerate(self.names.tolist())}
        missing = [n for n in names if n not in index]
        if missing:
            raise ValueError(f"subgroups not in this set: {missing}")
        remap = np.full(len(self.names), -1)
        remap[[index[n] for n in names]] = np.arange(len(names))
        keep = remap[self.labels] >= 0
        return IconSet(self.images[keep], remap[self.labels[keep]], np.array(names), self.emoji[keep], self.style)

    def min_size(self, n: int) -> "IconSet":
        """Only the tasks with at least n icons."""
        return self.subset([name for name, size in zip(self.names.tolist(), self.sizes()) if size >= n])

    def task_names(self) -> list[str]:
        return self.names.tolist()

    def pool_batch(self, gen, b: int):
        """b icons drawn uniformly from the pool, and their task labels (joint / auto-decoder training)."""
        import torch

        idx = torch.randint(0, len(self.images), (b,), generator=gen)
        return torch.from_numpy(self.images[idx.numpy()]), torch.from_numpy(self.labels[idx.numpy()])


def find_source(data_dir, style: str) -> Path:
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, not {style!r}")
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data directory {root} does not exist")
    path = root / STYLES[style]
    if not path.exists():
        raise ValueError(f"no {STYLES[style]} in {root} (the emoji data: see meta/emoji.py)")
    return path


def thin_skin_tones(sequence: np.ndarray, base: np.ndarray, skin_tone: np.ndarray) -> np.ndarray:
    """Boolean mask keeping one image per base emoji: the unmodified one, else the first variant."""
    have_plain = set(sequence[~skin_tone].tolist())
    keep = ~skin_tone
    seen = set()
    for i in np.flatnonzero(skin_tone):
        b = str(base[i])
        if b not in have_plain and b not in seen:
            keep[i] = True
            seen.add(b)
    return keep


def load(data_dir: str | os.PathLike, style: str = "noto") -> IconSet:
    """One emoji style as an IconSet of every subgroup (skin tones thinned, `Component` dropped)."""
    path = find_source(data_dir, style)
    with np.load(path, allow_pickle=False) as z:
        need = {"images", "group", "subgroup", "sequence", "base_sequence", "skin_tone", "name"}
        if not need <= set(z.files):
            raise ValueError(f"{path} lacks {sorted(need - set(z.files))}: not an emoji npz of the expected format")
        rgba = z["images"]
        if rgba.ndim != 4 or rgba.shape[1:] != (32, 32, 4) or rgba.dtype != np.uint8:
            raise ValueError(f"{path}: images must be uint8 (N, 32, 32, 4), got {rgba.dtype} {rgba.shape}")
        keep = thin_skin_tones(z["sequence"], z["base_sequence"], z["skin_tone"].astype(bool))
        keep &= ~np.isin(z["group"], DROP_GROUPS)
        task = np.char.add(np.char.add(z["group"][keep].astype(str), "/"), z["subgroup"][keep].astype(str))
        names, labels = np.unique(task, return_inverse=True)
        return IconSet(rgba_to_icon(rgba[keep]), labels.astype(np.int64), names, z["name"][keep].astype(str), style)


def split_subgroups(icons: IconSet, n_val: int, seed: int = 0, min_val_size: int = 12) -> tuple[IconSet, IconSet]:
    """Disjoint (train, validation) tasks: n_val subgroups with >= min_val_size icons, chosen by seed
    from as many different groups as possible, go to validation; the rest train."""
    sizes = icons.sizes()
    eligible = [n for n, s in zip(icons.names.tolist(), sizes) if s >= min_val_size]
    if not 0 < n_val < len(eligible):
        raise ValueError(f"n_val must be in 1..{len(eligible) - 1} (subgroups with >= {min_val_size} icons), got {n_val}")
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[str]] = {}
    for n in rng.permutation(eligible).tolist():
        by_group.setdefault(n.split("/")[0], []).append(n)
    val, groups = [], sorted(by_group)
    while len(val) < n_val:  # round robin over groups
        for g in groups:
            if by_group[g] and len(val) < n_val:
                val.append(by_group[g].pop())
    val = sorted(val)
    return icons.subset([n for n in icons.names.tolist() if n not in val]), icons.subset(val)


def load_split(data_dir, style: str, n_val: int, seed: int = 0) -> tuple[IconSet, IconSet]:
    """(train, validation) of one style with the *same* held-out subgroups for every style: they are
    chosen on the Noto set (`split_subgroups`), so a Twemoji-trained start, a Noto-trained one and the
    judge all leave out the same subgroups."""
    icons = load(data_dir, style)
    reference = icons if style == "noto" else load(data_dir, "noto")
    val = set(split_subgroups(reference, n_val, seed=seed)[1].task_names())
    names = icons.task_names()
    return icons.subset([n for n in names if n not in val]), icons.subset([n for n in names if n in val])


def unseen_subgroups(icons: IconSet, checkpoints) -> IconSet:
    """The subgroups none of the checkpoints (folders or Generators) trained on."""
    seen = set()
    for ckpt in checkpoints:
        if hasattr(ckpt, "record"):  # a loaded meta.checkpoint.Generator
            record = ckpt.record
        elif str(ckpt) == "scratch":
            continue
        else:
            if not (Path(ckpt) / "training.json").exists():
                raise ValueError(f"{ckpt} is not an Inner Loop checkpoint (no training.json)")
            record = json.loads((Path(ckpt) / "training.json").read_text())
        data = record.get("data", {})
        if data.get("dataset") != "emoji":
            raise ValueError(f"{ckpt} was not trained on emoji (its training.json says dataset {data.get('dataset')!r})")
        seen |= set(data.get("train_subgroups", []))
    if not seen:
        raise ValueError("no checkpoint names its training subgroups: cannot tell which subgroups are unseen")
    return icons.subset([n for n in icons.task_names() if n not in seen])
