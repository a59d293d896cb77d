"""Unit 04 probes beyond those in tests/test_nbgrader.py: cheats that call a ready-made implementation,
and a classic mistake the visible and hidden tests catch."""

# Part A through scipy's general square root of the product: A scores 0, and B, which calls A inside
# its guard, too (13 - 3 - 3 = 7).
SQRTM_A = '''import numpy as np
import scipy.linalg
import torch
def trace_sqrt_product(sigma1, sigma2):
    return torch.tensor(np.trace(scipy.linalg.sqrtm((sigma1 @ sigma2).numpy())).real, dtype=torch.float64)'''

# Part C delegated to genlib's KID: C scores 0 (13 - 3 = 10).
GENLIB_KID = '''import torch
import genlib.metrics as _m
def kid_unbiased(features_real, features_fake):
    return torch.tensor(_m.kernel_inception_distance(features_real, features_fake).value, dtype=torch.float64)'''

# The classic mistake: no clipping of the rounding-level negative eigenvalues: NaN on singular covariances. The visible
# test of A has two rank-one covariances, so it fails there and on the hidden singular tests of A and B (13 - 1 - 2 - 2 = 8;
# it was 9 when the visible test had full-rank covariances only).
UNCLIPPED_A = '''import torch
def trace_sqrt_product(sigma1, sigma2):
    w, V = torch.linalg.eigh(sigma1)
    root1 = V @ torch.diag(w.sqrt()) @ V.T
    return torch.linalg.eigvalsh(root1 @ sigma2 @ root1).sqrt().sum()'''

PROBES = [
    ("p04-sqrtm-in-part-a", {"trace_sqrt_product": SQRTM_A}, 7),
    ("p04-genlib-kid", {"kid_unbiased": GENLIB_KID}, 10),
    ("p04-no-eigenvalue-clipping", {"trace_sqrt_product": UNCLIPPED_A}, 8),
]
