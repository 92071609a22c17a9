"""prediction_agreement: a label-free stand-in for the target error, by hand; the RegDA recipe's specs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from uda_nb.metrics import pck_threshold, prediction_agreement
from uda_nb.papers import regda as R
from conftest import toy_keypoint_task, toy_keypoints


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


class _FixedPredictions(torch.nn.Module):
    """A stand-in keypoint model that predicts given positions, whatever the images (one image per row)."""

    def __init__(self, positions: torch.Tensor):
        super().__init__()
        self.positions = positions

    def predict_keypoints_by_head(self, x, heads):
        return {h: self.positions[: len(x)] for h in heads}


def test_outside_area_shares_read_predictions_not_labels_per_seed():
    task = toy_keypoint_task(k=1)
    target_test = task.target_test
    target_test.meta["keypoint_area"] = (8.0, 24.0, 8.0, 24.0)
    n = len(target_test)
    inside, outside = torch.full((n, 1, 2), 10.0), torch.full((n, 1, 2), 30.0)
    quarter = inside.clone()
    quarter[: n // 4] = 30.0  # a quarter of the images predicted outside the box
    tr = R.TaskRuns(task, [0, 1], runs={"m": [SimpleNamespace(method=_FixedPredictions(inside)),
                                              SimpleNamespace(method=_FixedPredictions(quarter))],
                                        "far": [SimpleNamespace(method=_FixedPredictions(outside))] * 2})
    assert R.outside_area_per_seed(tr, "m") == pytest.approx([0.0, 25.0])
    target_test.keypoints[:] = 30.0  # the labels play no part
    shares = R.outside_area_shares({"toy": tr}, rows=("m", "far"))
    assert shares["toy"]["m"] == pytest.approx([0.0, 25.0]) and shares["toy"]["far"] == pytest.approx([100.0, 100.0])
    table = R.outside_area_table(shares)
    assert list(table.method) == ["m", "far"] and table.loc[0, "toy"] == "12.5 ± 17.7 (0.0 / 25.0)"
    del target_test.meta["keypoint_area"]
    with pytest.raises(ValueError, match="keypoint_area"):
        R.outside_area_per_seed(tr, "m")
