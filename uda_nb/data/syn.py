"""``syn``: synthetic digits rendered with the TrueType fonts that ship with matplotlib, in the spirit of
Ganin & Lempitsky's SynNumbers (DANN paper, section 4.1): varying font, position, rotation, scale, stroke
width, foreground and background colours, and blur. 3 x 32 x 32 in [0, 1].

Only fonts that really draw the ten digits are used (:func:`digit_fonts` renders each digit and rejects
fonts whose glyphs are blank or repeat, e.g. a missing-glyph box).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .digits import to_uint8

RENDER = 64  # glyphs are drawn at 64 x 64 and box-downsampled to 32 x 32 (anti-aliasing)
SIZES = {"train": 6000, "test": 1000}


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=512)
def load_font(path: str, size: int):
    """A PIL TrueType font, cached: loading the file costs more than drawing a glyph with it."""
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _render_mask(font_path: str, digit: int, size: int = 44, offset=(0, 0), stroke: int = 0,
                 angle: float = 0.0) -> np.ndarray:
    """One glyph as a ``(RENDER, RENDER)`` float mask in [0, 1], centred on its ink, shifted and rotated."""
    from PIL import Image, ImageDraw

    font = load_font(font_path, size)
    canvas = Image.new("L", (RENDER, RENDER), 0)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font, stroke_width=stroke)
    x = (RENDER - (right - left)) / 2 - left + offset[0]
    y = (RENDER - (bottom - top)) / 2 - top + offset[1]
    draw.text((x, y), str(digit), fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    if angle:
        canvas = canvas.rotate(angle, resample=Image.BILINEAR)
    return np.asarray(canvas, dtype=np.float32) / 255.0


REFERENCE_FONT = "DejaVuSans.ttf"


def _shape(mask: np.ndarray) -> np.ndarray:
    """A glyph reduced to a blurred, zero-mean, unit-norm 16 x 16 shape for comparing fonts."""
    m = mask.reshape(16, RENDER // 16, 16, RENDER // 16).mean((1, 3))
    m = m - m.mean()
    return m / max(float(np.linalg.norm(m)), 1e-8)


def recognised_digits(font_path: str) -> int:
    """How many of a font's ten glyphs are nearest (by shape correlation) to the same digit of the reference
    font DejaVu Sans: 10 for a plain digit font, ~1 for a symbol font that maps other glyphs to '0'-'9'."""
    ref = np.stack([_shape(_render_mask(str(_font_dir() / REFERENCE_FONT), d)).ravel() for d in range(10)])
    own = np.stack([_shape(_render_mask(font_path, d)).ravel() for d in range(10)])
    return int((np.argmax(own @ ref.T, axis=1) == np.arange(10)).sum())


@functools.lru_cache(maxsize=1)
def digit_fonts() -> tuple[str, ...]:
    """Paths of the bundled fonts that really draw the ten digits: every glyph non-blank, the ten pairwise
    different (no missing-glyph boxes), and at least 5 of 10 recognised as the same digit of DejaVu Sans
    (this rejects symbol fonts such as cmsy10). 22 of matplotlib's fonts qualify."""
    good = []
    for path in sorted(_font_dir().glob("*.ttf")):
        try:
            masks = [_render_mask(str(path), d) for d in range(10)]
        except OSError:
            continue
        ink = [m.sum() for m in masks]
        if min(ink) < 20.0:  # a blank glyph
            continue
        distinct = all(np.abs(masks[a] - masks[b]).sum() > 15.0 for a in range(10) for b in range(a + 1, 10))
        if distinct and recognised_digits(str(path)) >= 5:
            good.append(str(path))
    if len(good) < 5:
        raise RuntimeError(f"Only {len(good)} bundled fonts draw digits; matplotlib's font folder {_font_dir()} "
                           "looks incomplete (reinstall matplotlib).")
    return tuple(good)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random background and foreground RGB colours whose luminances differ by at least 0.3."""
    lum = np.array([0.299, 0.587, 0.114])
    while True:
        bg, fg = rng.random(3), rng.random(3)
        if abs(bg @ lum - fg @ lum) >= 0.3:
            return bg.astype(np.float32), fg.astype(np.float32)


def build_syn(split: str, seed: int) -> dict[str, np.ndarray]:
    """Arrays for ``syn``: ``(N, 3, 32, 32)`` uint8 images and balanced labels; train 6,000, test 1,000 images,
    each split drawn from its own generator seeded by ``(seed, split)``."""
    from PIL import Image, ImageFilter

    fonts = digit_fonts()
    n = SIZES[split]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, 1111])
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    images = np.empty((n, 3, 32, 32), dtype=np.uint8)
    font_ids = rng.integers(0, len(fonts), size=n)
    for i in range(n):
        mask = _render_mask(fonts[font_ids[i]], int(labels[i]), size=int(rng.integers(34, 52)),
                            offset=tuple(rng.integers(-6, 7, size=2)), stroke=int(rng.integers(0, 3)),
                            angle=float(rng.uniform(-15, 15)))
        small = Image.fromarray((mask * 255).astype(np.uint8)).resize((32, 32), Image.BOX)
        m = np.asarray(small, dtype=np.float32)[None] / 255.0
        bg, fg = _colour_pair(rng)
        img = bg[:, None, None] * (1 - m) + fg[:, None, None] * m
        pil = Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8))
        pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.0, 1.0))))
        out = np.asarray(pil, dtype=np.float32) / 255.0 + rng.normal(0, 0.02, size=(32, 32, 3))
        images[i] = to_uint8(out).transpose(2, 0, 1)
    return {"images": images, "labels": labels, "font_ids": font_ids}
