"""A person's example images -> the 32x32 shots the generator sees, with a clear message for bad input.

Uploads arrive as file paths and are opened here (never by Gradio), so every failure gets its own
message (a ValueError, which the page shows as a gr.Error): not an image (SVG included), damaged,
too large, too small or too elongated, blank. Odd but valid images are accepted: animated GIF/WebP
(first frame), CMYK, 16-bit, palette and transparent images all go through the preprocessing the
generator was meta-trained with: `meta.images.to_glyph` for handwritten glyphs ((32, 32), ink +1),
`meta.images.to_icon` for colour icons ((3, 32, 32), colour kept, alpha composited on white).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from meta.glyphs import example_sets as glyph_sets
from meta.icons import example_sets as icon_sets
from meta.images import to_glyph, to_icon

from .domains import DOMAINS, GLYPHS, ICONS

MAX_SHOTS = 10
MAX_PIXELS = 40_000_000  # refused from the header, before decoding (PIL itself refuses > 179M)
MIN_SIDE = 8  # pixels: a glyph needs some room
MAX_ASPECT = 20  # long side / short side: a drawing of one character is roughly square
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # no plugin that shells out (EPS) or parses exotica


class Refused(ValueError):
    """An uploaded file the studio will not use, and why (kept apart from decoders' own ValueErrors)."""


def open_image(path) -> Image.Image:
    """Decode the first frame of an uploaded file, or raise `Refused` saying what is wrong."""
    name = Path(path).name
    try:
        with Image.open(path, formats=FORMATS) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise Refused(f"{name} is too large ({w}x{h} pixels): use an image under {MAX_PIXELS // 1_000_000} megapixels.")
            if min(w, h) < MIN_SIDE:
                raise Refused(f"{name} is too small ({w}x{h} pixels): use an image at least {MIN_SIDE}x{MIN_SIDE}.")
            if max(w, h) > MAX_ASPECT * min(w, h):
                raise Refused(f"{name} is {w}x{h} pixels, too elongated for one character: crop it to roughly "
                               f"square (sides within {MAX_ASPECT}:1).")
            im.seek(0)  # animated GIF/WebP: the first frame
            im.load()
            if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            im = im.copy()
        try:
            im = ImageOps.exif_transpose(im)  # phone photos stored sideways
        except Exception:  # noqa: BLE001 -- broken EXIF: keep the pixels as stored
            pass
        return im
    except Refused:
        raise
    except Image.DecompressionBombError:
        raise Refused(f"{name} is too large to decode safely (a decompression bomb?).") from None
    except UnidentifiedImageError:
        if is_svg(path):
            raise Refused(f"{name} is an SVG (vector) file: export it as PNG first.") from None
        raise Refused(f"{name} is not an image I can read: upload PNG, JPEG, WebP, BMP or GIF files.") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise Refused(f"{name} looks damaged and could not be decoded ({err}).") from None


def is_svg(path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1024).lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)


def glyph_from_image(image: Image.Image, what: str) -> np.ndarray:
    try:
        return to_glyph(image)
    except ValueError:
        raise ValueError(f"{what} holds no drawing (it is blank or a single colour).") from None


def icon_from_image(image: Image.Image, what: str) -> np.ndarray:
    try:
        return to_icon(image)
    except ValueError:
        raise ValueError(f"{what} holds no icon (it is blank or a single colour).") from None


def shot_from_image(image: Image.Image, what: str, domain: str = GLYPHS) -> np.ndarray:
    """A picture -> one shot of `domain`: (32, 32) for glyphs, (3, 32, 32) for icons."""
    return icon_from_image(image, what) if domain == ICONS else glyph_from_image(image, what)


def load_uploads(paths, domain: str = GLYPHS) -> list[np.ndarray]:
    """File paths (or gradio FileData-likes) -> shots of `domain`; checks the count first."""
    paths = [getattr(p, "path", None) or (p.get("path") if isinstance(p, dict) else p) for p in (paths or [])]
    if len(paths) > MAX_SHOTS:
        raise ValueError(f"Too many images: got {len(paths)}, the limit is {MAX_SHOTS}.")
    return [shot_from_image(open_image(p), Path(p).name, domain) for p in paths]


def glyph_from_sketch(value, domain: str = GLYPHS) -> np.ndarray:
    """A Sketchpad value (dict with 'composite', RGBA numpy) -> one shot of `domain`."""
    empty = f"The drawing is empty: draw {'an icon' if domain == ICONS else 'a glyph'} on the pad, then press Add drawing."
    composite = value.get("composite") if isinstance(value, dict) else value
    if composite is None:
        raise ValueError(empty)
    arr = np.asarray(composite)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    image = Image.fromarray(arr)
    if image.mode == "RGBA":  # flatten onto white so transparent canvas and white canvas look the same
        flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(flat, image).convert("RGB")
    try:
        return to_icon(image) if domain == ICONS else to_glyph(image)
    except ValueError:
        raise ValueError(empty) from None


def add_shots(shots: list, new: list) -> list:
    if len(shots) + len(new) > MAX_SHOTS:
        raise ValueError(f"Too many examples: {len(shots)} + {len(new)} would pass the limit of {MAX_SHOTS}. Remove some first.")
    return [*shots, *new]


@functools.cache
def example_sets(domain: str = GLYPHS) -> dict[str, list[Image.Image]]:
    """Built-in example sets, drawn by code and never trained on: meta.glyphs's procedural characters,
    or meta.icons's colour icon families."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}")
    return dict(icon_sets() if domain == ICONS else glyph_sets())
