"""The embedded dSprites domains (RegDA section 5.1): determinism, keypoints = shape centres inside the middle
area A of eq. 15, style-independent factors, and each style's look."""

import functools

import numpy as np
import pytest
import torch

from uda_nb.data import EMBEDDED, KeypointDomain, available_domains, dsprites, load_domain


@functools.lru_cache(maxsize=None)
def built(style: str, split: str = "test", seed: int = 0) -> dict:
    return dsprites.build_dsprites(style, split, seed)


@functools.lru_cache(maxsize=None)
def masks(split: str = "test", seed: int = 0) -> np.ndarray:
    return dsprites.render_masks(dsprites.sample_factors(split, seed))


def test_same_seed_same_bytes_other_seed_or_split_differs():
    a, b = built("scream"), dsprites.build_dsprites("scream", "test", 0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = dsprites.build_dsprites("scream", "test", 1)
    assert not np.array_equal(a["images"], c["images"]) and not np.array_equal(a["keypoints"], c["keypoints"])
    train = dsprites.sample_factors("train", 0)
    assert not np.array_equal(train["px"][:1000], dsprites.sample_factors("test", 0)["px"])


def test_arrays_have_the_contract_shapes_and_dtypes():
    out = built("color")
    n = dsprites.SIZES["test"]
    assert out["images"].shape == (n, 3, 64, 64) and out["images"].dtype == np.uint8
    assert out["keypoints"].shape == (n, 1, 2) and out["keypoints"].dtype == np.float32
    assert out["visible"].shape == (n, 1) and out["visible"].dtype == bool and out["visible"].all()
    assert out["shape"].dtype == np.int64 and out["scale"].dtype == np.float32
    assert out["orientation"].dtype == np.float32


def test_keypoints_lie_on_pixel_centres_of_the_middle_area():
    kp = built("noisy")["keypoints"]
    lo, hi = dsprites.MIDDLE
    assert (kp >= lo).all() and (kp < hi).all()
    assert np.allclose(kp % 1.0, 0.5)  # pixel centres 16.5 .. 47.5: the heat-map cell is in A = 16..47
    cells = dsprites.sample_factors("train", 0)["px"]
    assert set(cells.tolist()) == set(range(16, 48))  # the whole area is used, as in dSprites' 32 positions


def test_keypoint_is_the_centroid_of_the_drawn_shape_for_every_shape():
    out = built("color")
    weight = out["images"].astype(np.float64).sum(axis=1)  # colour is constant per image: weight ~ coverage
    total = weight.sum(axis=(1, 2))
    centres = np.arange(64) + 0.5
    cx = (weight.sum(axis=1) * centres).sum(axis=1) / total
    cy = (weight.sum(axis=2) * centres).sum(axis=1) / total
    err = np.hypot(cx - out["keypoints"][:, 0, 0], cy - out["keypoints"][:, 0, 1])
    for k, name in enumerate(dsprites.SHAPES):
        assert err[out["shape"] == k].max() < 0.2, name  # anti-aliased area centroid, uint8 rounding only


def test_heart_centroid_constant_is_the_area_centroid_of_the_implicit_heart():
    g = np.linspace(-1.5, 1.5, 1501)
    x, y = np.meshgrid(g, g)
    inside = (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
    assert abs(y[inside].mean() - dsprites.HEART_CENTROID_V) < 2e-3 and abs(x[inside].mean()) < 1e-9


def test_factors_and_keypoints_are_identical_across_styles_only_rendering_differs():
    ref = built("color")
    for style in ("noisy", "scream"):
        other = built(style)
        for key in ("keypoints", "shape", "scale", "orientation"):
            assert np.array_equal(ref[key], other[key]), (style, key)
        assert not np.array_equal(ref["images"], other["images"])


def test_factor_grid_balance_and_ranges():
    f = dsprites.sample_factors("train", 0)
    assert np.bincount(f["shape"]).tolist() == [2000, 2000, 2000]
    out = built("color", "test")
    assert np.allclose(np.unique(out["scale"]), np.linspace(0.5, 1.0, 6))
    orient = np.unique(out["orientation"])
    assert len(orient) == 40 and orient.min() == 0.0 and orient.max() < 2 * np.pi
    # no factor level dominates: every scale level holds ~1/6 of the training set
    assert np.bincount(f["scale"], minlength=6).min() > 0.13 * len(f["scale"])


def test_shapes_stay_inside_the_image_and_area_grows_with_scale_squared():
    m = masks("train")
    assert m[:, :4].max() == 0 and m[:, -4:].max() == 0 and m[:, :, :4].max() == 0 and m[:, :, -4:].max() == 0
    f = dsprites.sample_factors("train", 0)
    area = m.sum(axis=(1, 2)) / dsprites.SCALES[f["scale"]] ** 2
    for k in range(3):
        a = area[f["shape"] == k]
        assert a.std() / a.mean() < 0.03 and 250 < a.mean() < 320  # same size at every scale and angle


def test_orientation_turns_the_ellipse_counter_clockwise_on_screen():
    sprites = dsprites.sprites()[1, -1]  # ellipse, scale 1, all 40 angles: (40, 32, 32)
    c = np.arange(32) - 16.0
    dx, dy = np.meshgrid(c, c)
    for i, theta in enumerate(dsprites.ORIENTATIONS):
        w = sprites[i] / sprites[i].sum()
        u, v = dx, -dy  # v up
        cuu, cvv, cuv = (w * u * u).sum(), (w * v * v).sum(), (w * u * v).sum()
        axis = 0.5 * np.arctan2(2 * cuv, cuu - cvv)  # long axis angle, mod pi
        diff = (axis - theta + np.pi / 2) % np.pi - np.pi / 2
        assert abs(diff) < np.radians(2), (i, np.degrees(axis), np.degrees(theta))


def test_color_style_is_a_coloured_shape_on_black():
    img, m = built("color")["images"], masks()
    assert img.transpose(0, 2, 3, 1)[m == 0].max() == 0  # background exactly black
    assert img.transpose(0, 2, 3, 1)[m == 1].min() >= 127  # full-coverage pixels: every channel >= 0.5
    full = img.transpose(0, 2, 3, 1)[m == 1].astype(float)
    assert full.std(axis=0).mean() > 20  # colours vary between images


def test_noisy_style_is_a_white_shape_over_uniform_noise():
    img, m = built("noisy")["images"].transpose(0, 2, 3, 1), masks()
    assert img[m == 1].min() == 255
    bg = img[m == 0].astype(float) / 255
    assert abs(bg.mean() - 0.5) < 0.01 and abs(bg.std() - np.sqrt(1 / 12)) < 0.01  # U(0, 1)
    assert abs(np.corrcoef(bg[:-1, 0], bg[1:, 0])[0, 1]) < 0.02  # independent pixels


def test_scream_style_inverts_the_photo_under_the_shape():
    img, m = built("scream")["images"].astype(float) / 255, masks()
    # a photo is locally smooth, so across the shape's border inside ~ 1 - outside (inverted), not ~ outside
    inside = (m[:, :, :-1] == 1) & (m[:, :, 1:] == 0)  # (n, 64, 63): pixel inside, right neighbour outside
    a = img[:, :, :, :-1].transpose(0, 2, 3, 1)[inside]
    b = img[:, :, :, 1:].transpose(0, 2, 3, 1)[inside]
    assert np.abs(a + b - 1).mean() < 0.06 < np.abs(a - b).mean()
    bg = img.transpose(0, 2, 3, 1)[m == 0]
    per_image = img.reshape(len(img), 3, -1)
    assert per_image.std(axis=2).mean() > 0.03  # texture within an image, not a flat colour
    assert np.abs(bg[:, 0] - bg[:, 2]).mean() > 0.03  # colour, not grey


def test_load_domain_gives_a_keypoint_domain(isolated_data):
    assert available_domains("dsprites") == ["dsprites-color", "dsprites-noisy", "dsprites-scream"]
    assert EMBEDDED["dsprites-noisy"].is_keypoints and EMBEDDED["dsprites-noisy"].family == "dsprites"
    d = load_domain("dsprites-color", "test")
    assert isinstance(d, KeypointDomain) and d.keypoint_names == ("center",)
    assert d.images.shape == (1000, 3, 64, 64) and d.images.dtype == torch.float32
    assert 0.0 <= float(d.images.min()) and float(d.images.max()) <= 1.0
    assert torch.equal(d.keypoints, torch.from_numpy(built("color")["keypoints"]))
    assert d.unlabeled().keypoints is None


def test_bad_style_or_split_names_the_choices():
    with pytest.raises(ValueError, match="color.*noisy.*scream"):
        dsprites.build_dsprites("colour", "test", 0)
    with pytest.raises(ValueError, match="train"):
        dsprites.build_dsprites("color", "val", 0)
