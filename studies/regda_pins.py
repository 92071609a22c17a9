"""What the RegDA screens pin so that their commands reproduce their tables after the recipe moves on.

Each screen in ``studies/regda_*.py`` ran against the recipe of its day (``uda_nb.papers.regda``). Options that
the recipe later changed are named explicitly in those screens' specs: DD's margin (its variants say
``margin``), the target passes (``ONE_PASS``) and, here, the hands augmentation, which took the reference code's
rotation and zoom on 2026-12-06 (studies/regda_geometry.py), and the hands heads' initialisation, which took the
reference code's later that day (studies/regda_head_init.py). A named field is part of a run's cache key, so a
pinned command may train its runs again; they are deterministic on one CPU.
"""

from __future__ import annotations

from uda_nb.papers import regda as R


def appearance_only(source: str) -> dict:
    """The augmentation field of a spec from before 2026-12-06's rotation and zoom: colour jitter and blur on hands,
    nothing on dSprites (its recipe has never augmented, so nothing is pinned there)."""
    return {"augment": "appearance"} if R.family_of(source) == "hands" else {}


def default_heads(source: str, options: dict) -> dict:
    """An adaptation's ``options`` as a screen from before the hands recipe took the reference code's head
    initialisation ran them: ``head_init="default"`` (PyTorch's) added on hands. dSprites never changed, so its
    options come back as given."""
    return {**options, "head_init": "default"} if R.family_of(source) == "hands" else dict(options)
