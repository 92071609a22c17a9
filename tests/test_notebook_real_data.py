"""The paper notebooks run on a user's real data set, given as a folder (DATA=...): here a tiny fake Office-31 made
by the test, in the smoke budget, with the shipped EfficientNet-Lite0. What a GPU user runs at the paper budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uda_nb.papers import real_data as RD

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def fake_office31(root: Path, per_class: int = 6, size: int = 24) -> Path:
    """amazon / dslr / webcam, each with two classes of coloured squares (class = hue; domain = brightness)."""
    rng = np.random.default_rng(0)
    for k, domain in enumerate(RD.OFFICE["office31"]):
        for c, cls in enumerate(("back_pack", "bike")):
            folder = root / domain / "images" / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
                img[4:20, 4:20, c] = 150 + 30 * k
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_find_dataset_pairs_and_tasks(tmp_path):
    root = fake_office31(tmp_path / "office31")
    name, domains, _ = RD.find_dataset(root)
    assert (name, domains) == ("office31", ("amazon", "dslr", "webcam"))
    assert len(RD.domain_pairs(domains)) == 6
    tasks = RD.folder_tasks(root, pairs=[("amazon", "webcam")], image_size=16)
    task = tasks[("amazon", "webcam")]
    assert not task.target.has_labels and len(task.target) == len(task.target_test) == 12
    assert len(task.source) + len(task.source_test) == 12 and len(task.source_test) == 2  # round(6 / 5) per class
    with pytest.raises(FileNotFoundError, match="neither Office-31"):
        RD.find_dataset(root / "amazon")
    with pytest.raises(ValueError, match="does not hold"):
        RD.folder_tasks(root, pairs=[("amazon", "Art")])


@pytest.mark.parametrize("notebook", ["04_transpar", "05_gsda"])
def test_paper_notebook_runs_on_a_data_folder(notebook, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    root = fake_office31(tmp_path / "office31")
    for key, value in {"UDA_NB_BUDGET": "smoke", "UDA_NB_QUIET": "1", "UDA_NB_DATA": str(tmp_path / "data"),
                       "UDA_NB_CLAIMS_DIR": str(tmp_path / "claims"), "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"), str(out),
                               parameters={"DATA": str(root), "IMAGE_SIZE": 32}, cwd=str(NOTEBOOKS),
                               kernel_name="python3", progress_bar=False, log_output=False)
    text = json.dumps(json.load(open(out)), ensure_ascii=False)
    assert "Your data:** office31" in text and "amazon → dslr" in text
    assert "on your data (not written to the claims files" in text
    assert not list((tmp_path / "claims").glob("*.json"))  # the embedded claims are not overwritten


def fake_digit_folders(root: Path, per_class: int = 8, size: int = 28) -> Path:
    """mnist/ (grey strokes) and mnistm/ (strokes over colour noise), ten classes each, as image folders."""
    rng = np.random.default_rng(1)
    for domain in ("mnist", "mnistm"):
        for c in range(10):
            folder = root / domain / str(c)
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = np.zeros((size, size, 3), np.uint8) if domain == "mnist" else \
                    rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
                img[4:24, 2 + 2 * c:5 + 2 * c] = 255 - img[4:24, 2 + 2 * c:5 + 2 * c]  # the class: a stroke's place
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_dann_notebook_runs_on_mnist_and_mnistm_folders(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    root = fake_digit_folders(tmp_path / "digits")
    task, labeled = RD.pair_folder_task(root, "mnist", "mnistm")
    assert task.image_shape == (3, 32, 32) and not task.target.has_labels
    assert len(task.target) == len(labeled) and torch_equal(labeled.images, task.target.images)
    assert len(task.source_test) == len(task.target_test) == 20  # round(8 / 5) = 2 per class held out
    with pytest.raises(FileNotFoundError, match="has no sub-folder"):
        RD.pair_folder_task(root, "mnist", "svhn")
    for key, value in {"UDA_NB_BUDGET": "smoke", "UDA_NB_QUIET": "1", "UDA_NB_DATA": str(tmp_path / "data"),
                       "UDA_NB_CLAIMS_DIR": str(tmp_path / "claims"), "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / "01_dann.ipynb"), str(out), parameters={"DATA": str(root)},
                               cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False, log_output=False)
    text = json.dumps(json.load(open(out)), ensure_ascii=False)
    assert "your folders in" in text and "source=60 labeled, target=60 unlabeled" in text
    assert "3 runs (3 trained" in text
    assert not list((tmp_path / "claims").glob("*.json"))


def torch_equal(a, b) -> bool:
    import torch
    return bool(torch.equal(a, b))
