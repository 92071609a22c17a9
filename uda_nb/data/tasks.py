"""Building tasks: :func:`make_task` (source(s) + an unlabeled target, with their test splits) and
:func:`oracle_task`, the one place where target training labels reach a learner (the train-on-target row)."""

from __future__ import annotations

import torch

from ..config import get_device
from .domain import Domain, ImageSet, Task, concat_domains
from .keypoints import KeypointDomain
from .registry import EMBEDDED, load_domain


def _as_domain(d, split: str, seed: int, device, role: str = "source") -> ImageSet:
    if isinstance(d, ImageSet):
        return d.to(device) if device is not None else d
    if isinstance(d, (list, tuple)):
        return concat_domains([_as_domain(x, split, seed, device, role) for x in d])
    if not isinstance(d, str):
        raise TypeError(f"make_task takes domain names or Domain objects as {role}, got {type(d).__name__}: wrap your "
                        "tensors as Domain(name, split, images, labels, class_names) first (see 'Your own data' in "
                        "the README).")
    return load_domain(d, split, seed, device)


def _is_embedded(d) -> bool:
    """Whether a ready domain object is an embedded one (so its other split can be loaded by name)."""
    spec = EMBEDDED.get(getattr(d, "name", None))
    return spec is not None and d.meta.get("version") == spec.version and d.meta.get("family") == spec.family


def _test_split(d, role: str, seed: int, device):
    if isinstance(d, (list, tuple)):
        return concat_domains([_test_split(x, role, seed, device) for x in d])
    if isinstance(d, str):
        return load_domain(d, "test", seed, device)
    if _is_embedded(d):
        return load_domain(d.name, "test", d.meta.get("seed", seed), device)
    raise ValueError(f"make_task got a ready {role} domain {d.name!r} that is not an embedded domain, so its test "
                     f"split cannot be loaded by name: pass {role}_test=<its held-out Domain> (for folder datasets "
                     "without an official split, uda_nb.data.folders.split_domain makes one).")


def make_task(source: str | Domain | list, target: str | Domain, seed: int = 0,
              device: torch.device | str | None = None, source_test: Domain | None = None,
              target_test: Domain | None = None) -> Task:
    """Build a UDA task from domain names (or ready ``Domain`` objects for the train splits).

    Several sources (a list) are merged into one labeled set, as in DRT's multi-source setting. The target's
    training view is stripped of its labels here.
    """
    device = get_device(device) if device is not None else None
    src = _as_domain(source, "train", seed, device, "source")
    tgt = _as_domain(target, "train", seed, device, "target").unlabeled()
    for role, given in (("source_test", source_test), ("target_test", target_test)):
        if given is not None and not isinstance(given, ImageSet):
            raise TypeError(f"make_task: {role} must be a Domain (the labeled held-out split), got "
                            f"{type(given).__name__}: wrap your tensors as Domain(name, 'test', images, labels, "
                            "class_names).")
    src_test = source_test.to(src.device) if source_test is not None else _test_split(source, "source", seed, device)
    tgt_test = target_test.to(src.device) if target_test is not None else _test_split(target, "target", seed, device)
    return Task(source=src, target=tgt, source_test=src_test, target_test=tgt_test)


def oracle_task(task: Task, seed: int | None = None, labeled_target: Domain | KeypointDomain | None = None) -> Task:
    """The train-on-target upper bound: a task whose *labeled source is the target's training split*.

    This is the one function in uda_nb that gives target training labels to a learner; it exists only to
    measure the oracle row of a results table. Everything else is evaluated against it, never tuned on it.
    Embedded targets are reloaded with labels by name; for a real-data target pass ``labeled_target`` (the
    labeled training split the task's target was made from).
    """
    if labeled_target is None:
        if not _is_embedded(task.target):
            raise ValueError(f"oracle_task cannot reload the labels of {task.target.name!r} by name (it is not an "
                             "embedded domain): pass labeled_target=<the labeled training split of the target>.")
        seed = task.target.meta.get("seed", 0) if seed is None else seed
        labeled_target = load_domain(task.target.name, "train", seed, task.device)
    else:
        if not isinstance(labeled_target, ImageSet):
            raise TypeError(f"labeled_target must be a Domain (the labeled training split of the target), got "
                            f"{type(labeled_target).__name__}.")
        if len(labeled_target) != len(task.target) or not labeled_target.has_labels:
            raise ValueError(f"labeled_target must be the labeled version of the task's target training split "
                             f"({len(task.target)} images); got {labeled_target!r}.")
    labeled_target = labeled_target.to(task.device)
    if labeled_target.image_shape != task.target.image_shape or not torch.equal(labeled_target.images,
                                                                                  task.target.images):
        raise ValueError(f"labeled_target {labeled_target.name!r} is not the task's target training split "
                         f"{task.target.name!r}: it has {len(labeled_target)} images, but not the same ones. Pass the "
                         "labeled Domain you gave make_task as target (make_task only stripped its labels).")
    return Task(source=labeled_target, target=task.target, source_test=task.target_test,
                target_test=task.target_test, name=f"oracle:{task.target.name}")



def _check_classes(target_classes, num_classes: int) -> list[int]:
    keep = sorted({int(c) for c in target_classes})
    if not keep or keep[0] < 0 or keep[-1] >= num_classes:
        raise ValueError(f"partial_task: target_classes must be a non-empty subset of the classes "
                         f"0..{num_classes - 1}, got {list(target_classes)!r}.")
    if len(keep) == num_classes:
        raise ValueError("partial_task: target_classes names every source class; that is an ordinary task "
                         "(make_task).")
    return keep


def partial_domain(name: str, split: str, target_classes, seed: int = 0,
                   device: torch.device | str | None = None) -> Domain:
    """The embedded domain ``name``'s ``split`` restricted to the images of ``target_classes`` (labels kept;
    class ids and names unchanged)."""
    d = load_domain(name, split, seed, device)
    keep = _check_classes(target_classes, d.num_classes)
    return d.subset(torch.isin(d.labels, torch.tensor(keep, device=d.labels.device)))


def partial_task(source: str, target: str, target_classes, seed: int = 0,
                 device: torch.device | str | None = None) -> Task:
    """A partial-domain-adaptation task between embedded domains: the source keeps every class, the target
    (training and test splits) only ``target_classes`` (e.g. ``range(5)``: mnist (10 classes) -> mnistm (0-4)),
    as the partial-DA benchmarks are built (Office-31's first 10 classes as the target). The target's labels are
    read here once, to *build* the target set, as a dataset's curator would; the training view is then stripped of
    them like any target's. Class ids and names stay those of the source, so a prediction of an absent class is a
    plain wrong answer (:func:`uda_nb.metrics.absent_class_fraction` counts them)."""
    for role, d in (("source", source), ("target", target)):
        if not isinstance(d, str):
            raise TypeError(f"partial_task takes embedded domain names; got {type(d).__name__} as {role}. For your "
                            "own data, subset the target Domain by label and call make_task.")
    tgt_train = partial_domain(target, "train", target_classes, seed, device)  # checks the class list
    keep = _check_classes(target_classes, tgt_train.num_classes)
    task = make_task(source, tgt_train, seed=seed, device=device,
                     target_test=partial_domain(target, "test", keep, seed, device))
    return Task(task.source, task.target, task.source_test, task.target_test,
                name=f"{task.source.name}->{target}[{','.join(map(str, keep))}]")
