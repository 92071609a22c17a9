"""Claims tables: each notebook ends by checking the paper's claims against what it measured, and writes
them to ``<claims_dir>/<notebook>.claims.json`` (``reports/`` under ``make reports``) for the reports index
and later checks.

How a claim is decided: three outcomes, never one mean that sits inside the noise (DESIGN.md section 3)
--------------------------------------------------------------------------------------------------------
A comparison "a beats b" is decided from the per-seed *paired* differences ``d_i = a_i - b_i`` (same training
seed, same data; the sign flipped when lower is better) and a **minimum effect** stated per claim, the smallest
difference that matters (1 point of accuracy, 1 PCK, 10 % of a gap, ...). With ``n`` seeds, mean ``m`` and
the two-sided 90 % Student-t interval ``[lo, hi] = m -/+ t_{0.95, n-1} s / sqrt(n)``:

``holds``         ``m > minimum`` and ``lo > 0`` (the interval excludes 0);
``fails``         ``hi < minimum`` (the whole interval lies below the smallest effect that matters);
``inconclusive``  otherwise: the seeds cannot tell the effect from noise.

One seed has no interval and is always inconclusive; two seeds give ``t = 6.31`` and decide only large,
steady effects, which is why headline comparisons run on three seeds or more.

A threshold claim ("covers at least 50 % of the gap") is the same rule with ``b_i`` the threshold and a
minimum of 0. Results that cannot be paired by seed (:data:`UNPAIRED`) use Welch's interval for the
difference of means. A single exact measurement with no seed noise (:data:`MEASURED`) holds or fails as is.

:func:`claim_greater` and :func:`claim_at_least` build :class:`Claim` rows from per-seed arrays. The ``ours``
cell shows ``mean ± std``; the note lists every seed and the interval; the claims file carries the per-seed
values as numbers (``per_seed``), the effect, the interval and the minimum, so a reader can recompute each
verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .cache import save_json
from .config import claims_dir

PAIRED = "paired"
UNPAIRED = "unpaired"
MEASURED = "measured"
RULES = (PAIRED, UNPAIRED, MEASURED)
HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
OUTCOMES = (HOLDS, FAILS, INCONCLUSIVE)
CONFIDENCE = 0.90
CHECK, CROSS, QUERY = "✓", "✗", "?"
MARKS = {HOLDS: CHECK, FAILS: CROSS, INCONCLUSIVE: QUERY}


@dataclass(frozen=True)
class Claim:
    """One claim: what the paper says, its number, ours (as text with its spread), and its outcome here.

    ``outcome`` is one of :data:`OUTCOMES` (a bool is read as holds / fails, for :data:`MEASURED` claims) and
    must be computed from measured values in the notebook, never typed in; ``rule`` says how (one of
    :data:`RULES`). ``minimum``: the smallest effect that matters; ``effect``: the mean difference (or the
    mean margin over a threshold); ``interval``: its 90 % t-interval; ``per_seed``: ``{"ours": [...],
    "baseline": [...]}`` as numbers, so the verdict can be recomputed from the claims file.
    """

    claim: str
    paper: str
    ours: str
    outcome: str
    note: str = ""
    rule: str = ""
    minimum: float | None = None
    effect: float | None = None
    interval: tuple | None = None
    per_seed: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.outcome, (bool, np.bool_)):
            object.__setattr__(self, "outcome", HOLDS if self.outcome else FAILS)
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Claim outcome {self.outcome!r} is not one of {OUTCOMES} (or a bool for a measured "
                             "claim); compute it with claim_greater / claim_at_least.")
        if self.rule and self.rule not in RULES:
            raise ValueError(f"Claim rule {self.rule!r} is not one of {RULES}.")

    @property
    def holds(self) -> bool:
        return self.outcome == HOLDS


def _per_seed(values, name: str) -> np.ndarray:
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: no per-seed values; a claim needs at least one measured seed.")
    return arr  # NaN (e.g. a gap covered where source-only equals the oracle) makes a claim inconclusive


def _std(arr: np.ndarray) -> float:
    return float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _undefined_note(*arrays: np.ndarray) -> str:
    bad = sum(int((~np.isfinite(a)).sum()) for a in arrays)
    return f"{bad} value(s) undefined (NaN), so the claim cannot be decided." if bad else ""


def _check_minimum(minimum) -> float:
    if isinstance(minimum, bool) or not isinstance(minimum, (int, float, np.integer, np.floating)):
        raise TypeError(f"minimum must be a number (the smallest effect that matters, e.g. 1.0 for one point), "
                        f"not {type(minimum).__name__} {minimum!r}.")
    if not np.isfinite(minimum) or minimum < 0:
        raise ValueError(f"minimum must be a finite number >= 0 (the smallest effect that matters), got {minimum!r}; "
                         "for 'no worse than' claims use claim_at_least on the differences with a negative threshold.")
    return float(minimum)


def paired_interval(d, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` of per-seed paired differences ``d`` (shape ``(n,)``): the two-sided Student-t
    interval ``mean -/+ t_{(1+confidence)/2, n-1} * std(d, ddof=1) / sqrt(n)``. One value has no interval:
    ``lo = hi = nan``."""
    d = _per_seed(d, "d")
    m = float(d.mean())
    if d.size < 2 or not np.all(np.isfinite(d)):
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return m, m - half, m + half


