"""Normalising flows built from affine coupling layers (RealNVP, Dinh et al., 2017).

A flow writes the data as an invertible function of Gaussian noise, x = f(z), z ~ N(0, I).
Its exact log-likelihood is the change of variables

    log p(x) = log N(f^{-1}(x); 0, I) + log |det d f^{-1}(x) / dx|.

Convention of this package: every layer's ``forward`` is the *normalising* direction
(data -> noise, a piece of f^{-1}) and returns ``(y, log_det)`` with
``log_det = log |det dy/dx|``, one value per example; ``inverse`` is the *generating*
direction (noise -> data, a piece of f) and returns ``(x, log_det)`` with the log-det of
that inverse map, which is minus the forward one.

Layers: ``AffineCoupling`` (the workhorse: triangular Jacobian, log-det = sum of
log-scales, an inverse as cheap as the forward), ``SplineCoupling`` (the same idea with a
monotone rational-quadratic spline, for sharply multimodal data), ``Permutation`` and ``InvertibleLinear``
(mixing between couplings, Glow's 1x1 convolution for vectors), ``ActNorm`` (a per-dimension
affine map initialised from the first batch), ``LogitTransform`` (maps (0, 1) to the real
line, for dequantised images). ``Flow`` chains them; ``realnvp`` builds a standard stack.

Modules, one job each: ``spline`` (the monotone rational-quadratic spline), ``layers`` (the invertible
layers), ``flow`` (``Flow`` and the ``realnvp`` builder), ``fit`` (``fit_flow``, the training loop).
Everything public is importable from ``genlib.models.flows``.
"""

from genlib.models.flows.spline import rational_quadratic_spline
from genlib.models.flows.layers import (
    ActNorm, AffineCoupling, InvertibleLinear, LogitTransform, Permutation, SplineCoupling,
)
from genlib.models.flows.flow import Flow, realnvp
from genlib.models.flows.fit import fit_flow

__all__ = ["ActNorm", "AffineCoupling", "Flow", "InvertibleLinear", "LogitTransform", "Permutation", "SplineCoupling",
           "fit_flow", "rational_quadratic_spline", "realnvp"]
