"""Real colour photographs that ship inside installed packages (no download): the texture source for
MNIST-M style blends, photo backgrounds and occluders.

Sources: ``sklearn.datasets.load_sample_images`` (china, flower) and the colour images bundled with
scikit-image's ``skimage.data`` (astronaut, chelsea, coffee, rocket, hubble_deep_field,
immunohistochemistry, retina): 9 photos in a fixed order. All must be present, so that every machine
generates the same bytes; a missing one is an error that names the package to install.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

# Colour images bundled with scikit-image wheels (never fetched through pooch).
# A fixed list so the generated datasets are byte-identical on every machine with these packages.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                  "retina")


@functools.lru_cache(maxsize=1)
def load_photos() -> tuple[np.ndarray, ...]:
    """The 9 bundled photos as ``(H, W, 3)`` uint8 arrays, in a fixed order (sklearn's two, then skimage's)."""
    try:
        from sklearn.datasets import load_sample_images
        import skimage.data as skdata
    except ImportError as exc:  # pragma: no cover - both are declared dependencies
        raise RuntimeError("The embedded photos come from scikit-learn and scikit-image: "
                           "pip install scikit-learn scikit-image") from exc
    photos = [np.asarray(img, dtype=np.uint8) for img in load_sample_images().images]
    for name in SKIMAGE_PHOTOS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = _bundled_only(getattr(skdata, name))
        except Exception as exc:
            raise RuntimeError(f"skimage.data.{name}() is not bundled with this scikit-image ({exc}); "
                               "install a full scikit-image wheel (pip install -U scikit-image).") from exc
        photos.append(np.ascontiguousarray(_to_uint8(np.asarray(img)[..., :3])))
    return tuple(photos)


def _bundled_only(loader):
    """Call a skimage.data loader with network access disabled, so a missing file fails fast offline."""
    import socket

    original = socket.socket.connect

    def refuse(*args, **kwargs):
        raise OSError("uda_nb never downloads at run time")

    socket.socket.connect = refuse
    try:
        return loader()
    finally:
        socket.socket.connect = original


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    img = np.asarray(img, dtype=np.float64)
    if img.max() <= 1.0:
        img = img * 255.0
    return np.clip(img, 0, 255).astype(np.uint8)


def random_patches(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``size x size`` RGB patches cut from the bundled photos, as ``(n, 3, size, size)``
    float32 in ``[0, 1]``. Deterministic given ``rng``."""
    photos = load_photos()
    which = rng.integers(0, len(photos), size=n)
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i, p in enumerate(which):
        img = photos[p]
        h, w = img.shape[:2]
        y = rng.integers(0, h - size + 1)
        x = rng.integers(0, w - size + 1)
        out[i] = img[y:y + size, x:x + size].transpose(2, 0, 1) / 255.0
    return out
