"""Unit 05 probes: a cheat that calls genlib's coupling layer, and a classic mistake only a hidden test catches."""

# Cheat: delegates Part A to genlib's AffineCoupling (the guard must score Part A 0: -2 points).
CALLS_GENLIB_COUPLING = '''import torch
import genlib.models.flows as _f
def coupling_forward(x, mask, net):
    layer = _f.AffineCoupling(mask, hidden=4)
    layer.log_scale_and_shift = lambda x_cond: tuple(v * (1 - mask) for v in net(x_cond))
    return _f.AffineCoupling.forward(layer, x)'''

# Classic mistake: the log-determinant sums s over every entry, the conditioning ones included.
# The visible test's network returns s = 0.3 there, so the visible and the hidden test both catch it (-2 points;
# it was 9 when the visible network returned s = 0 on the conditioning half and let it through).
LOG_DET_OVER_ALL_ENTRIES = '''import torch
def coupling_forward(x, mask, net):
    s, t = net(mask * x)
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, s.sum(dim=1)'''

# Classic mistake in Part D: forgets the D log L that turns a density on the unit cube into
# a probability of the discrete levels (-1 visible, -1 hidden).
FORGETS_LEVEL_VOLUME = '''import math
def nll_bits_per_dim(log_density, x_levels, u, n_levels=17):
    v = (x_levels + u) / n_levels
    return (-log_density(v) / (x_levels.shape[1] * math.log(2))).mean()'''

PROBES = [
    ("p05-calls-genlib-coupling", {"coupling_forward": CALLS_GENLIB_COUPLING}, 8),
    ("p05-log-det-over-all-entries", {"coupling_forward": LOG_DET_OVER_ALL_ENTRIES}, 8),
    ("p05-forgets-level-volume", {"nll_bits_per_dim": FORGETS_LEVEL_VOLUME}, 8),
]
