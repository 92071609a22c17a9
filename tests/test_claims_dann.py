"""Claims test: DANN's central claim at a reduced budget on the embedded MNIST -> MNIST-M (about 2 minutes).

Same recipe as notebooks/01_dann.ipynb (the paper's: lr 0.01 annealed, momentum 0.9, gamma 10, fc100 domain
head, mean subtraction; 32 + 32 images per step), 800 steps instead of 1,500, seeds 0 and 1, no caching.
"""

import pytest

from uda_nb.experiments import RunSpec, run

pytestmark = pytest.mark.claims


@pytest.mark.parametrize("seed", [0, 1])
def test_dann_beats_source_only_on_mnist_to_mnistm(seed):
    spec = RunSpec("dann", "mnist", "mnistm", steps=800, batch_size=32, lr=0.01, eval_every=800, eval_samples=200)
    dann = run(spec, seed, cache=False, device="cpu", progress=False)
    source_only = run(spec.with_method("source_only"), seed, cache=False, device="cpu", progress=False)
    gain = dann.final["target_acc"] - source_only.final["target_acc"]
    # DANN must not pay for adaptation with its source accuracy, and must gain clearly on the target
    assert dann.final["source_acc"] > 0.95 and source_only.final["source_acc"] > 0.95
    assert gain > 0.08, (f"seed {seed}: DANN {dann.final['target_acc']:.3f} vs source-only "
                         f"{source_only.final['target_acc']:.3f}")
