"""The base of optimizers that wrap another one and step it (TransPar's update rule,
:class:`uda_nb.distributed.AveragedGradients`)."""

from __future__ import annotations

import torch


class OptimizerWrapper(torch.optim.Optimizer):
    """Shares the wrapped optimizer's ``param_groups`` and ``state`` (the same objects, not copies), so that
    ``fit()``'s learning-rate schedule and a checkpoint reach it; ``state_dict`` / ``load_state_dict`` go to the
    wrapped optimizer, which ``load_state_dict`` leaves sharing again (``Optimizer.load_state_dict`` replaces both
    objects)."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.inner = optimizer
        super().__init__(optimizer.param_groups, optimizer.defaults)
        self._share()

    def _share(self) -> None:
        self.param_groups = self.inner.param_groups
        self.state = self.inner.state

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.inner.load_state_dict(state_dict)
        self._share()
