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


LR_SCHEDULES: dict[str, Callable[[float], float]] = {"dann": dann_lr_factor, "constant": constant_lr_factor,
                                                     "regda-step": regda_step_lr_factor}


def lr_schedule(name_or_fn: str | Callable[[float], float]) -> Callable[[float], float]:
    """Look up a learning-rate factor schedule by name (``dann``, ``constant``, ``regda-step``) or pass a callable
    through."""
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
