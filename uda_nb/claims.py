"""Claims tables: each notebook ends by checking the paper's claims against what it measured, and writes
them to ``<claims_dir>/<notebook>.claims.json`` (``reports/`` under ``make reports``) for the reports index
and later checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from .cache import save_json
from .config import claims_dir


@dataclass(frozen=True)
class Claim:
    """One claim: what the paper says, its number, ours (as text with its spread), and whether it holds here.

    ``holds`` must be computed from measured values in the notebook, never typed in.
    """

    claim: str
    paper: str
    ours: str
    holds: bool
    note: str = ""


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """The claims as a table (one row per claim)."""
    return pd.DataFrame([asdict(c) for c in claims])


def write_claims(notebook: str, claims: list[Claim], headline: dict | None = None, budget: str = "") -> str:
    """Write ``<notebook>.claims.json`` (atomic) and return its path. ``headline``: a few named numbers the
    reports index shows beside the notebook."""
    path = claims_dir() / f"{notebook}.claims.json"
    save_json(path, {"notebook": notebook, "budget": budget, "headline": headline or {},
                     "claims": [{**asdict(c), "holds": bool(c.holds)} for c in claims]})
    return str(path)
