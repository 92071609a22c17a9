"""Networks: feature extractors (``backbones``) and the heads later methods share (``heads``)."""

from .backbones import DigitsFeatures, InputNorm
from .heads import Classifier, DomainDiscriminator

__all__ = ["DigitsFeatures", "InputNorm", "Classifier", "DomainDiscriminator"]
