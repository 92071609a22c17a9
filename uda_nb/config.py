"""Budgets, device, paths and seeding: the few settings every notebook and test shares.

A notebook's first cell (tagged ``parameters`` for papermill) sets ``BUDGET = None``; :func:`resolve_budget`
turns ``None`` into the value of ``UDA_NB_BUDGET`` (default ``"report"``). Budgets are named sizes of an
experiment; each notebook reads its numbers from :data:`BUDGETS` so that one switch scales everything.

Environment variables
---------------------
``UDA_NB_BUDGET``      smoke | lecture | report | paper (default report)
``UDA_NB_DEVICE``      e.g. ``cpu``, ``cuda``, ``cuda:1`` (default: CUDA if available, else CPU)
``UDA_NB_DATA``        folder for generated datasets and result caches (default ``<repo>/data``)
``UDA_NB_CLAIMS_DIR``  where notebooks write ``<notebook>.claims.json`` (default ``<data>/claims``;
                       ``make reports`` points it at ``reports/``)
``UDA_NB_QUIET``       1 to hide progress bars (set automatically when ``CI`` is set)
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Budget:
    """How much work one experiment may do.

    ``steps``: optimiser steps per training run; ``batch_size``: images per domain per step (DANN's
    128-image batch is 64 source + 64 target); ``seeds``: how many seeds a results table averages;
    ``eval_every``: steps between evaluations logged in the history; ``eval_samples``: images per domain
    used for in-training logging (final metrics always use the whole test split); ``tsne_points``: points
    per domain in t-SNE figures; ``adist_samples``: points per domain for proxy A-distance; ``data_seeds``: how
    many builds of a generated domain (its data seed: photo crops, fonts, poses) a robustness table repeats
    the experiment on.
    """

    name: str
    steps: int
    batch_size: int
    seeds: int
    eval_every: int
    eval_samples: int
    tsne_points: int
    adist_samples: int
    data_seeds: int = 1

    def scaled(self, **changes) -> "Budget":
        """A copy with some fields changed (``budget.scaled(steps=500)``)."""
        return replace(self, **changes)


BUDGETS: dict[str, Budget] = {
    # Enough to run every cell and exercise every code path: seconds per notebook.
    "smoke": Budget("smoke", steps=40, batch_size=32, seeds=1, eval_every=20, eval_samples=200,
                    tsne_points=100, adist_samples=100),
    # A teacher's live run: one seed, a few hundred steps; 01_dann runs start to finish in under 2 minutes on
    # a 2-core CPU (see the README's timing table).
    "lecture": Budget("lecture", steps=500, batch_size=32, seeds=1, eval_every=100, eval_samples=500,
                      tsne_points=300, adist_samples=300),
    # The executed reports on a 2-core laptop CPU: minutes per notebook.
    # 1,500 steps of 32 + 32 images: ~50 s for DANN, ~30 s for source-only on 2 cores (callbacks included);
    # the notebook then takes about 6 minutes from a fresh clone (1,800 steps measured 7-7.5 min: too close
    # to the 8-minute target on a shared 2-core machine).
    "report": Budget("report", steps=1500, batch_size=32, seeds=3, eval_every=300, eval_samples=1000,
                     tsne_points=400, adist_samples=400, data_seeds=3),
    # The papers' budgets, for a GPU and the real datasets.
    "paper": Budget("paper", steps=30000, batch_size=64, seeds=5, eval_every=1000, eval_samples=5000,
                    tsne_points=1000, adist_samples=2000),
}


def resolve_budget(budget: str | Budget | None = None) -> Budget:
    """The :class:`Budget` for a name, ``None`` meaning ``$UDA_NB_BUDGET`` (default ``report``)."""
    if isinstance(budget, Budget):
        return budget
    name = budget if budget is not None else os.environ.get("UDA_NB_BUDGET", "report")
    name = name.strip().lower()
    if name not in BUDGETS:
        raise ValueError(f"Unknown budget {name!r}: choose one of {sorted(BUDGETS)} "
                         f"(set BUDGET in the notebook's parameters cell or UDA_NB_BUDGET).")
    return BUDGETS[name]


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The training device: the argument, else ``$UDA_NB_DEVICE``, else CUDA when available, else CPU."""
    from_env = device is None
    choice = device if device is not None else os.environ.get("UDA_NB_DEVICE")
    if choice is None or choice == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    origin = f"UDA_NB_DEVICE={choice!r}" if from_env else f"device={choice!r}"
    if isinstance(choice, str):
        choice = choice.strip()
    try:
        dev = torch.device(choice)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"Unknown device {origin}: use 'cpu', 'cuda' or 'cuda:<index>' (e.g. 'cuda:1')"
                         + (", or unset UDA_NB_DEVICE to pick CUDA when available." if from_env else ".")) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"Device {choice!r} was requested but CUDA is not available here; "
                               "unset UDA_NB_DEVICE or set it to 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{origin} names GPU {dev.index}, but this machine has {torch.cuda.device_count()} "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1}); use 'cuda' for the first one.")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError(f"{origin} was requested but Apple's MPS backend is not available here; use 'cpu'.")
    elif dev.type != "cpu":
        raise ValueError(f"Unsupported device {origin}: uda_nb trains on 'cpu', 'cuda' or 'cuda:<index>' (and "
                         "'mps' on Apple silicon).")
    return dev


