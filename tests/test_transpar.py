"""TransPar's update rule (eq. 9, 13-16) against hand computations for SGD with momentum and for Adam, its options,
the ratio (eq. 12), the target entropy hook (eq. 10) and the wrapper inside fit() / RunSpec."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from uda_nb import methods
from uda_nb.experiments import RunSpec, run, run_key
from uda_nb.methods import Batch, Method
from uda_nb.methods.transpar import (TargetEntropy, TransPar, TransParConfig, apply_transpar, kth_largest,
                                     ratio_from_proxy_a_distance, top_mask, transferable_ratio)
from uda_nb.train import fit, make_optimizer
from conftest import toy_task, with_permuted_target_labels

LR, MU, DECAY = 0.1, 0.9, 0.01


class ThreeRoles(Method):
    """feature (a 6x5 weight + bias), task (a 3x6 weight), adversarial (a 2x6 weight): enough to count masks."""

    def __init__(self):
        super().__init__(nn.Linear(5, 6), nn.Linear(6, 3, bias=False))
        self.discriminator = nn.Linear(6, 2, bias=False)

    def roles(self):
        return {**super().roles(), "adversarial": list(self.discriminator.parameters())}


def _set_grads(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)


def _wrapped(model, kind="sgd", **cfg):
    inner = make_optimizer(model, LR, MU, kind=kind)
    return TransPar(inner, TransParConfig(**{"ratio": 0.6, "decay": DECAY, **cfg}))


def test_the_ratio_of_eq_12():
    assert transferable_ratio(0.0) == pytest.approx(0.75)
    assert transferable_ratio(1.0) == pytest.approx(1 - (1 / (1 + math.exp(-1))) ** 2)
    assert transferable_ratio(1.0) == pytest.approx(0.4655, abs=1e-4)
    assert transferable_ratio(1.0, floor=0.5) == 0.5  # the floor M applies when the formula falls below it
    assert ratio_from_proxy_a_distance(2.0) == transferable_ratio(1.0)  # uda_nb's PAD is twice eq. 11's d_A
    with pytest.raises(ValueError, match="half of"):
        transferable_ratio(-0.2)


def test_kept_fraction_is_tau_per_group_and_one_minus_tau_for_the_adversarial_module():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model)
    _set_grads(model)
    opt.step()
    w_f, w_c, w_d = model.features.weight, model.classifier.weight, model.discriminator.weight
    assert int(opt.masks[w_f].sum()) == round(0.6 * 30) == 18
    assert int(opt.masks[w_c].sum()) == round(0.6 * 18)
    assert int(opt.masks[w_d].sum()) == round(0.4 * 12)
    assert model.features.bias not in opt.masks  # biases are not ranked by default
    # the kept weights are the largest |g * w| of their group
    before = w_f.detach().clone()
    _set_grads(model, seed=1)
    score = (w_f.grad * w_f).abs()
    opt.step()
    kept = opt.masks[w_f]
    assert score[kept].min() >= score[~kept].max()
    assert not torch.equal(before, w_f.detach())


@pytest.mark.parametrize("kind", ["distinct", "mostly_zero", "three_values", "ascending", "small"])
def test_the_ranking_selects_exactly_the_largest_with_ties_broken_by_position(kind):
    g = torch.Generator().manual_seed(0)
    n = 5_000 if kind == "small" else 300_000  # above the size where the sampled bracket is used
    values = {"distinct": torch.rand(n, generator=g), "small": torch.rand(n, generator=g),
              # a ReLU network's scores: most gradients exactly zero, so the threshold often falls in a tie
              "mostly_zero": torch.rand(n, generator=g) * (torch.rand(n, generator=g) < 0.3),
              "three_values": torch.randint(0, 3, (n,), generator=g).float(),
              "ascending": torch.arange(n, dtype=torch.float32)}[kind]
    descending = torch.sort(values, descending=True).values
    for keep in (1, n // 10, n // 2, n - n // 10, n - 1):
        assert kth_largest(values, keep) == descending[keep - 1]
        mask = top_mask(values, keep)
        assert int(mask.sum()) == keep
        assert values[mask].min() >= values[~mask].max()
        tied = torch.nonzero(values == descending[keep - 1]).view(-1)
        chosen = tied[mask[tied]]
        assert torch.equal(chosen, tied[:chosen.numel()])  # the first tied entries by position
    assert int(top_mask(values, 0).sum()) == 0 and bool(top_mask(values, n).all())


def test_sgd_momentum_step_by_hand_paper_rule():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model, keep_momentum=False)
    _set_grads(model, seed=0)
    opt.step()  # fills the momentum buffers
    w = model.features.weight
    w0 = w.detach().clone()
    buf0 = opt.state[w]["momentum_buffer"].clone()
    _set_grads(model, seed=1)
    g = w.grad.clone()
    bias0, gb = model.features.bias.detach().clone(), model.features.bias.grad.clone()
    bbuf0 = opt.state[model.features.bias]["momentum_buffer"].clone()
    opt.step()
    m = opt.masks[w]
    assert 0 < int(m.sum()) < m.numel()
    # transferable: gradient + sign decay through momentum (eq. 15 with eq. 6-8's sign)
    buf = MU * buf0 + g + DECAY * torch.sign(w0)
    assert torch.allclose(w[m], (w0 - LR * buf)[m], atol=1e-6)
    assert torch.allclose(opt.state[w]["momentum_buffer"][m], buf[m], atol=1e-6)
    # untransferable: the decay alone (eq. 16), and the momentum buffer does not move
    assert torch.allclose(w[~m], (w0 - LR * DECAY * torch.sign(w0))[~m], atol=1e-7)
    assert torch.equal(opt.state[w]["momentum_buffer"][~m], buf0[~m])
    # an unranked parameter (the bias) takes the plain optimizer step
    assert torch.allclose(model.features.bias, bias0 - LR * (MU * bbuf0 + gb), atol=1e-6)


def test_l2_decay_option():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model, decay_kind="l2", keep_momentum=False)
    _set_grads(model)
    w = model.features.weight
    w0 = w.detach().clone()
    opt.step()
    m = opt.masks[w]
    assert torch.allclose(w[~m], (w0 * (1 - LR * DECAY))[~m], atol=1e-7)


def test_adam_step_by_hand_paper_rule():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model, kind="adam", keep_momentum=False)
    _set_grads(model, seed=0)
    opt.step()
    w = model.features.weight
    w0, m1, v1 = w.detach().clone(), opt.state[w]["exp_avg"].clone(), opt.state[w]["exp_avg_sq"].clone()
    _set_grads(model, seed=1)
    g = w.grad.clone() + DECAY * torch.sign(w0)
    opt.step()
    m = opt.masks[w]
    # transferable: Adam's second step on g + lambda sgn(w), by hand (betas (0.9, 0.999), eps 1e-8, t = 2)
    ea, es = MU * m1 + (1 - MU) * g, 0.999 * v1 + 0.001 * g * g
    expect = w0 - LR * (ea / (1 - MU ** 2)) / ((es / (1 - 0.999 ** 2)).sqrt() + 1e-8)
    assert torch.allclose(w[m], expect[m], atol=1e-6)
    # untransferable: exactly the decay, Adam's moments frozen
    assert torch.allclose(w[~m], (w0 - LR * DECAY * torch.sign(w0))[~m], atol=1e-7)
    assert torch.equal(opt.state[w]["exp_avg"][~m], m1[~m]) and torch.equal(opt.state[w]["exp_avg_sq"][~m], v1[~m])


def test_reference_option_keeps_momentum_running_on_untransferable_weights():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model, keep_momentum=True)
    _set_grads(model, seed=0)
    opt.step()
    w = model.features.weight
    w0, buf0 = w.detach().clone(), opt.state[w]["momentum_buffer"].clone()
    _set_grads(model, seed=1)
    opt.step()
    m = opt.masks[w]
    buf = MU * buf0 + DECAY * torch.sign(w0)  # the gradient is dropped, the decay and the momentum remain
    assert torch.allclose(opt.state[w]["momentum_buffer"][~m], buf[~m], atol=1e-7)
    assert torch.allclose(w[~m], (w0 - LR * buf)[~m], atol=1e-6)


def test_parameters_without_gradient_are_left_alone():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model)
    _set_grads(model)
    model.discriminator.weight.grad = None  # a sub-step that does not update the adversarial role
    d0 = model.discriminator.weight.detach().clone()
    opt.step()
    assert torch.equal(model.discriminator.weight, d0) and model.discriminator.weight not in opt.state
    assert "adversarial" not in opt.last_fraction and "feature" in opt.last_fraction


def test_score_options_weight_only_and_gradient_only():
    torch.manual_seed(0)
    model = ThreeRoles()
    for score, key in (("weight", lambda p: p.detach().abs()), ("gradient", lambda p: p.grad.abs())):
        opt = _wrapped(model, score=score)
        _set_grads(model, seed=3)
        s = key(model.classifier.weight).clone()
        opt.step()
        kept = opt.masks[model.classifier.weight]
        assert s[kept].min() >= s[~kept].max(), score


def test_one_shot_schedules_prune():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model, schedule="one-shot-start")
    _set_grads(model, seed=0)
    opt.step()
    w = model.features.weight
    first = opt.masks[w].clone()
    assert torch.all(w[~first] == 0)
    for seed in (1, 2):
        _set_grads(model, seed=seed)
        opt.step()
    assert torch.equal(opt.masks[w], first) and torch.all(w[~first] == 0) and torch.all(w[first] != 0)

    model = ThreeRoles()
    opt = _wrapped(model, schedule="one-shot-last")
    for seed in (0, 1):
        _set_grads(model, seed=seed)
        opt.step()
    assert not opt.masks and torch.all(model.features.weight != 0)  # ordinary training until the end
    opt.end_of_training()
    assert int((model.features.weight == 0).sum()) == 30 - 18
    assert int((model.discriminator.weight == 0).sum()) == 12 - round(0.4 * 12)


def test_bad_settings_are_explained():
    model = ThreeRoles()
    with pytest.raises(ValueError, match="ratio"):
        TransParConfig(ratio=1.5)
    with pytest.raises(ValueError, match="Unknown TransPar schedule"):
        TransParConfig(ratio=0.5, schedule="sometimes")
    with pytest.raises(ValueError, match="weight_decay=0"):
        TransPar(make_optimizer(model, LR, MU, weight_decay=1e-4), {"ratio": 0.5})
    with pytest.raises(ValueError, match="does not have"):
        apply_transpar(model, make_optimizer(model, LR, MU), {"ratio": 0.5, "scope": ("generator",)})
    with pytest.raises(ValueError, match="Unknown TransPar settings"):
        RunSpec("dann", transpar={"ratio": 0.5, "tau": 0.5})
    with pytest.raises(ValueError, match="oracle"):
        RunSpec("oracle", transpar={"ratio": 0.5})


def test_entropy_term_joins_the_loss_once_per_iteration():
    task = toy_task()
    batch = Batch(task.source.images[:8], task.source.labels[:8], task.target.images[:8])
    model = methods.create("dann", 10, task.image_shape, seed=0)
    term = TargetEntropy(0.1)
    with torch.no_grad():
        p = torch.softmax(model(batch.x_t), 1)
        expected = -(p * p.log()).sum(1).mean()
    loss, logs = term(model, batch, 0.0)
    assert torch.allclose(loss, 0.1 * expected) and torch.allclose(logs["target_entropy"], expected)

    class Counting(TargetEntropy):
        calls = 0

        def __call__(self, method, batch, progress):
            Counting.calls += 1
            return super().__call__(method, batch, progress)

    for name, calls in (("dann", 1), ("mcd", 1), ("adda", 0)):  # MCD: step A only; ADDA never updates the head
        Counting.calls = 0
        m = methods.create(name, 10, task.image_shape, seed=0)
        opt = make_optimizer(m, 0.01)
        m.loss_terms = (Counting(0.1),)
        logs = m.iteration(batch, 0.5, opt)
        assert Counting.calls == calls, name
        assert ("target_entropy" in logs) == bool(calls)
    # the entropy's gradient reaches the features and the classifier of a one-step method
    m = methods.create("source_only", 10, task.image_shape, seed=0)
    m.loss_terms = (TargetEntropy(1.0),)
    opt = make_optimizer(m, 0.0)
    without = methods.create("source_only", 10, task.image_shape, seed=0)
    m.iteration(batch, 0.0, opt)
    without.iteration(batch, 0.0, make_optimizer(without, 0.0))
    assert not torch.allclose(m.classifier.net[-1].weight.grad, without.classifier.net[-1].weight.grad)


def _feature_calls(model) -> list:
    calls = []
    model.features.register_forward_hook(lambda mod, inp, out: calls.append(len(inp[0])))
    return calls


@pytest.mark.parametrize("name", ["dann", "mdd", "gsda"])
def test_entropy_term_reuses_the_methods_joint_forward_pass(name):
    """TransPar fix 2 (docs/references/transpar.md): the entropy of eq. 10 is taken on y_t of the method's own
    cat(x_s, x_t) pass, as dann-TransPar.py / mdd-TransPar.py do: one feature pass per iteration, and on a BatchNorm
    network the value is the joint pass's, not a target-only pass's."""
    task = toy_task()
    batch = Batch(task.source.images[:8], task.source.labels[:8], task.target.images[:8])
    model = methods.create(name, 10, task.image_shape, seed=0, batch_norm=True)
    twin = methods.create(name, 10, task.image_shape, seed=0, batch_norm=True)
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():  # by hand, in train mode: the joint pass's target rows, and a target-only pass
        torch.manual_seed(1)
        joint = torch.softmax(twin.classifier(twin.features(torch.cat([batch.x_s, batch.x_t])))[8:], 1)
        alone = torch.softmax(twin(batch.x_t), 1)
    entropy = lambda p: float(-(p * p.log()).sum(1).mean())
    assert abs(entropy(joint) - entropy(alone)) > 1e-4  # BatchNorm makes the two passes differ
    calls = _feature_calls(model)
    model.loss_terms = (TargetEntropy(0.1),)
    torch.manual_seed(1)
    logs = model.iteration(batch, 0.5, make_optimizer(model, 0.0))
    assert calls == [16]  # one joint pass, no target-only one
    # MDD's heads have dropout: the same seed gives the same masks only for the joint pass made the same way
    assert float(logs["target_entropy"]) == pytest.approx(entropy(joint), abs=1e-5)


def test_offered_target_logits_serve_only_their_own_sub_step():
    """A sub-step's offered logits belong to its graph: a term completed in a later sub-step runs its own pass."""
    task = toy_task()
    batch = Batch(task.source.images[:8], task.source.labels[:8], task.target.images[:8])

    class TwoSteps(methods.SourceOnly):
        def update(self, batch, progress, optimizer):
            f = self.features(torch.cat([batch.x_s, batch.x_t]))
            self.offer_target_logits(self.classifier(f[8:]))
            self.substep(optimizer, f.pow(2).mean(), ("feature",))  # the term needs feature and task: not here
            loss = torch.nn.functional.cross_entropy(self(batch.x_s), batch.y_s)
            self.substep(optimizer, loss, ("feature", "task"))  # offers nothing: the term's own pass
            return {}

    ref = methods.create("source_only", 10, task.image_shape, seed=0)
    model = TwoSteps(ref.features, ref.classifier)
    with torch.no_grad():
        p = torch.softmax(model(batch.x_t), 1)
        before = float(-(p * p.log()).sum(1).mean())
    model.loss_terms = (TargetEntropy(0.1),)
    logs = model.iteration(batch, 0.0, make_optimizer(model, 0.01))
    # lr 0.01 moved the features in the first sub-step, so the value is the fresh pass's, close to the first
    assert float(logs["target_entropy"]) == pytest.approx(before, rel=0.05)
    assert model.shared_target_logits() is None  # nothing kept after the iteration


