"""Metrics of the course: the likelihood unit (bits per dimension)."""
from genlib.metrics.likelihood import bits_per_dim

__all__ = ["bits_per_dim"]
