"""The SVHN-like `street` domain: determinism, balance, the cut neighbour digits, muted colours."""

import numpy as np

from uda_nb.data import street, syn


def _luminance(images: np.ndarray) -> np.ndarray:
    return np.tensordot(np.array([0.299, 0.587, 0.114]), images.astype(np.float32) / 255.0, axes=([0], [1]))


def test_street_is_deterministic_per_seed_and_balanced():
    a, b, c = street.build_street("test", 0), street.build_street("test", 0), street.build_street("test", 1)
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])
    assert not np.array_equal(a["images"], c["images"])
    assert a["images"].shape == (1000, 3, 32, 32) and a["images"].dtype == np.uint8
    assert np.bincount(a["labels"], minlength=10).tolist() == [100] * 10
    train = street.build_street("train", 0)
    assert len(train["labels"]) == 6000 and not np.array_equal(train["images"][:1000], a["images"])


def test_street_plates_carry_neighbour_digits_in_muted_colours():
    a, s = street.build_street("test", 0), syn.build_syn("test", 0)
    counts = np.bincount(a["n_digits"], minlength=4)[1:] / len(a["n_digits"])
    # each side has a neighbour with probability 0.75: 1, 2, 3 digits with 1/16, 6/16, 9/16
    assert np.allclose(counts, [1 / 16, 6 / 16, 9 / 16], atol=0.05)
    # street paint is desaturated towards grey: mean saturation (max - min channel) well under syn's
    saturation = lambda x: (x.max(1).astype(np.float32) - x.min(1)).mean() / 255.0  # noqa: E731
    assert saturation(a["images"]) < 0.6 * saturation(s["images"])


def test_neighbours_show_up_at_the_left_and_right_edges():
    """Plates with a left neighbour have more ink variation in their leftmost columns than lone digits."""
    a = street.build_street("test", 0)
    lum = _luminance(a["images"])
    edge_var = lum[:, :, :4].std(axis=(1, 2)) + lum[:, :, -4:].std(axis=(1, 2))
    assert edge_var[a["n_digits"] == 3].mean() > 1.2 * edge_var[a["n_digits"] == 1].mean()
