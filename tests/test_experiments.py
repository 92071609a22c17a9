"""Cached seed sweeps: cache hits, corrupt entries, atomic writes, summary tables."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from uda_nb import experiments
from uda_nb.cache import atomic_write, cached_npz, config_key
from uda_nb.experiments import RunResult, RunSpec, format_mean_std, gap_covered_per_seed, run, summary_table
from conftest import toy_task

SPEC = RunSpec("dann", source="toy_src", target="toy_tgt", steps=6, batch_size=8, eval_every=3, eval_samples=None,
               adist_samples=16, snapshot_samples=8)


def test_second_run_is_a_cache_hit_with_identical_results(isolated_data):
    first = run(SPEC, 0, device="cpu", task=toy_task(), progress=False)
    second = run(SPEC, 0, device="cpu", task=toy_task(), progress=False)
    assert not first.cached and second.cached
    assert first.final == second.final
    pd.testing.assert_frame_equal(first.history, second.history, check_dtype=False)
    for k, v in first.method.state_dict().items():
        assert torch.equal(v, second.method.state_dict()[k])
    assert set(second.extras["snapshots"]) == {3, 6}
    # a different seed or spec is a different entry
    assert not run(SPEC, 1, device="cpu", task=toy_task(), progress=False).cached


def test_runs_are_counted_as_trained_or_loaded_for_a_reports_closing_line(isolated_data, monkeypatch):
    monkeypatch.setattr(experiments, "RUN_COUNTS", {"trained": set(), "loaded": set()})
    run(SPEC, 0, device="cpu", task=toy_task(), progress=False)
    run(SPEC, 0, device="cpu", task=toy_task(), progress=False)  # trained here, then loaded: counted as trained
    assert experiments.runs_note() == "1 run was trained"
    monkeypatch.setattr(experiments, "RUN_COUNTS", {"trained": set(), "loaded": set()})  # a fresh kernel
    for _ in range(3):  # one run loaded three times is one run
        run(SPEC, 0, device="cpu", task=toy_task(), progress=False)
    run(SPEC, 1, device="cpu", task=toy_task(), progress=False)
    assert len(experiments.RUN_COUNTS["loaded"]) == 1 and len(experiments.RUN_COUNTS["trained"]) == 1
    assert experiments.runs_note() == "1 run was trained and 1 was loaded from disk, saved by an earlier execution"
    assert experiments.runs_note({"trained": 0, "loaded": 26}) == ("all 26 runs were loaded from disk, saved when an "
                                                                    "earlier execution trained them")
    assert experiments.runs_note({"trained": 12, "loaded": 0}) == "12 runs were trained"


def test_corrupt_cache_entry_is_recomputed_with_a_warning(isolated_data):
    first = run(SPEC, 0, device="cpu", task=toy_task(), progress=False)
    entry = next((isolated_data / "cache" / "runs").iterdir())
    (entry / "model.pt").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="corrupt"):
        again = run(SPEC, 0, device="cpu", task=toy_task(), progress=False)
    assert not again.cached and again.final == first.final
    (entry / "result.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        assert not run(SPEC, 0, device="cpu", task=toy_task(), progress=False).cached
    # an entry written by an older layout (a key missing) is recomputed, not a crash
    meta = json.loads((entry / "result.json").read_text())
    del meta["history_columns"]
    (entry / "result.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="outdated"):
        assert not run(SPEC, 0, device="cpu", task=toy_task(), progress=False).cached


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.bin"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, object())  # fails while writing
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_cached_npz_rebuilds_a_corrupt_file(tmp_path):
    path = tmp_path / "a.npz"
    calls = []
    build = lambda: calls.append(1) or {"x": np.arange(3)}  # noqa: E731
    assert cached_npz(path, build)["x"].tolist() == [0, 1, 2]
    assert cached_npz(path, build)["x"].tolist() == [0, 1, 2] and len(calls) == 1
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        cached_npz(path, build)
    assert len(calls) == 2


def test_config_key_depends_on_every_field():
    assert config_key({"a": 1, "b": 2}) == config_key({"b": 2, "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    assert experiments.run_key(SPEC, 0, torch.device("cpu")) != experiments.run_key(SPEC, 1, torch.device("cpu"))
    assert experiments.run_key(SPEC, 0, torch.device("cpu")) != experiments.run_key(
        SPEC.with_method("source_only"), 0, torch.device("cpu"))


def _fake(seed, acc):
    return RunResult(SPEC, seed, {"target_acc": acc}, pd.DataFrame(), 0.0, None, {})


def test_summary_table_mean_std_and_gap_per_seed():
    res = {"source-only": [_fake(0, 0.5), _fake(1, 0.6)], "DANN": [_fake(0, 0.7), _fake(1, 0.8)],
           "oracle": [_fake(0, 0.9), _fake(1, 1.0)]}
    table = summary_table(res, paper={"DANN": 76.66})
    assert table.loc["DANN", "mean"] == pytest.approx(75.0)
    assert table.loc["DANN", "std"] == pytest.approx(np.std([70, 80], ddof=1))
    assert table.loc["DANN", "ours"] == "75.0 ± 7.1" and table.loc["DANN", "paper"] == 76.66
    assert np.isnan(table.loc["oracle", "paper"])
    assert gap_covered_per_seed(res["DANN"], res["source-only"], res["oracle"]).tolist() == pytest.approx([0.5, 0.5])
    assert format_mean_std([0.1, 0.3]) == "20.0 ± 14.1"


def test_a_custom_task_gets_its_own_cache_key(task):
    import torch
    from dataclasses import replace
    from uda_nb.experiments import RunSpec, run_key

    spec, cpu = RunSpec("source_only"), torch.device("cpu")
    assert run_key(spec, 0, cpu, task) != run_key(spec, 0, cpu)
    assert run_key(spec, 0, cpu, task) == run_key(spec, 0, cpu, task)
    other = replace(task, source=replace(task.source, images=task.source.images.flip(0)))
    assert run_key(spec, 0, cpu, other) != run_key(spec, 0, cpu, task)


def test_run_key_changes_when_a_domain_generator_changes(monkeypatch):
    import torch
    from dataclasses import replace
    from uda_nb.data import EMBEDDED
    from uda_nb.experiments import RunSpec, run_key

    spec, cpu = RunSpec("source_only", source="syn", target="street"), torch.device("cpu")
    before = run_key(spec, 0, cpu)
    monkeypatch.setitem(EMBEDDED, "street", replace(EMBEDDED["street"], version=EMBEDDED["street"].version + 1))
    assert run_key(spec, 0, cpu) != before
