"""The papers' own data sets from a folder, for a user with the data and a GPU: which data set a folder holds, the
UDA tasks of its domain pairs, and the network a notebook's ``BACKBONE`` / ``WEIGHTS`` parameters name.

The papers' protocol on Office-31 and Office-Home (TransPar, GSDA, DANN's and MDD's Office tables): every ordered
pair of domains is a task; the target's images are all used, unlabeled for training and labeled only for the
score; the source keeps a held-out fifth (class-stratified, :func:`uda_nb.data.folders.split_domain`) for
source-validation. Images are decoded once into memory at ``image_size`` pixels (centre crop of the shorter
side) and cached on disk (``$UDA_NB_DATA/cache/real``).
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

from ..data.domain import Task
from ..data.folders import load_image_folder_domains, resolve_root, split_domain

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