def data_dir() -> Path:
    """Root for generated datasets and caches: ``$UDA_NB_DATA`` or ``<repo>/data``."""
    return Path(os.environ.get("UDA_NB_DATA", REPO_ROOT / "data"))


_WRITABLE: set[Path] = set()  # folders already checked (cache_dir is called once per dataset load)


def _writable_folder(path: Path, what: str) -> Path:
    """Create ``path`` if needed and check that files can be written there; errors say which variable to fix."""
    if path in _WRITABLE and path.is_dir():
        return path
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise NotADirectoryError(f"{what}: {p} is a file, not a folder, so {path} cannot be created. Point it at "
                                     "a folder (or unset it to use the default).")
        if p.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(f"{what}: cannot create {path} ({type(exc).__name__}: {exc.strerror or exc}). Point it at "
                        "a folder you can write to (or unset it to use the default).") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{what}: {path} is not writable. Point it at a folder you can write to (or unset it "
                              "to use the default).")
    _WRITABLE.add(path)
    return path


def cache_dir(kind: str) -> Path:
    """A sub-folder of :func:`data_dir` (``datasets``, ``runs``, ...), created on demand."""
    what = f"UDA_NB_DATA={os.environ['UDA_NB_DATA']!r}" if "UDA_NB_DATA" in os.environ else "the data folder"
    return _writable_folder(data_dir() / "cache" / kind, what)


def reports_dir() -> Path:
    """The committed executed reports: ``<repo>/reports``."""
    return REPO_ROOT / "reports"


def claims_dir() -> Path:
    """Where notebooks write their claims tables (``$UDA_NB_CLAIMS_DIR`` or ``<data>/claims``)."""
    if "UDA_NB_CLAIMS_DIR" in os.environ:
        return _writable_folder(Path(os.environ["UDA_NB_CLAIMS_DIR"]),
                                f"UDA_NB_CLAIMS_DIR={os.environ['UDA_NB_CLAIMS_DIR']!r}")
    what = f"UDA_NB_DATA={os.environ['UDA_NB_DATA']!r}" if "UDA_NB_DATA" in os.environ else "the data folder"
    return _writable_folder(data_dir() / "claims", what)


def quiet() -> bool:
    """True when progress bars should be hidden (``UDA_NB_QUIET=1`` or running under CI)."""
    flag = os.environ.get("UDA_NB_QUIET")
    if flag is not None:
        return flag not in ("", "0", "false", "False")
    return bool(os.environ.get("CI"))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a fresh CPU ``torch.Generator`` with that seed.

    Library code never reseeds the global RNGs behind a caller's back; it takes explicit generators.
    This is for the top of a notebook or a training run.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
