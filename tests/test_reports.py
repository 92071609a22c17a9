"""Claims files and the reports index."""

import json

from uda_nb.claims import Claim, claims_frame, write_claims
from uda_nb.reports import write_index


def test_claims_are_written_where_configured_and_indexed(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    claims = [Claim("A beats B", "76.7", "74.8 ± 4.6", True), Claim("gap >= 50 %", "52.9 %", "49.3 %", False)]
    path = write_claims("01_demo", claims, headline={"gap covered %": "49.3 ± 14.2"}, budget="report")
    data = json.loads(open(path).read())
    assert path == str(tmp_path / "01_demo.claims.json")
    assert [c["holds"] for c in data["claims"]] == [True, False] and data["budget"] == "report"
    assert claims_frame(claims).shape == (2, 5)
    index = write_index(tmp_path).read_text()
    assert "01_demo.html" in index and "49.3 ± 14.2" in index and index.count("<tr>") == 3
    assert "class='no'" in index and "class='ok'" in index
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave nothing behind
