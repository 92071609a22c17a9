"""The papers' own data sets from a folder, for a user with the data and a GPU: which data set a folder holds, the
UDA tasks of its domain pairs (Office-31 / Office-Home for TransPar and GSDA, MNIST -> MNIST-M for DANN), DRT's
leave-one-out Digit-five tasks, RegDA's keypoint pair, and the network a notebook's ``BACKBONE`` / ``WEIGHTS``
parameters name.

The papers' protocol on Office-31 and Office-Home (TransPar, GSDA, DANN's and MDD's Office tables): every ordered
pair of domains is a task; the target's images are all used, unlabeled for training and labeled only for the
score; the source keeps a held-out fifth (class-stratified, :func:`uda_nb.data.folders.split_domain`) for
source-validation. Images are decoded once into memory at ``image_size`` pixels (centre crop of the shorter
side) and cached on disk (``$UDA_NB_DATA/cache/real``).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations
from pathlib import Path

import numpy as np
import torch

from ..data.domain import Domain, Task, concat_domains
from ..data.folders import load_image_folder_domains, load_keypoint_folder, resolve_root, split_domain
from ..data.keypoints import KeypointDomain
from ..data.tasks import make_task

#: the classification data sets of the papers, by their domain folders
OFFICE = {"office31": ("amazon", "dslr", "webcam"), "officehome": ("Art", "Clipart", "Product", "Real_World")}
#: the network a real-data run uses when ``BACKBONE`` is ``None``: the one ImageNet network that installs offline
DEFAULT_BACKBONE, DEFAULT_WEIGHTS = "efficientnet_lite0", "imagenet"


def find_dataset(root: str | Path) -> tuple[str, tuple[str, ...], Path]:
    """``(name, domains, folder)`` of the Office-31 or Office-Home folder ``root`` (a relative path is also looked
    up under ``$UDA_NB_DATA/real``). Office-Home's ``Real World`` (as unzipped) counts as ``Real_World``."""
    folder = resolve_root(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"DATA={str(root)!r} is not a folder: pass the folder holding Office-31 (amazon/, "
                                "dslr/, webcam/) or Office-Home (Art/, Clipart/, Product/, Real_World/), or "
                                "DATA='embedded' for the built-in digits.")
    subdirs = {d.name.replace(" ", "_") for d in folder.iterdir() if d.is_dir()}
    for name, domains in OFFICE.items():
        if set(domains) <= subdirs:
            return name, domains, folder
    raise FileNotFoundError(f"DATA={str(root)!r} holds neither Office-31 (amazon/, dslr/, webcam/) nor Office-Home "
                            f"(Art/, Clipart/, Product/, Real_World/); its sub-folders are {sorted(subdirs)[:12]}. "
                            "Point DATA at the data set's top folder.")


def domain_pairs(domains) -> list[tuple[str, str]]:
    """Every ordered pair of different domains: Office-31's 6 tasks, Office-Home's 12."""
    return list(permutations(domains, 2))


def folder_tasks(root: str | Path, pairs=None, image_size: int = 224, max_per_class: int | None = None,
                 seed: int = 0) -> dict[tuple[str, str], Task]:
    """``{(source, target): Task}`` for ``pairs`` of the data set in ``root`` (default: every pair), in the
    papers' protocol (module docstring). Each domain is decoded once."""
    _, domains, folder = find_dataset(root)
    pairs = domain_pairs(domains) if pairs is None else [tuple(p) for p in pairs]
    unknown = sorted({d for p in pairs for d in p} - set(domains))
    if unknown:
        raise ValueError(f"pairs name domains {unknown} that {str(root)!r} does not hold; its domains are {domains}.")
    needed = [d for d in domains if any(d in p for p in pairs)]
    on_disk = {d.name.replace(" ", "_"): d.name for d in folder.iterdir() if d.is_dir()}
    loaded = load_image_folder_domains(folder, [on_disk[d] for d in needed], image_size=image_size,
                                       max_per_class=max_per_class, seed=seed, cache=True)
    loaded = {d: loaded[on_disk[d]] for d in needed}
    tasks = {}
    for s, t in pairs:
        train, held_out = split_domain(loaded[s], 0.2, seed)
        tasks[(s, t)] = Task(source=train, target=loaded[t].unlabeled(), source_test=held_out,
                             target_test=loaded[t], name=f"{s}->{t}")
    return tasks


def network_options(backbone: str | None, weights) -> tuple[str, dict]:
    """``(backbone, model options)`` for a real-data run: ``backbone=None`` is :data:`DEFAULT_BACKBONE` with its
    shipped ImageNet weights; every layer is fine-tuned (no frozen prefix: a GPU affords it) at the images' size."""
    if backbone is None:
        backbone, weights = DEFAULT_BACKBONE, DEFAULT_WEIGHTS if weights is None else weights
    if weights is None:
        import warnings
        warnings.warn(f"BACKBONE={backbone!r} with WEIGHTS=None starts from random weights; the papers fine-tune an "
                      "ImageNet-pretrained network: pass WEIGHTS=<path of a local state dict>.", stacklevel=2)
    return backbone, {"weights": weights}


