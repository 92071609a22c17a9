"""prediction_agreement: a label-free stand-in for the target error, by hand; the RegDA recipe's specs."""

from __future__ import annotations

import pytest
import torch

from uda_nb.metrics import pck_threshold, prediction_agreement
from uda_nb.papers import regda as R
from conftest import toy_keypoints


def test_agreement_pck_counts_every_keypoint_within_the_threshold_and_ignores_labels():
    dom = toy_keypoints("t", n=2, k=3, size=64)  # PCK domain: threshold 0.05 * 64 = 3.2 px
    assert pck_threshold(64) == pytest.approx(3.2)
    a = torch.tensor([[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]],
                      [[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]])
    b = a.clone()
    b[0, 0, 0] += 3.0   # within 3.2 px: agree
    b[0, 1, 1] += 3.3   # beyond: disagree
    b[1, 2] += 10.0     # disagree
    # per keypoint over the 2 images: k0 2/2, k1 1/2, k2 1/2 -> mean 2/3, whatever the domain's own labels say
    dom.visible[:] = False
    assert prediction_agreement(a, b, dom)["pck"] == pytest.approx(2 / 3)
    assert prediction_agreement(a, a, dom)["pck"] == 1.0


def test_agreement_mae_is_the_normalised_distance_between_the_two_predictions():
    dom = toy_keypoints("t", n=2, k=1, size=64)
    dom.meta.update(metrics=("mae",), position_range=(16.5, 47.5))
    a = torch.tensor([[[20.0, 30.0]], [[40.0, 40.0]]])
    b = torch.tensor([[[20.0, 30.0 + 3.1]], [[40.0 - 6.2, 40.0]]])
    # |dy| = 3.1 px on image 0, |dx| = 6.2 px on image 1 over a 31-px range: (0.1 + 0.2) / 4 coordinates
    assert prediction_agreement(a, b, dom)["mae"] == pytest.approx(0.3 / 4)
    assert prediction_agreement(a, a, dom)["mae"] == 0.0


def test_agreement_needs_matching_prediction_shapes():
    dom = toy_keypoints("t", n=2, k=3)
    with pytest.raises(ValueError, match="same shape"):
        prediction_agreement(torch.zeros(2, 3, 2), torch.zeros(2, 2, 2), dom)


def test_the_recipe_standardises_images_everywhere_and_augments_hands_only():
    sizes = R.sizes_for("smoke")
    for spec in (R.pretrain_spec(R.HANDS[0], sizes), R.adapt_spec("regda", *R.HANDS, sizes),
                 R.oracle_spec(R.HANDS[1], sizes)):
        assert spec.model == {"norm": "image"} and spec.augment == "appearance+geometry"
    ds = R.adapt_spec("dd", "dsprites-color", "dsprites-scream", sizes)
    assert ds.model == {"norm": "image"} and ds.augment is None and ds.init_from.augment is None


def test_the_oracle_is_the_source_only_run_of_the_target_domain():
    """One training, not two: the Noisy oracle of C -> N is the model N -> S adapts from."""
    sizes = R.sizes_for("smoke")
    oracle = R.oracle_spec("dsprites-noisy", sizes)
    assert oracle == R.pretrain_spec("dsprites-noisy", sizes)
    assert oracle == R.adapt_spec("regda", "dsprites-noisy", "dsprites-scream", sizes).init_from
    assert oracle.source == oracle.target == "dsprites-noisy"
