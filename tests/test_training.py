"""fit(): label leaks, determinism, NaN handling, schedules applied from progress, methods' roles."""

import dataclasses

import pytest
import torch

from uda_nb import methods
from uda_nb.config import seed_everything
from uda_nb.data import Task
from uda_nb.schedules import grl_lambda
from uda_nb.train import ADistanceLogger, FeatureSnapshots, IndexSampler, fit
from conftest import toy_domain, toy_task


def _train(task, name="dann", steps=12, seed=0, **kw):
    seed_everything(seed)
    m = methods.create(name, 10, task.image_shape)
    return fit(m, task, steps, batch_size=16, lr=0.05, seed=seed, progress=False, device="cpu", **kw)


def test_target_labels_never_reach_training():
    """Permuting the target's labels (in the domain the task is made from) leaves DANN's weights identical."""
    src = toy_domain("s", 48)
    tgt = toy_domain("t", 48, seed=5, shift=0.3)
    permuted = dataclasses.replace(tgt, labels=tgt.labels[torch.randperm(48, generator=torch.Generator().manual_seed(1))])
    assert not torch.equal(permuted.labels, tgt.labels)
    runs = []
    for target in (tgt, permuted):
        task = Task(src, target.unlabeled(), src, toy_domain("t_test", 32, seed=9, shift=0.3))
        runs.append(_train(task).method.state_dict())
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k


def test_same_seed_same_metrics_and_weights_on_cpu():
    a, b = _train(toy_task()), _train(toy_task())
    assert a.final == b.final
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    for k, v in a.method.state_dict().items():
        assert torch.equal(v, b.method.state_dict()[k])
    c = _train(toy_task(), seed=1)
    assert any(not torch.equal(v, c.method.state_dict()[k]) for k, v in a.method.state_dict().items())


def test_nan_loss_raises_a_clear_error():
    task = toy_task()
    with pytest.warns(UserWarning, match="64 of 64 images contain NaN or inf pixels"):  # the domain warns first
        bad = dataclasses.replace(task.source, images=torch.full_like(task.source.images, float("nan")))
    with pytest.raises(FloatingPointError, match="NaN/inf by step .*lower the learning rate"):
        _train(dataclasses.replace(task, source=bad), steps=4, eval_every=2)


def test_learning_rate_follows_the_dann_schedule_from_progress():
    res = _train(toy_task(), steps=20, eval_every=5)
    # the row at step s logs the lr used at the last step of the interval, p = (s - 1) / 20
    for _, row in res.history.iterrows():
        p = (row.step - 1) / 20
        assert row.lr == pytest.approx(0.05 / (1 + 10 * p) ** 0.75)
        # lambda is logged as the mean over the 5 steps of the interval, each at its own progress q / 20
        steps_in_row = range(int(row.step) - 5, int(row.step))
        assert row["lambda"] == pytest.approx(sum(grl_lambda(q / 20) for q in steps_in_row) / 5, rel=1e-5)


def test_a_named_schedule_reaches_the_optimizer_regda_step_drops_at_45_and_60_of_70():
    res = _train(toy_task(), name="source_only", steps=70, eval_every=1, schedule="regda-step")
    lr = res.history.set_index("step").lr  # the row at step s logs the rate of step s - 1, p = (s - 1) / 70
    assert lr[45] == pytest.approx(0.05) and lr[46] == pytest.approx(0.005)
    assert lr[60] == pytest.approx(0.005) and lr[61] == pytest.approx(0.0005) and lr[70] == pytest.approx(0.0005)


def test_the_hands_source_only_stage_takes_the_paper_step_schedule_and_dsprites_a_constant_rate():
    from uda_nb.papers import regda as R
    sizes = R.sizes_for("report")
    assert R.pretrain_spec(R.HANDS[0], sizes).schedule == "regda-step"
    assert R.adapt_spec("regda", *R.HANDS, sizes).init_from.schedule == "regda-step"
    assert R.pretrain_spec("dsprites-color", sizes).schedule == "constant"


def test_the_adaptation_schedule_comes_from_the_recipe_or_the_caller():
    from uda_nb.papers import regda as R
    sizes = R.sizes_for("report")
    for source, target in (R.HANDS, ("dsprites-color", "dsprites-noisy")):
        family = R.family_of(source)
        for method in ("regda", "dd"):
            assert R.adapt_spec(method, source, target, sizes).schedule == R.ADAPT_SCHEDULE[family]
        spec = R.adapt_spec("regda", source, target, sizes, schedule="regda-sgd-20k")
        assert spec.schedule == "regda-sgd-20k" and spec.init_from.schedule == R.PRETRAIN_SCHEDULE[family]


def test_history_has_one_row_per_evaluation_and_dann_logs_its_terms():
    res = _train(toy_task(), steps=10, eval_every=5, callbacks=(ADistanceLogger(32), FeatureSnapshots(20)))
    assert res.history.step.tolist() == [5, 10]
    for col in ("loss_cls", "loss_domain", "domain_acc", "source_acc", "target_acc", "a_distance"):
        assert col in res.history
    assert res.history.a_distance.between(0, 2).all()


def test_source_only_never_samples_the_target():
    task = toy_task()
    with pytest.warns(UserWarning, match="NaN or inf pixels"):
        poisoned = dataclasses.replace(task.target, images=torch.full_like(task.target.images, float("nan")))
    res = _train(dataclasses.replace(task, target=poisoned), name="source_only", steps=6)
    assert res.history.loss.notna().all()


def test_roles_cover_every_parameter_once():
    m = methods.create("dann", 10, (3, 32, 32))
    groups = m.param_groups(0.01)
    assert [g["role"] for g in groups] == ["feature", "task", "adversarial"]
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))


def test_index_sampler_covers_each_epoch_once():
    s = IndexSampler(10, 5, torch.Generator().manual_seed(0), torch.device("cpu"))
    epoch = torch.cat([s.next(), s.next()])
    assert sorted(epoch.tolist()) == list(range(10))


def test_unknown_method_and_bad_budget_arguments():
    with pytest.raises(ValueError, match="Unknown method 'dan'"):
        methods.create("dan", 10, (3, 32, 32))
    with pytest.raises(ValueError, match="steps must be at least 1"):
        fit(methods.create("source_only", 10, (3, 32, 32)), toy_task(), 0)
    with pytest.raises(ValueError, match="expects \\(N, 3, H, W\\)"):
        methods.create("source_only", 10, (3, 32, 32))(torch.zeros(2, 1, 32, 32))
