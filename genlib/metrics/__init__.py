"""Metrics of the course: the likelihood unit (bits per dimension) and Dice."""
from genlib.metrics.likelihood import bits_per_dim
from genlib.metrics.segmentation import dice_per_class, dice_per_image, mean_dice

__all__ = ["bits_per_dim", "dice_per_class", "dice_per_image", "mean_dice"]
