"""Claims test: RegDA's central dSprites claim at a reduced budget (about 1 minute): on Color -> Noisy, RegDA's
target MAE is far below the source-only model it starts from.

Same recipe as notebooks/02_regda.ipynb (uda_nb.papers.regda: Adam pretraining with L_T, then RegDA with SGD
Nesterov, fresh regressors at 10x), 200 + 200 steps instead of 300 + 300, one seed, no caching.
"""

import dataclasses

import pytest

from uda_nb.data import make_task
from uda_nb.experiments import run
from uda_nb.papers import regda as R

pytestmark = pytest.mark.claims


def test_regda_beats_source_only_on_dsprites_color_to_noisy():
    sizes = dataclasses.replace(R.SIZES["report"], dsprites_pretrain=200, dsprites_adapt=200, eval_samples=200)
    source, target = R.DSPRITES["C"], R.DSPRITES["N"]
    task = make_task(source, target, device="cpu")
    source_only = run(R.pretrain_spec(source, sizes), 0, cache=False, device="cpu", progress=False)
    regda = run(R.adapt_spec("regda", source, target, sizes), 0, cache=False, device="cpu", progress=False)
    so_mae = R.score(source_only, task)["target_mae"]
    regda_mae = regda.final["target_mae"]
    # both read the source well (MAE 0.03 = one pixel); RegDA must at least halve the source-only target error
    assert source_only.final["target_mae"] < 0.03 and regda.final["source_mae"] < 0.05
    assert regda_mae < 0.5 * so_mae, f"RegDA {regda_mae:.3f} vs source-only {so_mae:.3f}"