def welch_interval(a, b, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), lo, hi)`` for results that cannot be paired by seed: Welch's t-interval with the
    Welch-Satterthwaite degrees of freedom. Fewer than two values on either side: ``lo = hi = nan``."""
    a, b = _per_seed(a, "a"), _per_seed(b, "b")
    m = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return m, float("nan"), float("nan")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return m, m, m
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return m, m - half, m + half


def decide(effect: float, lo: float, hi: float, minimum: float) -> str:
    """The three-outcome rule (module docstring): holds when ``effect > minimum`` and ``lo > 0``; fails when
    ``hi < minimum``; inconclusive otherwise, and whenever the interval is undefined (one seed, NaN)."""
    if not (np.isfinite(effect) and np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if effect > minimum and lo > 0:
        return HOLDS
    if hi < minimum:
        return FAILS
    return INCONCLUSIVE


def _fmt(value: float, digits: int, signed: bool = False) -> str:
    """``value`` to ``digits`` decimals, never ``"-0.0"`` (a value that rounds to zero prints as zero)."""
    if not np.isfinite(value):
        return "n/a"
    rounded = round(float(value), digits) + 0.0  # -0.0 + 0.0 is +0.0
    return f"{rounded:+.{digits}f}" if signed else f"{rounded:.{digits}f}"


def fmt_mean_std(values, digits: int = 1, unit: str = "") -> str:
    """``"73.3 ± 1.5 %"`` (``± 0`` shown for a single seed, so the spread is always visible)."""
    arr = _per_seed(values, "values")
    return f"{_fmt(arr.mean(), digits)} ± {_fmt(_std(arr), digits)}{unit}"


def fmt_per_seed(values, digits: int = 1, signed: bool = False) -> str:
    """``"72.0 / 73.1 / 74.8"``; ``signed``: ``"+0.3 / -0.1"``, for differences."""
    return " / ".join(_fmt(v, digits, signed) for v in _per_seed(values, "values"))


def _interval_text(effect: float, lo: float, hi: float, digits: int, what: str) -> str:
    if np.isfinite(lo):
        return f"{what} {_fmt(effect, digits, True)}, 90 % interval [{_fmt(lo, digits, True)}, {_fmt(hi, digits, True)}]"
    return f"{what} {_fmt(effect, digits, True)}, no interval from one seed"


def _numbers(arr: np.ndarray) -> list:
    return [float(v) if np.isfinite(v) else None for v in arr]


def _finite_or_none(*values: float) -> tuple:
    return tuple(float(v) if np.isfinite(v) else None for v in values)


def claim_greater(claim: str, paper: str, a, b, *, minimum: float, lower_is_better: bool = False,
                  paired: bool = True, digits: int = 1, unit: str = "", note: str = "", per: str = "seed") -> Claim:
    """A claim "``a`` is better than ``b``" decided by the three-outcome rule (module docstring).

    ``a``, ``b``: per-seed values, shape ``(n,)``, paired by seed unless ``paired=False`` (then Welch's
    interval). ``minimum``: the smallest difference that matters, in the values' unit (e.g. ``1.0`` point).
    ``lower_is_better``: the claim is ``a < b`` (an error, a distance). ``ours`` shows both as
    ``mean ± std``; the note lists every seed, the mean difference, its interval and the minimum.
    """
    minimum = _check_minimum(minimum)
    a, b = _per_seed(a, "a"), _per_seed(b, "b")
    x, y = (-a, -b) if lower_is_better else (a, b)
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"claim_greater pairs results by seed, but got {a.size} and {b.size} values; run both "
                             "on the same seeds, or pass paired=False for results that cannot be paired.")
        effect, lo, hi = paired_interval(x - y)
    else:
        effect, lo, hi = welch_interval(x, y)
    outcome = decide(effect, lo, hi, minimum) if not _undefined_note(a, b) else INCONCLUSIVE
    ours = f"{fmt_mean_std(a, digits, unit)} vs {fmt_mean_std(b, digits, unit)}"
    better = "lower" if lower_is_better else "higher"
    seeds = f"per {per} {fmt_per_seed(a, digits)} vs {fmt_per_seed(b, digits)}"
    stat = _interval_text(effect, lo, hi, digits, f"{better} by")
    return Claim(claim, paper, ours, outcome,
                 note=_join(f"{seeds}; {stat}; minimum {_fmt(minimum, digits)}.", _undefined_note(a, b), note),
                 rule=PAIRED if paired else UNPAIRED, minimum=minimum, effect=float(effect) if np.isfinite(effect) else None,
                 interval=_finite_or_none(lo, hi), per_seed={"ours": _numbers(a), "baseline": _numbers(b)})


def claim_at_least(claim: str, paper: str, values, threshold: float, *, at_most: bool = False, digits: int = 1,
                   unit: str = "", note: str = "", per: str = "seed") -> Claim:
    """A threshold claim, values ``>= threshold`` (``<=`` with ``at_most``), by the three-outcome rule on the
    per-seed margins ``values - threshold`` with a minimum of 0: holds when the 90 % interval of the mean margin
    lies above 0, fails when it lies below, inconclusive otherwise. ``values``: shape ``(n,)``.

    For "no worse than b by more than m" pass the paired differences ``a - b`` and ``threshold=-m``.
    """
    arr = _per_seed(values, "values")
    threshold = float(threshold)
    margins = (threshold - arr) if at_most else (arr - threshold)
    effect, lo, hi = paired_interval(margins)
    outcome = decide(effect, lo, hi, 0.0) if not _undefined_note(arr) else INCONCLUSIVE
    side = "below" if at_most else "above"
    seeds = f"per {per} {fmt_per_seed(arr, digits)}"
    stat = _interval_text(effect, lo, hi, digits, f"mean {side} {_fmt(threshold, digits)} by")
    return Claim(claim, paper, fmt_mean_std(arr, digits, unit), outcome,
                 note=_join(f"{seeds}; {stat}.", _undefined_note(arr), note), rule=PAIRED, minimum=0.0,
                 effect=float(effect) if np.isfinite(effect) else None, interval=_finite_or_none(lo, hi),
                 per_seed={"ours": _numbers(arr), "baseline": [threshold] * arr.size})


def claim_all(claim: str, paper: str, parts: dict[str, Claim], *, ours: str, note: str = "") -> Claim:
    """A compound claim ("DD lies between source-only and RegDA") from its parts, each decided by the rule:
    holds when every part holds, fails when any part fails, inconclusive otherwise. ``parts``: ``{label:
    Claim}``; the note gives each part's outcome and effect, the claims file each part's per-seed values."""
    if not parts:
        raise ValueError("claim_all needs at least one part.")
    outcomes = [c.outcome for c in parts.values()]
    outcome = HOLDS if all(o == HOLDS for o in outcomes) else FAILS if FAILS in outcomes else INCONCLUSIVE
    said = "; ".join(f"{label}: {c.outcome} ({c.note.rstrip('.')})" for label, c in parts.items())
    return Claim(claim, paper, ours, outcome, note=_join(f"{said}.", note), rule=PAIRED,
                 per_seed={label: c.per_seed for label, c in parts.items()})


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """The claims as a table for display: one row per claim, the outcome as ``✓ holds`` / ``✗ fails`` /
    ``? inconclusive``, full text, no empty column."""
    frame = pd.DataFrame([asdict(c) for c in claims])
    if frame.empty:
        return frame
    frame["outcome"] = [f"{MARKS[o]} {o}" for o in frame["outcome"]]
    frame = frame[["claim", "paper", "ours", "outcome", "note"]]
    return frame.loc[:, [c for c in frame.columns if frame[c].astype(str).str.strip().ne("").any()]]


def counts(claims: Sequence) -> dict[str, int]:
    """``{"holds": h, "fails": f, "inconclusive": i}`` over :class:`Claim` objects or claims-file dicts (an old
    file's bool ``holds`` reads as holds / fails)."""
    out = dict.fromkeys(OUTCOMES, 0)
    for c in claims:
        outcome = c.get("outcome") if isinstance(c, dict) else c.outcome
        if outcome not in OUTCOMES:
            outcome = HOLDS if (c.get("holds") if isinstance(c, dict) else c.holds) else FAILS
        out[outcome] += 1
    return out


def tally(claims: Sequence) -> str:
    """``"3 of 7 hold, 2 fail, 2 inconclusive"`` (the parts that are zero left out, except the first)."""
    n = counts(claims)
    parts = [f"{n[HOLDS]} of {len(claims)} hold"]
    if n[FAILS]:
        parts.append(f"{n[FAILS]} fail{'s' if n[FAILS] == 1 else ''}")
    if n[INCONCLUSIVE]:
        parts.append(f"{n[INCONCLUSIVE]} inconclusive")
    return ", ".join(parts)


def _claim_record(c: Claim) -> dict:
    record = asdict(c)
    record["interval"] = list(c.interval) if c.interval is not None else None
    record["holds"] = bool(c.holds)  # kept for readers of older claims files
    return record


def method_headline(method: str, source_only: str, adapted: str, oracle: str, gap_covered: str, *,
                    oracle_label: str = "train-on-target") -> dict[str, str]:
    """A method notebook's headline in the reports index's fixed order: source-only, the method, the
    train-on-target oracle, gap covered (values as text, e.g. ``fmt_mean_std(...)``)."""
    return {"source-only": source_only, method: adapted, oracle_label: oracle, "gap covered": gap_covered}


def write_claims(notebook: str, claims: list[Claim], headline: dict | None = None, budget: str = "", *,
                 title: str = "", description: str = "", paper: str = "", baselines: dict | None = None) -> str:
    """Write ``<notebook>.claims.json`` (atomic) and return its path; ``reports/index.html`` is built from these.

    ``headline``: a few named numbers the index shows beside the notebook, as ``{label: value}`` in the order
    given (kept in ``headline_order``). Convention for a method notebook: source-only, the method, the
    train-on-target oracle, gap covered (:func:`method_headline` builds it), e.g.
    ``{"source-only": "54.5 ± 2.0", "DANN": "73.3 ± 1.5", "train-on-target": "95.0 ± 0.2",
    "gap covered": "46.5 ± 1.6 %"}``.
    ``title``: the notebook's title; ``description``: one line on what it shows; ``paper``: the reference
    (``"Ganin & Lempitsky, ICML 2015"``).
    ``baselines``: the baselines measured per domain pair, so that the index can tell where two notebooks
    report different numbers for the same pair: ``{"mnist → mnistm": {"source-only": "48.1 ± 1.8",
    "train-on-target": "96.3 ± 0.1", "network": "DANN digits net + BatchNorm"}}``.
    """
    path = claims_dir() / f"{notebook}.claims.json"
    headline = dict(headline or {})
    baselines = {str(pair): {str(k): str(v) for k, v in row.items()} for pair, row in (baselines or {}).items()}
    save_json(path, {"notebook": notebook, "title": title, "description": description, "paper": paper,
                     "budget": budget, "headline": headline, "headline_order": list(headline),
                     "baselines": baselines,
                     "claims": [_claim_record(c) for c in claims]})
    return str(path)
