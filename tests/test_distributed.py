"""Data-parallel training (uda_nb.distributed): 2 gloo processes on the CPU against one process.

``ddp_worker.py`` trains every case under ``torchrun --nproc_per_node=2`` once for the module; each test compares
one case. Every subprocess has a timeout, so no test can hang."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from uda_nb import distributed
from uda_nb.experiments import RunSpec, run, run_key
from uda_nb.launch import read_spec, spec_from_json, spec_to_json, write_spec

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import ddp_worker  # noqa: E402

BATCH, STEPS = 8, 6  # per rank; the one-process reference trains batches of 16
TIMEOUT_S = 300


def _torchrun(args: list[str], nproc: int = 2, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UDA_NB_DEVICE": "cpu", **(env or {})}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: as in the subprocesses


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    _torchrun([str(HERE / "ddp_worker.py"), str(out), str(BATCH), str(STEPS)])
    return {name: [torch.load(out / f"{name}-rank{r}.pt", weights_only=False) for r in (0, 1)]
            for name in ddp_worker.CASES}


@pytest.mark.parametrize("name", list(ddp_worker.CASES))
def test_two_processes_train_the_model_one_process_trains(two_ranks, name):
    rank0, rank1 = two_ranks[name]
    # the replicas never drift apart: the same averaged gradients, the same update, bit for bit
    assert rank0["params"].keys() == rank1["params"].keys()
    assert all(torch.equal(rank0["params"][k], rank1["params"][k]) for k in rank0["params"])
    # rank 0 evaluates and every rank returns its history and final metrics
    assert rank0["final"] == rank1["final"] and rank0["history"].equals(rank1["history"])
    kind = ddp_worker.CASES[name][2]
    ref = ddp_worker.train(name, 2 * BATCH, STEPS, ranks_in_one_process=2 if kind == "per_rank" else 0)
    worst = max(float((rank0["params"][k] - ref["params"][k]).abs().max()) for k in ref["params"])
    moved = max(float((rank0["params"][k] - init).abs().max()) for k, init in _initial(name).items())
    assert moved > 1e-3, "the case did not train: the comparison would prove nothing"
    assert worst < 1e-5, f"{name}: 2 ranks differ from one process by {worst:.2e}"
    # the logged losses are the mean over the ranks: for a per-sample mean, the one-process batch's loss
    assert rank0["history"]["loss"].iloc[-1] == pytest.approx(ref["history"]["loss"].iloc[-1], rel=1e-4, abs=1e-6)


def _initial(name: str) -> dict[str, torch.Tensor]:
    build, make_task, _ = ddp_worker.CASES[name]
    method, _ = build(make_task())
    return {n: p.detach().clone() for n, p in method.named_parameters()}


def test_transpar_freezes_the_same_weights_on_every_rank(two_ranks):
    rank0, rank1 = two_ranks["transpar_dann"]
    assert rank0["masks"] and rank0["masks"].keys() == rank1["masks"].keys()
    assert all(torch.equal(rank0["masks"][k], rank1["masks"][k]) for k in rank0["masks"])
    # a mask of a divided role keeps its ratio's fraction
    conv = [m for k, m in rank0["masks"].items() if k.startswith("features") and m.dim() == 4]
    assert conv and abs(sum(int(m.sum()) for m in conv) / sum(m.numel() for m in conv) - 0.5) < 0.01


def test_two_processes_resume_from_their_checkpoint(tmp_path):
    """Every rank's random streams (dropout, augmentation) go into the one checkpoint rank 0 writes; launched again,
    the run resumes from it on both ranks and ends where the uninterrupted run ended."""
    from uda_nb.checkpoint import load_checkpoint

    checkpoint, first, second = tmp_path / "checkpoint.pt", tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    _torchrun([str(HERE / "ddp_worker.py"), str(first), str(BATCH), "7", str(checkpoint)])  # saves at 3 and 6
    saved = load_checkpoint(checkpoint)
    assert saved["step"] == 6 and saved["world_size"] == 2 and len(saved["per_rank"]) == 2
    assert not torch.equal(saved["per_rank"][0]["rng"]["torch"], saved["per_rank"][1]["rng"]["torch"])
    _torchrun([str(HERE / "ddp_worker.py"), str(second), str(BATCH), "7", str(checkpoint)])  # resumes at 6
    for r in (0, 1):
        full = torch.load(first / f"checkpointed-rank{r}.pt", weights_only=False)
        resumed = torch.load(second / f"checkpointed-rank{r}.pt", weights_only=False)
        assert full["resumed_from"] == 0 and resumed["resumed_from"] == 6
        assert all(torch.equal(resumed["params"][k], full["params"][k]) for k in full["params"])
        assert resumed["history"].drop(columns="seconds").equals(full["history"].drop(columns="seconds"))


# ----------------------------------------------------------------------------------- one process, no torchrun


def test_one_process_is_left_alone():
    assert not distributed.is_distributed() and distributed.world_size() == 1 and distributed.is_main()
    g = torch.arange(6.0).view(2, 3)
    p = torch.nn.Parameter(torch.zeros(2, 3))
    p.grad = g.clone()
    distributed.average_gradients([p])
    assert torch.equal(p.grad, g)
    assert torch.equal(distributed.rank_slice(torch.arange(8), 4), torch.arange(4))
    assert distributed.broadcast_from_main({"a": 1}) == {"a": 1}


def test_averaged_gradients_shares_the_wrapped_optimizer():
    net = torch.nn.Linear(3, 2)
    inner = torch.optim.SGD(net.parameters(), lr=0.1)
    opt = distributed.AveragedGradients(inner)
    assert opt.param_groups is inner.param_groups and opt.state is inner.state
    net(torch.ones(1, 3)).sum().backward()
    before = net.weight.detach().clone()
    opt.step()
    assert torch.allclose(net.weight, before - 0.1 * torch.ones(2, 3))
    with pytest.raises(TypeError, match="already averages"):
        distributed.AveragedGradients(opt)


def test_clear_errors_for_a_wrong_launch(monkeypatch):
    with pytest.raises(RuntimeError, match="trains on 4 processes.*nproc=4"):
        distributed.check_world_size(4)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init_from_env()
    with pytest.raises(ValueError, match="needs CUDA"):
        distributed.sync_batchnorm(torch.nn.BatchNorm1d(3), torch.device("cpu"))


def test_world_size_is_part_of_the_run_and_its_key():
    spec = RunSpec("dann", steps=4, batch_size=8)
    cpu = torch.device("cpu")
    assert run_key(spec, 0, cpu) == run_key(replace(spec, world_size=1), 0, cpu)  # old keys stay
    assert run_key(replace(spec, world_size=2), 0, cpu) != run_key(spec, 0, cpu)
    with pytest.raises(ValueError, match="world_size"):
        RunSpec("dann", world_size=0)
    with pytest.raises(RuntimeError, match="trains on 2 processes"):
        run(replace(spec, world_size=2), 0, cache=False)


def test_a_spec_goes_through_json_unchanged(tmp_path):
    pre = RunSpec("source_only", source=("mnist", "syn"), target="mnistm", steps=5, batch_size=8)
    spec = RunSpec("dann", source=("mnist", "syn"), target="mnistm", steps=5, batch_size=8, init_from=pre,
                   init_modules=("features", "classifier"), transpar={"ratio": 0.5, "scope": ("feature",)},
                   target_classes=(0, 1, 2), model={"batch_norm": True}, world_size=2)
    path = write_spec(spec, tmp_path / "spec.json")
    back = read_spec(path)
    assert back == spec or spec_to_json(back) == spec_to_json(spec)
    assert run_key(back, 0, torch.device("cpu")) == run_key(spec, 0, torch.device("cpu"))
    with pytest.raises(ValueError, match="Unknown RunSpec fields"):
        spec_from_json({"method": "dann", "stepz": 5})
    with pytest.raises(FileNotFoundError, match="write_spec"):
        read_spec(tmp_path / "missing.json")


# ------------------------------------------------------------------------------- the command, end to end


@pytest.fixture
def digits_folder(tmp_path, monkeypatch):
    """A private data folder whose datasets are the shared cache's (mnist and mnistm built there if missing):
    runs land in the private folder only."""
    from uda_nb.config import cache_dir
    from uda_nb.data import make_task

    make_task("mnist", "mnistm")  # builds the embedded domains in the shared cache if they are missing
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "datasets").symlink_to(cache_dir("datasets"), target_is_directory=True)
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path))
    monkeypatch.setenv("UDA_NB_DEVICE", "cpu")
    return tmp_path


def test_launch_trains_on_two_processes_and_the_notebook_loads_the_run(digits_folder):
    from uda_nb.launch import is_cached, launch

    spec = RunSpec("dann", "mnist", "mnistm", steps=4, batch_size=8, eval_every=4, eval_samples=50)
    (result,) = launch(spec, seeds=[0], nproc=2, device="cpu", timeout=TIMEOUT_S)
    assert result.cached and result.spec.world_size == 2 and is_cached(result.spec, 0, "cpu")
    assert list(result.history["step"]) == [4] and 0.0 <= result.final["target_acc"] <= 1.0
    # 2 processes of 8 images per domain trained the model 1 process trains with 16
    one = run(replace(spec, batch_size=16), 0, device="cpu")
    worst = max(float((a - b).detach().abs().max()) for a, b in zip(result.method.parameters(), one.method.parameters()))
    assert worst < 1e-5
    # a second launch finds the run in the cache and starts no process
    assert launch(spec, seeds=[0], nproc=2, device="cpu", timeout=1)[0].final == result.final
