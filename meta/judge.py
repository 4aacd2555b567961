"""The judge: a prototypical network (Snell et al. 2017) that scores generated glyphs.

It embeds a 32x32 glyph with 4 blocks of conv3x3-BN-ReLU-maxpool; two glyphs of one character lie
close together. Trained only on the 30 background alphabets, so it never saw the evaluation ones.
Training episodes mimic the test: one alphabet's characters (up to 60, each 90-degree rotation a new
class), one-shot, every drawing taking a turn as the support. It measures:
  - one_shot_accuracy: the classic Omniglot benchmark (Lake et al. 2015), 20-way within an alphabet;
  - recognisability: the fraction of samples whose nearest prototype is the target character's;
  - novelty: distance from a sample to its nearest support drawing, in units of the same distance
    for a real new drawing of the character (1 = as new as another person's drawing, 0 = a copy).
Distances are Euclidean in the embedding space (ProtoNets' squared distance orders the same way).
`python -m meta.judge --data-dir DIR --out assets/judge` trains it (one CPU thread, ~8 CPU minutes).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from . import omniglot
from .omniglot import GlyphSet


class Judge(nn.Module):
    """conv3x3-BN-ReLU-maxpool x blocks; a (N, C, 32, 32) image in [-1, 1] -> a (N, D) embedding
    (C = 1 for glyphs, 3 for colour icons)."""

    def __init__(self, channels: int = 32, blocks: int = 4, in_channels: int = 1):
        super().__init__()
        self.channels, self.blocks, self.in_channels = channels, blocks, in_channels
        layers, c_in = [], in_channels
        for _ in range(blocks):
            layers += [nn.Conv2d(c_in, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = channels
        self.net = nn.Sequential(*layers, nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def embed(self, x, batch_size: int = 1024) -> torch.Tensor:
        """(..., C, 32, 32) in [-1, 1] (tensor or array) -> (..., D), in eval mode."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x).float()
        shape = (self.in_channels, 32, 32)
        if x.shape[-3:] != shape:
            raise ValueError(f"this judge embeds images shaped (..., {', '.join(map(str, shape))}), got {tuple(x.shape)}")
        lead, flat = x.shape[:-3], x.reshape(-1, *shape)
        self.eval()
        out = torch.cat([self(flat[i : i + batch_size]) for i in range(0, len(flat), batch_size)])
        return out.reshape(*lead, -1)

    def save(self, path, info: dict) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path / "model.safetensors"))
        (path / "judge.json").write_text(json.dumps({"channels": self.channels, "blocks": self.blocks,
                                                     "in_channels": self.in_channels, **info}, indent=2))
        return path

    @classmethod
    def load(cls, path) -> Judge:
        path = Path(path)
        if not (path / "model.safetensors").exists() or not (path / "judge.json").exists():
            raise ValueError(f"{path} is not a judge folder (needs model.safetensors and judge.json; train one with "
                             f"python -m meta.judge --data-dir DIR --out {path})")
        info = json.loads((path / "judge.json").read_text())
        judge = cls(info["channels"], info["blocks"], info.get("in_channels", 1))
        judge.load_state_dict(load_file(str(path / "model.safetensors")))
        return judge.eval()


# ---- the measures, on embeddings ----

def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (..., N, M) between a (..., N, D) and b (..., M, D)."""
    return torch.cdist(a, b)


def recognisability(samples: torch.Tensor, prototypes: torch.Tensor, target: int = 0, radius: float = float("inf")) -> float:
    """Fraction of samples (S, D) whose nearest prototype (W, D) is prototypes[target] -- and, with a
    radius, that lie within it of that prototype."""
    d = distances(samples, prototypes)
    return float(((d.argmin(-1) == target) & (d[:, target] <= radius)).float().mean())


def novelty(samples: torch.Tensor, support: torch.Tensor, scale: float) -> float:
    """Mean distance from each sample (S, D) to its nearest support drawing (K, D), divided by `scale`,
    the same quantity for real new drawings of the character (see `novelty_scale`)."""
    return float(distances(samples, support).min(-1).values.mean() / scale)


def novelty_scale(reference: torch.Tensor, support: torch.Tensor) -> float:
    """Mean nearest-support distance of real drawings (R, D) not in the support: novelty's unit."""
    return float(distances(reference, support).min(-1).values.mean())


