"""RegDA / DD as methods: gradient routing of the three sub-steps, label leaks, determinism, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from uda_nb import methods
from uda_nb.data import KeypointDomain, Task
from uda_nb.losses import heatmap_argmax
from uda_nb.methods import Batch
from uda_nb.train import fit, make_optimizer
from conftest import KEYPOINT_NAMES as NAMES, toy_keypoint_task as toy_task, toy_keypoints

def _batch(task: Task, n: int = 8) -> Batch:
    return Batch(task.source.images[:n], task.source.keypoints[:n], task.target.images[:n], task.source.visible[:n])


class Recorder:
    """Wraps an optimizer's step: for each sub-step, which roles had gradients, which moved, and whether the
    momentum buffers of the other roles stayed as they were."""

    def __init__(self, method, optimizer):
        self.method, self.optimizer, self.calls = method, optimizer, []
        self._step = optimizer.step
        optimizer.step = self.step

    def step(self, *a, **kw):
        roles = self.method.roles()
        with_grad = {r for r, ps in roles.items() if any(p.grad is not None for p in ps)}
        zero_grad = {r for r, ps in roles.items() if any(p.grad is not None and not p.grad.any() for p in ps)}
        before = {r: [p.detach().clone() for p in ps] for r, ps in roles.items()}
        bufs = {r: [self.optimizer.state.get(p, {}).get("momentum_buffer") for p in ps] for r, ps in roles.items()}
        bufs = {r: [None if b is None else b.clone() for b in bs] for r, bs in bufs.items()}
        out = self._step(*a, **kw)
        moved = {r for r, ps in roles.items() if any(not torch.equal(p, q) for p, q in zip(ps, before[r]))}
        buf_changed = set()
        for r, ps in roles.items():
            for p, b in zip(ps, bufs[r]):
                now = self.optimizer.state.get(p, {}).get("momentum_buffer")
                if (b is None) != (now is None) or (b is not None and not torch.equal(b, now)):
                    buf_changed.add(r)
        self.calls.append({"grad": with_grad, "zero": zero_grad, "moved": moved, "buffers": buf_changed})
        return out


@pytest.mark.parametrize("variant", ["regda", "dd", "lf_minimax"])
def test_each_substep_updates_only_its_roles(variant):
    task = toy_task()
    m = methods.for_task("regda", task, variant=variant, seed=0)
    opt = make_optimizer(m, 0.01, kind="nesterov")
    rec = Recorder(m, opt)
    for _ in range(2):  # the second iteration has momentum buffers everywhere: they must stay put too
        m.update(_batch(task), 0.5, opt)
    expected = [{"feature", "task", "adversarial"}, {"adversarial"}, {"feature"}] * 2
    assert [c["grad"] for c in rec.calls] == expected  # other roles' gradients are None, not zero
    assert [c["moved"] for c in rec.calls] == expected
    assert [c["buffers"] for c in rec.calls] == expected
    assert all(not c["zero"] for c in rec.calls)


@pytest.mark.parametrize("variant, adversary, generator", [
    ("regda", ("L_F", "down"), ("L_T", "down")),  # min L_F / min L_T
    ("dd", ("L_T", "up"), ("L_T", "down")),  # max L_T / min L_T
    ("lf_minimax", ("L_F", "down"), ("L_F", "up")),  # min L_F / max L_F
])
def test_each_variant_moves_its_disparity_the_way_table_3_says(variant, adversary, generator):
    """Table 3's rows by sign: objective 2's step of f' and objective 3's step of psi each move their disparity
    (L_T(f', J(f)) or L_F(f', f) on the target batch) up for a max and down for a min. Plain SGD with a small rate,
    so one step goes along the gradient; a swapped max/min in a variant fails here."""
    task = toy_task()
    batch = _batch(task)
    m = methods.for_task("regda", task, variant=variant, seed=0)
    opt = make_optimizer(m, 1e-3, momentum=0.0)
    seen = []  # (input, output) of every call of f': source (obj. 1), target (obj. 2), target (obj. 3)
    hook = m.adversary.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].detach(), out.detach())))
    m.update(batch, 0.5, opt)
    hook.remove()
    assert len(seen) == 3
    measure = {"L_T": m.kl, "L_F": m.ground_false}
    with torch.no_grad():  # train-mode BatchNorm: outputs depend only on the batch and the weights
        z_t = seen[1][0]  # psi's target features after objective 1 (f did not move after it)
        pred_t = heatmap_argmax(m.classifier(z_t), m.stride)
        adv_before = measure[adversary[0]](seen[1][1], pred_t)
        adv_after = measure[adversary[0]](m.adversary(z_t), pred_t)  # f' after its own step
        gen_before = measure[generator[0]](seen[2][1], pred_t)  # f' already stepped, psi not yet
        gen_after = measure[generator[0]](m.adversary(m.features(batch.x_t)), pred_t)
    for (_, direction), before, after in ((adversary, adv_before, adv_after), (generator, gen_before, gen_after)):
        change = float(after - before)
        assert abs(change) > 1e-6
        assert (change > 0) == (direction == "up"), (variant, direction, float(before), float(after))


def test_f_gets_only_the_supervised_gradient_never_one_through_J():
    """In objective 1, f's gradient is exactly that of L_T(f(psi(x_s)), y_s): the eta term reaches f only through
    J(f), an argmax, so it adds nothing; f' and psi do get the eta term."""
    task = toy_task()
    batch = _batch(task)
    grads = {}
    for eta in (1.0, 50.0):
        m = methods.for_task("regda", task, eta=eta, seed=0)
        opt = make_optimizer(m, 0.01, kind="nesterov")
        captured = []
        orig = opt.step
        opt.step = lambda: (captured.append({r: [p.grad.clone() if p.grad is not None else None for p in ps]
                                             for r, ps in m.roles().items()}), orig())
        m.update(batch, 0.1, opt)
        grads[eta] = captured[0]
    ref = methods.for_task("regda", task, seed=0)
    sup = ref.supervised_loss(ref(batch.x_s), batch.y_s, batch.visible_s)
    by_hand = torch.autograd.grad(sup, list(ref.classifier.parameters()))
    for g1, g50, h in zip(grads[1.0]["task"], grads[50.0]["task"], by_hand):
        assert torch.allclose(g1, h, atol=1e-6) and torch.allclose(g50, h, atol=1e-6)
    assert any(not torch.allclose(a, b) for a, b in zip(grads[1.0]["adversarial"], grads[50.0]["adversarial"]))
    assert any(not torch.allclose(a, b) for a, b in zip(grads[1.0]["feature"], grads[50.0]["feature"]))


