"""RunSpec's later fields (backbone, optimizer, init_from) and pretrain-then-adapt through the run cache."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from uda_nb import experiments, methods
from uda_nb.cache import config_key
from uda_nb.experiments import RUNS_VERSION, RunSpec, load_modules, run, run_key
from conftest import toy_keypoint_task


def test_new_fields_leave_the_keys_of_older_runs_unchanged():
    """A spec that does not set the fields added for keypoints hashes exactly as before they existed, so the DANN
    runs cached by the reports stay valid."""
    spec = RunSpec("dann", "mnist", "mnistm", steps=1500, batch_size=32, adist_samples=400)
    old = {k: v for k, v in asdict(spec).items() if k not in ("backbone", "optimizer", "init_from", "init_modules",
                                                                   "augment", "transpar", "target_classes",
                                                                   "balance_source", "world_size",
                                                                   "sync_batchnorm", "precision")}
    expected = config_key({"spec": old, "seed": 3, "device": "cpu", "version": RUNS_VERSION,
                           "data": {"mnist": 1, "mnistm": 1}})
    assert run_key(spec, 3, torch.device("cpu")) == expected
    assert run_key(RunSpec("dann", optimizer="adam"), 3, torch.device("cpu")) != run_key(RunSpec("dann"), 3,
                                                                                          torch.device("cpu"))
    # the network is part of the key: the backbone, and its options (a static twin against a dynamic variant)
    cpu = torch.device("cpu")
    static = RunSpec("dann", backbone="drt-digits", model={"dynamic": "static"})
    routing = RunSpec("dann", backbone="drt-digits", model={"dynamic": "routing", "num_bases": 4})
    keys = {run_key(s, 3, cpu) for s in (RunSpec("dann"), static, routing)}
    assert len(keys) == 3


def test_the_pretrained_runs_key_is_part_of_the_adapted_runs_key():
    pre = RunSpec("source_only", "dsprites-color", "dsprites-color", steps=100, optimizer="adam")
    a = RunSpec("regda", "dsprites-color", "dsprites-noisy", init_from=pre)
    b = RunSpec("regda", "dsprites-color", "dsprites-noisy", init_from=RunSpec(**{**pre.__dict__, "steps": 200}))
    cpu = torch.device("cpu")
    assert run_key(a, 0, cpu) != run_key(b, 0, cpu)
    assert run_key(a, 0, cpu) != run_key(a, 1, cpu)


def test_spec_errors():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        RunSpec("dann", optimizer="adamw")
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'"):
        RunSpec("dann", backbone="vgg16")
    with pytest.raises(TypeError, match="init_from must be a RunSpec"):
        RunSpec("regda", init_from="source_only")
    with pytest.raises(ValueError, match="cannot involve the oracle"):
        RunSpec("regda", init_from=RunSpec("oracle"))


def test_load_modules_copies_the_named_modules_with_their_buffers():
    task = toy_keypoint_task()
    pre = methods.for_task("source_only", task, seed=0)
    pre.features.body[2].running_mean.fill_(0.5)  # a BatchNorm buffer must travel with the weights
    new = methods.for_task("regda", task, seed=1)
    load_modules(new, pre, ("features",))
    for k, v in pre.features.state_dict().items():
        assert torch.equal(new.features.state_dict()[k], v), k
    assert not all(torch.equal(new.classifier.state_dict()[k], v) for k, v in pre.classifier.state_dict().items())
    with pytest.raises(ValueError, match="not a module of both"):
        load_modules(new, pre, ("adversary",))


def test_pretrain_then_adapt_trains_the_pretrained_model_once(isolated_data, monkeypatch):
    task = toy_keypoint_task()
    calls = []
    real_fit = experiments.fit
    monkeypatch.setattr(experiments, "fit", lambda method, *a, **kw: calls.append(method.name) or real_fit(method, *a, **kw))
    pre = RunSpec("source_only", "toy", "toy", steps=4, batch_size=8, lr=1e-3, optimizer="adam", eval_every=4)
    seen = {}
    real_load = experiments.load_modules
    monkeypatch.setattr(experiments, "load_modules",
                        lambda m, src, mods: seen.update(psi={k: v.clone() for k, v in src.features.state_dict().items()})
                        or real_load(m, src, mods))
    for name in ("regda", "dd"):
        spec = RunSpec(name, "toy", "toy", steps=3, batch_size=8, optimizer="nesterov", eval_every=3, init_from=pre)
        run(spec, 0, task=task, device="cpu", progress=False)
    assert calls == ["source_only", "regda", "regda"]  # DD is RegDA's variant: its class name is regda
    # the adapted run started from the pretrained psi
    cached = run(pre, 0, task=task, device="cpu", progress=False)
    assert cached.cached
    for k, v in cached.method.features.state_dict().items():
        assert torch.equal(seen["psi"][k], v), k


def test_hands_keeps_the_pretrained_f_and_dsprites_trains_a_fresh_one():
    """The per-family protocol (papers.regda.KEEP_F): hands DD and RegDA load psi and f from the source-only run,
    dSprites loads psi only (fresh f, the paper's); an explicit ``keep_f`` overrides the family's default."""
    from uda_nb.papers import regda as R

    sizes = R.sizes_for("report")
    for method in ("dd", "regda"):
        assert R.adapt_spec(method, *R.HANDS, sizes).init_modules == ("features", "classifier")
        dsprites = R.adapt_spec(method, "dsprites-color", "dsprites-noisy", sizes)
        assert "classifier" not in dsprites.init_modules
    assert "classifier" not in R.adapt_spec("regda", *R.HANDS, sizes, keep_f=False).init_modules
    assert R.adapt_spec("regda", "dsprites-color", "dsprites-noisy", sizes, keep_f=True).init_modules == (
        "features", "classifier")


def test_dd_runs_with_mdds_margin_and_regda_with_the_papers_weight():
    """papers.regda.DD_OPTIONS: DD's specs carry margin 4 (an explicit option overrides it); RegDA's and the other
    variants' carry none, so they keep eq. 12's weight 1. Every adaptation carries the family's ADAPT_OPTIONS (the
    reference code's two target passes; on hands also its head initialisation, not on dSprites), which an explicit
    option overrides too."""
    from uda_nb.papers import regda as R

    sizes = R.sizes_for("report")
    for source, target in (R.HANDS, ("dsprites-color", "dsprites-scream")):
        family = {"head_init": "reference"} if source == R.HANDS[0] else {}
        assert R.adapt_spec("dd", source, target, sizes).options == {"margin": 4.0, "target_passes": 2, **family}
        assert R.adapt_spec("dd", source, target, sizes, options={"margin": 1.0}).options == {
            "margin": 1.0, "target_passes": 2, **family}
        assert R.adapt_spec("regda", source, target, sizes).options == {"target_passes": 2, **family}
        assert R.adapt_spec("regda", source, target, sizes, options={"target_passes": 1}).options == {
            "target_passes": 1, **family}
        assert R.adapt_spec("regda", source, target, sizes, options={"head_init": "default"}).options == {
            "target_passes": 2, "head_init": "default"}
        assert R.adapt_spec("regda", source, target, sizes, transpar={"ratio": 0.5}).options == {
            "target_passes": 2, **family}
        assert "margin" not in R.adapt_spec("regda", source, target, sizes, options={"variant": "lf_minimax"}).options
