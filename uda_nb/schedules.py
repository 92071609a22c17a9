"""Schedules as pure functions of training progress ``p`` in [0, 1] (no hidden step counters).

``fit()`` computes ``p = step / steps`` and passes it to the method and to the learning-rate schedule, so
resuming, changing the budget or plotting a schedule needs nothing but ``p``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def grl_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor, eq. (14) of Ganin & Lempitsky (2015): ``2 / (1 + exp(-gamma p)) - 1``.

    0 at ``p = 0`` (suppresses the noisy domain signal early), ``tanh(gamma/2)`` ~ 0.9866 at ``p = 1``
    with the paper's ``gamma = 10``.
    """
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def dann_lr_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's annealing, section 4 of the paper: ``lr_p = mu0 / (1 + alpha p)^beta``; this returns the factor
    multiplying ``mu0`` (1 at ``p = 0``, ``11^-0.75`` ~ 0.166 at ``p = 1``)."""
    return 1.0 / (1.0 + alpha * progress) ** beta


def constant_lr_factor(progress: float) -> float:
    """No annealing."""
    return 1.0


def regda_step_lr_factor(progress: float) -> float:
    """RegDA's source-only schedule (section 5.2.2 of Jiang et al. 2021): 70 epochs, the rate divided by 10 at
    epoch 45 and by 100 at epoch 60, as a function of progress: 1 for ``p < 45/70``, 0.1 for ``p < 60/70``,
    0.01 after."""
    if progress < 45 / 70:
        return 1.0
    return 0.1 if progress < 60 / 70 else 0.01


def regda_sgd_lr_factor(progress: float, paper_steps: int, alpha: float = 1e-4, beta: float = 0.75) -> float:
    """RegDA's adaptation schedule (section 5.1 of Jiang et al. 2021, and the reference code's ``lr_gamma = 1e-4``,
    ``lr_decay = 0.75`` on every keypoint task): ``eta_i = eta_0 (1 + alpha i)^-beta`` with ``i`` the training
    step, over a run of ``paper_steps`` steps (20,000 on dSprites, 30 epochs of 500 = 15,000 on hands). As a
    function of progress, ``i = paper_steps p``: the paper's curve over its whole run, compressed onto ours, so a
    run of the paper's length follows it step by step. It decays gently, to ``(1 + 2)^-0.75`` ~ 0.44 (20k) or
    ``2.5^-0.75`` ~ 0.50 (15k) at ``p = 1``, where DANN's :func:`dann_lr_factor` ends at 0.166."""
    return 1.0 / (1.0 + alpha * paper_steps * progress) ** beta


def regda_sgd_20k(progress: float) -> float:
    """:func:`regda_sgd_lr_factor` over the paper's 20,000 dSprites steps."""
    return regda_sgd_lr_factor(progress, 20_000)


def regda_sgd_15k(progress: float) -> float:
    """:func:`regda_sgd_lr_factor` over the paper's 15,000 hand steps (30 epochs of 500)."""
    return regda_sgd_lr_factor(progress, 15_000)


def thirds_step_lr_factor(progress: float) -> float:
    """DRT's step decay (section 4.1: the rate divided by 10 at 1/3 and 2/3 of training; the authors' ``drt.py``
    ``adjust_learning_rate`` with ``--schedule 5 10 15`` of 15 epochs): 1, then 0.1 from ``p = 1/3``, then 0.01
    from ``p = 2/3``."""
    if progress < 1 / 3:
        return 1.0
    return 0.1 if progress < 2 / 3 else 0.01


LR_SCHEDULES: dict[str, Callable[[float], float]] = {"dann": dann_lr_factor, "constant": constant_lr_factor,
                                                     "thirds": thirds_step_lr_factor,
                                                     "regda-step": regda_step_lr_factor,
                                                     "regda-sgd-20k": regda_sgd_20k, "regda-sgd-15k": regda_sgd_15k}


def lr_schedule(name_or_fn: str | Callable[[float], float]) -> Callable[[float], float]:
    """Look up a learning-rate factor schedule by name (``dann``, ``constant``, ``thirds``, ``regda-step``, ``regda-sgd-20k``,
    ``regda-sgd-15k``) or pass a callable through."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in LR_SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {name_or_fn!r}: use one of {sorted(LR_SCHEDULES)} "
                         "or a function of progress p in [0, 1].")
    return LR_SCHEDULES[name_or_fn]


def schedule_curve(fn: Callable[[float], float], points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """``(p, fn(p))`` sampled on ``[0, 1]`` for plotting."""
    p = np.linspace(0.0, 1.0, points)
    return p, np.array([fn(float(x)) for x in p])