def _first_substep_grads(m, batch, progress):
    opt = make_optimizer(m, 0.01, kind="nesterov")
    captured = []
    orig = opt.step
    opt.step = lambda: (captured.append([p.grad.clone() if p.grad is not None else None
                                         for p in m.roles()["feature"]]), orig())
    m.update(batch, progress, opt)
    return captured


def test_warm_start_scales_only_what_psi_gets_through_f_prime():
    """The reference code's warm-start layer: psi's objective-1 gradient is the supervised part plus c(p) times
    the part through f' (c rising from 0 to 0.1), and at p = 0 objective 3 gives psi nothing."""
    task = toy_task()
    batch = _batch(task)
    gamma, p = 15.0, 0.1
    c = 0.1 * (2 / (1 + torch.exp(torch.tensor(-gamma * p))) - 1)
    m_warm = methods.for_task("regda", task, warm_start=True, warm_gamma=gamma, seed=0)
    assert m_warm.grad_coeff(0.0) == 0.0 and m_warm.grad_coeff(p) == pytest.approx(float(c))
    assert m_warm.grad_coeff(1.0) == pytest.approx(0.1, abs=1e-6)
    assert methods.for_task("regda", task, seed=0).grad_coeff(p) == 1.0
    g_warm = _first_substep_grads(m_warm, batch, p)[0]
    g_full = _first_substep_grads(methods.for_task("regda", task, seed=0), batch, p)[0]
    ref = methods.for_task("regda", task, seed=0)
    sup = ref.supervised_loss(ref(batch.x_s), batch.y_s, batch.visible_s)
    g_sup = torch.autograd.grad(sup, list(ref.features.parameters()), allow_unused=True)
    for gw, gf, gs in zip(g_warm, g_full, g_sup):
        gs = torch.zeros_like(gw) if gs is None else gs
        assert torch.allclose(gw - gs, float(c) * (gf - gs), atol=1e-6)
    assert any(not torch.allclose(gf, gw) for gf, gw in zip(g_full, g_warm))
    # progress 0: c = 0, so objective 3 (psi through f' alone) leaves psi's gradient at zero
    third = _first_substep_grads(methods.for_task("regda", task, warm_start=True, seed=0), batch, 0.0)[2]
    assert all(g is None or not g.any() for g in third)


