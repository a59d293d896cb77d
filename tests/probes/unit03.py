"""Unit 03 probes: cheats that call a reference (score 0 for that part) and classic mistakes the visible and hidden tests catch.

Totals are out of 13: A 4 (D loss 2, G loss 2), B 3, C 2, D 2, E 2.
"""

# Part A through unit 02's reference: both D-loss cells score 0 (the G loss is written out and keeps its 2 points)
CHEAT_GAN_LOSS = '''import torch.nn.functional as F
from genlib.models.gan import discriminator_loss as _reference
def conditional_discriminator_loss(discriminator, real, fake, labels):
    return _reference(discriminator(real, labels), discriminator(fake.detach(), labels))
def conditional_generator_loss(discriminator, fake, labels):
    return F.softplus(-discriminator(fake, labels)).mean()'''

CHEAT_SPADE = '''import genlib.models.spade as _s
def spade_layer(x, segmap, shared, conv_gamma, conv_beta, eps=1e-5):
    return _s.spade(x, segmap, shared, conv_gamma, conv_beta, eps)'''

# forgets to detach the generated images: right value, but L_D would also train the generator; the visible test
# checks that no gradient reaches the fake images, so visible and hidden tests catch it (was 12 before that check)
NO_DETACH = '''import torch.nn.functional as F
def conditional_discriminator_loss(discriminator, real, fake, labels):
    return F.softplus(-discriminator(real, labels)).mean() + F.softplus(discriminator(fake, labels)).mean()
def conditional_generator_loss(discriminator, fake, labels):
    return F.softplus(-discriminator(fake, labels)).mean()'''

# resizes the label map bilinearly: right when the map has x's size, wrong otherwise; the visible test has a label map of
# half x's size too, so visible and hidden tests catch it (was 11 when the visible map had x's size only)
BILINEAR = '''import torch
import torch.nn.functional as F
def spade_layer(x, segmap, shared, conv_gamma, conv_beta, eps=1e-5):
    x_hat = (x - x.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(2, 3), unbiased=False, keepdim=True) + eps)
    hidden = shared(F.interpolate(segmap, size=x.shape[-2:], mode="bilinear", align_corners=False))
    return x_hat * (1 + conv_gamma(hidden)) + conv_beta(hidden)'''

# feeds each translator the images of its source domain: constant shifts cannot tell; the visible test's G_AB = 2x on
# brighter B images can, so visible and hidden tests catch it (was 12 with the shifts only)
SWAPPED_IDENTITY = '''def identity_loss(g_ab, g_ba, real_a, real_b):
    return (g_ab(real_a) - real_a).abs().mean() + (g_ba(real_b) - real_b).abs().mean()'''

PROBES = [
    ("p03-cheat-gan-discriminator-loss", {"cgan_losses": CHEAT_GAN_LOSS}, 11),
    ("p03-cheat-genlib-spade", {"spade_layer": CHEAT_SPADE}, 10),
    ("p03-no-detach", {"cgan_losses": NO_DETACH}, 11),
    ("p03-bilinear-label-map", {"spade_layer": BILINEAR}, 10),
    ("p03-swapped-identity", {"identity_loss": SWAPPED_IDENTITY}, 11),
]
