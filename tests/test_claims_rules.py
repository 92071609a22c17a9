"""The three-outcome rule that decides a claim from per-seed numbers (uda_nb.claims, DESIGN.md section 3)."""

import json

import numpy as np
import pytest
from scipy import stats

from uda_nb.claims import (FAILS, HOLDS, INCONCLUSIVE, MEASURED, PAIRED, UNPAIRED, Claim, claim_all, claim_at_least,
                           claim_greater,
                           claims_frame, counts, decide, fmt_mean_std, fmt_per_seed, paired_interval, tally,
                           welch_interval, write_claims)


def test_paired_interval_against_a_hand_computation():
    d = [1.0, 2.0, 4.0]  # mean 7/3, sample std sqrt(7/3), t(0.95, 2) = 2.919986
    m, lo, hi = paired_interval(d)
    half = 2.919986 * np.sqrt(7 / 3) / np.sqrt(3)
    assert m == pytest.approx(7 / 3)
    assert (lo, hi) == pytest.approx((7 / 3 - half, 7 / 3 + half), rel=1e-5)
    m1, lo1, hi1 = paired_interval([0.5])
    assert m1 == 0.5 and np.isnan(lo1) and np.isnan(hi1)  # one seed has no interval


def test_a_tenth_of_a_point_over_two_seeds_is_inconclusive_not_holds():
    # the review's case: RegDA 41.8 / 42.8 against DD 41.7 / 41.9 wins on both seeds but decides nothing
    c = claim_greater("RegDA beats DD", "72.5 vs 65.2", [41.8, 42.8], [41.7, 41.9], minimum=1.0)
    assert c.outcome == INCONCLUSIVE and not c.holds
    assert c.effect == pytest.approx(0.5)
    # the same tiny edge, steady over five seeds: the interval excludes 0 but lies below the minimum -> fails
    steady = claim_greater("x", "", [41.8, 42.1, 40.2, 43.0, 41.1], [41.7, 42.0, 40.1, 42.9, 41.0], minimum=1.0)
    assert steady.outcome == FAILS


def test_holds_needs_the_mean_above_the_minimum_and_the_interval_above_zero():
    a, b = [75.0, 77.0, 76.0], [70.0, 71.0, 72.0]  # differences 5, 6, 4
    assert claim_greater("a beats b", "", a, b, minimum=1.0).outcome == HOLDS
    assert claim_greater("a beats b by 6", "", a, b, minimum=6.0).outcome == INCONCLUSIVE  # mean 5 < 6 < hi
    assert claim_greater("a beats b by 10", "", a, b, minimum=10.0).outcome == FAILS  # hi = 7.9 < 10
    # a big mean that the seeds do not agree on: interval includes 0 -> inconclusive
    assert claim_greater("noisy", "", [80.0, 60.0, 79.0], [70.0, 70.0, 70.0], minimum=1.0).outcome == INCONCLUSIVE


def test_an_ordering_the_means_satisfy_is_not_failed_by_one_seed():
    # the old every-seed rule failed this; three outcomes call it inconclusive, or holds when the seeds agree
    c = claim_greater("x", "", [0.253, 0.373], [0.368, 0.360], lower_is_better=True, minimum=0.01, digits=3)
    assert c.outcome == INCONCLUSIVE