def pair_folder_task(root: str | Path, source: str, target: str, image_size: int = 32, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[Task, "Domain"]:
    """A task from two domain folders of an image-folder data set (``<root>/<domain>/<class>/<image>``: e.g.
    MNIST and MNIST-M exported as images for 01_dann), each split class-stratified into train and a held-out
    ``test_fraction``; returns ``(task, labeled target training split)``, the latter only for the train-on-target
    row."""
    folder = resolve_root(root)
    missing = [d for d in (source, target) if not (folder / d).is_dir()]
    if missing:
        found = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
        raise FileNotFoundError(f"DATA={str(root)!r} has no sub-folder {missing} (found {found[:12]}): it needs "
                                f"{source}/<class>/<image> and {target}/<class>/<image>.")
    doms = load_image_folder_domains(folder, [source, target], image_size=image_size, cache=True)
    src_train, src_test = split_domain(doms[source], test_fraction, seed)
    tgt_train, tgt_test = split_domain(doms[target], test_fraction, seed)
    task = Task(source=src_train, target=tgt_train.unlabeled(), source_test=src_test, target_test=tgt_test,
                name=f"{source}->{target}")
    return task, tgt_train


#: Digit-five's domains in the column order of DRT's Table 3, as M3SDA names them
DIGIT_FIVE = ("mnistm", "mnist", "usps", "svhn", "syn")
#: the embedded analogue of each Digit-five domain (whose column of the paper's table it plays)
DIGIT_FIVE_ANALOGUE = {"mnistm": "mnistm", "mnist": "mnist", "usps": "uci", "svhn": "street", "syn": "syn"}


def _renamed(domain: Domain, name: str, split: str) -> Domain:
    return Domain(name, split, domain.images, domain.labels, domain.class_names, dict(domain.meta))


def digit_five_domains(root: str | Path, image_size: int = 32, test_fraction: float = 0.2,
                       seed: int = 0) -> dict[str, tuple[Domain, Domain]]:
    """``{domain: (train, test)}`` for Digit-five kept as image folders in ``root``: one sub-folder per domain
    (:data:`DIGIT_FIVE`, any letter case), each either ``<domain>/<class>/<image>`` (split here, class-stratified,
    ``test_fraction`` held out) or ``<domain>/train/<class>/<image>`` and ``<domain>/test/<class>/<image>`` (the
    split as given, e.g. M3SDA's 25,000 / 9,000 per domain). Every domain must have the same class folders.
    Images are decoded once at ``image_size`` pixels and cached on disk."""
    folder = resolve_root(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"DATA={str(root)!r} is not a folder: pass the folder holding Digit-five as "
                                f"{'/, '.join(DIGIT_FIVE)}/ (each <class>/<image>, or train/ and test/ of those), or "
                                "DATA='embedded' for the built-in digits.")
    on_disk = {d.name.lower(): d.name for d in folder.iterdir() if d.is_dir()}
    missing = [d for d in DIGIT_FIVE if d not in on_disk]
    if missing:
        raise FileNotFoundError(f"DATA={str(root)!r} lacks the Digit-five domain folder(s) {missing} (its sub-folders "
                                f"are {sorted(on_disk.values())[:12]}): DRT's leave-one-out table needs all five, "
                                f"{', '.join(DIGIT_FIVE)}, each <class>/<image> or train/<class>/<image> + "
                                "test/<class>/<image>.")
    out = {}
    for d in DIGIT_FIVE:
        where = folder / on_disk[d]
        if (where / "train").is_dir() and (where / "test").is_dir():
            splits = load_image_folder_domains(where, ["train", "test"], image_size=image_size, cache=True)
            out[d] = (_renamed(splits["train"], d, "train"), _renamed(splits["test"], d, "test"))
        else:
            whole = load_image_folder_domains(folder, [on_disk[d]], image_size=image_size, cache=True)[on_disk[d]]
            train, test = split_domain(_renamed(whole, d, "all"), test_fraction, seed)
            out[d] = (train, test)
    classes = {d: tuple(tr.class_names) for d, (tr, _) in out.items()}
    if len(set(classes.values())) > 1:
        raise ValueError(f"DATA={str(root)!r}: the Digit-five domains have different class folders "
                         f"({', '.join(f'{d}: {list(c)[:12]}' for d, c in classes.items())}); each needs the same "
                         "ten, e.g. 0/ ... 9/.")
    return out


def digit_five_tasks(root: str | Path, image_size: int = 32, targets=DIGIT_FIVE, seed: int = 0) -> dict[str, Task]:
    """DRT's leave-one-domain-out tasks on Digit-five in ``root`` (:func:`digit_five_domains`): for each target,
    the other four domains' training images merged into one labeled source (``meta['parts']`` keeps each image's
    domain, read only to score the sources), the target's training images unlabeled, and both test splits."""
    unknown = [t for t in targets if t not in DIGIT_FIVE]
    if unknown:
        raise ValueError(f"targets {unknown} are not Digit-five domains; choose from {DIGIT_FIVE}.")
    splits = digit_five_domains(root, image_size=image_size, seed=seed)
    tasks = {}
    for t in targets:
        sources = [d for d in DIGIT_FIVE if d != t]
        task = make_task([splits[d][0] for d in sources], splits[t][0], source_test=concat_domains(
            [splits[d][1] for d in sources]), target_test=splits[t][1])
        tasks[t] = replace(task, name=f"{'+'.join(sources)}->{t}")
    return tasks


#: the annotation files a keypoint folder may hold (schema in data/README.md), in the order they are looked for
KEYPOINT_ANNOTATIONS = ("keypoints.json", "keypoints.csv")


def split_keypoint_domain(domain: KeypointDomain, test_fraction: float = 0.2,
                          seed: int = 0) -> tuple[KeypointDomain, KeypointDomain]:
    """A disjoint, seeded random ``(train, test)`` split of a labeled keypoint domain (``round(n * test_fraction)``
    images, at least one, held out); both parts keep file order and their per-image ``meta`` entries."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    n = len(domain)
    if n < 2:
        raise ValueError(f"Keypoint domain {domain.name!r} has {n} image(s): a train / test split needs two or more.")
    k = min(max(int(round(n * test_fraction)), 1), n - 1)
    test = np.zeros(n, dtype=bool)
    test[np.random.default_rng(seed).choice(n, k, replace=False)] = True
    parts = []
    for name, mask in (("train", ~test), ("test", test)):
        sub = domain.subset(torch.from_numpy(np.flatnonzero(mask)).to(domain.device))
        parts.append(replace(sub, split=name, meta={**sub.meta, "split_of": domain.split,
                                                    "test_fraction": test_fraction, "split_seed": seed}))
    return parts[0], parts[1]


def _keypoint_folder(folder: Path, split: str, image_size: int, keypoint_names=None) -> KeypointDomain:
    found = [a for a in KEYPOINT_ANNOTATIONS if (folder / a).is_file()]
    if not found:
        raise FileNotFoundError(f"{folder} holds no annotation file: it needs {' or '.join(KEYPOINT_ANNOTATIONS)} "
                                "beside the images it names (schema in data/README.md).")
    return load_keypoint_folder(folder, found[0], image_size=image_size, keypoint_names=keypoint_names,
                                name=folder.name if split == "all" else folder.parent.name, split=split,
                                outside="hide")


def keypoint_pair_task(root: str | Path, source: str = "rhd", target: str = "h3d", image_size: int = 256,
                       test_fraction: float = 0.2, seed: int = 0) -> tuple[Task, KeypointDomain]:
    """RegDA's task from two keypoint folders in ``root``, in the roles of RHD (``source``) and H3D (``target``).

    Each domain folder holds its images and one annotation file (:data:`KEYPOINT_ANNOTATIONS`; pixel coordinates
    and visibility, schema in ``data/README.md``), either directly (a seeded ``test_fraction`` is held out for the
    test) or in ``train/`` and ``test/`` sub-folders (the split as given). Images are resized to ``image_size``
    (a multiple of 32 for a ResNet trunk) with their coordinates; keypoints that leave the image are marked not
    visible. The target keeps the source's keypoint names and order. Returns ``(task, labeled target training
    split)``: the latter only for the train-on-target row."""
    folder = resolve_root(root)
    missing = [d for d in (source, target) if not (folder / d).is_dir()]
    if missing:
        found = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
        raise FileNotFoundError(f"DATA={str(root)!r} has no keypoint folder {missing} (its sub-folders: {found[:12]}): "
                                f"it needs {source}/ and {target}/, each with images and "
                                f"{' or '.join(KEYPOINT_ANNOTATIONS)}, or train/ and test/ holding them; SOURCE and "
                                "TARGET name the two folders.")
    splits, names = {}, None
    for d in (source, target):
        where = folder / d
        if (where / "train").is_dir() and (where / "test").is_dir():
            train = _keypoint_folder(where / "train", "train", image_size, names)
            test = _keypoint_folder(where / "test", "test", image_size, train.keypoint_names)
        else:
            train, test = split_keypoint_domain(_keypoint_folder(where, "all", image_size, names), test_fraction, seed)
        names = names or train.keypoint_names
        splits[d] = (train, test)
    (src, src_test), (tgt, tgt_test) = splits[source], splits[target]
    task = Task(source=src, target=tgt.unlabeled(), source_test=src_test, target_test=tgt_test,
                name=f"{source}->{target}")
    return task, tgt