def test_fit_schedule_reaches_the_wrapped_optimizer_and_training_is_label_free_and_deterministic():
    task = toy_task()
    permuted = with_permuted_target_labels(task)
    states = []
    for t in (task, permuted, task):
        m = methods.create("dann", 10, task.image_shape, seed=0)
        opt = apply_transpar(m, make_optimizer(m, 0.02), {"ratio": 0.6})
        assert opt.param_groups is opt.inner.param_groups
        res = fit(m, t, 6, 8, lr=0.02, seed=0, progress=False, device="cpu", eval_every=3, optimizer=opt)
        states.append(res.method.state_dict())
        assert opt.inner.param_groups[0]["lr"] < 0.02  # the DANN schedule lowered the wrapped optimizer's lr
        assert "target_entropy" in res.history and set(opt.last_fraction) == {"feature", "task", "adversarial"}
    for s in states[1:]:
        assert all(torch.equal(states[0][k], s[k]) for k in states[0])


def test_runspec_field_is_part_of_the_cache_key_and_runs(isolated_data):
    task = toy_task()
    plain = RunSpec("dann", "toy", "toy", steps=4, batch_size=8, eval_every=4)
    tp = RunSpec("dann", "toy", "toy", steps=4, batch_size=8, eval_every=4, transpar={"ratio": 0.6})
    cpu = torch.device("cpu")
    assert run_key(plain, 0, cpu) != run_key(tp, 0, cpu)
    assert run_key(tp, 0, cpu) != run_key(RunSpec(**{**tp.__dict__, "transpar": {"ratio": 0.5}}), 0, cpu)
    a = run(plain, 0, task=task, device="cpu", progress=False)
    b = run(tp, 0, task=task, device="cpu", progress=False)
    assert "target_entropy" in b.history and "target_entropy" not in a.history
    assert not all(torch.equal(v, b.method.state_dict()[k]) for k, v in a.method.state_dict().items())
    assert run(tp, 0, task=task, device="cpu", progress=False).cached