def test_lower_is_better_flips_the_sign_and_texts_show_every_seed():
    c = claim_greater("A-distance drops", "Figure 3", [1.40, 1.45, 1.42], [1.60, 1.62, 1.63], lower_is_better=True,
                      minimum=0.05, digits=2)
    assert c.outcome == HOLDS and c.rule == PAIRED and c.effect == pytest.approx(0.1933, abs=1e-3)
    assert c.ours == "1.42 ± 0.03 vs 1.62 ± 0.02"
    assert "per seed 1.40 / 1.45 / 1.42 vs 1.60 / 1.62 / 1.63" in c.note and "lower by +0.19" in c.note
    assert c.per_seed == {"ours": [1.40, 1.45, 1.42], "baseline": [1.60, 1.62, 1.63]}
    # differences 0.20 / 0.05 / 0.25: the mean clears the minimum but the interval reaches below 0
    assert claim_greater("A-distance drops", "", [1.40, 1.50, 1.45], [1.60, 1.55, 1.70], lower_is_better=True,
                         minimum=0.05).outcome == INCONCLUSIVE
    assert claim_greater("A-distance drops", "", [1.70, 1.65, 1.80], [1.60, 1.55, 1.70], lower_is_better=True,
                         minimum=0.05).outcome == FAILS


def test_unpaired_results_use_welchs_interval():
    a, b = [10.0, 12.0, 11.0], [7.0, 9.0, 8.0, 8.5]
    m, lo, hi = welch_interval(a, b)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3)
    half = stats.t.ppf(0.95, df) * np.sqrt(va + vb)
    assert (m, lo, hi) == pytest.approx((11 - 8.125, 11 - 8.125 - half, 11 - 8.125 + half))
    c = claim_greater("x", "", a, b, minimum=1.0, paired=False)
    assert c.rule == UNPAIRED and c.outcome == HOLDS
    with pytest.raises(ValueError, match="pairs results by seed"):
        claim_greater("x", "", [1, 2, 3], [1, 2], minimum=1.0)


def test_threshold_claims_use_the_interval_of_the_margin():
    c = claim_at_least("gap >= 50 %", "52.9 %", [60.0, 55.0, 45.0], 50.0)  # mean 53.3, interval spans 50
    assert c.outcome == INCONCLUSIVE and c.ours == "53.3 ± 7.6"
    assert claim_at_least("gap >= 50 %", "", [80.0, 82.0, 85.0], 50.0).outcome == HOLDS
    assert claim_at_least("gap >= 50 %", "", [30.0, 32.0, 35.0], 50.0).outcome == FAILS
    assert claim_at_least("held-out acc <= 60", "", [55.0, 58.0, 56.0], 60.0, at_most=True).outcome == HOLDS
    assert claim_at_least("x", "", [41.0, 42.0], 40.0, per="build").note.startswith("per build 41.0 / 42.0;")
    # no worse than b by more than 1 point: the paired differences against -1
    assert claim_at_least("no worse", "", np.array([0.2, -0.3, 0.1]), -1.0).outcome == HOLDS


def test_nan_values_are_inconclusive_and_named():
    c = claim_at_least("gap", "", [float("nan"), 60.0, 70.0], 50.0)
    assert c.outcome == INCONCLUSIVE and "1 value(s) undefined" in c.note
    assert claim_greater("a > b", "", [float("nan"), 1.0], [0.0, 0.0], minimum=0.1).outcome == INCONCLUSIVE
    assert claim_greater("one seed", "", [9.0], [0.0], minimum=0.1).outcome == INCONCLUSIVE
    assert fmt_mean_std([1.0]) == "1.0 ± 0.0"


def test_minimum_is_required_and_checked():
    with pytest.raises(TypeError):
        claim_greater("x", "", [1.0, 2.0], [0.0, 0.0])  # no minimum: every comparison must state one
    with pytest.raises(TypeError, match="minimum must be a number"):
        claim_greater("x", "", [1.0, 2.0], [0.0, 0.0], minimum="1")
    with pytest.raises(ValueError, match="negative threshold"):
        claim_greater("x", "", [1.0, 2.0], [0.0, 0.0], minimum=-1.0)


def test_decide_covers_the_three_outcomes_and_the_undefined_interval():
    assert decide(2.0, 0.5, 3.5, 1.0) == HOLDS
    assert decide(0.5, 0.2, 0.8, 1.0) == FAILS
    assert decide(2.0, -0.5, 4.5, 1.0) == INCONCLUSIVE
    assert decide(2.0, float("nan"), float("nan"), 1.0) == INCONCLUSIVE


