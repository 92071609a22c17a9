"""The rules that decide a claim from per-seed numbers (uda_nb.claims)."""

import numpy as np
import pytest

from uda_nb.claims import (BEYOND_SPREAD, CHECK, CROSS, EVERY_SEED, MEASURED, Claim, beyond_spread_greater,
                           claim_at_least, claim_greater, claims_frame, every_seed_greater, fmt_mean_std, fmt_per_seed,
                           tally)


def test_every_seed_needs_every_pair():
    assert every_seed_greater([3, 4, 5], [1, 2, 3])
    assert not every_seed_greater([3, 4, 5], [1, 2, 6])  # one seed against it is enough to fail
    with pytest.raises(ValueError, match="pairs results by seed"):
        every_seed_greater([1, 2, 3], [1, 2])


def test_beyond_spread_is_mean_difference_against_summed_std():
    a, b = np.array([10.0, 12.0]), np.array([7.0, 9.0])  # means 11 vs 8, std 1.414 each: 3 > 2.83
    assert beyond_spread_greater(a, b)
    assert not beyond_spread_greater(a, b + 0.5)  # 2.5 < 2.83: inside the noise
    # the old "A-distance drops" verdict: 1.51 vs 1.57 with ~0.07 spread decides nothing by either rule
    dann, so = [1.45, 1.60, 1.48], [1.55, 1.52, 1.65]
    assert not beyond_spread_greater(np.negative(dann), np.negative(so))
    assert not every_seed_greater(np.negative(dann), np.negative(so))

def test_claim_greater_lower_is_better_and_texts():
    c = claim_greater("A-distance drops", "Figure 3", [1.40, 1.50, 1.45], [1.60, 1.55, 1.70], lower_is_better=True,
                      digits=2)
    assert c.holds and c.rule == EVERY_SEED
    assert c.ours == "1.45 ± 0.05 vs 1.62 ± 0.08"
    assert "per seed 1.40 / 1.50 / 1.45 vs 1.60 / 1.55 / 1.70" in c.note
    worse = claim_greater("A-distance drops", "Figure 3", [1.40, 1.60], [1.50, 1.55], lower_is_better=True)
    assert not worse.holds
    assert claim_greater("x", "y", [5, 6], [1, 2], rule=BEYOND_SPREAD).rule == BEYOND_SPREAD
    with pytest.raises(ValueError, match="decides by"):
        claim_greater("x", "y", [1], [0], rule=MEASURED)


def test_claim_at_least_decides_on_every_seed_not_the_mean():
    c = claim_at_least("gap >= 50 %", "52.9 %", [60.0, 55.0, 45.0], 50.0)  # mean 53.3 >= 50, one seed below
    assert not c.holds and c.ours == "53.3 ± 7.6"
    assert claim_at_least("held-out acc <= 60", "", [55.0, 58.0], 60.0, at_most=True).holds
    assert claim_at_least("x", "", [41.0, 42.0], 40.0, per="build").note == "per build 41.0 / 42.0."


def test_nan_values_never_hold_and_are_named():
    c = claim_at_least("gap", "", [float("nan"), 60.0], 50.0)
    assert not c.holds and "1 value(s) undefined" in c.note
    assert not claim_greater("a > b", "", [float("nan")], [0.0]).holds
    assert fmt_mean_std([1.0]) == "1.0 ± 0.0"


def test_numbers_that_round_to_zero_print_without_a_minus_sign():
    assert fmt_per_seed([-0.04, 0.26, -0.06]) == "0.0 / 0.3 / -0.1"
    assert fmt_per_seed([-0.04, 0.26], signed=True) == "+0.0 / +0.3"
    assert fmt_per_seed([-0.34, 0.1], signed=True) == "-0.3 / +0.1"
    assert fmt_mean_std([-0.03, -0.05], digits=1) == "0.0 ± 0.0"
    assert fmt_mean_std([0.0104, 0.0118], digits=3, unit=" MAE") == "0.011 ± 0.001 MAE"


def test_claims_frame_marks_and_hides_empty_columns():
    claims = [Claim("A", "1", "2", True, rule=MEASURED), Claim("B", "1", "0", False, rule=MEASURED)]
    frame = claims_frame(claims)
    assert list(frame["holds"]) == [CHECK, CROSS]
    assert "note" not in frame.columns and "rule" in frame.columns
    assert tally(claims) == "1 of 2 hold"
    with pytest.raises(ValueError, match="not one of"):
        Claim("A", "1", "2", True, rule="majority")
