"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired).

pix2pix (Isola et al., 2017): a U-Net generator G: x -> y and a conditional PatchGAN
discriminator D(x, y) that scores every patch of the pair as real or fake. G minimises

    L_G = -E log D(x, G(x)) + lambda * E |y - G(x)|_1,     lambda = 100 in the paper.

CycleGAN (Zhu et al., 2017): two generators G_AB: A -> B and G_BA: B -> A, two
discriminators D_A, D_B, trained without pairs. The generators minimise

    L = L_LSGAN(G_AB, D_B) + L_LSGAN(G_BA, D_A) + lambda * L_cyc + 0.5 * lambda * L_id,  lambda = 10,
    L_cyc = E |G_BA(G_AB(a)) - a|_1 + E |G_AB(G_BA(b)) - b|_1,
    L_id  = E |G_AB(b) - b|_1 + E |G_BA(a) - a|_1,

with the least-squares GAN loss (Mao et al., 2017): D minimises
0.5 E (D(real) - 1)^2 + 0.5 E D(fake)^2, G minimises E (D(fake) - 1)^2. The
discriminators see fakes drawn from an ``ImagePool`` of earlier generations
(Shrivastava et al., 2017), which damps oscillations.

Images are in [0, 1] (the course's convention; the papers use [-1, 1] and tanh): the
generators end with a sigmoid.

Public objects (unit 07 reuses them): ``UNetGenerator``, ``PatchGANDiscriminator``,
``ImagePool``, ``pix2pix_generator_loss``, ``lsgan_discriminator_loss``,
``lsgan_generator_loss``, ``cycle_consistency_loss``, ``identity_loss``.
"""
from __future__ import annotations

import random

import torch
from torch import nn
from torch.nn import functional as F

from genlib._validation import check_int, check_ndim, check_same_shape
from genlib.models.gan import generator_loss_nonsaturating


def _check_images(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (B, C, H, W), got {type(x).__name__}.")
    check_ndim(name, x, 4, "(B, C, H, W)")
    return x


def _down(n_in: int, n_out: int, norm: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(n_in, n_out, 4, stride=2, padding=1)]
    if norm:
        layers.append(nn.InstanceNorm2d(n_out))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


def _up(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(n_in, n_out, 3, padding=1),
                         nn.InstanceNorm2d(n_out), nn.ReLU())


class UNetGenerator(nn.Module):
    """pix2pix's U-Net generator: stride-2 convs down, upsample + conv up, skips between mirrored levels.

    Parameters
    ----------
    in_channels, out_channels : int
    channels : int
        Channels of the first level; they double at each level down (at most 8 x channels).
    depth : int
        Number of stride-2 levels; H and W must be divisible by 2**depth.

    Notes
    -----
    ``forward(x)``: (B, in_channels, H, W) -> (B, out_channels, H, W) in [0, 1] (sigmoid).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, channels: int = 16, depth: int = 4):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("channels", channels),
                            ("depth", depth)):
            check_int(name, value)
        self.in_channels, self.depth = in_channels, depth
        widths = [channels * 2 ** min(level, 3) for level in range(depth)]
        self.down = nn.ModuleList(
            _down(in_channels if level == 0 else widths[level - 1], widths[level], norm=level > 0)
            for level in range(depth)
        )
        # going up from level depth-1 to 0: the input of each step is the previous output + the skip
        self.up = nn.ModuleList(
            _up(widths[level] * (1 if level == depth - 1 else 2), widths[max(level - 1, 0)])
            for level in reversed(range(depth))
        )
        self.out = nn.Conv2d(widths[0] + in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> (B, out_channels, H, W) in [0, 1]."""
        _check_images("x", x)
        factor = 2**self.depth
        if x.shape[1] != self.in_channels or x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W) with H, W divisible by 2**depth = "
                             f"{factor}, got {tuple(x.shape)}. Pad the images or build a shallower UNetGenerator.")
        skips, h = [x], x
        for block in self.down:
            h = block(h)  # halves H and W
            skips.append(h)
        skips.pop()  # the deepest level feeds the first up step directly
        for block in self.up:
            h = block(h)  # doubles H and W
            h = torch.cat([h, skips.pop()], dim=1)
        return torch.sigmoid(self.out(h))  # (B, out_channels, H, W)


class PatchGANDiscriminator(nn.Module):
    """A fully convolutional discriminator: one logit per overlapping patch.

    ``n_layers`` stride-2 4x4 convs then two stride-1 4x4 convs; with n_layers = 2 each
    output logit sees a 34 x 34-pixel patch through its convolutions (the paper's 70 x 70 uses n_layers = 3 on
    256 x 256 images). Scoring patches, not whole images, makes D a texture/style
    critic and leaves the global layout to the L1 or cycle loss.

    Parameters
    ----------
    in_channels : int
        2 for pix2pix's conditional D(x, y) (input and output concatenated), 1 for CycleGAN.
    channels, n_layers : int

    Notes
    -----
    ``forward(x)``: (B, in_channels, H, W) -> logits (B, 1, H', W'), H' = H / 2**n_layers - 2.
    """

    def __init__(self, in_channels: int = 1, channels: int = 16, n_layers: int = 2):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("channels", channels), ("n_layers", n_layers)):
            check_int(name, value)
        self.in_channels = in_channels
        layers, n_in = [], in_channels
        for level in range(n_layers):
            n_out = channels * 2 ** min(level, 3)
            layers.append(_down(n_in, n_out, norm=level > 0))
            n_in = n_out
        n_out = channels * 2 ** min(n_layers, 3)
        layers += [nn.Conv2d(n_in, n_out, 4, padding=1), nn.InstanceNorm2d(n_out), nn.LeakyReLU(0.2),
                   nn.Conv2d(n_out, 1, 4, padding=1)]  # each 4x4 conv with padding 1 trims one pixel
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> logits (B, 1, H', W')."""
        _check_images("x", x)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channel(s) (B, {self.in_channels}, H, W), got "
                             f"{tuple(x.shape)}. For pix2pix, concatenate input and output: torch.cat([x, y], 1).")
        return self.net(x)


