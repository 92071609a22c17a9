"""Networks: feature extractors (``backbones``), the heads later methods share (``heads``) and the heatmap
keypoint detector (``heatmap``), and DRT's dynamic residual convolution (``dynamic``)."""

from .backbones import DigitsFeatures, InputNorm
from .dynamic import DynamicConv2d, dynamic_layers, recording
from .dynamic_digits import DynamicDigitsFeatures
from .dynamic_resnet import ResNetFeatures, make_dynamic
from .heads import Classifier, DomainDiscriminator
from .heatmap import HEATMAP_SIZES, HeatmapHead, HeatmapTrunk, ResNetTrunk, head_width, heatmap_trunk

__all__ = ["DigitsFeatures", "InputNorm", "Classifier", "DomainDiscriminator", "HEATMAP_SIZES", "HeatmapHead",
           "HeatmapTrunk", "ResNetTrunk", "head_width", "heatmap_trunk", "DynamicConv2d",
           "DynamicDigitsFeatures", "dynamic_layers", "recording", "ResNetFeatures", "make_dynamic"]
