"""UDA methods, one file each, all trained by :func:`uda_nb.train.fit`.

:func:`create` builds a method with the digits network of the DANN paper for a given task shape.
"""

from __future__ import annotations

from .base import Batch, Method
from .dann import DANN, DomainAdversarialLoss, GradientReversal, grad_reverse
from .source_only import SourceOnly

METHODS = {"source_only": SourceOnly, "oracle": SourceOnly, "dann": DANN}


def create(name: str, num_classes: int, image_shape: tuple[int, int, int], *, norm: str = "center",
           batch_norm: bool = False, dropout: float = 0.0, disc_hidden: tuple[int, ...] = (100,),
           **options) -> Method:
    """A method on DANN's digits network (:class:`uda_nb.models.DigitsFeatures` + heads).

    ``name``: ``source_only``, ``oracle`` (source-only trained on the oracle task), ``dann``. Extra
    ``options`` go to the method (e.g. ``gamma``, ``lambda_max`` for DANN).
    """
    from ..models import Classifier, DigitsFeatures, DomainDiscriminator

    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}: choose one of {sorted(METHODS)}.")
    channels, height, width = image_shape
    features = DigitsFeatures(channels, norm=norm, batch_norm=batch_norm, image_size=min(height, width))
    classifier = Classifier(features.out_features, num_classes, dropout=dropout)
    if name == "dann":
        disc = DomainDiscriminator(features.out_features, hidden=tuple(disc_hidden), dropout=dropout)
        return DANN(features, classifier, disc, **options)
    if options:
        raise ValueError(f"Method {name!r} takes no options, got {sorted(options)}.")
    return SourceOnly(features, classifier)


__all__ = ["Batch", "Method", "SourceOnly", "DANN", "DomainAdversarialLoss", "GradientReversal",
           "grad_reverse", "METHODS", "create"]