class ImagePool:
    """A buffer of earlier fakes for CycleGAN's discriminators (Shrivastava et al., 2017).

    ``query(images)``: each image is stored while the pool has room and returned as is;
    once full, with probability 1/2 it swaps places with a random stored image, which is
    returned instead. ``size = 0`` turns the pool off.

    Parameters
    ----------
    size : int
        Capacity (50 in the paper).
    seed : int
        Seeds the pool's own random choices.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be an integer >= 0 (0 turns the pool off), got {size!r}.")
        self.size, self.images = size, []
        self._random = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, C, H, W) -> (B, C, H, W), detached, each new or from the pool."""
        images = _check_images("images", images).detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self._random.random() < 0.5:
                i = self._random.randrange(self.size)
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


def pix2pix_generator_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor,
                           l1_weight: float = 100.0) -> torch.Tensor:
    """pix2pix's generator objective: -E log D(x, G(x)) + lambda * E |y - G(x)|_1.

    Parameters
    ----------
    fake_logits : torch.Tensor, shape (B, 1, H', W')
        The PatchGAN's logits on (x, G(x)); the log-loss is averaged over every patch.
    fake, target : torch.Tensor, shape (B, C, H, W)
        G(x) and the paired y.
    l1_weight : float
        lambda.

    Returns
    -------
    torch.Tensor, scalar
    """
    fake, target = _check_images("fake", fake), _check_images("target", target)
    check_same_shape("fake", fake, "target", target)
    return generator_loss_nonsaturating(fake_logits) + l1_weight * (fake - target).abs().mean()


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """0.5 E (D(real) - 1)^2 + 0.5 E D(fake)^2, averaged over every patch. Scalar."""
    return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """E (D(G(x)) - 1)^2, averaged over every patch. Scalar."""
    return ((fake_scores - 1) ** 2).mean()


def cycle_consistency_loss(g_ab, g_ba, real_a: torch.Tensor, real_b: torch.Tensor) -> torch.Tensor:
    """L_cyc = E |G_BA(G_AB(a)) - a|_1 + E |G_AB(G_BA(b)) - b|_1 (pixel means).

    Parameters
    ----------
    g_ab, g_ba : callable
        (B, C, H, W) -> (B, C, H, W): the translators A -> B and B -> A.
    real_a, real_b : torch.Tensor, shape (B, C, H, W) and (B', C, H, W)

    Returns
    -------
    torch.Tensor, scalar (0 when both translators are the identity)
    """
    real_a, real_b = _check_images("real_a", real_a), _check_images("real_b", real_b)
    return (g_ba(g_ab(real_a)) - real_a).abs().mean() + (g_ab(g_ba(real_b)) - real_b).abs().mean()


def identity_loss(g_ab, g_ba, real_a: torch.Tensor, real_b: torch.Tensor) -> torch.Tensor:
    """L_id = E |G_AB(b) - b|_1 + E |G_BA(a) - a|_1: a translator into B leaves B images alone.

    Parameters and return as in ``cycle_consistency_loss``.
    """
    real_a, real_b = _check_images("real_a", real_a), _check_images("real_b", real_b)
    return (g_ab(real_b) - real_b).abs().mean() + (g_ba(real_a) - real_a).abs().mean()
