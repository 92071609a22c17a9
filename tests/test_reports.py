"""Claims files, the reports index and the reports runner."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from uda_nb import reports
from uda_nb.claims import CHECK, CROSS, Claim, claims_frame, method_headline, write_claims
from uda_nb.reports import baseline_notes, load_entries, write_index

ROOT = Path(__file__).resolve().parents[1]


def test_claims_are_written_where_configured_and_indexed(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    claims = [Claim("A beats B", "76.7", "74.8 ± 4.6", True), Claim("gap >= 50 %", "52.9 %", "49.3 %", False),
              Claim("C beats D", "1", "2", "inconclusive")]
    path = write_claims("01_demo", claims, headline={"gap covered %": "49.3 ± 14.2"}, budget="report")
    data = json.loads(open(path).read())
    assert path == str(tmp_path / "01_demo.claims.json")
    assert [c["outcome"] for c in data["claims"]] == ["holds", "fails", "inconclusive"]
    assert [c["holds"] for c in data["claims"]] == [True, False, False] and data["budget"] == "report"
    assert claims_frame(claims).shape == (3, 4)  # no note: that column is left out
    index = write_index(tmp_path).read_text()
    assert "01_demo" in index and "49.3 ± 14.2" in index and "1 of 3 claims hold, 1 fail, 1 inconclusive" in index
    assert index.count("<tr><td class='holds") == 3
    assert f"class='holds no'>{CROSS} fails<" in index and f"class='holds ok'>{CHECK} holds<" in index
    assert "class='holds maybe'>? inconclusive<" in index
    assert "01_demo.html" not in index  # no HTML report yet: no dead link
    assert "no key figure" not in index and "class='thumb'" not in index  # no figure: no placeholder either
    (tmp_path / "01_demo.html").write_text("<html></html>")
    assert "href='01_demo.html'" in write_index(tmp_path).read_text()
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave nothing behind


def test_index_shows_title_paper_headline_in_order_and_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    headline = method_headline("DANN", "54.5 ± 2.0", "73.3 ± 1.5", "95.0 ± 0.2", "46.5 ± 1.6 %")
    assert list(headline) == ["source-only", "DANN", "train-on-target", "gap covered"]
    claims = [Claim("DANN beats source-only on MNIST -> MNIST-M", "76.7 vs 52.3", "73.3 ± 1.5 vs 54.5 ± 2.0",
                    True, note="per seed 72.0 / 73.1 / 74.8 vs 52.3 / 55.0 / 56.2.", rule="paired")]
    write_claims("01_dann", claims, headline, "report", title="DANN: Unsupervised Domain Adaptation",
                 description="Gradient reversal on MNIST → MNIST-M.", paper="Ganin & Lempitsky, ICML 2015")
    data = json.loads((tmp_path / "01_dann.claims.json").read_text())
    assert data["headline_order"] == list(headline)  # the json sorts keys; the order is kept beside it
    assert data["title"].startswith("DANN") and data["paper"] == "Ganin & Lempitsky, ICML 2015"
    index = write_index(tmp_path).read_text()
    positions = [index.index(f"<th>{label}</th>") for label in headline]
    assert positions == sorted(positions)  # source-only, method, oracle, gap covered
    for text in ("DANN: Unsupervised Domain Adaptation", "Gradient reversal on MNIST → MNIST-M.",
                 "Ganin &amp; Lempitsky, ICML 2015", "1 of 1 claims hold", "paired",
                 "per seed 72.0 / 73.1 / 74.8 vs 52.3 / 55.0 / 56.2.", "MNIST -&gt; MNIST-M"):
        assert text in index, text


def test_old_claims_files_still_index(tmp_path):
    (tmp_path / "00_data.claims.json").write_text(json.dumps({
        "budget": "report", "notebook": "00_data", "headline": {"b": "2", "a": "1"},
        "claims": [{"claim": "c", "holds": True, "note": "", "ours": "1", "paper": "2"}]}))
    entry = load_entries(tmp_path)[0]
    assert entry["title"] == "00_data" and entry["headline"] == [("b", "2"), ("a", "1")]
    assert "1 of 1 claims hold" in write_index(tmp_path).read_text()


def test_different_baselines_for_the_same_pair_get_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    claim = [Claim("x", "1", "1", True)]
    write_claims("00_data", claim, baselines={"mnist → mnistm": {
        "source-only": "48.1 ± 1.8", "train-on-target": "96.3 ± 0.1", "network": "DANN digits net + BatchNorm"},
        "syn → street": {"source-only": "76.2 ± 0.5", "network": "DANN digits net + BatchNorm"}})
    write_claims("01_dann", claim, baselines={"MNIST -> MNIST-M": {
        "source-only": "54.5 ± 2.0", "train-on-target": "96.3 ± 0.1", "network": "DANN digits net, centred"}})
    write_claims("02_other", claim, baselines={"syn->street": {
        "source-only": "76.2 ± 0.5", "network": "DANN digits net + BatchNorm"}})
    notes = baseline_notes(load_entries(tmp_path))
    assert notes == ["mnist → mnistm: 00_data reports source-only 48.1 ± 1.8 (DANN digits net + BatchNorm); "
                     "01_dann reports source-only 54.5 ± 2.0 (DANN digits net, centred): different networks or "
                     "training lengths."]
    index = write_index(tmp_path).read_text()
    assert "Same pair, different baselines" in index and "00_data reports source-only 48.1 ± 1.8" in index
    write_claims("01_dann", claim, baselines={"mnist → mnistm": {
        "source-only": "48.1 ± 1.8", "network": "DANN digits net + BatchNorm"}})
    assert baseline_notes(load_entries(tmp_path)) == []
    assert "Same pair, different baselines" not in write_index(tmp_path).read_text()


def test_reports_runs_quiet_kernels_and_single_notebooks(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "ablations").mkdir()
    for name in ("00_a", "01_b", "ablations/01a_c"):
        (notebooks / f"{name}.ipynb").write_text("{}")
    monkeypatch.setattr(reports, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.delenv("UDA_NB_QUIET", raising=False)
    ran = []

    def fake_execute(nb, out_dir):
        ran.append((nb.name, os.environ.get("UDA_NB_QUIET"), os.environ.get("UDA_NB_CLAIMS_DIR")))
        return out_dir / nb.name

    monkeypatch.setattr(reports, "execute", fake_execute)
    monkeypatch.setattr(reports, "export_html", lambda nb: (nb.with_suffix(".html"), []))
    out = tmp_path / "out"
    assert reports.main(["01_b", "--out", str(out)]) == 0
    assert ran == [("01_b.ipynb", "1", str(out))] and (out / "index.html").exists()
    ran.clear()
    assert reports.main(["--out", str(out)]) == 0
    # every notebook, the main ones first: an ablation reuses its main notebook's cached runs
    assert [r[0] for r in ran] == ["00_a.ipynb", "01_b.ipynb", "01a_c.ipynb"]
    ran.clear()
    assert reports.main(["01a_c", "--out", str(out)]) == 0  # a name is found in notebooks/ablations/ too
    assert [r[0] for r in ran] == ["01a_c.ipynb"]
    with pytest.raises(SystemExit):
        reports.main(["--html-only", "99_missing", "--out", str(out)])


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_targets():
    def dry(*args):
        return subprocess.run(["make", "-n", "-s", *args], cwd=ROOT, capture_output=True, text=True).stdout

    one = dry("reports", "NB=01_dann")
    assert "UDA_NB_QUIET=1" in one and "uda_nb.reports 01_dann" in one and "00_data" not in one
    everything = dry("reports")  # no names: uda_nb.reports runs every notebook (reports.all_notebooks)
    assert everything.strip().endswith("-m uda_nb.reports")
    assert "uda_nb.reports --html-only 01_dann" in dry("html", "NB=01_dann.ipynb")
    assert "uda_nb.reports --html-only" in dry("html")


def test_widget_cells_get_a_timeout_and_a_lost_message_reruns_the_notebook(tmp_path, monkeypatch):
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    assert reports._cell_timeout({"metadata": {"tags": ["interactive"]}}) == reports.WIDGET_CELL_TIMEOUT
    assert reports._cell_timeout({"metadata": {"tags": ["parameters"]}}) is None
    assert reports._cell_timeout({"metadata": {}}) is None
    calls = []

    def fake_execute(src, dst, **kwargs):
        calls.append(kwargs["timeout_func"])
        Path(dst).write_text("partial")
        if len(calls) == 1:  # the first execution loses a widget cell's reply
            raise CellTimeoutError("widget cell")
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("done")]), dst)

    monkeypatch.setattr(pm, "execute_notebook", fake_execute)
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    out = reports.execute(nb, tmp_path / "out")
    assert len(calls) == 2 and calls[0] is reports._cell_timeout
    assert nbformat.read(out, as_version=4).cells[0].source == "done"
    assert not list((tmp_path / "out").glob(".*running*"))

    calls.clear()

    def always_lost(src, dst, **kwargs):
        calls.append(1)
        raise CellTimeoutError("widget cell")

    monkeypatch.setattr(pm, "execute_notebook", always_lost)
    with pytest.raises(CellTimeoutError):
        reports.execute(nb, tmp_path / "out2", attempts=2)
    assert len(calls) == 2


def test_other_errors_are_not_retried(tmp_path, monkeypatch):
    import papermill as pm

    calls = []

    def broken(src, dst, **kwargs):
        calls.append(1)
        raise RuntimeError("a cell failed")

    monkeypatch.setattr(pm, "execute_notebook", broken)
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    with pytest.raises(RuntimeError):
        reports.execute(nb, tmp_path / "out")
    assert len(calls) == 1


def test_index_opens_with_a_summary_row_per_report_with_outcomes_and_time(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    write_claims("01_demo", [Claim("A beats B", "1", "2", True), Claim("C beats D", "1", "2", "inconclusive")],
                 headline={"gap covered": "49.3 %"}, budget="report", title="Demo paper")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/markdown": "This notebook ran in 1,359 s (budget report); 88 runs were trained.",
                              "text/plain": "<Markdown>"})])])
    nbformat.write(nb, tmp_path / "01_demo.ipynb")
    assert load_entries(tmp_path)[0]["seconds"] == 1359
    index = write_index(tmp_path).read_text()
    summary = index[index.index("<table class='summary'>"):]
    summary = summary[:summary.index("</table>")]
    assert "<a href='#01_demo'>Demo paper</a>" in summary and "gap covered 49.3 %" in summary
    assert "<span class='ok'>1</span> / <span class='no'>0</span> / <span class='maybe'>1</span>" in summary
    assert "23 min" in summary
    assert index.index("<table class='summary'>") < index.index("<section class='card'")
    # 00_data closes with its own wording
    nb.cells[0].outputs[0]["data"]["text/markdown"] = "**How long this took**: ... the whole notebook 187 s."
    nbformat.write(nb, tmp_path / "01_demo.ipynb")
    assert load_entries(tmp_path)[0]["seconds"] == 187


def test_another_budget_writes_beside_the_committed_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "reports_dir", lambda: tmp_path / "reports")
    monkeypatch.setenv("UDA_NB_BUDGET", "lecture")
    assert reports.default_out_dir() == tmp_path / "reports" / "lecture" and (tmp_path / "reports" / "lecture").is_dir()
    monkeypatch.setenv("UDA_NB_BUDGET", "report")
    assert reports.default_out_dir() == tmp_path / "reports"
    monkeypatch.delenv("UDA_NB_BUDGET")
    assert reports.default_out_dir() == tmp_path / "reports"
    ignored = (ROOT / ".gitignore").read_text()
    assert "reports/lecture/" in ignored and "reports/smoke/" in ignored


def test_a_notebook_can_be_named_by_its_number_and_a_wrong_name_lists_the_notebooks(capsys, tmp_path):
    from uda_nb.reports import _resolve, main

    assert _resolve("02a", False, tmp_path).name == "02a_regda_minimax.ipynb"
    assert _resolve("01_dann", False, tmp_path).name == "01_dann.ipynb"
    (tmp_path / "04a_transpar_scope.ipynb").write_text("{}")
    assert _resolve("04a", True, tmp_path) == tmp_path / "04a_transpar_scope.ipynb"
    with pytest.raises(SystemExit):
        main(["no_such_one", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "no such notebook" in err and "02a_regda_minimax" in err and "01_dann" in err
