"""Partial domain adaptation (GSDA's section 2): tasks whose target holds a subset of the source classes, built
from the embedded domains, through RunSpec, and the absent-class fraction that measures negative transfer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from uda_nb.data import load_domain, partial_domain, partial_task
from uda_nb.experiments import RunSpec, build_task, run_key
from uda_nb.metrics import absent_class_fraction

def test_the_target_never_holds_an_absent_class_and_the_source_keeps_every_class():
    task = partial_task("mnist", "mnistm", range(5))
    assert not task.target.has_labels  # the training view is unlabeled, as any target
    assert set(task.target_test.labels.unique().tolist()) == {0, 1, 2, 3, 4}
    assert set(task.source.labels.unique().tolist()) == set(range(10))
    full_train = load_domain("mnistm", "train")
    assert len(task.target) == int((full_train.labels < 5).sum())  # exactly the images of classes 0-4
    labeled = partial_domain("mnistm", "train", (0, 1, 2, 3, 4))
    assert torch.equal(labeled.images, task.target.images)
    assert labeled.labels.max() < 5
    assert task.num_classes == 10 and "[0,1,2,3,4]" in task.name


def test_bad_class_lists_are_refused():
    with pytest.raises(ValueError, match="non-empty subset"):
        partial_task("mnist", "mnistm", [])
    with pytest.raises(ValueError, match="non-empty subset"):
        partial_task("mnist", "mnistm", [3, 12])
    with pytest.raises(ValueError, match="ordinary task"):
        partial_task("mnist", "mnistm", range(10))
    with pytest.raises(ValueError, match="tuple of class ids"):
        RunSpec("dann", "mnist", "mnistm", target_classes=[0, 1])
    with pytest.raises(ValueError, match="tuple of class ids"):
        RunSpec("dann", "mnist", "mnistm", target_classes=())


def test_a_spec_builds_the_partial_task_and_its_oracle_and_has_its_own_cache_key():
    spec = RunSpec("dann", "mnist", "mnistm", target_classes=(0, 1, 2, 3, 4))
    task = build_task(spec)
    assert task.target_test.labels.max() < 5 and not task.target.has_labels
    oracle = build_task(RunSpec("oracle", "mnist", "mnistm", target_classes=(0, 1, 2, 3, 4)))
    assert oracle.source.has_labels and set(oracle.source.labels.unique().tolist()) == {0, 1, 2, 3, 4}
    cpu = torch.device("cpu")
    assert run_key(spec, 0, cpu) != run_key(RunSpec("dann", "mnist", "mnistm"), 0, cpu)


class _Fixed(nn.Module):
    """Predicts class ``i % 10`` for image i (its first pixel holds i / 100)."""

    def forward(self, x):
        idx = (x[:, 0, 0, 0] * 100).round().long()
        return nn.functional.one_hot(idx % 10, 10).float()


def test_absent_class_fraction_counts_predictions_outside_the_target_classes():
    from uda_nb.data import Domain

    images = torch.zeros(20, 1, 4, 4)
    images[:, 0, 0, 0] = torch.arange(20).float() / 100
    d = Domain("fake", "test", images, torch.zeros(20, dtype=torch.long), tuple(str(c) for c in range(10)))
    # predictions 0..9 twice: classes 5..9 are absent from a (0-4) target, half of the predictions
    assert absent_class_fraction(_Fixed(), d, range(5)) == pytest.approx(0.5)
    assert absent_class_fraction(_Fixed(), d, (0, 1)) == pytest.approx(0.8)
    assert absent_class_fraction(_Fixed(), d, range(10)) == 0.0
    with pytest.raises(ValueError, match="present_classes"):
        absent_class_fraction(_Fixed(), d, [])
