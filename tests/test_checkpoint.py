"""Checkpoints and resume (uda_nb.checkpoint, fit(checkpoint=...)): a run killed after a checkpoint, or stopped
by SIGTERM, resumes to the weights of an uninterrupted run, bit for bit on the CPU; a damaged checkpoint is
reported and the run restarts. Every subprocess has a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from uda_nb.checkpoint import MAGIC, load_checkpoint, save_checkpoint

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import checkpoint_worker as worker  # noqa: E402

TIMEOUT_S = 120
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "UDA_NB_DEVICE": "cpu"}  # one thread: the same floats every time


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "checkpoint_worker.py"), *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _interrupt_after_first_checkpoint(proc: subprocess.Popen, checkpoint: Path, sig: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not checkpoint.exists():
        assert proc.poll() is None, "the worker ended before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(sig)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: as in the subprocesses


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "uninterrupted.pt"
    done = _finish(_worker(str(out)))
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=False)


def _assert_same_run(a: dict, b: dict) -> None:
    assert a["params"].keys() == b["params"].keys()
    assert all(torch.equal(a["params"][k], b["params"][k]) for k in a["params"]), "weights differ"
    assert all(torch.equal(a["masks"][k], b["masks"][k]) for k in a["masks"])
    assert a["history"].equals(b["history"]) and a["final"] == b["final"]
    assert a["tracker"] == b["tracker"] and a["snapshots"].keys() == b["snapshots"].keys()
    assert all(torch.equal(x, y) for k in a["snapshots"] for x, y in zip(a["snapshots"][k], b["snapshots"][k]))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, uninterrupted, sig):
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    proc = _worker(str(tmp_path / "never.pt"), str(checkpoint), "--slow")
    _interrupt_after_first_checkpoint(proc, checkpoint, sig)
    done = _finish(proc)
    assert not (tmp_path / "never.pt").exists(), "the worker finished: the interruption came too late"
    if sig == signal.SIGKILL:
        assert done.returncode == -signal.SIGKILL
    else:  # SIGTERM: a checkpoint at the end of the step, then a clear stop
        assert done.returncode != 0 and "TrainingInterrupted" in done.stderr and "resumes it" in done.stderr
    stopped_at = load_checkpoint(checkpoint)["step"]
    assert 0 < stopped_at < worker.STEPS
    resumed = _finish(_worker(str(tmp_path / "resumed.pt"), str(checkpoint)))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = torch.load(tmp_path / "resumed.pt", weights_only=False)
    assert result["resumed_from"] == stopped_at
    _assert_same_run(result, uninterrupted)


def test_a_damaged_checkpoint_is_reported_and_the_run_restarts(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    fresh = worker.train(steps=10)
    worker.train(checkpoint, steps=10)  # leaves its checkpoint of step 8
    assert load_checkpoint(checkpoint)["step"] == 8
    again = worker.train(checkpoint, steps=10)  # resumes at step 8
    assert again["resumed_from"] == 8 and all(torch.equal(again["params"][k], fresh["params"][k]) for k in fresh["params"])
    raw = bytearray(checkpoint.read_bytes())
    raw[-100] ^= 0xFF  # one damaged byte in the payload
    checkpoint.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="hash does not match.*starts again from step 0"):
        restarted = worker.train(checkpoint, steps=10)
    assert restarted["resumed_from"] == 0
    assert all(torch.equal(restarted["params"][k], fresh["params"][k]) for k in fresh["params"])


def test_checkpoint_files_are_whole_or_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"step": 3, "x": torch.arange(4)})
    assert path.read_bytes().startswith(MAGIC) and load_checkpoint(path)["step"] == 3
    path.write_bytes(path.read_bytes()[:-10])  # cut short
    with pytest.warns(UserWarning, match="cut short"):
        assert load_checkpoint(path) is None
    assert not path.exists()  # removed, so the next save starts clean
    (tmp_path / "other.pt").write_bytes(b"not a checkpoint\n")
    with pytest.warns(UserWarning, match="not a uda_nb checkpoint"):
        assert load_checkpoint(tmp_path / "other.pt") is None
    assert load_checkpoint(tmp_path / "missing.pt") is None


def test_a_checkpoint_of_another_run_is_not_used(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    worker.train(checkpoint, steps=10)
    with pytest.warns(UserWarning, match="belongs to a run of 10 steps"):
        other = worker.train(checkpoint, steps=12)
    assert other["resumed_from"] == 0