def one_shot_accuracy(embeddings: torch.Tensor, glyphs: GlyphSet, ways: int = 20, runs: int = 1000, seed: int = 0) -> dict:
    """20-way one-shot classification within an alphabet (Lake et al. 2015) on real drawings.

    embeddings: (C, D_draw, E) for every drawing of `glyphs`. Each run picks an alphabet, `ways` of its
    characters (all of them when it has fewer) and two drawers: one drawing per character is the
    support, the other drawer's drawing of each character is a query, classified by nearest support.
    """
    rng = np.random.default_rng(seed)
    names = glyphs.alphabet_names()
    correct, total, way_counts = 0, 0, []
    for _ in range(runs):
        chars = np.flatnonzero(glyphs.alphabets == names[rng.integers(len(names))])
        chars = rng.choice(chars, min(ways, len(chars)), replace=False)
        d_support, d_query = rng.choice(embeddings.shape[1], 2, replace=False)
        pred = distances(embeddings[chars, d_query], embeddings[chars, d_support]).argmin(-1)
        correct += int((pred == torch.arange(len(chars))).sum())
        total += len(chars)
        way_counts.append(len(chars))
    acc = correct / total
    return {"accuracy": acc, "stderr": float(np.sqrt(acc * (1 - acc) / total)), "ways": float(np.mean(way_counts)),
            "runs": runs, "alphabets": names}


def few_shot_accuracy(classes: list[torch.Tensor], shots: int = 1, ways: int = 20, runs: int = 1000, seed: int = 0) -> dict:
    """W-way K-shot nearest-prototype accuracy among classes of any size (e.g. emoji subgroups).

    classes: per class its embeddings (n_k, E). Each run picks `ways` classes (all when fewer), `shots`
    support items per class (their mean is the prototype) and one other item per class as the query."""
    rng = np.random.default_rng(seed)
    usable = [c for c in classes if len(c) > shots]
    if len(usable) < 2:
        raise ValueError(f"few_shot_accuracy needs >= 2 classes with more than {shots} items")
    correct = total = 0
    for _ in range(runs):
        chosen = rng.choice(len(usable), min(ways, len(usable)), replace=False)
        protos, queries = [], []
        for c in chosen:
            order = rng.permutation(len(usable[c]))
            protos.append(usable[c][order[:shots]].mean(0))
            queries.append(usable[c][order[shots]])
        pred = distances(torch.stack(queries), torch.stack(protos)).argmin(-1)
        correct += int((pred == torch.arange(len(chosen))).sum())
        total += len(chosen)
    acc = correct / total
    return {"accuracy": acc, "stderr": float(np.sqrt(acc * (1 - acc) / total)), "ways": min(ways, len(usable)),
            "shots": shots, "runs": runs, "classes": len(usable)}


# ---- training: episodes of `ways` classes, `shots` support + `queries` query drawings each ----

@dataclass
class JudgeConfig:
    data_dir: str = ""
    out: str = "assets/judge"
    channels: int = 32
    blocks: int = 4
    ways: int = 60  # classes per training episode (capped by the alphabet's size when within_alphabet)
    shots: int = 1  # support drawings per class (prototype = their mean embedding)
    queries: int = 3  # query drawings per class
    episodes: int = 4500
    lr: float = 2e-3  # Adam, cosine-decayed to 0 over the episodes
    rotations: bool = True  # each 90-degree rotation of a character is a new class
    within_alphabet: float = 1.0  # fraction of episodes whose classes share one alphabet (hard negatives)
    every_support: bool = True  # one-shot: every drawing takes a turn as the support (see prototypical_loss)
    eval_runs: int = 1000
    threads: int = 1
    seed: int = 0
    data: str = "omniglot"  # omniglot | emoji (classes = the generators' training subgroups, both styles)
    n_val_subgroups: int = 12  # emoji: held out exactly as `meta.train` holds them out (same seed)


