"""01_dann runs on a user's own task file (DATA = "<path>.npz"), not only on the embedded data."""

import json
from pathlib import Path

import pytest

from uda_nb.data import load_domain, make_task
from uda_nb.data.user import save_task_npz

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_dann.ipynb"


def test_dann_notebook_trains_on_a_task_file(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    # a small task from the embedded digits, saved the way a user would save theirs
    src, tgt = load_domain("mnist", "train").subset(slice(0, 300)), load_domain("mnistm", "train").subset(slice(0, 300))
    task = make_task(src, tgt.unlabeled(), source_test=load_domain("mnist", "test").subset(slice(0, 100)),
                     target_test=load_domain("mnistm", "test").subset(slice(0, 100)))
    path = save_task_npz(tmp_path / "my_task.npz", task, labeled_target=tgt)
    monkeypatch.setenv("UDA_NB_BUDGET", "smoke")
    monkeypatch.setenv("UDA_NB_QUIET", "1")
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path / "data"))  # runs on this task never touch the shared cache
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"DATA": str(path)}, cwd=str(NOTEBOOK.parent),
                               kernel_name="python3", progress_bar=False, log_output=False)
    text = json.dumps(json.load(open(out)))
    assert "your task from" in text and "source=300 labeled, target=300 unlabeled" in text
    assert "3 runs (3 trained" in text  # source-only, DANN and the oracle trained on the file's data
    # a claims file describes the embedded experiment only: a user's task writes none
    assert not (tmp_path / "claims" / "01_dann.claims.json").exists()