def test_numbers_that_round_to_zero_print_without_a_minus_sign():
    assert fmt_per_seed([-0.04, 0.26, -0.06]) == "0.0 / 0.3 / -0.1"
    assert fmt_per_seed([-0.04, 0.26], signed=True) == "+0.0 / +0.3"
    assert fmt_per_seed([-0.34, 0.1], signed=True) == "-0.3 / +0.1"
    assert fmt_mean_std([-0.03, -0.05], digits=1) == "0.0 ± 0.0"
    assert fmt_mean_std([0.0104, 0.0118], digits=3, unit=" MAE") == "0.011 ± 0.001 MAE"


def test_claims_frame_marks_three_outcomes_and_tally_counts_them():
    claims = [Claim("A", "1", "2", True, rule=MEASURED), Claim("B", "1", "0", False, rule=MEASURED),
              Claim("C", "1", "0", INCONCLUSIVE, rule=PAIRED)]
    frame = claims_frame(claims)
    assert list(frame["outcome"]) == ["✓ holds", "✗ fails", "? inconclusive"]
    assert "note" not in frame.columns
    assert tally(claims) == "1 of 3 hold, 1 fails, 1 inconclusive"
    assert counts([{"holds": True}, {"outcome": "inconclusive"}]) == {HOLDS: 1, FAILS: 0, INCONCLUSIVE: 1}
    with pytest.raises(ValueError, match="not one of"):
        Claim("A", "1", "2", True, rule="majority")
    with pytest.raises(ValueError, match="outcome"):
        Claim("A", "1", "2", "maybe")


def test_claims_file_carries_per_seed_numbers_effect_minimum_and_outcome(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    c = claim_greater("a beats b", "", [75.0, 77.0, 76.0], [70.0, 71.0, 72.0], minimum=1.0)
    path = write_claims("99_x", [c, claim_greater("one", "", [float("nan")], [1.0], minimum=1.0)])
    data = json.loads(open(path).read())  # strict JSON: no NaN
    rec = data["claims"][0]
    assert rec["per_seed"] == {"ours": [75.0, 77.0, 76.0], "baseline": [70.0, 71.0, 72.0]}
    assert rec["outcome"] == HOLDS and rec["holds"] is True and rec["minimum"] == 1.0
    assert rec["effect"] == pytest.approx(5.0) and rec["interval"][0] > 0
    assert data["claims"][1]["per_seed"]["ours"] == [None] and data["claims"][1]["interval"] == [None, None]


def test_a_compound_claim_holds_only_when_every_part_holds():
    so, dd, regda = [0.37, 0.36, 0.38], [0.25, 0.37, 0.30], [0.08, 0.08, 0.09]
    parts = {"DD below source-only": claim_greater("", "", dd, so, minimum=0.01, lower_is_better=True, digits=3),
             "RegDA below DD": claim_greater("", "", regda, dd, minimum=0.01, lower_is_better=True, digits=3)}
    c = claim_all("DD lies between", "0.314 > 0.079 > 0.029", parts, ours="...")
    assert parts["RegDA below DD"].outcome == HOLDS and parts["DD below source-only"].outcome == INCONCLUSIVE
    assert c.outcome == INCONCLUSIVE and "RegDA below DD: holds" in c.note
    assert set(c.per_seed) == set(parts)
    worse = dict(parts, **{"DD below source-only": claim_greater("", "", [0.5, 0.5, 0.52], so, minimum=0.01,
                                                                 lower_is_better=True)})
    assert claim_all("x", "", worse, ours="").outcome == FAILS
    both = dict(parts, **{"DD below source-only": claim_greater("", "", [0.2, 0.21, 0.2], so, minimum=0.01,
                                                                lower_is_better=True)})
    assert claim_all("x", "", both, ours="").outcome == HOLDS
