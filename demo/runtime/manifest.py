"""SHA-256 manifest of the shipped checkpoints, checked before the app loads them.

    python -m demo.runtime.manifest assets    # verify (what the app does at start-up)
    python -m demo.runtime.manifest assets --write    # rewrite it after retraining a checkpoint

`assets/MANIFEST.sha256` lists every checkpoint file (`*/*.safetensors`, `*/*.json`) in `sha256sum`
format, so `cd assets && sha256sum -c MANIFEST.sha256` checks it too. A folder without a manifest
(your own --assets folder, the tests' tiny checkpoints) is not checked.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
PATTERNS = ("*/*.safetensors", "*/*.json")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_files(folder: Path) -> list[str]:
    return sorted({p.relative_to(folder).as_posix() for pattern in PATTERNS for p in folder.glob(pattern)})


def write_manifest(folder) -> Path:
    folder = Path(folder)
    lines = [f"{sha256(folder / name)}  {name}\n" for name in checkpoint_files(folder)]
    (folder / MANIFEST).write_text("".join(lines))
    return folder / MANIFEST


def relative(path: Path) -> Path:
    """A path as the user would type it from here, where it is below the working folder."""
    try:
        return Path(path).resolve().relative_to(Path.cwd())
    except ValueError:
        return Path(path)


def how_to_restore(path: Path, folder: Path) -> str:
    path, folder = relative(path), relative(folder)
    return (f"restore it with `git checkout -- {path}` (or retrain it with the command in README.md, "
            f"'How the shipped files were made', then run `python -m demo.runtime.manifest {folder} --write`)")


def verify_manifest(folder) -> int:
    """Check every listed file's SHA-256; raise ValueError naming the first missing or changed file.
    Returns how many files were checked (0: the folder has no manifest)."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.exists():
        return 0
    entries = [line.split(maxsplit=1) for line in manifest.read_text().splitlines() if line.strip()]
    for digest, name in entries:
        path = folder / name
        if not path.is_file():
            raise ValueError(f"checkpoint file {path} is missing: {how_to_restore(path, folder)}.")
        if sha256(path) != digest:
            raise ValueError(f"checkpoint file {path} is corrupt (its SHA-256 differs from {manifest}): "
                             f"{how_to_restore(path, folder)}.")
    return len(entries)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[2] / "assets"))
    p.add_argument("--write", action="store_true", help="(re)write the manifest from the files now there")
    args = p.parse_args(argv)
    if args.write:
        path = write_manifest(args.folder)
        print(f"wrote {path} ({len(path.read_text().splitlines())} files)")
    else:
        try:
            n = verify_manifest(args.folder)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        print(f"{n} files match {Path(args.folder) / MANIFEST}" if n else f"no {MANIFEST} in {args.folder}: nothing checked")


if __name__ == "__main__":
    main()
