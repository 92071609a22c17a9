"""Shift measurements of the data tour: the per-pair table by hand, the A-distance matrix, the training grid."""

import numpy as np
import pandas as pd
import pytest
import torch

from uda_nb.experiments import RunSpec
from uda_nb.papers.shift import a_distance_matrix, accuracy_matrix, cross_domain_accuracy, shift_per_seed, shift_table


def _table():
    acc = {("a", "a"): [0.9, 0.8], ("a", "b"): [0.5, 0.6], ("b", "b"): [0.95, 0.85], ("b", "a"): [0.7, 0.7]}
    return pd.DataFrame([{"seed": s, "train": tr, "test": te, "accuracy": v[s]}
                         for (tr, te), v in acc.items() for s in (0, 1)])


def test_shift_table_against_hand_computation():
    row = shift_table(_table(), [("a", "b")]).iloc[0]
    # source-only a->b: 50, 60; oracle b->b: 95, 85; per-seed shift 45, 25
    assert row["pair"] == "a->b"
    assert row["source_only"] == pytest.approx(55.0) and row["oracle"] == pytest.approx(90.0)
    assert row["shift"] == pytest.approx(35.0) and row["shift_std"] == pytest.approx(np.std([45, 25], ddof=1))
    with pytest.raises(ValueError, match="train on both"):
        shift_table(_table(), [("a", "c")])


def test_accuracy_matrix_rows_are_training_domains():
    m = accuracy_matrix(_table())
    assert list(m.index) == ["a", "b"] and m.loc["b", "a"] == pytest.approx(0.7) and m.loc["a", "b"] == pytest.approx(0.55)


def test_a_distance_matrix_is_symmetric_and_separates_what_differs():
    g = torch.Generator().manual_seed(0)
    same1, same2 = torch.rand(200, 1, 4, 4, generator=g), torch.rand(200, 1, 4, 4, generator=g)
    other = torch.rand(200, 1, 4, 4, generator=g) + 1.0
    m = a_distance_matrix({"x": same1, "y": same2, "z": other})
    assert np.allclose(m.values, m.values.T) and np.all(np.diag(m.values) == 0)
    assert m.loc["x", "y"] < 0.5 and m.loc["x", "z"] > 1.9  # same distribution ~0, disjoint ~2


def test_cross_domain_accuracy_trains_once_per_domain_and_seed(isolated_data):
    spec = RunSpec("source_only", steps=3, batch_size=8, eval_every=3, eval_samples=20)
    table = cross_domain_accuracy(["uci"], spec, seeds=[0, 1], progress=False)
    assert len(table) == 2 and table["accuracy"].between(0, 1).all()
    assert len(list((isolated_data / "cache" / "runs").iterdir())) == 2  # one cached run per seed
    with pytest.raises(ValueError, match="source-only"):
        cross_domain_accuracy(["uci"], RunSpec("dann"), seeds=[0])


def test_shift_per_seed_pairs_runs_by_seed():
    per_seed = shift_per_seed(_table(), "a", "b")
    assert list(per_seed.index) == [0, 1]
    assert per_seed["source_only"].tolist() == pytest.approx([50.0, 60.0])
    assert per_seed["oracle"].tolist() == pytest.approx([95.0, 85.0])
    assert per_seed["shift"].tolist() == pytest.approx([45.0, 25.0])  # the values a per-seed claim decides on
