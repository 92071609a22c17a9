"""dSprites, the toy keypoint benchmark of RegDA (Jiang et al., CVPR 2021, section 5.1, Fig. 6, Table 1),
regenerated procedurally: 3 x 64 x 64 images of one shape (square, ellipse, heart) whose *position* is the
target, as a single keypoint ``"center"``.

Factors (the original dSprites grid, Matthey et al. 2017): shape (3), scale (6 values, linspace 0.5..1),
orientation (40 angles, multiples of 2 pi / 40), position x and y (32 values each). As in the original, one
position step is one pixel: the 32 positions are the pixel centres ``16.5, 17.5, ..., 47.5`` (coordinates
measured from the top-left corner of the top-left pixel), so every keypoint lies in RegDA's middle area
``A = {16 <= h <= 47, 16 <= w <= 47}`` (eq. 15; :data:`MIDDLE` ``= (16, 48)`` as a half-open pixel range).

Styles (the three domains; recipes of disentanglement_lib's colour / noisy / scream dSprites, which the
RegDA / Transfer-Learning-Library domains follow):

``color``  the shape in a random colour (each channel uniform in [0.5, 1]) on a black background;
``noisy``  a white shape over uniform per-pixel RGB noise, ``min(noise + mask, 1)``;
``scream`` a random 64 x 64 photo patch, colour-shifted ``(patch + u) / 2`` with ``u`` uniform RGB, as the
           background, and the shape's pixels inverted: ``1 - background`` under the shape.

The factors (shape, scale, orientation, position) come from a generator that does **not** depend on the
style, so for a given ``(seed, split)`` the three domains show exactly the same shapes at the same places and
differ only in rendering: the domain shift is pure appearance, as in the paper.

Departures from the original dSprites, all deliberate:

* shapes are anti-aliased (pixel value = exact area coverage, 6 x 6 supersampling) instead of binary;
* orientation uses 40 *distinct* angles ``k * 2 pi / 40`` (the original's ``linspace(0, 2 pi, 40)`` repeats
  0 = 2 pi);
* the shape sizes are our own (at scale 1: square side 17 px, ellipse 24 x 15 px, heart ~20 px wide, each
  ~285 px^2, a mean foreground fraction ~0.041 vs ~0.043 in the original); every shape stays >= 4 px inside
  the image at any position, scale and angle;
* the heart is the implicit curve ``(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0``, centred on its area centroid, so
  for every shape the keypoint is the shape's centre of mass (square and ellipse: their geometric centre);
* ``scream`` uses the 9 real photos bundled with scikit-learn / scikit-image (:mod:`.photos`) instead of
  Munch's *The Scream*, which does not ship with any package;
* N = 6,000 train / 1,000 test images sampled uniformly from the factor grid (the original enumerates all
  737,280 combinations); shapes are exactly balanced.
"""

from __future__ import annotations

import functools

import numpy as np

from .digits import to_uint8
from .photos import random_patches

KEYPOINT_NAMES = ("center",)
STYLES = ("color", "noisy", "scream")
SHAPES = ("square", "ellipse", "heart")
SIZES = {"train": 6000, "test": 1000}
SPLITS = ("train", "test")
IMAGE_SIZE = 64
MIDDLE = (16, 48)  # keypoint pixel coordinates lie in [16, 48): RegDA's area A (eq. 15), rows/cols 16..47

#: what a keypoint task on dSprites reports and where its keypoints can lie (RegDA section 5.1): MAE of the
#: position normalised over the 32 pixel centres 16.5 .. 47.5 (the original factor values 0 .. 1), and the
#: middle area A as a pixel box (x0, x1, y0, y1) for the one-keypoint ground-false map of eq. 15
TASK_META = {"metrics": ("mae",), "position_range": (MIDDLE[0] + 0.5, MIDDLE[1] - 0.5),
             "keypoint_area": (MIDDLE[0], MIDDLE[1], MIDDLE[0], MIDDLE[1])}

SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.arange(40) * (2 * np.pi / 40)
N_POSITIONS = MIDDLE[1] - MIDDLE[0]  # 32 positions per axis, one pixel apart