def episode(images: torch.Tensor, alphabets: np.ndarray, cfg: JudgeConfig, rng: np.random.Generator) -> torch.Tensor:
    """-> (ways, shots + queries, 1, 32, 32) drawings of distinct (character, rotation) classes: from
    any alphabets, or (a `within_alphabet` fraction of episodes) all from one, rotated alike."""
    n_char, n_draw = images.shape[:2]
    rotations = 4 if cfg.rotations else 1
    if rng.random() < cfg.within_alphabet:
        chars = np.flatnonzero(alphabets == alphabets[rng.integers(n_char)])
        classes = rng.choice(chars, min(cfg.ways, len(chars)), replace=False) + n_char * rng.integers(rotations)
    else:
        classes = rng.choice(n_char * rotations, cfg.ways, replace=False)
    batch = []
    for c in classes:
        x = images[c % n_char, rng.choice(n_draw, cfg.shots + cfg.queries, replace=False)]
        batch.append(torch.rot90(x, int(c // n_char), dims=(-2, -1)))
    return torch.stack(batch)[:, :, None]


def prototypical_loss(judge: Judge, batch: torch.Tensor, shots: int, every_support: bool = False) -> tuple[torch.Tensor, float]:
    """ProtoNet loss: softmax over negative squared distances from queries to class prototypes.

    every_support (one-shot): each drawing of a class takes a turn as its support and the others are
    queries, so one forward pass of W x K drawings scores K (K - 1) one-shot queries per class, not K - 1.
    """
    ways, n = batch.shape[:2]
    z = judge(batch.reshape(-1, *batch.shape[2:])).reshape(ways, n, -1)  # (W, K, D)
    if every_support:
        flat = z.reshape(ways * n, -1)
        sq = flat.pow(2).sum(-1)
        d2 = (sq[:, None] + sq[None] - 2 * flat @ flat.T).reshape(ways, n, ways, n)  # [w, k, v, j]
        logits = -d2.permute(0, 1, 3, 2)[:, ~torch.eye(n, dtype=torch.bool)].reshape(-1, ways)  # query (w, k), support j != k
        labels = torch.arange(ways).repeat_interleave(n * (n - 1))
    else:
        prototypes = z[:, :shots].mean(1)  # (W, D)
        logits = -distances(z[:, shots:].reshape(-1, z.shape[-1]), prototypes).pow(2)  # (W * Q, W)
        labels = torch.arange(ways).repeat_interleave(n - shots)
    return F.cross_entropy(logits, labels), float((logits.argmax(-1) == labels).float().mean())


def fit(judge: Judge, cfg: JudgeConfig, next_episode, every_support: bool = False) -> tuple[float, float]:
    """Episodic ProtoNet training (Adam, cosine-decayed lr) on `next_episode()` batches; -> (CPU s, wall s)."""
    opt = torch.optim.Adam(judge.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.episodes)
    cpu0, wall0, recent = time.process_time(), time.time(), []
    for ep in range(1, cfg.episodes + 1):
        judge.train()
        loss, acc = prototypical_loss(judge, next_episode(), cfg.shots, every_support)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        recent = (recent + [acc])[-50:]
        if ep % 100 == 0 or ep == cfg.episodes:
            print(f"episode {ep}: loss {loss.item():.3f}, train acc (last 50) {np.mean(recent):.3f}, "
                  f"cpu {time.process_time() - cpu0:.0f}s", flush=True)
    return time.process_time() - cpu0, time.time() - wall0


def icon_episode(images: torch.Tensor, members: list[np.ndarray], cfg: JudgeConfig, rng: np.random.Generator) -> torch.Tensor:
    """-> (ways, shots + queries, 3, 32, 32): icons of distinct subgroups, each mirrored at random."""
    classes = rng.choice(len(members), min(cfg.ways, len(members)), replace=False)
    batch = torch.stack([images[rng.choice(members[c], cfg.shots + cfg.queries, replace=False)] for c in classes])
    flip = torch.from_numpy(rng.random(batch.shape[:2]) < 0.5)[..., None, None, None]
    return torch.where(flip, batch.flip(-1), batch)


def train_icons(cfg: JudgeConfig) -> Path:
    """The colour-icon judge: ProtoNet over emoji subgroups (both art styles pooled per subgroup), trained
    only on the subgroups the generators train on; scored on the held-out ones."""
    from . import emoji

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # 1. data: the generators' training subgroups (split on Noto, as meta.train does), in both styles
    noto_train, noto_val = emoji.load_split(cfg.data_dir, "noto", cfg.n_val_subgroups, seed=cfg.seed)
    twemoji = emoji.load(cfg.data_dir, "twemoji")
    names = [n for n in noto_train.task_names()]
    tw = twemoji.subset([n for n in names if n in set(twemoji.task_names())])
    images = torch.from_numpy(np.concatenate([noto_train.images, tw.images]))
    labels = np.concatenate([noto_train.labels, np.array([names.index(n) for n in tw.names])[tw.labels]])
    members = [np.flatnonzero(labels == k) for k in range(len(names))]
    members = [m for m in members if len(m) >= cfg.shots + cfg.queries]
    judge = Judge(cfg.channels, cfg.blocks, in_channels=3).to(memory_format=torch.channels_last)
    # 2. episodic training (prototypes from `shots` icons of a subgroup)
    cpu_s, wall_s = fit(judge, cfg, lambda: icon_episode(images, members, cfg, rng))
    # 3. held-out subgroups, each style: W-way 5-shot and 1-shot subgroup classification of real icons
    scores = {}
    for style, icons in (("noto", noto_val), ("twemoji", twemoji.subset([n for n in noto_val.task_names() if n in set(twemoji.task_names())]))):
        emb = judge.embed(icons.images)
        classes = [emb[torch.from_numpy(icons.labels == k)] for k in range(len(icons))]
        for k in (1, 5):
            scores[f"{style}_{k}shot"] = few_shot_accuracy(classes, shots=k, ways=20, runs=cfg.eval_runs, seed=cfg.seed)
        print(f"{style}: 5-shot {scores[f'{style}_5shot']['accuracy']:.3f}, 1-shot {scores[f'{style}_1shot']['accuracy']:.3f} "
              f"({scores[f'{style}_5shot']['ways']}-way, held-out subgroups)")
    info = {"architecture": f"{cfg.blocks} x (conv3x3 {cfg.channels}ch - BatchNorm - ReLU - maxpool 2), "
                            f"3x32x32 input -> {cfg.channels * (32 >> cfg.blocks) ** 2}-d embedding",
            "training": {k: v for k, v in asdict(cfg).items() if k not in ("data_dir", "out")},
            "train_subgroups": names, "held_out_subgroups": noto_val.task_names(), "train_cpu_s": round(cpu_s, 1),
            "train_wall_s": round(wall_s, 1), "held_out_accuracy": scores,
            "credit": [emoji.CREDITS["noto"], emoji.CREDITS["twemoji"]],
            "command": " ".join(["python -m meta.judge", *sys.argv[1:]])}
    return judge.save(cfg.out, info)


def train(cfg: JudgeConfig) -> Path:
    if cfg.data == "emoji":
        return train_icons(cfg)
    if cfg.data != "omniglot":
        raise ValueError(f"data must be 'omniglot' or 'emoji', not {cfg.data!r}")
    if cfg.every_support and cfg.shots != 1:
        raise ValueError(f"every_support is a one-shot scheme: it needs shots=1, got {cfg.shots}")
    if cfg.ways < 2 or cfg.shots < 1 or cfg.queries < 1 or cfg.shots + cfg.queries > 20:
        raise ValueError(f"need ways >= 2, shots >= 1, queries >= 1, shots + queries <= 20; got {cfg}")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # 1. data: background alphabets only; the evaluation alphabets stay unseen
    background = omniglot.load(cfg.data_dir, "background")
    images = torch.from_numpy(background.images)  # (C, 20, 32, 32)
    judge = Judge(cfg.channels, cfg.blocks).to(memory_format=torch.channels_last)  # ~1.5x faster convs on CPU
    # 2. episodic training
    cpu_s, wall_s = fit(judge, cfg, lambda: episode(images, background.alphabets, cfg, rng), cfg.every_support)
    # 3. the classic benchmark on the evaluation alphabets the judge never saw
    evaluation = omniglot.load(cfg.data_dir, "evaluation")
    score = one_shot_accuracy(judge.embed(evaluation.images[:, :, None]), evaluation, runs=cfg.eval_runs, seed=cfg.seed)
    print(f"20-way one-shot accuracy on {len(score['alphabets'])} evaluation alphabets: "
          f"{score['accuracy']:.4f} +- {score['stderr']:.4f}")
    info = {"architecture": f"{cfg.blocks} x (conv3x3 {cfg.channels}ch - BatchNorm - ReLU - maxpool 2), "
                            f"32x32 input -> {cfg.channels * (32 >> cfg.blocks) ** 2}-d embedding",
            "training": {k: v for k, v in asdict(cfg).items() if k not in ("data_dir", "out")},
            "train_alphabets": background.alphabet_names(), "train_cpu_s": round(cpu_s, 1), "train_wall_s": round(wall_s, 1),
            "one_shot_20way_evaluation": score, "command": " ".join(["python -m meta.judge", *sys.argv[1:]])}
    return judge.save(cfg.out, info)


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m meta.judge", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in fields(JudgeConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help="(default: %(default)s)")
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help="(default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("--data-dir is required (a folder holding images_background.zip and images_evaluation*.zip)")
    return train(JudgeConfig(**vars(args)))


if __name__ == "__main__":
    main()
