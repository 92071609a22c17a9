"""``street``: an SVHN-like synthetic domain (3 x 32 x 32 in [0, 1], classes 0-9).

SVHN crops are house-number plates photographed in the street: the labelled digit sits in the centre, its
neighbours on the plate are cut by the crop, and the background is a plate or wall with photographic
texture, uneven light, low contrast and blur. ``street`` rebuilds those nuisances on top of the same font
renderer as ``syn`` (so the two differ the way SYN and SVHN differ, not by typeface):

- a house number of 1-3 digits in one font, spacing and colour (each side has a neighbour with probability
  0.75); the labelled digit is centred and its neighbours appear cut at the left/right edges (the
  distractors that make SVHN hard);
- the crop is tight around the centre digit (its height is 55-80 % of the image), with small rotation and
  jitter, and a random aspect (type condensed or extended by up to ~30 %);
- in 30 % of the crops the plate's edge or frame enters from one side;
- background: a plate colour mixed with a real photo patch (texture), a light gradient across the crop;
- digit colour at lower, varied contrast (luminance gap >= 0.2, against 0.3 in ``syn``), blur up to 2 px,
  sensor noise.
"""

from __future__ import annotations

import numpy as np

from .digits import to_uint8
from .photos import random_patches
from .syn import digit_fonts, load_font

SIZES = {"train": 6000, "test": 1000}
_CANVAS = (224, 96)  # (W, H): wide enough for three glyphs at the largest font size
_LUM = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _number_mask(font_path: str, digits: list[int], centre: int, size: int, spacing: int, angle: float,
                 crop_frac: float, jitter: tuple[float, float], width_factor: float = 1.0):
    """Draw ``digits`` as one house number, rotate about the centre digit, and crop around it.

    Returns a ``(32, 32)`` float mask in [0, 1]. ``crop_frac``: the centre digit's ink height as a fraction
    of the crop height; ``jitter``: offset of the crop centre in units of the digit height;
    ``width_factor``: crop width / crop height, so the square output condenses (> 1) or extends (< 1) the
    type, as house-number typefaces and oblique camera views do.
    """
    from PIL import Image, ImageDraw

    font = load_font(font_path, size)
    canvas = Image.new("L", _CANVAS, 0)
    draw = ImageDraw.Draw(canvas)
    widths = [draw.textlength(str(d), font=font) for d in digits]
    total = sum(widths) + spacing * (len(digits) - 1)
    x = (_CANVAS[0] - total) / 2
    ascent = font.getbbox("0")
    y = (_CANVAS[1] - (ascent[3] - ascent[1])) / 2 - ascent[1]
    box = None
    for i, (d, w) in enumerate(zip(digits, widths)):
        draw.text((x, y), str(d), fill=255, font=font)
        if i == centre:
            box = draw.textbbox((x, y), str(d), font=font)
        x += w + spacing
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    height = box[3] - box[1]
    if angle:
        canvas = canvas.rotate(angle, resample=Image.BILINEAR, center=(cx, cy))
    side = height / crop_frac
    half_w = side * width_factor / 2
    cx, cy = cx + jitter[0] * height, cy + jitter[1] * height
    crop = canvas.crop((round(cx - half_w), round(cy - side / 2), round(cx + half_w), round(cy + side / 2)))
    return np.asarray(crop.resize((32, 32), Image.BOX), dtype=np.float32) / 255.0


def _colours(rng: np.random.Generator):
    """A plate colour and a digit colour, both desaturated towards grey (street paint is rarely pure
    colour), whose luminances differ by at least 0.2."""
    while True:
        plate, ink = rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
        plate, ink = (c @ _LUM + float(rng.uniform(0.3, 1.0)) * (c - c @ _LUM) for c in (plate, ink))
        if abs(float((plate - ink) @ _LUM)) >= 0.2:
            return np.clip(plate, 0, 1), np.clip(ink, 0, 1)


def build_street(split: str, seed: int) -> dict[str, np.ndarray]:
    """Arrays for ``street``: ``(N, 3, 32, 32)`` uint8 images, balanced ``(N,)`` labels, and the number of
    digits on each plate (``n_digits``); train 6,000 / test 1,000 images from generators seeded by
    ``(seed, split)``."""
    from PIL import Image, ImageFilter

    fonts = digit_fonts()
    n = SIZES[split]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, 7373])
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    textures = random_patches(n, 32, rng)  # (N, 3, 32, 32) real photo texture under every plate
    images = np.empty((n, 3, 32, 32), dtype=np.uint8)
    n_digits = np.empty(n, dtype=np.int64)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 31.0 - 0.5
    for i in range(n):
        left, right = rng.random() < 0.75, rng.random() < 0.75
        digits = ([int(rng.integers(0, 10))] if left else []) + [int(labels[i])] + (
            [int(rng.integers(0, 10))] if right else [])
        n_digits[i] = len(digits)
        mask = _number_mask(fonts[int(rng.integers(0, len(fonts)))], digits, centre=int(left),
                            size=int(rng.integers(40, 61)), spacing=int(rng.integers(0, 9)),
                            angle=float(rng.uniform(-8, 8)), crop_frac=float(rng.uniform(0.55, 0.8)),
                            jitter=tuple(rng.uniform(-0.06, 0.06, size=2)),
                            width_factor=float(rng.uniform(0.75, 1.35)))[None]
        plate, ink = _colours(rng)
        mix = float(rng.uniform(0.25, 0.75))  # how much photo texture shows through the plate
        background = mix * textures[i] + (1 - mix) * plate[:, None, None]
        ink_img = ink[:, None, None] * (0.85 + 0.3 * textures[i].mean(0, keepdims=True))  # worn paint
        img = background * (1 - mask) + ink_img * mask
        if rng.random() < 0.3:  # the plate's edge or frame entering the crop on one side
            edge, width = int(rng.integers(0, 4)), int(rng.integers(2, 6))
            band = [slice(None)] * 3
            band[1 + edge % 2] = slice(0, width) if edge < 2 else slice(32 - width, 32)
            img[tuple(band)] = rng.random(3).astype(np.float32)[:, None, None]
        gx, gy = rng.uniform(-0.6, 0.6, size=2)
        img = img * (1.0 + gx * xx + gy * yy)[None]  # uneven daylight across the plate
        pil = Image.fromarray(to_uint8(img.transpose(1, 2, 0)))
        pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.4, 2.0))))
        out = np.asarray(pil, dtype=np.float32) / 255.0 + rng.normal(0, rng.uniform(0.01, 0.05), size=(32, 32, 3))
        images[i] = to_uint8(out).transpose(2, 0, 1)
    return {"images": images, "labels": labels, "n_digits": n_digits}
