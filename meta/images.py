"""One preprocessing path from any picture of a glyph to what the generator sees.

Omniglot drawings, font-free procedural glyphs and a user's uploads all go through `to_glyph`:
ink bright on dark, cropped to the ink, centred on a square canvas, 28x28 padded to 32x32,
values in [-1, 1]. Using the same function for training and for the app means a person's
drawing looks to the model like the drawings it was meta-trained on.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

SIZE = 32  # the generator's resolution
INNER = 28  # the glyph's box inside the 32x32 canvas (Omniglot's classic 28, padded by 2)


def ink_map(image: Image.Image, invert: bool | None = None) -> np.ndarray:
    """Greyscale ink in [0, 1] (1 = ink) from an image of any mode.

    Transparent pixels count as background. With `invert=None` the polarity is guessed from the
    border: a glyph is drawn on a background, so the border's colour is the background's.
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        if alpha.min() < 0.99:  # real transparency: the opaque part is the ink
            grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
            opaque = alpha > 0.5
            if opaque.any() and 0.01 < opaque.mean() < 0.99 and grey[opaque].std() > 0.15:
                # opaque region holds its own dark-on-light (or light-on-dark) drawing
                background = np.median(grey[opaque])
                ink = np.abs(grey - background) * alpha
                return np.clip(ink / max(ink.max(), 1e-6), 0.0, 1.0)
            return alpha
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float32)
        top = arr.max()
        grey = arr / top if top > 0 else arr
    else:
        grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    if invert is None:
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        invert = float(np.median(border)) > 0.5
    return 1.0 - grey if invert else grey


def is_blank(ink: np.ndarray, threshold: float = 0.25, min_pixels: int = 4) -> bool:
    """True when an ink map holds no drawing (nothing above threshold, or a near-uniform page)."""
    mask = ink > threshold
    return int(mask.sum()) < min_pixels or float(mask.mean()) > 0.97


def to_glyph(image: Image.Image, *, invert: bool | None = None, thicken: int = 0) -> np.ndarray:
    """PIL image -> float32 array (32, 32) in [-1, 1], ink = +1.

    1. ink map (auto-inverted), 2. crop to the ink's bounding box, 3. pad to a centred square,
    4. resize to 28x28 (area filter), 5. pad to 32x32, 6. scale to [-1, 1].
    Raises ValueError for a blank image rather than inventing a glyph.
    """
    ink = ink_map(image, invert)
    if is_blank(ink):
        raise ValueError("the image holds no drawing (blank, or a single colour)")
    mask = ink > 0.25
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = ink.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = ink
    pil = Image.fromarray((square * 255).astype(np.uint8), "L")
    if thicken > 1:  # Omniglot strokes are thin at 105 px: widen before shrinking 4x
        pil = pil.filter(ImageFilter.MaxFilter(thicken))
    pil = pil.resize((INNER, INNER), Image.Resampling.BOX if side >= INNER else Image.Resampling.BILINEAR)
    pil = ImageOps.expand(pil, border=(SIZE - INNER) // 2, fill=0)
    arr = np.asarray(pil, dtype=np.float32) / 255.0
    arr = np.clip(arr / max(arr.max(), 1e-6), 0.0, 1.0)  # full-contrast ink whatever the stroke width
    return arr * 2.0 - 1.0


# ---- colour icons (the emoji world): RGB over one background colour ----

BACKGROUND = (255, 255, 255)  # every icon is composited over this colour: training data, uploads, the app
ICON_INNER = 30  # an upload's content box inside the 32x32 canvas (emoji fill 30-32 px of theirs)


def rgba_to_icon(rgba: np.ndarray, background=BACKGROUND) -> np.ndarray:
    """uint8 straight-alpha RGBA (..., H, W, 4) -> float32 (..., 3, H, W) in [-1, 1] over `background`."""
    rgba = np.asarray(rgba)
    if rgba.shape[-1] != 4:
        raise ValueError(f"expected RGBA (..., H, W, 4), got shape {rgba.shape}")
    a = rgba[..., 3:].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * a + np.asarray(background, np.float32) * (1.0 - a)
    return np.moveaxis(rgb / 127.5 - 1.0, -1, -3).astype(np.float32)


def to_icon(image: Image.Image, background=BACKGROUND) -> np.ndarray:
    """PIL image of any mode -> float32 (3, 32, 32) in [-1, 1]: colour kept, alpha composited.

    1. RGBA over `background`, 2. crop to the content (pixels that differ from the background, or
    from the border's colour for an opaque picture), 3. pad to a centred square of the border's
    colour, 4. resize to 30x30 (area filter), 5. pad to 32x32. Raises ValueError for a blank image.
    """
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    a = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3] * a + np.asarray(background, np.float32) * (1.0 - a)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    fill = np.median(border, axis=0)
    content = np.abs(rgb - fill).max(-1) > 24
    if int(content.sum()) < 4 or content.mean() > 0.995:
        raise ValueError("the image holds no icon (blank, or a single colour)")
    rows, cols = np.flatnonzero(content.any(1)), np.flatnonzero(content.any(0))
    rgb = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.empty((side, side, 3), np.float32)
    square[:] = fill
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = rgb
    pil = Image.fromarray(square.round().clip(0, 255).astype(np.uint8), "RGB")
    pil = pil.resize((ICON_INNER, ICON_INNER), Image.Resampling.BOX if side >= ICON_INNER else Image.Resampling.BILINEAR)
    pil = ImageOps.expand(pil, border=(SIZE - ICON_INNER) // 2, fill=tuple(int(round(v)) for v in fill))
    return np.moveaxis(np.asarray(pil, dtype=np.float32) / 127.5 - 1.0, -1, 0).astype(np.float32)


def to_pil(glyph: np.ndarray, scale: int = 1) -> Image.Image:
    """[-1, 1] array (H, W) or (C, H, W) -> 8-bit PIL image, nearest-neighbour upscaled."""
    arr = np.asarray(glyph, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    img = Image.fromarray(((arr.clip(-1, 1) + 1) * 127.5).round().astype(np.uint8))
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST) if scale > 1 else img


def grid(images, nrow: int, scale: int = 2, pad: int = 2) -> Image.Image:
    """Tile [-1, 1] arrays (N, H, W) or (N, 1, H, W) into one PIL image, row-major."""
    tiles = [to_pil(np.asarray(im), scale) for im in images]
    if not tiles:
        raise ValueError("grid() needs at least one image")
    w, h = tiles[0].size
    ncol = min(nrow, len(tiles))
    rows = (len(tiles) + ncol - 1) // ncol
    sheet = Image.new(tiles[0].mode, (ncol * (w + pad) + pad, rows * (h + pad) + pad), 90 if tiles[0].mode == "L" else (90, 90, 90))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (pad + (i % ncol) * (w + pad), pad + (i // ncol) * (h + pad)))
    return sheet
