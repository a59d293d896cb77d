"""Metrics of the course: the likelihood unit (bits per dimension), Dice, mode coverage."""
from genlib.metrics.likelihood import bits_per_dim, dequantized_nll_bound, uniform_dequantize
from genlib.metrics.segmentation import dice_per_class, dice_per_image, mean_dice
from genlib.metrics.modes import ModeCoverage, mode_coverage

__all__ = ["bits_per_dim", "dequantized_nll_bound", "uniform_dequantize", "dice_per_class", "dice_per_image", "mean_dice", "ModeCoverage", "mode_coverage"]