def test_the_mask_tracker_records_fractions_per_layer_and_persistence(isolated_data):
    task = toy_task()
    spec = RunSpec("dann", "toy", "toy", steps=4, batch_size=8, eval_every=2, transpar={"ratio": 0.6})
    res = run(spec, 0, task=task, device="cpu", progress=False)
    rows = res.extras["transpar_masks"]
    layers = [r for r in rows if r["name"] != "*"]
    assert {r["step"] for r in layers} == {2, 4}
    assert {r["role"] for r in layers} == {"feature", "task", "adversarial"}
    assert all(r["name"].endswith("weight") for r in layers)
    # a role's fractions, weighted by tensor size, make tau (or 1 - tau for the adversarial module)
    sizes = dict((n, p.numel()) for n, p in res.method.named_parameters())
    for role, tau in (("feature", 0.6), ("adversarial", 0.4)):
        at4 = [r for r in layers if r["step"] == 4 and r["role"] == role]
        kept = sum(r["fraction"] * sizes[r["name"]] for r in at4) / sum(sizes[r["name"]] for r in at4)
        assert kept == pytest.approx(tau, abs=1e-3), role
    assert 0.0 <= res.history["stay_feature"].iloc[-1] <= 1.0 and "stay_feature" in res.history
    assert run(spec, 0, task=task, device="cpu", progress=False).extras["transpar_masks"] == rows


