"""GSDA's two training aids (the paper's section 3.1) on Table 1's pairs at the report budget, seeds 0 and 1:
full GSDA, + class-balanced source batches, + confident targets only (threshold 0.9 in the local
discriminators), + both. Prints per-seed source and target test accuracy and the classifier's loss at the first
logged row (chance is ln 10 = 2.30). Runs go through the run cache (about 2 minutes per new row here).

    .venv/bin/python studies/gsda_training_aids.py
"""

import pandas as pd

from uda_nb.experiments import run_seeds
from uda_nb.papers import gsda as G

SEEDS = (0, 1)
ROWS = {"full GSDA": None, "+ balanced source": (True, False), "+ confident targets (0.9)": (False, True),
        "+ both": (True, True)}

rows = []
for pair in G.PAIRS:
    for label, aids in ROWS.items():
        spec = G.spec("gsda", *pair, "report") if aids is None else G.aids_spec(*pair, "report", *aids)
        runs = run_seeds(spec, SEEDS, progress=False)
        rows.append({"pair": G.pair_name(pair), "row": label,
                     "target % per seed": " / ".join(f"{100 * r.final['target_acc']:.1f}" for r in runs),
                     "source % per seed": " / ".join(f"{100 * r.final['source_acc']:.1f}" for r in runs),
                     "L^c at step 300": " / ".join(f"{r.history.loss_cls.iloc[3]:.2f}" for r in runs)})
frame = pd.DataFrame(rows)
print("| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns))
for row in frame.itertuples(index=False):
    print("| " + " | ".join(map(str, row)) + " |")
