"""GSDA: domain adaptation with hierarchical gradient synchronization (Hu, Kan, Shan & Chen, CVPR 2020,
"Unsupervised Domain Adaptation with Hierarchical Gradient Synchronization"), for classification.

Networks: a feature extractor E (``features``, role ``feature``), the label classifier C (``classifier``, role
``task``) and ``M = 1 + b + r`` domain discriminators (``discriminators``, role ``adversarial``), held as one
batched module (:class:`StackedDiscriminators`) in this order:

    m = 0                  D^dom, the global (domain-level) discriminator
    m = 1 .. b             D^grp_q, one per group q of a seeded random partition of the r classes (:func:`class_groups`)
    m = 1 + b .. b + r     D^cls_k, one per class k

For a batch of ``B_s`` labelled source images and ``B_t`` target images (one concatenated pass, ``N = B_s + B_t``):

    f = E(x)                                       features (N, D)
    p_i^k = onehot(y_i)_k (source), softmax(C(f_i))_k.detach() (target)       class weights (N, r)   eq. (7)
    p_i^q = sum_{k in q} p_i^k                     group weights (N, b)                                 eq. (8)
    w_i = [1, p_i^1 .. p_i^b, p_i^1 .. p_i^r]      each discriminator's sample weights (N, M)
    d_i = 1 (source), 0 (target)                   domain labels (N,)                                   eq. (6)
    L_m = (1/N) sum_i w_im H(D_m(f_i), d_i)        H: binary cross-entropy with logits; (M,)
    L^g = L_0,  L^l = sum_q L^grp_q + sum_k L^cls_k = sum_{m >= 1} L_m                                  eq. (6)-(9)
    G_m = sum_i || dL_m / dE(x_i) ||_2             gradient magnitudes w.r.t. the features (M,)          eq. (10)-(11)
    L^syn_{grp~cls,q} = | G^grp_q - sum_{k in q} G^cls_k |                                              eq. (10)
    L^syn_{dom~grp}   = | G^dom - sum_q G^grp_q |                                                       eq. (11)
    L^syn = (1/b) sum_q L^syn_{grp~cls,q} + L^syn_{dom~grp}                                             eq. (12)
    L^c = CE(C(f_s), y_s) + alpha * mean_j entropy(softmax(C(f_t_j)))                                  eq. (3)-(5)

Objectives (eq. 13-17): the discriminators minimise ``L^g + L^l + beta L^syn``; E minimises
``L^c + beta L^syn - lambda (L^g + L^l)``; C minimises ``L^c`` only.

**One backward pass** (no sub-steps). :meth:`GSDA.compute_loss` returns

    loss = L^c + [L^g + L^l](D(R_lambda(f))) + beta * L^syn(D(f))

with R the gradient reversal layer (:func:`uda_nb.methods.dann.grad_reverse`). The discriminators are evaluated
twice on the same numbers: once behind R for the adversarial terms, once on the un-reversed features for the
synchronisation terms. Per role, the gradient of this one loss is then exactly the paper's:

* D: ``d(L^g + L^l)/dtheta_D + beta dL^syn/dtheta_D`` (eq. 14-15; R only touches what flows into f);
* E: ``dL^c/dtheta_E - lambda d(L^g + L^l)/dtheta_E`` (reversed through R) ``+ beta dL^syn/dtheta_E`` (the sync
  path has no R, so E *descends* L^syn, as eq. 16-17 ask, while it ascends the adversarial losses);
* C: ``dL^c/dtheta_C`` only, because p enters L^l and L^syn detached (eq. 17 updates C by L^c alone).

L^syn depends on the discriminators' weights and on the features through the gradients ``dL_m/df``, which are
computed with ``torch.autograd.grad(..., create_graph=True)`` (first order in the parameters, as the paper notes:
the gradient is taken w.r.t. the features, not the weights; backpropagating L^syn needs the discriminators'
second derivatives in (f, theta_D), which autograd provides). Two sub-steps (:meth:`Method.substep`) would only
add a second pass of E: the paper's "alternative optimisation" order (D first, then E and C against the updated D)
is not reproduced; both sides' gradients are taken at the same parameters, as in DANN's single-step training.

**Per-sample gradients in one call** (:func:`feature_grad_norms`): the features are replicated once per
discriminator, ``(M, N, D)``, discriminator m sees copy m only, and ``S = sum_m L_m`` is differentiated w.r.t. the
replicated tensor: entry ``[m, i]`` is ``dL_m/dE(x_i)`` exactly, because each L_m is a sum of per-sample terms and
nothing couples samples inside a discriminator (no BatchNorm; E is outside this gradient).

Choices the paper leaves open (no public implementation exists):

* **Reduction**: every L_m is the mean over the whole batch of the weighted per-sample BCE,
  ``sum_i w_im bce_im / N`` with the same N for all three levels and no renormalisation of the weights (the paper
  writes sums, eq. 6-8, which scale with the batch size). Since ``sum_k p_i^k = 1``, ``sum_k L^cls_k`` and
  ``sum_q L^grp_q`` each have the scale of L^g. L^c uses means as well (eq. 3-4 write sums). The G_m are computed
  from these means, so each per-sample gradient carries the factor 1/N and G_m does not grow with the batch.
* **Domain labels**: source 1, target 0 (eq. 6), as DANN here.
* **Discriminators**: each is DANN's fc-hidden-ReLU-fc-1 MLP on the features (``disc_hidden=(100,)``; the paper
  does not give its discriminators), **without BatchNorm** (it would couple the per-sample gradients) and without
  dropout (the adversarial and the synchronisation passes must see the same network). Initialised like
  ``nn.Linear`` slice by slice.
* **Groups**: a random partition of the classes into b disjoint groups of nearly equal size (sizes differ by at
  most one; the paper: "randomly divided without overlap"), drawn once from ``group_seed`` (default 0). Overlapping
  or hierarchical groups, which the paper mentions as possible, are not implemented.
* **b** (``num_groups``): ``None`` picks :func:`default_num_groups`: the paper's value for its class counts (31 -> 6,
  65 -> 13, 12 -> 4), otherwise ``round(r / 3.5)``, which gives **3 groups for 10 classes** (groups of 4, 3, 3). The
  paper's groups hold ~3 (VisDA: 12 / 4) to ~5 (Office-31: 31 / 6, Office-Home: 65 / 13) classes; 3 to 4 classes
  per group sits in that range, whereas b = 2 would make each group half of the domain (close to the global
  level) and b = 5 pairs of classes (close to the class level), leaving the middle of the hierarchy empty.
* **Target weights p** are the classifier's softmax, detached: neither C nor E receives a gradient through them.
* **lambda**: the paper's eq. 16 reverses the adversarial terms with weight 1; here
  ``lambda = lambda_max * grl_lambda(p, gamma)`` (DANN's warm-up, ``gamma = 10``, ``lambda_max = 1``, so 1 is
  approached at the end), as the other adversarial methods of this package. lambda scales only the reversed
  gradient reaching E; the discriminators and the sync term are not scaled by it.
* **Norms at zero**: a sample with weight 0 for a discriminator (a source sample of another class for D^cls_k) has
  a zero gradient row; its norm contributes 0 and (PyTorch's convention for the 2-norm at 0) passes no gradient;
  ``|.|`` has subgradient 0 at 0.
* **Confident target samples**: the paper uses "only those samples with highly confident pseudo labels" on the
  target but gives no threshold. ``confidence_threshold=None`` (default) uses every target sample; a number ``t``
  sets the local weights (class and group) of target samples with ``max_k p_i^k < t`` to 0 (they still enter L^g
  and the entropy term; N is unchanged). Then ``sum_q p_i^q = 0`` for those samples, so L^syn_{dom~grp} measures
  them in G^dom only. Caveat, measured: on from the first step, no target image passes a threshold of 0.9 until the
  classifier is confident, so the local discriminators see source images only and their reversed gradients keep
  the classifier at chance for hundreds of steps on mnist -> mnistm (benchmarks/results/gsda.md, "GSDA's training
  aids"); the paper presumably starts from a confident ImageNet-pretrained network.
* Not done in this module: the paper's class-balanced re-sampling of source images (a sampler concern:
  ``fit(balance_source=True)`` / ``RunSpec(balance_source=True)``), the partial-DA experiments (the method runs unchanged when the target has fewer classes), and the
  VisDA / Office-31-PDA setting (``alpha = 0.2, beta = 10``: pass them as options).

Reference settings (Office-31, Office-Home): ``alpha = 0.02`` (eq. 5), ``beta = 1.0`` (eq. 13), b = 6 (31 classes)
and 13 (65 classes), ResNet-50. Predictions (``forward``) use C; the discriminators exist only for training.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..schedules import grl_lambda
from .base import Batch, Method
from .dann import grad_reverse

#: the local levels below the global discriminator (Table 1's ablation switches them on one at a time)
LEVELS = ("group", "class")

#: the paper's number of groups for its benchmarks' class counts (Office-31: 6, Office-Home: 13, VisDA-2017: 4)
PAPER_NUM_GROUPS = {31: 6, 65: 13, 12: 4}


def default_num_groups(num_classes: int) -> int:
    """b for ``num_classes`` classes: the paper's value where it gives one (31 -> 6, 65 -> 13, 12 -> 4), else
    ``round(num_classes / 3.5)`` clipped to ``[1, num_classes]`` (3 for 10 classes; module docstring)."""
    if num_classes in PAPER_NUM_GROUPS:
        return PAPER_NUM_GROUPS[num_classes]
    return max(1, min(num_classes, int(math.floor(num_classes / 3.5 + 0.5))))


def class_groups(num_classes: int, b: int, seed: int = 0) -> list[list[int]]:
    """A random partition of ``range(num_classes)`` into ``b`` disjoint groups (eq. 8), the same for the same seed.

    The classes are permuted by a CPU ``torch.Generator`` seeded with ``seed`` and cut into ``b`` consecutive chunks
    whose sizes differ by at most one (the first ``num_classes % b`` groups get the extra class); each group is
    sorted. Every class appears in exactly one group.
    """
    if isinstance(b, bool) or not isinstance(b, numbers.Integral) or not 1 <= b <= num_classes:
        raise ValueError(f"the number of groups must be a whole number in [1, {num_classes}] (the number of classes), "
                         f"got {b!r}.")
    perm = torch.randperm(num_classes, generator=torch.Generator().manual_seed(int(seed))).tolist()
    size, extra = divmod(num_classes, b)
    groups, start = [], 0
    for q in range(b):
        stop = start + size + (1 if q < extra else 0)
        groups.append(sorted(perm[start:stop]))
        start = stop
    return groups


class StackedDiscriminators(nn.Module):
    """M independent MLP discriminators ``in_features -> hidden... -> 1`` (ReLU, no BatchNorm, no dropout) held as
    stacked weights and run as one batched matrix product.

    Layer l has ``weights[l]`` of shape ``(M, in_l, out_l)`` and ``biases[l]`` of shape ``(M, out_l)``; slice m is
    discriminator m (each slice initialised like an ``nn.Linear`` of that shape). :meth:`forward` maps features
    ``(N, D)`` to every discriminator's logits ``(N, M)``; :meth:`forward_replicated` maps ``(M, N, D)``
    (discriminator m reads its own copy ``x[m]``) to ``(N, M)``; :meth:`to_sequential` builds discriminator m as a
    separate ``nn.Sequential``.
    """

    def __init__(self, in_features: int, num_discriminators: int, hidden: tuple[int, ...] = (100,)):
        super().__init__()
        if num_discriminators < 1:
            raise ValueError(f"num_discriminators must be >= 1, got {num_discriminators}.")
        widths = [int(in_features), *(int(h) for h in hidden), 1]
        self.in_features, self.num_discriminators = int(in_features), int(num_discriminators)
        self.hidden = tuple(int(h) for h in hidden)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default: kaiming_uniform(a=sqrt 5) and its bias bound
            self.weights.append(nn.Parameter(torch.empty(num_discriminators, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_discriminators, fan_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, M)`` of every discriminator for features ``(N, D)``."""
        h = torch.einsum("nd,mdh->mnh", x, self.weights[0]) + self.biases[0].unsqueeze(1)
        return self._rest(h)

    def forward_replicated(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, M)`` for per-discriminator inputs ``(M, N, D)``: discriminator m reads ``x[m]`` only."""
        if x.dim() != 3 or x.shape[0] != self.num_discriminators:
            raise ValueError(f"forward_replicated needs ({self.num_discriminators}, N, D) inputs, got "
                             f"{tuple(x.shape)}.")
        h = torch.baddbmm(self.biases[0].unsqueeze(1), x, self.weights[0])
        return self._rest(h)

    def _rest(self, h: torch.Tensor) -> torch.Tensor:
        """The layers after the first: ``(M, N, out_0)`` pre-activations -> logits ``(N, M)``."""
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = torch.baddbmm(b.unsqueeze(1), torch.relu(h), w)  # not in-place: the sync term backpropagates twice
        return h.squeeze(-1).transpose(0, 1)

    @torch.no_grad()
    def to_sequential(self, m: int) -> nn.Sequential:
        """Discriminator m as a separate ``nn.Sequential`` of ``Linear``/``ReLU`` with copies of its weights:
        ``(N, D)`` -> ``(N, 1)``."""
        layers: list[nn.Module] = []
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            if l:
                layers.append(nn.ReLU())
            lin = nn.Linear(w.shape[1], w.shape[2])
            lin.weight.copy_(w[m].t())
            lin.bias.copy_(b[m])
            layers.append(lin)
        return nn.Sequential(*layers)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_discriminators={self.num_discriminators}, hidden={self.hidden}"


def class_probabilities(y_s: torch.Tensor, logits_t: torch.Tensor, num_classes: int) -> torch.Tensor:
    """p_i^k of eq. (7): one-hot of the labels on the source, the classifier's softmax on the target, *detached*;
    ``(B_s,)`` int64 and ``(B_t, r)`` -> ``(B_s + B_t, r)``, source rows first."""
    onehot = F.one_hot(y_s, num_classes).to(logits_t.dtype)
    return torch.cat([onehot, F.softmax(logits_t.detach(), dim=1)])


def hierarchy_weights(p: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
    """Each discriminator's sample weights ``(N, 1 + b + r)`` from class probabilities ``p`` ``(N, r)``: 1 for
    D^dom, ``p_i^q = sum_{k in q} p_i^k`` for D^grp_q (eq. 8), ``p_i^k`` for D^cls_k (eq. 7)."""
    grp = torch.stack([p[:, g].sum(dim=1) for g in groups], dim=1)
    return torch.cat([torch.ones_like(p[:, :1]), grp, p], dim=1)


def weighted_domain_losses(logits: torch.Tensor, domain: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``L_m = (1/N) sum_i w_im BCE(logits_im, d_i)`` for every discriminator m (eq. 6-8, mean reduction over the
    N samples for every level); logits ``(N, M)``, domain labels ``(N,)`` (1 source, 0 target), weights ``(N, M)``
    -> ``(M,)``."""
    bce = F.binary_cross_entropy_with_logits(logits, domain.unsqueeze(1).expand_as(logits), reduction="none")
    return (weights * bce).sum(dim=0) / logits.shape[0]


