"""Networks: feature extractors (``backbones``), the heads later methods share (``heads``) and the heatmap
keypoint detector (``heatmap``)."""

from .backbones import DigitsFeatures, InputNorm
from .heads import Classifier, DomainDiscriminator
from .heatmap import HEATMAP_SIZES, HeatmapHead, HeatmapTrunk, ResNetTrunk, head_width, heatmap_trunk

__all__ = ["DigitsFeatures", "InputNorm", "Classifier", "DomainDiscriminator", "HEATMAP_SIZES", "HeatmapHead",
           "HeatmapTrunk", "ResNetTrunk", "head_width", "heatmap_trunk"]
