"""Claims tables: each notebook ends by checking the paper's claims against what it measured, and writes
them to ``<claims_dir>/<notebook>.claims.json`` (``reports/`` under ``make reports``) for the reports index
and later checks.

How a claim is decided (never from one mean that sits inside the noise)
-----------------------------------------------------------------------
Every verdict comes from per-seed numbers, by one of three rules, and the claim records which:

``every seed``     (:data:`EVERY_SEED`) a comparison of two results paired by seed (same training seed, same
                   data) holds when it holds for *each* seed: ``a_i > b_i`` for all ``i``. A threshold claim
                   ("covers at least 50 % of the gap") holds when every seed's value is on the right side.
``beyond spread``  (:data:`BEYOND_SPREAD`) for results that cannot be paired by seed, ``a > b`` holds when
                   ``mean(a) - mean(b) > std(a) + std(b)`` (sample standard deviations over seeds): the
                   difference is larger than the seeds' spread.
``measured``       (:data:`MEASURED`) a single exact measurement with no seed noise (e.g. every generated
                   keypoint lies inside an area); the value is reported as is.

:func:`claim_greater` and :func:`claim_at_least` build :class:`Claim` rows from per-seed arrays, writing the
``ours`` cell as ``mean ± std`` and the per-seed values into the note, so a reader can check the verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .cache import save_json
from .config import claims_dir

EVERY_SEED = "every seed"
BEYOND_SPREAD = "beyond spread"
MEASURED = "measured"
RULES = (EVERY_SEED, BEYOND_SPREAD, MEASURED)
CHECK, CROSS = "✓", "✗"


@dataclass(frozen=True)
class Claim:
    """One claim: what the paper says, its number, ours (as text with its spread), and whether it holds here.

    ``holds`` must be computed from measured values in the notebook, never typed in; ``rule`` says how
    (one of :data:`RULES`); ``note`` carries the per-seed values or a caveat.
    """

    claim: str
    paper: str
    ours: str
    holds: bool
    note: str = ""
    rule: str = ""

    def __post_init__(self):
        if self.rule and self.rule not in RULES:
            raise ValueError(f"Claim rule {self.rule!r} is not one of {RULES}.")


def _per_seed(values, name: str) -> np.ndarray:
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: no per-seed values; a claim needs at least one measured seed.")
    return arr  # NaN (e.g. a gap covered where source-only equals the oracle) never satisfies a rule


def _std(arr: np.ndarray) -> float:
    return float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _undefined_note(*arrays: np.ndarray) -> str:
    bad = sum(int((~np.isfinite(a)).sum()) for a in arrays)
    return f"{bad} value(s) undefined (NaN), so the claim cannot hold." if bad else ""


def every_seed_greater(a, b) -> bool:
    """``a_i > b_i`` for every seed ``i`` (``a`` and ``b`` paired by seed, same length)."""
    a, b = _per_seed(a, "a"), _per_seed(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"every_seed_greater pairs results by seed, but got {a.size} and {b.size} values; "
                         "run both on the same seeds or use the 'beyond spread' rule.")
    return bool(np.all(a > b))


def beyond_spread_greater(a, b) -> bool:
    """``mean(a) - mean(b) > std(a) + std(b)``: the difference exceeds the seeds' spread (sample std)."""
    a, b = _per_seed(a, "a"), _per_seed(b, "b")
    return bool(a.mean() - b.mean() > _std(a) + _std(b))


def _fmt(value: float, digits: int, signed: bool = False) -> str:
    """``value`` to ``digits`` decimals, never ``"-0.0"`` (a value that rounds to zero prints as zero)."""
    rounded = round(float(value), digits) + 0.0  # -0.0 + 0.0 is +0.0
    return f"{rounded:+.{digits}f}" if signed else f"{rounded:.{digits}f}"


def fmt_mean_std(values, digits: int = 1, unit: str = "") -> str:
    """``"73.3 ± 1.5 %"`` (``± 0`` shown for a single seed, so the spread is always visible)."""
    arr = _per_seed(values, "values")
    return f"{_fmt(arr.mean(), digits)} ± {_fmt(_std(arr), digits)}{unit}"


def fmt_per_seed(values, digits: int = 1, signed: bool = False) -> str:
    """``"72.0 / 73.1 / 74.8"``; ``signed``: ``"+0.3 / -0.1"``, for differences."""
    return " / ".join(_fmt(v, digits, signed) for v in _per_seed(values, "values"))


def claim_greater(claim: str, paper: str, a, b, *, rule: str = EVERY_SEED, lower_is_better: bool = False,
                  digits: int = 1, unit: str = "", note: str = "", per: str = "seed") -> Claim:
    """A claim "``a`` is better than ``b``" decided per seed.

    ``a``, ``b``: per-seed values (paired by seed for :data:`EVERY_SEED`). ``lower_is_better``: the claim is
    ``a < b`` (an error, a distance). ``ours`` shows both as ``mean ± std``; the note lists every seed.
    """
    a, b = _per_seed(a, "a"), _per_seed(b, "b")
    x, y = (-a, -b) if lower_is_better else (a, b)
    if rule == EVERY_SEED:
        holds = every_seed_greater(x, y)
    elif rule == BEYOND_SPREAD:
        holds = beyond_spread_greater(x, y)
    else:
        raise ValueError(f"claim_greater decides by {EVERY_SEED!r} or {BEYOND_SPREAD!r}, not {rule!r}.")
    ours = f"{fmt_mean_std(a, digits, unit)} vs {fmt_mean_std(b, digits, unit)}"
    seeds = f"per {per} {fmt_per_seed(a, digits)} vs {fmt_per_seed(b, digits)}"
    return Claim(claim, paper, ours, holds, note=_join(f"{seeds}.", _undefined_note(a, b), note), rule=rule)


def claim_at_least(claim: str, paper: str, values, threshold: float, *, at_most: bool = False, digits: int = 1,
                   unit: str = "", note: str = "", per: str = "seed") -> Claim:
    """A threshold claim decided on every seed: every value ``>= threshold`` (``<=`` with ``at_most``)."""
    arr = _per_seed(values, "values")
    holds = bool(np.all(arr <= threshold) if at_most else np.all(arr >= threshold))
    seeds = f"per {per} {fmt_per_seed(arr, digits)}"
    return Claim(claim, paper, fmt_mean_std(arr, digits, unit), holds,
                 note=_join(f"{seeds}.", _undefined_note(arr), note), rule=EVERY_SEED)


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """The claims as a table for display: one row per claim, ``holds`` as ✓ / ✗, full text, no empty column."""
    frame = pd.DataFrame([asdict(c) for c in claims])
    if frame.empty:
        return frame
    frame["holds"] = [CHECK if h else CROSS for h in frame["holds"]]
    frame = frame[["claim", "paper", "ours", "holds", "rule", "note"]]
    return frame.loc[:, [c for c in frame.columns if frame[c].astype(str).str.strip().ne("").any()]]


def tally(claims: Sequence[Claim]) -> str:
    """``"3 of 4 hold"``."""
    return f"{sum(bool(c.holds) for c in claims)} of {len(claims)} hold"


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
                     "claims": [{**asdict(c), "holds": bool(c.holds)} for c in claims]})
    return str(path)
