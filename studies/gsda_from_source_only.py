"""Table 1's DANN, global-only and full GSDA rows started from the source-only model (feature extractor and
classifier of 04_transpar's source-only run of the same seed; the discriminators start fresh), against the same
rows from scratch (05_gsda's runs), at the report budget (750 steps), seeds 0 and 1, on both pairs. The nearest
we have to the paper's ImageNet-pretrained start. Prints per-seed target test accuracy; runs go through the cache.

    UDA_NB_QUIET=1 .venv/bin/python studies/gsda_from_source_only.py
"""

from uda_nb.experiments import RunSpec, run_seeds
from uda_nb.papers import gsda as G
from uda_nb.papers import transpar as T

SEEDS = (0, 1)
ROWS = {"DANN": ("dann", None), "global": ("gsda", G.ABLATION["global"]), G.FULL: ("gsda", G.ABLATION[G.FULL])}


def per_seed(runs):
    return " / ".join(f"{100 * r.final['target_acc']:.1f}" for r in runs)


print("| pair | row | from scratch | from the source-only model |\n|---|---|---|---|")
for pair in G.PAIRS:
    init = {"init_from": T.table_spec("source_only", *pair, "report"), "init_modules": ("features", "classifier")}
    for label, (method, options) in ROWS.items():
        scratch = G.spec(method, *pair, "report", options)
        pre = RunSpec(**{**scratch.__dict__, **init, "adist_samples": 0, "snapshot_samples": 0})
        print(f"| {G.pair_name(pair)} | {label} | {per_seed(run_seeds(scratch, SEEDS, progress=False))} | "
              f"{per_seed(run_seeds(pre, SEEDS, progress=False))} |", flush=True)
