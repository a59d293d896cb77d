"""Unit 02 probes: cheats that call a reference (score 0 for that part) and classic mistakes the visible and hidden tests catch.

Totals are out of 12: A 2, B 2, C 2, D 3, E 3.
"""

CHEAT_BCE = '''import torch.nn.functional as F
def discriminator_loss(real_logits, fake_logits):
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))'''

CHEAT_MODES = '''from genlib.metrics import mode_coverage as _reference
def mode_coverage(samples, means, std, n_std=3.0):
    result = _reference(samples, means, std, n_std=n_std)
    return result.modes_covered, result.high_quality_fraction'''

CHEAT_GP = '''from genlib.models import gradient_penalty as _gp
def gradient_penalty(critic, real, fake, eps):
    return _gp(critic, real, fake, eps)'''

# counts a mode as covered whenever it is some sample's nearest centre, high quality or not: the visible test has a
# low-quality sample nearest to an otherwise uncovered mode, so visible and hidden tests catch it (was 10 before that sample)
COVERED_WITHOUT_QUALITY = '''import torch
def mode_coverage(samples, means, std, n_std=3.0):
    distances = torch.cdist(samples.double(), means.double())
    nearest_distance, nearest = distances.min(dim=1)
    high_quality = nearest_distance <= n_std * std
    return len(torch.unique(nearest)), float(high_quality.double().mean())'''

# log of a sigmoid computed naively: right on moderate logits, -inf on extreme ones; the visible test has logits of
# +-120 too, so visible and hidden tests catch it (was 11 when only the hidden test had extreme logits)
NAIVE_LOG_SIGMOID = '''import torch
def discriminator_loss(real_logits, fake_logits):
    return -(torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean())'''

# forgets create_graph=True: the value is right, but the penalty cannot train the critic; the visible test's critic has a
# parameter and checks that the penalty reaches it, so visible and hidden tests catch it (was 10 before that check)
NO_CREATE_GRAPH = '''import torch
def gradient_penalty(critic, real, fake, eps):
    eps = eps.reshape(-1, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()'''

PROBES = [
    ("p02-cheat-bce-with-logits", {"discriminator_loss": CHEAT_BCE}, 10),
    ("p02-cheat-genlib-mode-coverage", {"mode_coverage": CHEAT_MODES}, 9),
    ("p02-cheat-genlib-gradient-penalty", {"gradient_penalty": CHEAT_GP}, 9),
    ("p02-covered-without-quality", {"mode_coverage": COVERED_WITHOUT_QUALITY}, 9),
    ("p02-naive-log-sigmoid", {"discriminator_loss": NAIVE_LOG_SIGMOID}, 10),
    ("p02-no-create-graph", {"gradient_penalty": NO_CREATE_GRAPH}, 9),
]
