"""README.md's results table is the one the committed claims files give (``python -m uda_nb.reports
--results-table``), so the README cannot drift from the reports."""

from __future__ import annotations

import json

from uda_nb.config import REPO_ROOT
from uda_nb.reports import results_table


def test_readme_results_table_matches_the_committed_claims_files():
    table = results_table(REPO_ROOT / "reports")
    readme = (REPO_ROOT / "README.md").read_text()
    assert table in readme, ("README.md's results table differs from reports/*.claims.json: paste the output of "
                             "`.venv/bin/python -m uda_nb.reports --results-table` into README.md.")


def test_results_table_counts_the_three_outcomes(tmp_path):
    claims = [{"claim": "a", "outcome": "holds"}, {"claim": "b", "outcome": "fails"},
              {"claim": "c", "outcome": "inconclusive"}, {"claim": "d", "outcome": "holds"}]
    (tmp_path / "x.claims.json").write_text(json.dumps({"notebook": "x", "title": "X paper", "claims": claims,
                                                        "headline": {"ours": "1.0 %", "base": "0.5 %"},
                                                        "headline_order": ["base", "ours"]}))
    rows = results_table(tmp_path).splitlines()
    assert rows[2] == "| [x](reports/x.html) | X paper | a |  |  | partly | 2 / 1 / 1 |"


def test_the_verdict_follows_the_headline_claim_then_the_others():
    from uda_nb.reports import reproduces
    assert reproduces(["holds", "holds", "inconclusive"]) == "yes"
    assert reproduces(["holds", "fails"]) == "partly"
    assert reproduces(["inconclusive", "holds"]) == "partly"
    assert reproduces(["inconclusive", "inconclusive"]) == "no"
    assert reproduces(["fails", "holds", "holds"]) == "no"
    assert reproduces([]) == "no claims"
