"""Measurements: accuracy, features, proxy A-distance, gap covered.

Proxy A-distance (Ben-David et al. 2007; DESIGN.md section 3): a linear classifier (scikit-learn logistic
regression on standardised features) is trained to tell source from target on half of a balanced sample and
tested on the other half; ``d_A = 2 (1 - 2 err)`` clipped to ``[0, 2]``. Near 0: indistinguishable domains;
2: linearly separable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .data.domain import Domain


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits ``(N, K)`` of ``model`` in eval mode (train mode restored afterwards)."""
    return _batched(model, images, batch_size)


@torch.no_grad()
def extract_features(method: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``method.embed`` features ``(N, D)`` in eval mode."""
    return _batched(method.embed, images, batch_size, module=method)


def _batched(fn, images, batch_size, module=None):
    module = module if module is not None else fn
    was_training = module.training
    module.eval()
    try:
        return torch.cat([fn(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    finally:
        module.train(was_training)


def accuracy(model: nn.Module, domain: Domain, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on a labeled domain, in [0, 1]."""
    if domain.labels is None:
        raise ValueError(f"accuracy() needs labels, but {domain!r} is an unlabeled view.")
    pred = predict_logits(model, domain.images, batch_size).argmax(1)
    return float((pred == domain.labels.to(pred.device)).float().mean())


def absent_class_fraction(model: nn.Module, domain: Domain, present_classes, batch_size: int = 1000) -> float:
    """Partial domain adaptation's negative transfer as a number: the fraction of ``domain``'s images that
    ``model`` assigns to a class *not* in ``present_classes`` (the classes the target holds). Reads no label."""
    present = torch.tensor(sorted({int(c) for c in present_classes}))
    if present.numel() == 0:
        raise ValueError("absent_class_fraction needs the target's classes (present_classes), got none.")
    pred = predict_logits(model, domain.images, batch_size).argmax(1).cpu()
    return float((~torch.isin(pred, present)).float().mean())


def linear_probe_accuracy(features, labels, seed: int = 0, C: float = 1.0) -> float:
    """Held-out accuracy of a linear probe: ``features`` ``(N, D)`` and integer ``labels`` ``(N,)`` (tensors or
    arrays) are split half/half into a training and a test set, stratified by label; a logistic regression on
    standardised features (multinomial for more than two labels) learns the labels; returns its
    accuracy on the test half. Seeded. Used for the proxy A-distance (two labels: source, target) and DRT's
    domain probe on dynamic coefficients (one label per domain)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _numpy(features), _numpy(labels).ravel()
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"linear_probe_accuracy needs features (N, D) and labels (N,), got {x.shape} and {y.shape}.")
    counts = np.unique(y, return_counts=True)[1]
    if len(counts) < 2 or counts.min() < 2:
        raise ValueError(f"linear_probe_accuracy needs at least two labels with two samples each, got counts "
                         f"{counts.tolist()}.")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    # two labels: liblinear, ~10x faster than lbfgs on these small, nearly separable samples (0.1 s vs 1-2 s);
    # more: lbfgs, a multinomial logistic regression (liblinear is binary only)
    solver = "liblinear" if len(counts) == 2 else "lbfgs"
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, solver=solver, max_iter=1000))
    clf.fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


def neighbour_class_agreement(source_features, source_labels, target_features, target_labels) -> float:
    """How well the classes of two domains line up in a feature space: the fraction of target samples whose
    nearest source sample (Euclidean, on the features as given) has the target sample's own class. Global
    alignment can put a target class next to the wrong source class (GSDA's Figure 1a): that lowers this number
    while the domain-level distance stays small. ``(N_s, D)``, ``(N_s,)``, ``(N_t, D)``, ``(N_t,)``; the target
    labels are read for evaluation only."""
    from sklearn.neighbors import NearestNeighbors

    xs, xt = _numpy(source_features), _numpy(target_features)
    ys, yt = _numpy(source_labels).ravel(), _numpy(target_labels).ravel()
    if xs.ndim != 2 or xt.ndim != 2 or xs.shape[1] != xt.shape[1] or len(xs) != len(ys) or len(xt) != len(yt):
        raise ValueError(f"neighbour_class_agreement needs features (N_s, D) and (N_t, D) with one label per row, "
                         f"got {xs.shape}, {ys.shape}, {xt.shape}, {yt.shape}.")
    if not len(xs) or not len(xt):
        raise ValueError("neighbour_class_agreement needs at least one source and one target sample.")
    nearest = NearestNeighbors(n_neighbors=1).fit(xs).kneighbors(xt, return_distance=False)[:, 0]
    return float((ys[nearest] == yt).mean())


def proxy_a_distance(source_features, target_features, seed: int = 0, max_per_domain: int | None = None,
                     C: float = 1.0) -> float:
    """Proxy A-distance between two feature samples ``(N_s, D)`` and ``(N_t, D)`` (tensors or arrays).

    A balanced sample (``min(N_s, N_t)`` per domain, at most ``max_per_domain``) is split half/half into a
    training and a test set, stratified by domain; a logistic regression on standardised features learns
    source vs target (:func:`linear_probe_accuracy`); ``d_A = 2 (1 - 2 err)`` with ``err`` its test error,
    clipped to ``[0, 2]``. Seeded.
    """
    x, y = _domain_dataset(source_features, target_features, seed, max_per_domain, "proxy_a_distance", 4)
    err = 1.0 - linear_probe_accuracy(x, y, seed, C)
    return float(np.clip(2.0 * (1.0 - 2.0 * err), 0.0, 2.0))


def discriminator_distance(source_features, target_features, seed: int = 0, max_per_domain: int | None = None,
                           hidden: tuple[int, ...] = (256,), epochs: int = 10, test_fraction: float = 0.2) -> float:
    """TransPar's domain distance ``d_A = 1 - 2 err`` (eq. 11), with the paper's estimator: a domain discriminator
    with two fully connected layers (one hidden layer of ``hidden`` units, ReLU) trained ``epochs`` epochs (Adam)
    on standardised features, ``err`` its error on a held-out ``test_fraction`` (the paper: 80/20, 10 epochs).
    ``(N_s, D)``, ``(N_t, D)`` -> a float clipped to ``[0, 1]``: half the scale of :func:`proxy_a_distance`
    (which reports ``2 (1 - 2 err)`` of a linear classifier). Balanced and seeded like it."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r} (the paper holds out 0.2).")
    x, y = _domain_dataset(source_features, target_features, seed, max_per_domain, "discriminator_distance", 5)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=int(epochs),
                                                        random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs, as in the paper
        clf.fit(x_tr, y_tr)
    err = 1.0 - float(clf.score(x_te, y_te))
    return float(np.clip(1.0 - 2.0 * err, 0.0, 1.0))


def knn_domain_mixing(source_features, target_features, k: int = 10, seed: int = 0,
                      max_per_domain: int | None = None) -> float:
    """How mixed two feature clouds are, as a t-SNE picture suggests: the k-nearest-neighbour domain mixing.

    A balanced sample (``n = min(N_s, N_t)`` per domain, at most ``max_per_domain``) is pooled; for every point
    the fraction of its ``k`` nearest neighbours (Euclidean, itself excluded) that come from the *other* domain
    is averaged and divided by its value under perfect mixing, ``n / (2n - 1)``. 0: the domains form separate
    clouds (every neighbour is from the same domain); about 1: the neighbourhoods are as mixed as if the
    domain labels were shuffled. Unlike the proxy A-distance (a linear separator on held-out features), it
    looks at local neighbourhoods, which is what a t-SNE figure shows. ``(N_s, D)``, ``(N_t, D)`` -> float.
    """
    from sklearn.neighbors import NearestNeighbors

    xs, xt = _balanced_sample(source_features, target_features, seed, max_per_domain, "knn_domain_mixing")
    n = len(xs)
    if 2 * n - 1 < k:
        raise ValueError(f"knn_domain_mixing needs at least k={k} other points (2n - 1 >= k), got n={n} per domain; "
                         "lower k or pass more features.")
    x = np.concatenate([xs, xt])
    domain = np.concatenate([np.zeros(n, dtype=int), np.ones(n, dtype=int)])
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    neighbours = idx[:, 1:]  # the first neighbour is the point itself
    other = (domain[neighbours] != domain[:, None]).mean()
    return float(other / (n / (2 * n - 1)))


@torch.no_grad()
def domain_classifier_accuracy(discriminator: nn.Module, source_features, target_features) -> float:
    """Accuracy of a trained domain classifier on held-out features: ``discriminator(f)`` gives one logit per
    sample ``(N,)``, positive meaning source (DANN's convention). Balanced samples give 0.5 at chance, so
    this says whether the features really confuse the classifier the method trained against.
    ``(N_s, D)``, ``(N_t, D)`` -> accuracy in [0, 1] (mean of the two per-domain accuracies)."""
    was_training = discriminator.training
    discriminator.eval()
    try:
        device = next(discriminator.parameters()).device
        fs = torch.as_tensor(_numpy(source_features), device=device)
        ft = torch.as_tensor(_numpy(target_features), device=device)
        src_ok = (discriminator(fs) > 0).float().mean()
        tgt_ok = (discriminator(ft) <= 0).float().mean()
    finally:
        discriminator.train(was_training)
    return float((src_ok + tgt_ok) / 2)


def gap_covered(method: float, source_only: float, oracle: float) -> float:
    """``(method - source_only) / (oracle - source_only)``: the fraction of the source-only-to-oracle gap a
    method closes (DANN's Table 1 reports 52.9% on MNIST -> MNIST-M). NaN when the gap is zero."""
    gap = oracle - source_only
    return float("nan") if math.isclose(gap, 0.0, abs_tol=1e-12) else (method - source_only) / gap


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(list(values), dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _domain_dataset(source_features, target_features, seed: int, max_per_domain: int | None, name: str,
                    minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """A balanced sample of both domains stacked, ``(2n, D)``, with domain labels ``(2n,)`` (source 1, target 0);
    at least ``minimum`` samples per domain, or a clear error naming ``name``."""
    xs, xt = _balanced_sample(source_features, target_features, seed, max_per_domain, name)
    n = len(xs)
    if n < minimum:
        raise ValueError(f"{name} needs at least {minimum} samples per domain, got {n}.")
    return np.concatenate([xs, xt]), np.concatenate([np.ones(n), np.zeros(n)])


def _balanced_sample(source_features, target_features, seed: int, max_per_domain: int | None,
                     caller: str) -> tuple[np.ndarray, np.ndarray]:
    """The same number ``n = min(N_s, N_t, max_per_domain)`` of rows from each feature array, drawn without
    replacement by a generator seeded with ``seed`` (source first, then target)."""
    xs, xt = _numpy(source_features), _numpy(target_features)
    if xs.ndim != 2 or xt.ndim != 2 or xs.shape[1] != xt.shape[1]:
        raise ValueError(f"{caller} needs two 2-D feature arrays with the same width, got {xs.shape} and "
                         f"{xt.shape}.")
    n = min(len(xs), len(xt), max_per_domain or 10**12)
    rng = np.random.default_rng(seed)
    return xs[rng.choice(len(xs), n, replace=False)], xt[rng.choice(len(xt), n, replace=False)]


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


# ------------------------------------------------------------------------------------------- keypoints


@torch.no_grad()
def predict_keypoints(method: nn.Module, images: torch.Tensor, batch_size: int = 500, head: str = "task") -> torch.Tensor:
    """Keypoint predictions ``(N, K, 2)`` in image pixels from a keypoint method (``method.predict_keypoints``),
    in eval mode (train mode restored). ``head``: ``"task"`` (the regressor f) or ``"adversarial"`` (f')."""
    return predict_keypoints_by_head(method, images, (head,), batch_size)[head]


@torch.no_grad()
def predict_keypoints_by_head(method: nn.Module, images: torch.Tensor, heads: tuple[str, ...],
                              batch_size: int = 500) -> dict[str, torch.Tensor]:
    """:func:`predict_keypoints` for several heads at once, ``{head: (N, K, 2)}``: one pass of the feature
    generator per batch feeds every head (RegDA's f and f' share ``psi``)."""
    was_training = method.training
    method.eval()
    try:
        parts = [method.predict_keypoints_by_head(images[i:i + batch_size], tuple(heads))
                 for i in range(0, len(images), batch_size)]
    finally:
        method.train(was_training)
    return {h: torch.cat([p[h] for p in parts]) for h in heads}


def keypoint_distances(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Euclidean pixel distances ``(N, K)`` between predicted and true keypoints ``(N, K, 2)``."""
    if pred.shape != truth.shape or pred.dim() != 3 or pred.shape[-1] != 2:
        raise ValueError(f"keypoints must both be (N, K, 2), got {tuple(pred.shape)} and {tuple(truth.shape)}.")
    return (pred.float() - truth.float().to(pred.device)).norm(dim=-1)


def pck(pred: torch.Tensor, truth: torch.Tensor, visible: torch.Tensor, threshold: float,
        groups: dict[str, tuple[int, ...]] | None = None) -> dict[str, float]:
    """Percentage of Correct Keypoints (RegDA section 5.2.3), in [0, 1].

    A visible keypoint is correct when its prediction lies *strictly* closer than ``threshold`` pixels to the
    float ground truth (PCK@0.05 on a 64-pixel image: 3.2 px). Each keypoint's PCK is the fraction of its
    visible instances that are correct; ``"pck"`` is the mean over keypoints that are visible at least once,
    and ``"pck_<group>"`` the mean over a group's keypoints (MCP, PIP, DIP, fingertip). Invisible keypoints
    are ignored. pred, truth ``(N, K, 2)``; visible ``(N, K)`` bool.
    """
    dist = keypoint_distances(pred, truth)
    vis = visible.to(dist.device).bool()
    correct = ((dist < threshold) & vis).sum(0).float()
    count = vis.sum(0).float()
    per_kp = torch.where(count > 0, correct / count.clamp_min(1), torch.full_like(count, float("nan")))
    out = {"pck": float(per_kp.nanmean())}
    for name, idx in (groups or {}).items():
        out[f"pck_{name}"] = float(per_kp[list(idx)].nanmean())
    return out


def normalised_mae(pred: torch.Tensor, truth: torch.Tensor, position_range: tuple[float, float]) -> float:
    """Mean absolute error of positions normalised to [0, 1] over ``position_range = (lo, hi)`` pixels, averaged
    over x and y and all keypoints (dSprites: the 32 positions ``16.5 .. 47.5`` map to ``0 .. 1``, as the
    factor values of the original dataset and RegDA's Table 1). pred, truth ``(N, K, 2)``."""
    lo, hi = position_range
    if not hi > lo:
        raise ValueError(f"position_range must be (lo, hi) with hi > lo, got {position_range}.")
    diff = (pred.float() - truth.float().to(pred.device)).abs() / (hi - lo)
    return float(diff.mean())


def outside_area_fraction(pred: torch.Tensor, area: tuple[float, float, float, float]) -> float:
    """The fraction of predictions ``(N, K, 2)`` (pixels, ``x, y``) that fall outside the half-open pixel box
    ``area = (x0, x1, y0, y1)``, over all images and keypoints: a prediction is inside when ``x0 <= x < x1`` and
    ``y0 <= y < y1``. On dSprites every shape's centre lies in RegDA's middle area A (eq. 15,
    ``domain.meta["keypoint_area"]``), so a prediction outside it is wrong whatever the label: a label-free sign
    of a model that has lost the target."""
    x0, x1, y0, y1 = (float(a) for a in area)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"area must be (x0, x1, y0, y1) with x1 > x0 and y1 > y0, got {area}.")
    if pred.ndim != 3 or pred.shape[-1] != 2 or pred.numel() == 0:
        raise ValueError(f"pred must be a non-empty (N, K, 2) tensor of pixel positions, got {tuple(pred.shape)}.")
    x, y = pred[..., 0].float(), pred[..., 1].float()
    inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    return float(1.0 - inside.float().mean())


def nearest_other_keypoint(pred: torch.Tensor, truth: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """For every visible keypoint, the pixel distance from its prediction to the nearest *other* visible true
    keypoint of the same image ``(N, K)`` (``inf`` where there is none or the keypoint is invisible): the
    sparsity observation of RegDA section 4.2 / Figure 1 (wrong predictions land on other keypoints)."""
    vis = visible.to(pred.device).bool()
    d = torch.cdist(pred.float(), truth.float().to(pred.device))  # (N, K_pred, K_true)
    k = d.shape[-1]
    blocked = torch.eye(k, dtype=torch.bool, device=d.device).unsqueeze(0) | ~vis.unsqueeze(1)
    d = d.masked_fill(blocked, float("inf")).amin(-1)
    return d.masked_fill(~vis, float("inf"))


def pck_threshold(image_size: int, alpha: float = 0.05) -> float:
    """PCK's distance threshold in pixels: ``alpha`` times the image size (RegDA: 0.05)."""
    return alpha * image_size


def keypoint_scores(pred: torch.Tensor, domain) -> dict[str, float]:
    """The metrics a keypoint domain declares (``domain.meta['metrics']``: ``("pck",)`` by default, ``("mae",)``
    for dSprites), from predictions ``(N, K, 2)`` against the domain's keypoints."""
    return _keypoint_metrics(pred, domain.keypoints, domain.visible, domain)


def _keypoint_metrics(pred: torch.Tensor, truth: torch.Tensor, visible: torch.Tensor, domain) -> dict[str, float]:
    """``domain``'s declared metrics of ``pred`` against ``truth`` over ``visible``, all ``(N, K, ...)``."""
    metrics = tuple(domain.meta.get("metrics", ("pck",)))
    out: dict[str, float] = {}
    if "pck" in metrics:
        out.update(pck(pred, truth, visible, pck_threshold(max(domain.image_shape[1:])), domain.groups))
    if "mae" in metrics:
        rng = domain.meta.get("position_range", (0.0, float(max(domain.image_shape[1:]))))
        vis = visible.to(pred.device).bool()
        out["mae"] = normalised_mae(pred[vis], truth.to(pred.device)[vis], rng)
    return out


def prediction_agreement(pred_a: torch.Tensor, pred_b: torch.Tensor, domain) -> dict[str, float]:
    """A label-free stand-in for the target error: the task's metrics of one model's keypoint predictions scored
    against another model's (two training seeds of one recipe), over *every* keypoint of every image.

    pred_a, pred_b ``(N, K, 2)`` pixels on the same images of ``domain``; nothing of the domain is read but its
    declared metrics, image size, keypoint groups and position range (no keypoints, no visibility: on a target
    these are labels). Returns the same keys as :func:`keypoint_scores`: ``pck`` is the share of predictions
    the two models place within the PCK threshold of each other (higher: they agree), ``mae`` the normalised
    distance between them (lower: they agree). Two models that are both right must agree; two that are wrong
    rarely make the same mistake, so disagreement between independently trained runs tracks their error
    (Jiang et al., "Assessing generalization of SGD via disagreement", ICLR 2022). It cannot see a mistake
    every seed makes alike, so read it beside the source error, never alone.
    """
    if pred_a.shape != pred_b.shape or pred_a.dim() != 3 or pred_a.shape[-1] != 2:
        raise ValueError(f"prediction_agreement needs two (N, K, 2) prediction tensors of the same shape, got "
                         f"{tuple(pred_a.shape)} and {tuple(pred_b.shape)}.")
    visible = torch.ones(pred_a.shape[:2], dtype=torch.bool, device=pred_a.device)
    return _keypoint_metrics(pred_a, pred_b, visible, domain)


def evaluate(method: nn.Module, domain, batch_size: int = 500, head: str = "task") -> dict[str, float]:
    """The task metrics of ``method`` on a labeled domain: ``{"acc": ...}`` for a classification domain, the
    domain's keypoint metrics (``pck`` and per-group ``pck_<group>``, or ``mae``) for a keypoint domain.
    ``head``: which regressor of a keypoint method predicts (``"adversarial"``: RegDA's f')."""
    if not domain.has_labels:
        raise ValueError(f"evaluate() needs labels, but {domain!r} is an unlabeled view.")
    if getattr(method, "task_kind", "classification") == "keypoints":
        return evaluate_heads(method, domain, (head,), batch_size)[head]
    return {"acc": accuracy(method, domain, batch_size)}


def evaluate_heads(method: nn.Module, domain, heads: tuple[str, ...] = ("task",),
                   batch_size: int = 500) -> dict[str, dict[str, float]]:
    """:func:`evaluate` for several heads of a keypoint method on one domain, ``{head: metrics}``, with one
    feature pass per batch for all of them; a classification model has the one head ``"task"``."""
    if getattr(method, "task_kind", "classification") != "keypoints":
        if tuple(heads) != ("task",):
            raise ValueError(f"{type(method).__name__} is a classifier with the one head 'task', not {tuple(heads)}.")
        return {"task": evaluate(method, domain, batch_size)}
    if not domain.has_labels:
        raise ValueError(f"evaluate_heads() needs labels, but {domain!r} is an unlabeled view.")
    preds = predict_keypoints_by_head(method, domain.images, tuple(heads), batch_size)
    return {h: keypoint_scores(p, domain) for h, p in preds.items()}
