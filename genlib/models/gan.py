"""GAN building blocks: losses from logits, the optimal discriminator, WGAN-GP, packing, small nets.

Notation (Goodfellow et al., 2014): a discriminator D(x) = sigmoid(l(x)) outputs a logit
l; the value of the game is

    V(D, G) = E_data[log D(x)] + E_z[log(1 - D(G(z)))].

Every loss here takes **logits** and uses log sigmoid(l) = -softplus(-l) and
log(1 - sigmoid(l)) = -softplus(l), which stay finite for any logit (a naive
log(sigmoid(l)) returns -inf once sigmoid(l) rounds to 0).

- ``discriminator_loss``: -V, what D minimises.
- ``generator_loss_saturating``: E log(1 - D(G(z))), the minimax generator loss.
- ``generator_loss_nonsaturating``: -E log D(G(z)), the loss used in practice.
- ``optimal_discriminator``: D*(x) = p_data / (p_data + p_g), from log-densities.
- ``wasserstein_critic_loss``, ``wasserstein_generator_loss``, ``gradient_penalty``: WGAN-GP.
- ``pack``: PacGAN's packing of m samples into one discriminator input.
- ``MLPGenerator``, ``MLPDiscriminator``: small nets for the 2-D toys (optional spectral
  normalisation and packing); ``TwoHeadDiscriminator``: a per-sample head beside a packed
  one; ``ConvGenerator``, ``ConvDiscriminator``: for 8x8 digits.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from genlib._validation import as_tensor, check_same_shape


def _logits(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of logits, got {type(value).__name__}. "
                        f"Convert it with torch.as_tensor({name}).")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}. Use {name}.float().")
    return value


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss -V(D, G) from logits, averaged over each batch.

    -E_data[log D(x)] - E_z[log(1 - D(G(z)))] = mean softplus(-l_real) + mean softplus(l_fake).

    Parameters
    ----------
    real_logits : torch.Tensor, shape (B,) or (B, 1)
        D's logits on data samples.
    fake_logits : torch.Tensor, shape (B',) or (B', 1)
        D's logits on generated samples.

    Returns
    -------
    torch.Tensor, scalar
        In nats; 2 log 2 = 1.386 when D outputs 1/2 everywhere.
    """
    real_logits, fake_logits = _logits("real_logits", real_logits), _logits("fake_logits", fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss E_z[log(1 - D(G(z)))] = -mean softplus(l_fake).

    Its gradient vanishes when D confidently rejects the fakes (l_fake << 0), early in training.

    Parameters
    ----------
    fake_logits : torch.Tensor, shape (B,) or (B, 1)

    Returns
    -------
    torch.Tensor, scalar (<= 0)
    """
    return -F.softplus(_logits("fake_logits", fake_logits)).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -E_z[log D(G(z))] = mean softplus(-l_fake).

    Parameters
    ----------
    fake_logits : torch.Tensor, shape (B,) or (B, 1)

    Returns
    -------
    torch.Tensor, scalar (>= 0)
    """
    return F.softplus(-_logits("fake_logits", fake_logits)).mean()


def optimal_discriminator(log_p_data, log_p_g) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), computed as sigmoid(log p_data - log p_g).

    Stable where both densities underflow (far in the tails), where the naive ratio is 0/0.

    Parameters
    ----------
    log_p_data, log_p_g : torch.Tensor or array, shape (N,)
        The two log-densities at the same N points. Where both are -inf the ratio is
        undefined and the result is NaN.

    Returns
    -------
    torch.Tensor, shape (N,), values in [0, 1]
    """
    log_p_data, log_p_g = as_tensor("log_p_data", log_p_data), as_tensor("log_p_g", log_p_g)
    check_same_shape("log_p_data", log_p_data, "log_p_g", log_p_g)
    return torch.sigmoid(log_p_data - log_p_g)


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic's loss E[f(G(z))] - E[f(x)] (without the gradient penalty).

    Parameters
    ----------
    real_scores, fake_scores : torch.Tensor, shape (B,) or (B, 1)
        The critic's unbounded outputs on data and generated samples.

    Returns
    -------
    torch.Tensor, scalar
    """
    return _logits("fake_scores", fake_scores).mean() - _logits("real_scores", real_scores).mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator's loss -E[f(G(z))].

    Parameters
    ----------
    fake_scores : torch.Tensor, shape (B,) or (B, 1)

    Returns
    -------
    torch.Tensor, scalar
    """
    return -_logits("fake_scores", fake_scores).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty E[(||grad_x f(x_hat)||_2 - 1)^2], x_hat = eps * real + (1 - eps) * fake.

    The gradient is taken with ``create_graph=True`` so the penalty can be back-propagated
    into the critic's parameters.

    Parameters
    ----------
    critic : callable
        f: a batch (B, ...) -> scores (B,) or (B, 1).
    real, fake : torch.Tensor, shape (B, ...)
        Data and generated samples (``fake`` is usually detached from the generator).
    eps : torch.Tensor, shape (B,) or (B, 1, ...), optional
        Interpolation weights in [0, 1], one per sample; drawn uniformly if not given.

    Returns
    -------
    torch.Tensor, scalar
    """
    real, fake = _logits("real", real), _logits("fake", fake)
    check_same_shape("real", real, "fake", fake)
    if eps is None:
        eps = torch.rand(len(real), device=real.device, dtype=real.dtype)
    eps = _logits("eps", eps).reshape(len(real), *([1] * (real.ndim - 1)))  # (B, 1, ...)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, ...)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN's packing: concatenate m consecutive samples into one discriminator input.

    Parameters
    ----------
    x : torch.Tensor, shape (B, D)
        B must be a multiple of m.
    m : int
        The packing degree (m = 1 returns ``x``).

    Returns
    -------
    torch.Tensor, shape (B // m, m * D)
    """
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise ValueError(f"m must be a positive integer (the packing degree), got {m!r}.")
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (B, D), got {shape}. Flatten each sample first.")
    if len(x) % m:
        raise ValueError(f"the batch size must be a multiple of m = {m}, got {len(x)} samples. "
                         f"Use a batch of {len(x) - len(x) % m or m} samples.")
    return x.reshape(len(x) // m, m * x.shape[1])


def _mlp(sizes: list[int], activation, spectral: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        layers.append(nn.utils.parametrizations.spectral_norm(linear) if spectral else linear)
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def _check_net_size(**sizes) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


class MLPGenerator(nn.Module):
    """G: z ~ N(0, I) in R^latent_dim -> x in R^data_dim, an MLP with ReLU.

    Parameters
    ----------
    latent_dim, data_dim, hidden, depth : int
        Input size, output size, width and number of hidden layers.
    """

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128, depth: int = 3):
        super().__init__()
        _check_net_size(latent_dim=latent_dim, data_dim=data_dim, hidden=hidden, depth=depth)
        self.latent_dim = latent_dim
        self.net = _mlp([latent_dim] + [hidden] * depth + [data_dim], nn.ReLU, spectral=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> x: (B, data_dim)."""
        return self.net(z)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n samples, shape (n, data_dim), without gradients."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        with torch.no_grad():
            return self(z)


class MLPDiscriminator(nn.Module):
    """D: x in R^data_dim (or m packed samples) -> one logit, an MLP with LeakyReLU(0.2).

    Parameters
    ----------
    data_dim, hidden, depth : int
        Size of one sample, width and number of hidden layers.
    pack : int
        PacGAN's degree m: ``forward`` packs m consecutive samples of its (B, data_dim)
        input and returns B // m logits.
    spectral_norm : bool
        Wrap every linear layer in spectral normalisation (Miyato et al., 2018), which
        bounds each layer's Lipschitz constant by about 1.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, depth: int = 3, *, pack: int = 1,
                 spectral_norm: bool = False):
        super().__init__()
        _check_net_size(data_dim=data_dim, hidden=hidden, depth=depth, pack=pack)
        self.pack = pack
        self.net = _mlp([data_dim * pack] + [hidden] * depth + [1], lambda: nn.LeakyReLU(0.2), spectral=spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, data_dim) -> logits: (B // pack,)."""
        return self.net(pack(x, self.pack)).squeeze(-1)


class TwoHeadDiscriminator(nn.Module):
    """Two discriminators side by side: one judges each sample alone, one judges packs of m.

    Packing (PacGAN) makes a lack of diversity visible, but a packed discriminator judges
    each sample's precision only weakly: on the grid it has to tell 25^m clusters apart in
    2m dimensions, and the generator's samples spread between the modes. The per-sample
    head keeps that precision signal; the packed head keeps the diversity signal.
    ``train_gan`` sums the GAN losses of the heads (weighted by its ``head_weights``).
    Trained well, the per-sample head's logit l(x) estimates log p_data(x) / p_g(x)
    (section 3 of lecture 02), which ``discriminator_rejection_sampling`` uses.

    Parameters
    ----------
    data_dim, hidden, depth : int
        Size of one sample, width and number of hidden layers of each head.
    pack : int
        The packed head's degree m (at least 2).

    Attributes
    ----------
    sample_head : MLPDiscriminator
        x (B, data_dim) -> logits (B,).
    pack_head : MLPDiscriminator
        x (B, data_dim) -> logits (B // m,), m consecutive samples per logit.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, depth: int = 3, *, pack: int = 4):
        super().__init__()
        _check_net_size(pack=pack)
        if pack < 2:
            raise ValueError(f"pack must be at least 2 (the packed head's degree), got {pack}; "
                             "with pack = 1 use a plain MLPDiscriminator.")
        self.pack = pack
        self.sample_head = MLPDiscriminator(data_dim, hidden, depth)
        self.pack_head = MLPDiscriminator(data_dim, hidden, depth, pack=pack)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, data_dim) -> (sample logits (B,), pack logits (B // pack,))."""
        return self.sample_head(x), self.pack_head(x)


class ConvGenerator(nn.Module):
    """G for 8x8 images: z (B, latent_dim) -> linear -> (64, 2, 2) -> 4x4 -> 8x8, sigmoid output in [0, 1]."""

    def __init__(self, latent_dim: int = 16, channels: int = 64):
        super().__init__()
        _check_net_size(latent_dim=latent_dim, channels=channels)
        self.latent_dim, self.channels = latent_dim, channels
        self.project = nn.Sequential(nn.Linear(latent_dim, channels * 4), nn.BatchNorm1d(channels * 4), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1), nn.BatchNorm2d(channels // 2), nn.ReLU(),
            nn.ConvTranspose2d(channels // 2, channels // 4, 4, stride=2, padding=1), nn.BatchNorm2d(channels // 4), nn.ReLU(),
            nn.Conv2d(channels // 4, 1, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> images: (B, 1, 8, 8)."""
        h = self.project(z).reshape(len(z), self.channels, 2, 2)  # (B, C, 2, 2)
        return torch.sigmoid(self.up(h))  # (B, 1, 8, 8)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n images, shape (n, 1, 8, 8), in eval mode and without gradients."""
        was_training = self.training
        self.eval()
        z = torch.randn(n, self.latent_dim, generator=generator).to(next(self.parameters()).device)
        with torch.no_grad():
            images = self(z)
        self.train(was_training)
        return images


class ConvDiscriminator(nn.Module):
    """D for 8x8 images: (B, 1, 8, 8) -> 4x4 -> 2x2 -> one logit, LeakyReLU(0.2), optional spectral norm."""

    def __init__(self, channels: int = 64, *, spectral_norm: bool = True):
        super().__init__()
        _check_net_size(channels=channels)
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        self.net = nn.Sequential(
            wrap(nn.Conv2d(1, channels // 2, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),  # (B, C/2, 4, 4)
            wrap(nn.Conv2d(channels // 2, channels, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),  # (B, C, 2, 2)
            nn.Flatten(), wrap(nn.Linear(channels * 4, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 8, 8) -> logits: (B,)."""
        return self.net(x).squeeze(-1)