def test_discriminator_distance_is_eq_11_on_its_own_scale():
    from uda_nb.metrics import discriminator_distance

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    assert discriminator_distance(a, b) < 0.2  # one distribution: the discriminator is near chance
    far = discriminator_distance(a, b + 3.0)
    assert far > 0.95 and far <= 1.0  # separable: err ~ 0, d_A ~ 1 (not 2, the proxy A-distance's scale)
    assert transferable_ratio(far) == pytest.approx(0.4655, abs=0.01)


@pytest.mark.parametrize("name", ["source_only", "dann", "mcd", "adda", "regda"])
def test_every_method_trains_with_the_wrapper_through_its_roles(name):
    from conftest import toy_keypoint_task

    task = toy_keypoint_task() if name == "regda" else toy_task()
    m = methods.for_task(name, task, seed=0)
    opt = apply_transpar(m, make_optimizer(m, 0.01), {"ratio": 0.6})
    fit(m, task, 3, 8, lr=0.01, seed=0, progress=False, device="cpu", eval_every=3, optimizer=opt)
    roles = set(m.roles())
    assert set(opt.last_fraction) == roles
    for role, frac in opt.last_fraction.items():
        assert frac == pytest.approx(0.4 if role == "adversarial" else 0.6, abs=0.01), role


