"""uda_nb: notebook-first unsupervised domain adaptation (DANN, RegDA, DRT, TransPar, GSDA).

Modules: ``config`` (budgets, device, paths, seeding), ``data`` (domains and tasks), ``models``, ``methods``,
``train`` (``fit``), ``metrics``, ``viz``, ``experiments`` (cached seed sweeps), ``claims``, ``reports``.
"""

__version__ = "0.1.0"