def feature_grad_norms(losses: torch.Tensor, inputs: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Per-sample gradient norms ``||dL_m / dx_mi||_2`` ``(M, N)`` for losses ``(M,)`` and per-discriminator inputs
    ``(M, N, D)`` in one ``autograd.grad`` call (eq. 10-11).

    ``losses[m]`` must depend on ``inputs[m]`` only and be a sum of per-sample terms (no BatchNorm), so that row
    ``[m, i]`` of the gradient of ``losses.sum()`` is sample i's own gradient of ``L_m``. ``create_graph=True``
    keeps the graph, so a loss on the norms trains what produced them.
    """
    (grads,) = torch.autograd.grad(losses.sum(), inputs, create_graph=create_graph)
    return torch.linalg.vector_norm(grads, dim=2)


def sync_loss(norm_sums: torch.Tensor, groups: list[list[int]]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L^syn of eq. (12) from the summed gradient magnitudes G ``(1 + b + r,)`` (order dom, groups, classes):
    ``(1/b) sum_q |G^grp_q - sum_{k in q} G^cls_k| + |G^dom - sum_q G^grp_q|`` -> (scalar, parts).

    parts: ``grp_cls`` (the first term, eq. 10 averaged over groups), ``dom_grp`` (eq. 11), ``dom`` (G^dom),
    ``grp_sum`` (sum_q G^grp_q) and ``cls_sum`` (sum_k G^cls_k), all scalars with their graph.
    """
    b = len(groups)
    g_dom, g_grp, g_cls = norm_sums[0], norm_sums[1:1 + b], norm_sums[1 + b:]
    cls_per_group = torch.stack([g_cls[g].sum() for g in groups])
    grp_cls = (g_grp - cls_per_group).abs().mean()          # (1/b) sum_q L^syn_{grp~cls,q}
    dom_grp = (g_dom - g_grp.sum()).abs()                   # L^syn_{dom~grp}
    return grp_cls + dom_grp, {"grp_cls": grp_cls, "dom_grp": dom_grp, "dom": g_dom, "grp_sum": g_grp.sum(),
                               "cls_sum": g_cls.sum()}


def discriminator_accuracies(logits: torch.Tensor, domain: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Each discriminator's weighted accuracy at telling source (logit > 0) from target, ``(M,)``:
    ``sum_i w_im [pred_im = d_i] / sum_i w_im``, so D^cls_k is scored on the samples it is trained on (the
    source images of class k and the target images in proportion to p_i^k). A discriminator whose weights sum to
    0 in the batch scores 0.5 (chance). logits and weights ``(N, M)``, domain ``(N,)``."""
    correct = ((logits > 0).to(weights.dtype) == domain.unsqueeze(1)).to(weights.dtype)
    total = weights.sum(dim=0)
    acc = (weights * correct).sum(dim=0) / total.clamp_min(1e-12)
    return torch.where(total > 0, acc, torch.full_like(acc, 0.5))


def _check_number(name: str, value, low: float, strict: bool, hint: str) -> float:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and (value > low if strict else value >= low)
    if not ok:
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}: {hint}.")
    return float(value)


class GSDA(Method):
    """GSDA with features E, classifier C and the ``1 + b + r`` discriminators of :class:`StackedDiscriminators`
    (``discriminators``); one update minimises ``L^c + (L^g + L^l)(R_lambda(f)) + beta L^syn(f)`` (module
    docstring).

    num_groups: b (``None``: :func:`default_num_groups`, 3 for 10 classes); group_seed: seed of the class partition
    (:func:`class_groups`); disc_hidden: hidden widths of each discriminator (DANN's ``(100,)``); alpha: weight of
    the target entropy in L^c (eq. 5; 0.02, the paper's Office value); beta: weight of L^syn (eq. 13; 1.0);
    gamma, lambda_max: the reversal coefficient ``lambda_max * grl_lambda(p, gamma)`` (DANN's 10 and 1);
    confidence_threshold: ``None`` (all target samples enter the local losses) or the minimum ``max_k p_i^k`` a
    target sample needs to enter them. levels: the local levels trained besides the global discriminator, a subset
    of :data:`LEVELS` (Table 1's ablation: ``()`` global only, ``("class",)``, ``("group", "class")``; the sync
    term, ``beta > 0``, needs both). The synchronisation gaps are computed and logged in every case, so an
    ablation without the sync term still shows how far apart the levels' gradients drift.
    """

    name = "gsda"

    def __init__(self, features: nn.Module, classifier: nn.Module, num_groups: int | None = None, group_seed: int = 0,
                 disc_hidden: tuple[int, ...] = (100,), alpha: float = 0.02, beta: float = 1.0, gamma: float = 10.0,
                 lambda_max: float = 1.0, confidence_threshold: float | None = None,
                 levels: tuple[str, ...] = LEVELS):
        super().__init__(features, classifier)
        r = self.num_classes
        if r is None:
            raise ValueError("GSDA needs a classifier that says its num_classes (uda_nb.models.Classifier).")
        in_features = getattr(features, "out_features", None)
        if in_features is None:
            raise ValueError("GSDA needs a feature extractor with out_features (the discriminators' input width).")
        b = default_num_groups(r) if num_groups is None else num_groups
        if isinstance(group_seed, bool) or not isinstance(group_seed, numbers.Integral):
            raise ValueError(f"group_seed must be an int, got {group_seed!r}.")
        self.groups = class_groups(r, b, int(group_seed))
        self.num_groups, self.group_seed = len(self.groups), int(group_seed)
        self.alpha = _check_number("alpha", alpha, 0.0, False, "use 0.02 (the paper's Office value) or 0 (no entropy)")
        self.beta = _check_number("beta", beta, 0.0, False, "use 1.0 (the paper's Office value) or 0 (no sync term)")
        if isinstance(levels, str) or not set(levels) <= set(LEVELS):
            raise ValueError(f"GSDA levels must be a tuple drawn from {LEVELS} (the global discriminator is always "
                             f"on), got {levels!r}: e.g. () for global only, ('class',) for global + class.")
        self.levels = tuple(level for level in LEVELS if level in levels)
        if self.beta and self.levels != LEVELS:
            raise ValueError(f"GSDA's synchronisation (beta = {beta}) ties the global, group and class levels: it "
                             f"needs levels={LEVELS}, got {self.levels!r}; pass beta=0 for an ablation without it.")
        self.gamma = _check_number("gamma", gamma, 0.0, True, "use 10 (DANN's schedule)")
        self.lambda_max = _check_number("lambda_max", lambda_max, 0.0, False, "use 1 (the paper's eq. 16)")
        if confidence_threshold is not None:
            t = _check_number("confidence_threshold", confidence_threshold, 0.0, False, "use None or e.g. 0.9")
            if t > 1:
                raise ValueError(f"confidence_threshold must be at most 1 (a probability), got {t}.")
            confidence_threshold = t
        self.confidence_threshold = confidence_threshold
        self.discriminators = StackedDiscriminators(in_features, 1 + self.num_groups + r, tuple(disc_hidden))

    def roles(self):
        return {**super().roles(), "adversarial": list(self.discriminators.parameters())}

    def level_slices(self) -> tuple[slice, slice, slice]:
        """Where D^dom, the group and the class discriminators sit along the discriminator axis (M)."""
        b = self.num_groups
        return slice(0, 1), slice(1, 1 + b), slice(1 + b, None)

    def adaptation_factor(self, progress: float) -> float:
        """The reversal coefficient lambda at training progress ``p`` in [0, 1]: 0 at the start."""
        return self.lambda_max * grl_lambda(progress, self.gamma)

    def sample_weights(self, y_s: torch.Tensor, logits_t: torch.Tensor) -> torch.Tensor:
        """``(B_s + B_t, 1 + b + r)`` weights of every discriminator (:func:`hierarchy_weights`), with the local
        weights of unconfident target samples zeroed when ``confidence_threshold`` is set. No gradient."""
        p = class_probabilities(y_s, logits_t, self.num_classes)
        w = hierarchy_weights(p, self.groups)
        if self.confidence_threshold is not None:
            keep = torch.ones(len(p), dtype=torch.bool, device=p.device)
            keep[len(y_s):] = p[len(y_s):].max(dim=1).values >= self.confidence_threshold
            w = torch.cat([w[:, :1], w[:, 1:] * keep.unsqueeze(1).to(w.dtype)], dim=1)
        return w

    def terms(self, batch: Batch, progress: float) -> dict[str, torch.Tensor]:
        """Every term of one step, with its graph: ``loss_cls`` (L^c), ``entropy`` (eq. 4, mean over the target
        batch), ``loss_global`` (L^g, through R), ``loss_local`` (L^l, through R), ``loss_sync`` (L^syn, no R),
        ``norms`` (G, ``(M,)``), the sync parts of :func:`sync_loss` as ``sync_*``, ``logits`` ``(N, M)`` of every
        discriminator, their sample ``weights`` ``(N, M)``, ``domain`` ``(N,)`` and ``lambda``."""
        if batch.x_t is None:
            raise ValueError("GSDA needs target images in the batch (Batch.x_t).")
        n_s = len(batch.x_s)
        f = self.features(torch.cat([batch.x_s, batch.x_t]))       # one pass: shared batch-norm statistics
        logits = self.classifier(f)
        logits_s, logits_t = logits[:n_s], logits[n_s:]
        self.offer_target_logits(logits_t)
        log_p_t = F.log_softmax(logits_t, dim=1)
        entropy = -(log_p_t.exp() * log_p_t).sum(dim=1).mean()    # eq. (4), mean over the target batch
        loss_cls = F.cross_entropy(logits_s, batch.y_s) + self.alpha * entropy

        domain = torch.cat([torch.ones(n_s, device=f.device), torch.zeros(len(f) - n_s, device=f.device)])
        w = self.sample_weights(batch.y_s, logits_t)
        coeff = self.adaptation_factor(progress)
        adv_logits = self.discriminators(grad_reverse(f, coeff))  # (N, M); E ascends these losses (x lambda)
        adv = weighted_domain_losses(adv_logits, domain, w)

        with torch.enable_grad():  # the sync term needs dL/df even if called under no_grad
            f_sync = f if f.requires_grad else f.detach().requires_grad_(True)
            x = f_sync.unsqueeze(0).expand(self.discriminators.num_discriminators, -1, -1)  # (M, N, D), one copy each
            sync_losses = weighted_domain_losses(self.discriminators.forward_replicated(x), domain, w)
            # without the sync term (beta = 0) the gaps are only logged: no second-order graph to keep
            norms = feature_grad_norms(sync_losses, x, create_graph=self.beta > 0).sum(dim=1)  # G_m, (M,)
            loss_sync, parts = sync_loss(norms, self.groups)
        _, grp, cls = self.level_slices()
        local = adv[grp].sum() * ("group" in self.levels) + adv[cls].sum() * ("class" in self.levels)
        return {"loss_cls": loss_cls, "entropy": entropy, "loss_global": adv[0], "loss_local": local,
                "loss_sync": loss_sync, "norms": norms, "logits": adv_logits, "weights": w, "domain": domain,
                "lambda": torch.tensor(coeff), **{f"sync_{k}": v for k, v in parts.items()}}

    def compute_loss(self, batch: Batch, progress: float):
        t = self.terms(batch, progress)
        loss = t["loss_cls"] + t["loss_global"] + t["loss_local"]
        if self.beta:
            loss = loss + self.beta * t["loss_sync"]
        with torch.no_grad():
            acc = discriminator_accuracies(t["logits"], t["domain"], t["weights"])
        _, grp, cls = self.level_slices()
        logs = {k: t[k].detach() for k in ("loss_cls", "entropy", "loss_global", "loss_local", "loss_sync")}
        logs.update(loss=loss.detach(), sync_grp_cls=t["sync_grp_cls"].detach(),
                    sync_dom_grp=t["sync_dom_grp"].detach(),
                    sync_dom_norm=t["sync_dom"].detach(), sync_grp_norm_sum=t["sync_grp_sum"].detach(),
                    sync_cls_norm_sum=t["sync_cls_sum"].detach(), domain_acc=acc[0], group_acc=acc[grp].mean(),
                    class_acc=acc[cls].mean(), **{"lambda": t["lambda"]})
        return loss, logs
