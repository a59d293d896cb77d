"""Unit 06 probes: a cheat that delegates to genlib, and classic mistakes at t = 1 that the visible and hidden tests catch."""

# Part C through genlib's q_sample (after turning alpha_bar back into betas): scores 0 for Part C (2 points).
CHEAT_Q_SAMPLE = '''import torch
import genlib.models.diffusion as _d
def q_sample(x0, t, alpha_bar, eps):
    betas = 1 - alpha_bar / torch.cat([torch.ones(1, dtype=alpha_bar.dtype), alpha_bar[:-1]])
    return _d.q_sample(x0, t, betas.double(), eps)'''

# Part F adding noise at every step, t = 1 included: the visible test (t = 2, 3, 4 and 1) and the hidden test
# (t = 1) fail, so Part F scores 0 of 3 (it was 1 of 3 when the visible test had no t = 1).
NOISE_AT_T1 = '''import torch
def ancestral_step(x_t, t, eps_pred, betas, z):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    beta, ab = betas[t - 1][:, None], alpha_bar[t - 1][:, None]
    return (x_t - beta / (1 - ab).sqrt() * eps_pred) / (1 - beta).sqrt() + beta.sqrt() * z'''

# Part D reading alpha_bar[t - 2] for alpha_bar_{t-1}: right for t >= 2, wraps around to alpha_bar_T at t = 1;
# the visible test has t = 1 too, so Part D scores 0 of 3 (it was 1 of 3 when only the hidden test had t = 1).
WRAPS_AT_T1 = '''import torch
def posterior_mean_variance(x_t, x0, t, betas):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    beta, ab, ab_prev = betas[t - 1][:, None], alpha_bar[t - 1][:, None], alpha_bar[t - 2][:, None]
    mean = (ab_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - ab_prev) * x_t) / (1 - ab)
    return mean, (1 - ab_prev) / (1 - ab) * beta'''

PROBES = [
    ("p06-cheat-q-sample", {"q_sample": CHEAT_Q_SAMPLE}, 12),
    ("p06-noise-at-t1", {"ancestral_step": NOISE_AT_T1}, 11),
    ("p06-alpha-bar-wraps-at-t1", {"posterior_mean_variance": WRAPS_AT_T1}, 11),
]
