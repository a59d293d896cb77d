"""Metrics of the course: the likelihood unit (bits per dimension), Dice, mode coverage."""
from genlib.metrics.likelihood import bits_per_dim, dequantized_nll_bound, uniform_dequantize
from genlib.metrics.segmentation import dice_per_class, dice_per_image, mean_dice
from genlib.metrics.modes import ModeCoverage, mode_coverage
from genlib.metrics.frechet import (
    bootstrap_fid, extrapolate_fid, fid_from_features, fid_versus_sample_size, frechet_distance,
    gaussian_statistics, trace_sqrt_product,
)
from genlib.metrics.kid import KIDResult, kernel_inception_distance, polynomial_kernel
from genlib.metrics.precision_recall import PrecisionRecall, precision_recall

__all__ = ["bits_per_dim", "dequantized_nll_bound", "uniform_dequantize", "dice_per_class", "dice_per_image", "mean_dice", "ModeCoverage", "mode_coverage"]
__all__ += [
    "frechet_distance", "trace_sqrt_product", "gaussian_statistics", "fid_from_features", "fid_versus_sample_size",
    "extrapolate_fid", "bootstrap_fid", "KIDResult", "kernel_inception_distance", "polynomial_kernel",
    "PrecisionRecall", "precision_recall",
]
from genlib.metrics.surface import boundary, hausdorff_distance, mean_hausdorff
__all__ += ["boundary", "hausdorff_distance", "mean_hausdorff"]
from genlib.metrics.baselines import choose_smoothing, fit_pixel_categoricals, pixel_categorical_log_likelihood
