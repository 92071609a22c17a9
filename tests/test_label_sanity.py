"""Label sanity: a classifier trained on each digits domain's train split reads its own test split.

If a generator drew one digit and stored another label (an off-by-one in a font table, a neighbour digit
centred instead of the labelled one), test accuracy would sit near 10 %. The network is the foundation's
DANN digits network with BatchNorm (plain LeNet learns the multi-colour domains too slowly for a unit test:
see `notebooks/00_data.ipynb`).
"""

import pytest

from uda_nb import methods
from uda_nb.config import seed_everything
from uda_nb.data import Task, load_domain
from uda_nb.metrics import accuracy
from uda_nb.train import fit


def own_test_accuracy(name: str, steps: int) -> float:
    train, test = load_domain(name, "train"), load_domain(name, "test")
    task = Task(source=train, target=train.unlabeled(), source_test=test, target_test=test)
    seed_everything(0)
    method = methods.create("source_only", 10, task.image_shape, batch_norm=True)
    fit(method, task, steps, 64, lr=0.01, eval_every=steps, eval_samples=200, progress=False)
    return accuracy(method, test)


@pytest.mark.parametrize("name, steps, floor", [("mnist", 200, 0.9), ("uci", 200, 0.9), ("mnistm", 300, 0.85),
                                               ("syn", 400, 0.85), ("street", 600, 0.85)])
def test_digits_labels_match_pictures(name, steps, floor):
    assert own_test_accuracy(name, steps) > floor