def test_objective_two_moves_the_adversary_towards_the_ground_false_map():
    task = toy_task()
    m = methods.for_task("regda", task, seed=0)
    x_t = task.target.images[:16]
    with torch.no_grad():
        z = m.features(x_t)
        pred = heatmap_argmax(m.classifier(z), m.stride)
        before = float(m.ground_false(m.adversary(z), pred))
    opt = torch.optim.SGD(m.adversary.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        m.ground_false(m.adversary(z), pred).backward()
        opt.step()
    with torch.no_grad():
        after = float(m.ground_false(m.adversary(z), pred))
    assert after < before


def test_target_keypoints_never_reach_training():
    """The target's training view has no keypoints; permuting the target test keypoints (the only target labels a
    task holds) leaves RegDA's trained weights identical."""
    task = toy_task()
    perm = torch.randperm(32, generator=torch.Generator().manual_seed(1))
    tt = task.target_test
    permuted = dataclasses.replace(task, target_test=dataclasses.replace(tt, keypoints=tt.keypoints[perm]))
    assert task.target.keypoints is None and task.target.visible is None
    states = []
    for t in (task, permuted):
        m = methods.for_task("regda", t, seed=0)
        states.append(fit(m, t, 6, 8, lr=0.01, optimizer="nesterov", seed=0, progress=False, device="cpu",
                          eval_every=3).method.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_same_seed_same_weights_and_history():
    def go(seed):
        t = toy_task()
        return fit(methods.for_task("regda", t, seed=seed), t, 6, 8, lr=0.01, optimizer="nesterov", seed=seed,
                   progress=False, device="cpu", eval_every=3)
    a, b, c = go(0), go(0), go(1)
    assert a.final == b.final
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    assert all(torch.equal(v, b.method.state_dict()[k]) for k, v in a.method.state_dict().items())
    assert any(not torch.equal(v, c.method.state_dict()[k]) for k, v in a.method.state_dict().items())
    for col in ("loss_source", "loss_adversary", "loss_generator", "disparity_px", "source_pck", "target_pck"):
        assert col in a.history


def test_keypoint_history_and_final_are_named_by_metric():
    t = toy_task()
    res = fit(methods.for_task("source_only", t, seed=0), t, 4, 8, lr=1e-3, optimizer="adam", progress=False,
              device="cpu", eval_every=2, eval_samples=None)
    assert set(res.final) == {"source_pck", "target_pck"}
    assert "target_acc" not in res.history and "target_pck" in res.history
    mae_task = dataclasses.replace(t, target_test=dataclasses.replace(
        t.target_test, meta={"metrics": ("mae",), "position_range": (4.5, 27.5)}))
    res = fit(methods.for_task("source_only", mae_task, seed=0), mae_task, 4, 8, lr=1e-3, optimizer="adam",
              progress=False, device="cpu", eval_every=2)
    assert "target_mae" in res.final and "target_pck" not in res.final and "source_pck" in res.final
    # f' is scored too, in the history and in final, whether or not the history used the full test splits
    for samples in (None, 8):
        res = fit(methods.for_task("regda", t, seed=0), t, 2, 8, lr=1e-3, progress=False, device="cpu",
                  eval_every=2, eval_samples=samples)
        assert set(res.final) == {"source_pck", "target_pck", "target_pck_adversary"}
        assert "target_pck_adversary" in res.history


def test_one_keypoint_needs_the_middle_area():
    t = toy_task(k=1)
    with pytest.raises(ValueError, match="pass area="):
        methods.for_task("regda", t)
    m = methods.for_task("regda", t, area=(4, 28, 4, 28), seed=0)
    fit(m, t, 2, 8, lr=0.01, progress=False, device="cpu")


def test_keypoint_tasks_and_classification_methods_do_not_mix():
    t = toy_task()
    with pytest.raises(ValueError, match="'dann' is a classification method.*keypoints task"):
        methods.for_task("dann", t)
    with pytest.raises(ValueError, match="'regda' is a keypoints method"):
        methods.create("regda", 10, (3, 32, 32))
    digits = methods.create("source_only", 10, (3, 32, 32))
    with pytest.raises(ValueError, match="classification method but task .* is a keypoints task"):
        fit(digits, t, 2, 8, progress=False)
    wrong_k = methods.create("source_only", 5, t.image_shape, kind="keypoints")
    with pytest.raises(ValueError, match="predicts 5 keypoints but task .* has 3"):
        fit(wrong_k, t, 2, 8, progress=False)
    with pytest.raises(ValueError, match="multiples of 8"):
        methods.create("source_only", 3, (3, 30, 30), kind="keypoints")


def test_bad_keypoint_input_gives_clear_errors():
    d = toy_keypoints("x")
    with pytest.raises(ValueError, match=r"keypoints of shape \(48, 2, 2\); expected \(48, 3, 2\)"):
        KeypointDomain("x", "train", d.images, d.keypoints[:, :2], d.visible[:, :2], NAMES)
    with pytest.raises(ValueError, match="give keypoints and visible together"):
        KeypointDomain("x", "train", d.images, d.keypoints, None, NAMES)
    with pytest.raises(ValueError, match=r"visible has shape \(48,\); expected \(48, 3\)"):
        KeypointDomain("x", "train", d.images, d.keypoints, d.visible[:, 0], NAMES)
    with pytest.raises(ValueError, match="outside the 32x32 image"):
        KeypointDomain("x", "train", d.images, d.keypoints + 40, d.visible, NAMES)


def test_resnet18_trunk_for_real_data_builds_and_needs_existing_weights(tmp_path):
    m = methods.create("regda", 21, (3, 64, 64), kind="keypoints", backbone="resnet18", seed=0)
    out = m(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 21, 16, 16) and m.stride == 4.0  # Simple Baseline: stride 32 down, 3 x2 up
    assert m.adversary.net[0].out_channels == 256  # the paper's head width
    with pytest.raises(FileNotFoundError, match="weights .* not found.*weights=None"):
        methods.create("source_only", 21, (3, 64, 64), kind="keypoints", backbone="resnet18",
                       weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="multiples of 32"):
        methods.create("source_only", 21, (3, 48, 48), kind="keypoints", backbone="resnet18")


def test_lean_trunk_drops_the_half_resolution_refinement_and_halves_the_heads():
    """``heatmap-lean`` is ``heatmap-tiny`` without the stride-1 conv of the first stage and with heads of width
    16: one convolution fewer in psi, same output stride and shape."""
    tiny = methods.create("regda", 21, (3, 64, 64), kind="keypoints", backbone="heatmap-tiny", seed=0)
    lean = methods.create("regda", 21, (3, 64, 64), kind="keypoints", backbone="heatmap-lean", seed=0)
    convs = lambda m: [c for c in m.features.modules() if isinstance(c, torch.nn.Conv2d)]  # noqa: E731
    assert len(convs(lean)) == len(convs(tiny)) - 1
    assert convs(lean)[1].stride == (2, 2) and convs(tiny)[1].stride == (1, 1)  # stage 1 goes straight on down
    assert lean.classifier.net[0].out_channels == 16 and tiny.classifier.net[0].out_channels == 32
    x = torch.rand(2, 3, 64, 64)
    assert lean(x).shape == tiny(x).shape == (2, 21, 16, 16)
    with pytest.raises(ValueError, match="one per stage"):
        from uda_nb.models import HeatmapTrunk
        HeatmapTrunk(3, (16, 32, 48), refine=(True, False))


def test_margin_weights_only_the_source_term_of_f_prime():
    """The reference code's margin: objective 1's f' gradient is margin times the paper's (f' sees only the eta
    term there), f's is unchanged, and the logged objective-1 loss carries the weight."""
    task = toy_task()
    batch = _batch(task)
    captured = {}
    for margin in (1.0, 4.0):
        m = methods.for_task("regda", task, margin=margin, seed=0)
        opt = make_optimizer(m, 0.01, kind="nesterov")
        steps, orig = [], opt.step
        opt.step = lambda: (steps.append({r: [None if p.grad is None else p.grad.clone() for p in ps]
                                          for r, ps in m.roles().items()}), orig())
        logs = m.update(batch, 0.3, opt)
        captured[margin] = (steps, logs)
    (one, logs1), (four, logs4) = captured[1.0], captured[4.0]
    for g1, g4 in zip(one[0]["adversarial"], four[0]["adversarial"]):
        assert torch.allclose(4.0 * g1, g4, atol=1e-6)
    for g1, g4 in zip(one[0]["task"], four[0]["task"]):
        assert torch.allclose(g1, g4, atol=1e-7)
    assert torch.allclose(logs4["loss"], logs4["loss_source"] + 4.0 * logs4["loss_source_adv"])
    assert torch.allclose(logs1["loss"], logs1["loss_source"] + logs1["loss_source_adv"])
    with pytest.raises(ValueError, match="margin must be positive"):
        methods.for_task("regda", task, margin=0.0, seed=0)


def test_a_second_target_pass_changes_only_batchnorm_statistics():
    """The reference code's two target passes: the same parameter updates as one pass (same weights, same batch),
    while psi's and f's BatchNorm running statistics see the target batch once more per iteration (source, target,
    target); the running mean is the hand-replayed exponential average of exactly those batches."""
    task = toy_task()
    batch = _batch(task)
    trained, seen = {}, {}
    for passes in (1, 2):
        m = methods.for_task("regda", task, target_passes=passes, seed=0)
        first_bn = next(b for b in m.features.modules() if isinstance(b, torch.nn.BatchNorm2d))
        seen[passes] = []
        first_bn.register_forward_hook(lambda mod, inp, out, log=seen[passes]: log.append(
            inp[0].detach().mean(dim=(0, 2, 3))))
        opt = make_optimizer(m, 0.01, kind="nesterov")
        for _ in range(2):
            m.update(batch, 0.5, opt)
        trained[passes] = (m, first_bn)
    (one, bn1), (two, bn2) = trained[1], trained[2]
    for (name, p1), p2 in zip(one.named_parameters(), two.parameters()):
        assert torch.allclose(p1, p2, atol=1e-6), name
    assert len(seen[1]) == 4 and len(seen[2]) == 6  # (S, T) or (S, T, T), twice
    assert torch.equal(seen[2][1], seen[2][2])  # the second target pass: same features
    for passes, bn in ((1, bn1), (2, bn2)):
        expected = torch.zeros_like(bn.running_mean)
        for mean in seen[passes]:
            expected = (1 - bn.momentum) * expected + bn.momentum * mean
        assert torch.allclose(bn.running_mean, expected, atol=1e-6)
    assert not torch.allclose(bn1.running_mean, bn2.running_mean)
    bns = lambda m, part: [b for b in getattr(m, part).modules() if isinstance(b, torch.nn.BatchNorm2d)]
    for part, counts in (("features", (4, 6)), ("classifier", (4, 6)), ("adversary", (6, 6))):
        for b1, b2 in zip(bns(one, part), bns(two, part)):  # f' sees (S, T, T) either way
            assert (int(b1.num_batches_tracked), int(b2.num_batches_tracked)) == counts
    with pytest.raises(ValueError, match="target_passes must be 1"):
        methods.for_task("regda", task, target_passes=3, seed=0)


def test_reference_head_init_starts_both_heads_flat_and_scales_what_psi_gets_through_f_prime():
    """The reference code's head initialisation: every conv of f and f' draws N(0, 0.001^2) weights with zero biases
    (the trunk keeps PyTorch's), so a fresh head's heatmap logits are about 1e-3 (a flat spatial softmax) where
    PyTorch's initialisation gives logits a hundred times larger, and psi's gradient through f' on the target
    (objective 3) shrinks by the same order; the default leaves the initialisation as it was."""
    task = toy_task()
    batch = _batch(task)
    default = methods.for_task("regda", task, seed=0)
    same = methods.for_task("regda", task, head_init="default", seed=0)
    for p, q in zip(default.parameters(), same.parameters()):
        assert torch.equal(p, q)
    ref = methods.for_task("regda", task, head_init="reference", seed=0)
    for part in ("classifier", "adversary"):
        convs = [m for m in getattr(ref, part).modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) == 2
        for conv in convs:
            assert 0.0007 < float(conv.weight.detach().std()) < 0.0013
        assert convs[0].bias is None and not convs[1].bias.any()  # the 3x3 conv feeds BatchNorm: no bias
    for p, q in zip(default.features.parameters(), ref.features.parameters()):
        assert torch.equal(p, q)  # the trunk is untouched

    def logits_and_psi_grad(m):
        m.train()
        z = m.features(batch.x_t)
        out = m.adversary(z)
        out.square().mean().backward()
        return out.detach().abs().max(), sum(float(p.grad.abs().sum()) for p in m.features.parameters())

    (big, g_default), (small, g_ref) = logits_and_psi_grad(default), logits_and_psi_grad(ref)
    assert small < 0.05 < big
    assert g_ref < g_default / 100
    with pytest.raises(ValueError, match="head_init must be one of"):
        methods.for_task("regda", task, head_init="small", seed=0)