def test_momentum_is_kept_by_default_as_the_authors_code_and_frozen_only_on_request():
    assert TransParConfig(ratio=0.6).keep_momentum is True  # iterative: dann-TransPar.py keeps momentum
    assert TransParConfig(ratio=0.6, schedule="one-shot-start").keep_momentum is False  # pruned weights stay zero
    with pytest.raises(ValueError, match="keep_momentum"):
        TransParConfig(ratio=0.6, schedule="one-shot-last", keep_momentum=True)


def test_reference_ratio_direction_swaps_tau_and_one_minus_tau():
    torch.manual_seed(0)
    model = ThreeRoles()
    opt = _wrapped(model, ratio=0.7, ratio_direction="reference")
    _set_grads(model)
    opt.step()
    # the authors' keep_ratio 0.7 lets 30 % of the feature and task weights through, 70 % of the adversarial ones
    assert opt.last_fraction["feature"] == pytest.approx(0.3, abs=0.04)
    assert opt.last_fraction["task"] == pytest.approx(0.3, abs=0.06)
    assert opt.last_fraction["adversarial"] == pytest.approx(0.7, abs=0.09)
    with pytest.raises(ValueError, match="ratio_direction"):
        TransParConfig(ratio=0.6, ratio_direction="code")


def test_reference_scope_divides_what_the_authors_lth_divides():
    from uda_nb import methods
    from uda_nb.methods.transpar import apply_transpar, reference_scope

    dann = methods.create("dann", 10, (3, 32, 32), seed=0)
    mdd = methods.create("mdd", 10, (3, 32, 32), seed=0)
    d_scope, m_scope = reference_scope(dann), reference_scope(mdd)
    # DANN: convolutions and the task head, never the discriminator (a Sigmoid ends it in their code)
    assert all(p in d_scope for p in dann.classifier.parameters())
    assert not any(p in d_scope for p in dann.discriminator.parameters())
    assert {p.dim() for p in dann.features.parameters() if p in d_scope} == {4}
    # MDD: the adversarial head f' is divided, the bottleneck (ends in Dropout) is not
    assert all(p in m_scope for p in mdd.adversary.parameters())
    assert not any(p in m_scope for p in mdd.features.bottleneck.parameters())
    opt = apply_transpar(mdd, make_optimizer(mdd, LR, MU), {"ratio": 0.6, "scope": "reference"})
    for p in mdd.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    assert set(opt.masks) <= m_scope and any(p in opt.masks for p in mdd.adversary.parameters())
    with pytest.raises(TypeError, match="reference"):
        TransParConfig(ratio=0.6, scope="feature")
