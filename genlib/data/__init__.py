"""Data sets of the course: 8x8 digits and 2-D toy distributions with exact densities."""
from genlib.data.digits import DIGITS_LEVELS, DIGITS_SPLITS, load_digits
from genlib.data.toys import GaussianMixture2D, TOY_NAMES, make_toy

__all__ = [
    "DIGITS_LEVELS", "DIGITS_SPLITS", "load_digits",
    "GaussianMixture2D", "TOY_NAMES", "make_toy",
]
