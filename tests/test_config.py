"""Budgets, devices and paths resolve from arguments and environment, with clear errors."""

import pytest
import torch

from uda_nb import config


def test_budget_resolution(monkeypatch):
    monkeypatch.delenv("UDA_NB_BUDGET", raising=False)
    assert config.resolve_budget(None).name == "report"
    monkeypatch.setenv("UDA_NB_BUDGET", "smoke")
    assert config.resolve_budget(None).name == "smoke"
    assert config.resolve_budget("paper").name == "paper"  # an explicit parameter wins over the environment
    assert config.resolve_budget(" Report ").name == "report"
    b = config.resolve_budget("smoke")
    assert config.resolve_budget(b) is b and b.scaled(steps=3).steps == 3
    with pytest.raises(ValueError, match="Unknown budget 'huge'.*paper"):
        config.resolve_budget("huge")


def test_budgets_grow_from_smoke_to_paper():
    s, r, p = (config.BUDGETS[k] for k in ("smoke", "report", "paper"))
    assert s.steps < r.steps < p.steps and s.seeds <= r.seeds <= p.seeds


def test_device_resolution(monkeypatch):
    monkeypatch.setenv("UDA_NB_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.delenv("UDA_NB_DEVICE")
    assert config.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("UDA_NB_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            config.get_device()


def test_paths_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("UDA_NB_DATA", str(tmp_path / "d"))
    monkeypatch.delenv("UDA_NB_CLAIMS_DIR", raising=False)
    assert config.cache_dir("runs") == tmp_path / "d" / "cache" / "runs" and config.cache_dir("runs").is_dir()
    assert config.claims_dir() == tmp_path / "d" / "claims"
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path / "c"))
    assert config.claims_dir() == tmp_path / "c"


def test_seed_everything_makes_torch_repeatable():
    config.seed_everything(3)
    a = torch.rand(4)
    g = config.seed_everything(3)
    assert torch.equal(a, torch.rand(4)) and torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=config.seed_everything(3)))


def test_quiet_under_ci(monkeypatch):
    monkeypatch.delenv("UDA_NB_QUIET", raising=False)
    monkeypatch.setenv("CI", "true")
    assert config.quiet()
    monkeypatch.setenv("UDA_NB_QUIET", "0")
    assert not config.quiet()