# Shape geometry at scale 1, in pixels (local frame: u to the right, v *up*, origin at the shape's centre).
SQUARE_HALF_SIDE = 8.5
ELLIPSE_SEMI_AXES = (12.0, 7.5)
HEART_UNIT = 8.9  # pixels per unit of the implicit heart (width 2.28 units, area 3.662 units^2)
HEART_CENTROID_V = 0.29348  # area centroid of (x^2+y^2-1)^3 - x^2 y^3 <= 0 (checked in the tests)

SPRITE = 32  # sprites are rasterised on a 32 x 32 window centred on a pixel centre, then pasted
SUPERSAMPLE = 6  # 6 x 6 samples per pixel -> coverage in steps of 1/36

DESCRIPTIONS = {
    "color": "dSprites shapes in a random colour on black (RegDA's Color domain); target: the shape's centre",
    "noisy": "dSprites white shapes over uniform RGB noise (RegDA's Noisy domain); target: the shape's centre",
    "scream": "dSprites shapes inverted over a colour-shifted real photo patch (RegDA's Scream domain, "
              "bundled photos for Munch); target: the shape's centre",
}
_FACTOR_STREAM = 6401  # generator constants: factors (style-independent) and appearance (per style)
_STYLE_STREAM = 6402


def shape_inside(shape: int, u: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Whether local points ``(u, v)`` (pixels, ``v`` up, origin at the shape's centre, shape unrotated)
    lie inside ``SHAPES[shape]`` drawn at ``scale``. Any array shapes (broadcast); returns bool."""
    if shape == 0:
        h = SQUARE_HALF_SIDE * scale
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    if shape == 1:
        a, b = ELLIPSE_SEMI_AXES[0] * scale, ELLIPSE_SEMI_AXES[1] * scale
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if shape == 2:
        x = u / (HEART_UNIT * scale)
        y = v / (HEART_UNIT * scale) + HEART_CENTROID_V  # the centroid sits at the origin
        return (x * x + y * y - 1.0) ** 3 - x * x * y ** 3 <= 0.0
    raise ValueError(f"Unknown shape index {shape}; shapes are {SHAPES}.")


@functools.lru_cache(maxsize=1)
def sprites() -> np.ndarray:
    """All ``3 x 6 x 40`` anti-aliased shape masks, ``(3, 6, 40, SPRITE, SPRITE)`` float32 coverage in [0, 1].

    Each is centred on the centre of pixel ``(SPRITE // 2, SPRITE // 2)``; since positions are whole pixels
    apart (as in dSprites), every image is one of these pasted at an integer offset. Pixel value = the
    fraction of its ``SUPERSAMPLE x SUPERSAMPLE`` sample points inside the shape.
    """
    s = SUPERSAMPLE
    # sample offsets (x right, y down) from the centre of the window's centre pixel
    coords = (np.arange(SPRITE * s) + 0.5) / s - (SPRITE // 2 + 0.5)
    dx, dy = np.meshgrid(coords, coords)  # (R, R): dx varies along columns
    dv = -dy  # shapes are defined with v up, so a positive angle turns them counter-clockwise on screen
    cos, sin = np.cos(ORIENTATIONS)[:, None, None], np.sin(ORIENTATIONS)[:, None, None]
    u_loc = cos * dx + sin * dv  # rotate the sample points by -theta = rotate the shape by +theta
    v_loc = -sin * dx + cos * dv
    out = np.empty((len(SHAPES), len(SCALES), len(ORIENTATIONS), SPRITE, SPRITE), dtype=np.float32)
    for k in range(len(SHAPES)):
        for j, scale in enumerate(SCALES):
            inside = shape_inside(k, u_loc, v_loc, float(scale))  # (40, R, R)
            out[k, j] = inside.reshape(len(ORIENTATIONS), SPRITE, s, SPRITE, s).mean(axis=(2, 4))
    return out


def sample_factors(split: str, seed: int) -> dict[str, np.ndarray]:
    """The factor indices of one split: ``shape``, ``scale``, ``orientation`` ``(N,)`` int64 indices into
    :data:`SHAPES`, :data:`SCALES`, :data:`ORIENTATIONS`, and ``px``, ``py`` ``(N,)`` int64 pixel indices in
    ``16..47``. Depends on ``(seed, split)`` only, never on the style."""
    _check_split(split)
    n = SIZES[split]
    rng = np.random.default_rng([seed, SPLITS.index(split), _FACTOR_STREAM])
    return {
        "shape": rng.permutation(np.arange(n) % len(SHAPES)).astype(np.int64),  # exactly balanced
        "scale": rng.integers(0, len(SCALES), size=n),
        "orientation": rng.integers(0, len(ORIENTATIONS), size=n),
        "px": rng.integers(MIDDLE[0], MIDDLE[1], size=n),
        "py": rng.integers(MIDDLE[0], MIDDLE[1], size=n),
    }


def render_masks(factors: dict[str, np.ndarray]) -> np.ndarray:
    """Shape coverage masks ``(N, 64, 64)`` float32 in [0, 1] for factor indices from :func:`sample_factors`;
    the shape's centre is at pixel ``(py, px)``'s centre, i.e. at ``(x, y) = (px + 0.5, py + 0.5)``."""
    n = len(factors["shape"])
    masks = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    offsets = np.arange(SPRITE) - SPRITE // 2
    rows = (factors["py"][:, None] + offsets)[:, :, None]  # (N, 32, 1)
    cols = (factors["px"][:, None] + offsets)[:, None, :]  # (N, 1, 32)
    masks[np.arange(n)[:, None, None], rows, cols] = sprites()[factors["shape"], factors["scale"],
                                                               factors["orientation"]]
    return masks


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown dSprites split {split!r}: use one of {SPLITS}.")


def _style_chunk(style: str, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render masks ``(n, 64, 64)`` in one style: float images ``(n, 3, 64, 64)`` in [0, 1]."""
    m = masks[:, None]  # (n, 1, 64, 64)
    n = len(masks)
    if style == "color":
        colour = rng.uniform(0.5, 1.0, size=(n, 3, 1, 1)).astype(np.float32)  # bright, so it differs from black
        return m * colour
    if style == "noisy":
        noise = rng.random((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        return np.minimum(noise + m, 1.0)
    if style == "scream":
        shift = rng.uniform(0.0, 1.0, size=(n, 3, 1, 1)).astype(np.float32)
        background = (random_patches(n, IMAGE_SIZE, rng) + shift) / 2.0
        return background * (1.0 - m) + (1.0 - background) * m  # the shape's pixels inverted
    raise ValueError(f"Unknown dSprites style {style!r}: use one of {STYLES}.")


def build_dsprites(style: str, split: str, seed: int) -> dict[str, np.ndarray]:
    """One split of one dSprites domain (RegDA section 5.1).

    Returns ``images`` uint8 ``(N, 3, 64, 64)``; ``keypoints`` float32 ``(N, 1, 2)`` pixel ``(x, y)`` of the
    shape's centre, inside :data:`MIDDLE` (eq. 15's area A); ``visible`` bool ``(N, 1)`` (all True); and the
    factors ``shape`` int64 ``(N,)`` (index into :data:`SHAPES`), ``scale`` float32 ``(N,)`` in [0.5, 1],
    ``orientation`` float32 ``(N,)`` radians. N = ``SIZES[split]`` (6,000 train, 1,000 test).

    Deterministic in ``(style, split, seed)``; the factors depend on ``(split, seed)`` only, so the three
    styles of one seed hold the same shapes at the same positions.
    """
    if style not in STYLES:
        raise ValueError(f"Unknown dSprites style {style!r}: use one of {STYLES}.")
    factors = sample_factors(split, seed)
    n = len(factors["shape"])
    rng = np.random.default_rng([seed, SPLITS.index(split), STYLES.index(style), _STYLE_STREAM])
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    chunk = 1000  # bounded float memory (~50 MB per chunk)
    for start in range(0, n, chunk):
        part = {k: v[start:start + chunk] for k, v in factors.items()}
        images[start:start + chunk] = to_uint8(_style_chunk(style, render_masks(part), rng))
    keypoints = np.stack([factors["px"], factors["py"]], axis=1)[:, None, :].astype(np.float32) + 0.5
    return {
        "images": images,
        "keypoints": keypoints,
        "visible": np.ones((n, 1), dtype=bool),
        "shape": factors["shape"],
        "scale": SCALES[factors["scale"]].astype(np.float32),
        "orientation": ORIENTATIONS[factors["orientation"]].astype(np.float32),
    }
