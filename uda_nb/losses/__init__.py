"""Losses as documented modules, with the input shapes and the paper's equation numbers."""

from .heatmaps import (GroundFalseLoss, HeatmapKLLoss, HeatmapMSELoss, area_ground_false_distribution, area_mask,
                       gaussian_heatmaps, ground_false_distribution, heatmap_argmax, heatmap_sigma, kl_to_prediction,
                       normalise_spatial, spatial_log_softmax)

__all__ = ["GroundFalseLoss", "HeatmapKLLoss", "HeatmapMSELoss", "area_ground_false_distribution", "area_mask",
           "gaussian_heatmaps", "ground_false_distribution", "heatmap_argmax", "heatmap_sigma", "kl_to_prediction",
           "normalise_spatial", "spatial_log_softmax"]
