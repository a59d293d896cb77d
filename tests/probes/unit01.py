"""Unit 01 probes beyond those in tests/test_nbgrader.py: a classic mistake the hidden tests catch."""

SIGMA_NOT_STD = '''import torch
def reparameterize(mu, log_var, eps):
    return mu + torch.exp(log_var) * eps'''

PROBES = [
    ("p01-uses-variance-not-std", {"reparameterize": SIGMA_NOT_STD}, 8),
]
