"""Omniglot from its official distribution: `images_<split>.zip` or the folder it unpacks to.

Layout read: `images_<split>/<Alphabet>/characterNN/<IIII>_<DD>.png` (DD = the drawer). Images
become 32x32 glyphs through `meta.images.to_glyph`; the result is cached as .npz under
`~/.cache/inner-loop` (keyed by the source file's size and mtime), so a second load takes < 1 s.
`download()` fetches the official zips and checks their md5; it is never called implicitly.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .images import to_glyph

URL = "https://github.com/brendenlake/omniglot/raw/master/python/{name}.zip"
MD5 = {"images_background": "68d2efa1b9178cc56df9314c21c6e718", "images_evaluation": "6b91aef0f799c5bb55b94e3f2daec811"}
CACHE_VERSION = 2  # bump when preprocessing changes
_PATH = re.compile(r"(?:^|/)images_[a-z_]+/([^/]+)/(character\d+)/(\d+)_(\d+)\.png$")


@dataclass
class GlyphSet:
    """Characters x drawings of 32x32 glyphs. `images[c, d]` is drawing d of character c."""

    images: np.ndarray  # (C, D, 32, 32) float32 in [-1, 1]
    alphabets: np.ndarray  # (C,) str
    characters: np.ndarray  # (C,) str, e.g. "character07"

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, alphabets) -> "GlyphSet":
        keep = np.isin(self.alphabets, list(alphabets))
        if not keep.any():
            raise ValueError(f"none of the alphabets {sorted(alphabets)} is in this set")
        return GlyphSet(self.images[keep], self.alphabets[keep], self.characters[keep])

    def alphabet_names(self) -> list[str]:
        return sorted(set(self.alphabets.tolist()))

    def task_names(self) -> list[str]:
        return self.alphabet_names()

    def sizes(self) -> np.ndarray:
        return np.full(len(self.images), self.images.shape[1])

    def task_images(self, c: int) -> np.ndarray:
        """Character c's drawings, (D, 1, 32, 32)."""
        return self.images[c][:, None]

    def pool_batch(self, gen, b: int):
        """b drawings, each of a uniformly drawn character and drawer, and their characters (joint training)."""
        import torch

        chars = torch.randint(0, self.images.shape[0], (b,), generator=gen)
        draws = torch.randint(0, self.images.shape[1], (b,), generator=gen)
        return torch.from_numpy(self.images[chars.numpy(), draws.numpy()])[:, None], chars


def find_source(data_dir: str | os.PathLike, split: str) -> Path:
    """The zip or folder for `split` ('background' or 'evaluation') inside data_dir."""
    if split not in ("background", "evaluation"):
        raise ValueError(f"split must be 'background' or 'evaluation', not {split!r}")
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data directory {root} does not exist (use --download to fetch Omniglot)")
    exact = [root / f"images_{split}", root / f"images_{split}.zip"]
    candidates = [p for p in exact if p.exists()] or sorted(root.glob(f"images_{split}*.zip")) + sorted(
        p for p in root.glob(f"images_{split}*") if p.is_dir()
    )
    if not candidates:
        raise ValueError(f"no images_{split}.zip or images_{split}/ folder in {root} (use --download to fetch it)")
    return candidates[0]


def _read_pngs(source: Path):
    """Yield (alphabet, character, drawer, PIL image) from a zip or a folder."""
    if source.is_file():
        with zipfile.ZipFile(source) as zf:
            for name in sorted(zf.namelist()):
                m = _PATH.search(name)
                if m:
                    yield m.group(1), m.group(2), int(m.group(4)), Image.open(io.BytesIO(zf.read(name)))
    else:
        for path in sorted(source.rglob("*.png")):
            m = _PATH.search(path.as_posix())
            if m:
                yield m.group(1), m.group(2), int(m.group(4)), Image.open(path)


def load(data_dir: str | os.PathLike, split: str = "background", cache: bool = True) -> GlyphSet:
    """Load one Omniglot split as a GlyphSet of 32x32 glyphs (all 20 drawings per character)."""
    source = find_source(data_dir, split)
    stat = source.stat()
    key = hashlib.sha1(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_VERSION}".encode()).hexdigest()[:16]
    cache_file = Path(os.environ.get("INNER_LOOP_CACHE", Path.home() / ".cache" / "inner-loop")) / f"omniglot-{split}-{key}.npz"
    if cache and cache_file.exists():
        with np.load(cache_file) as z:
            return GlyphSet(z["images"], z["alphabets"], z["characters"])
    drawings: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    for alphabet, character, drawer, image in _read_pngs(source):
        # Omniglot PNGs are black ink on white, 105x105, strokes ~3 px: widen before shrinking
        drawings.setdefault((alphabet, character), {})[drawer] = to_glyph(image, invert=True, thicken=3)
    if not drawings:
        raise ValueError(f"{source} holds no Omniglot drawings (expected images_{split}/<Alphabet>/characterNN/*.png)")
    keys = sorted(drawings)
    n_draw = min(len(d) for d in drawings.values())
    images = np.stack([np.stack([drawings[k][d] for d in sorted(drawings[k])[:n_draw]]) for k in keys]).astype(np.float32)
    result = GlyphSet(images, np.array([k[0] for k in keys]), np.array([k[1] for k in keys]))
    if cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, images=result.images, alphabets=result.alphabets, characters=result.characters)
        tmp.replace(cache_file)
    return result


def download(data_dir: str | os.PathLike, splits=("background", "evaluation")) -> list[Path]:
    """Fetch the official Omniglot zips into data_dir and verify their md5 (opt-in, needs network)."""
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in splits:
        name = f"images_{split}"
        path = root / f"{name}.zip"
        if not path.exists():
            tmp = path.with_suffix(".part")
            urllib.request.urlretrieve(URL.format(name=name), tmp)
            tmp.replace(path)
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest != MD5[name]:
            raise ValueError(f"{path} has md5 {digest}, expected {MD5[name]}: delete it and download again")
        paths.append(path)
    return paths


def split_alphabets(glyphs: GlyphSet, n_val: int, seed: int = 0) -> tuple[GlyphSet, GlyphSet]:
    """Disjoint (train, validation) alphabets: n_val alphabets chosen by seed go to validation."""
    names = glyphs.alphabet_names()
    if not 0 < n_val < len(names):
        raise ValueError(f"n_val must be in 1..{len(names) - 1}, got {n_val}")
    rng = np.random.default_rng(seed)
    val = set(rng.choice(names, n_val, replace=False).tolist())
    return glyphs.subset([a for a in names if a not in val]), glyphs.subset(val)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m meta.omniglot", description="Fetch or inspect Omniglot.")
    parser.add_argument("data_dir")
    parser.add_argument("--download", action="store_true", help="fetch the official zips (network) and check md5")
    args = parser.parse_args(argv)
    if args.download:
        for path in download(args.data_dir):
            print(f"ok {path}")
    for split in ("background", "evaluation"):
        try:
            glyphs = load(args.data_dir, split)
        except ValueError as err:
            print(f"{split}: {err}")
            continue
        print(f"{split}: {len(glyphs)} characters, {len(glyphs.alphabet_names())} alphabets, images {glyphs.images.shape}")


if __name__ == "__main__":
    main()
