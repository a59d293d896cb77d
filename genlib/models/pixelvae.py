"""A VAE whose decoder is a PixelCNN (PixelVAE): the VAE family's stronger variant on the digits.

Unit 01's VAE factorises its decoder, p(x | z) = prod_i p(x_i | z): every pixel is independent given
z, so all the dependence between pixels has to pass through a 16-number code, and the bound pays for
what it cannot carry. PixelVAE (Gulrajani et al., 2017) makes the decoder autoregressive,

    p(x | z) = prod_i p(x_i | x_<i, z),

a ``PixelCNN`` conditioned on z, so local structure (strokes, edges) is modelled by the decoder and the
code is left with what is global (which digit, its slant). The bound is the same ELBO,

    log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || N(0, I)),

and the importance-weighted bound tightens it. A decoder this strong can ignore z (posterior
collapse: KL -> 0, and the model is a plain PixelCNN); *free bits* (Kingma et al., 2016) stop that by
not rewarding KL below ``free_bits`` nats per latent dimension during training: the training loss uses
sum_k max(KL_k, free_bits) with KL_k averaged over the batch. The bounds reported are always the true
ELBO / IW bound, never the free-bits objective.

Layer: a model (``genlib.models``); it uses ``genlib.models.pixelcnn``, ``genlib.models.vae``'s ELBO
pieces and ``genlib.train``.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from genlib._validation import as_generator, as_seed
from genlib.models.pixelcnn import SIDE, PixelCNN
from genlib.models.vae import gaussian_log_likelihood, kl_standard_normal, reparameterize


class PixelVAE(nn.Module):
    """q(z | x) an MLP encoder (as unit 01's), p(x | z) a ``PixelCNN`` with ``cond_dim = latent_dim``.

    Parameters
    ----------
    latent_dim : int
        K, the size of z.
    hidden_dim : int
        Width of the encoder's two hidden layers.
    free_bits : float
        The training loss's floor on each latent dimension's batch-mean KL, in nats (0: the plain -ELBO).
    dropout : float
        The decoder's dropout (``PixelCNN(dropout=...)``).
    **pixelcnn_kwargs
        Passed to the decoder ``PixelCNN`` (channels, n_layers, head_channels).

    Images enter as levels 0..16, shape (B, 64) or (B, 1, 8, 8), like ``PixelCNN``'s.
    """

    def __init__(self, latent_dim: int = 16, hidden_dim: int = 256, free_bits: float = 0.25, dropout: float = 0.3,
                 **pixelcnn_kwargs):
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
        if not isinstance(free_bits, (int, float)) or free_bits < 0:
            raise ValueError(f"free_bits must be a number of nats >= 0, got {free_bits!r}.")
        self.latent_dim, self.free_bits = latent_dim, float(free_bits)
        self.decoder = PixelCNN(dropout=dropout, cond_dim=latent_dim, **pixelcnn_kwargs)
        self.n_levels = self.decoder.n_levels
        self.encoder = nn.Sequential(nn.Linear(SIDE * SIDE, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim),
                                     nn.ReLU(), nn.Linear(hidden_dim, 2 * latent_dim))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, log_var of q(z | x), each (B, K); x: levels (checked by the decoder)."""
        levels = self.decoder._levels(x)
        mu, log_var = self.encoder(levels.flatten(1).float() / (self.n_levels - 1)).chunk(2, dim=1)
        return mu, log_var.clamp(-12.0, 8.0)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z), exact, in nats, shape (B,)."""
        return self.decoder.log_likelihood(x, z)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """A one-draw estimate of the ELBO of each image, in nats, shape (B,)."""
        mu, log_var = self.encode(x)
        return self.log_likelihood(x, reparameterize(mu, log_var)) - kl_standard_normal(mu, log_var)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The training loss: -E_q[log p(x | z)] + sum_k max(mean_batch KL_k, free_bits), mean over the batch."""
        mu, log_var = self.encode(x)
        reconstruction = self.log_likelihood(x, reparameterize(mu, log_var))
        kl_per_dim = 0.5 * (log_var.exp() + mu ** 2 - 1 - log_var)  # (B, K)
        return -reconstruction.mean() + kl_per_dim.mean(0).clamp(min=self.free_bits).sum()

    @torch.no_grad()
    def importance_weighted_bound(self, x: torch.Tensor, n_samples: int = 100,
                                  generator: torch.Generator | None = None) -> torch.Tensor:
        """log (1/S) sum_s p(x | z_s) p(z_s) / q(z_s | x), z_s ~ q(z | x): shape (B,), nats; S = 1 is the ELBO."""
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        mu, log_var = self.encode(x)
        log_weights = []
        for _ in range(n_samples):
            z = mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, generator=generator)
            log_q = gaussian_log_likelihood(z, mu, log_var)
            log_prior = gaussian_log_likelihood(z, torch.zeros_like(z), 0.0)
            log_weights.append(self.log_likelihood(x, z) + log_prior - log_q)
        return torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(n_samples)

    @torch.no_grad()
    def kl_per_dimension(self, x: torch.Tensor) -> torch.Tensor:
        """KL(q(z_k | x) || N(0, 1)) averaged over the images, shape (K,): how much each dimension is used."""
        mu, log_var = self.encode(x)
        return (0.5 * (log_var.exp() + mu ** 2 - 1 - log_var)).mean(0)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixel samples x ~ p(x | z), z ~ N(0, I): levels 0..16 as floats, shape (n, 1, 8, 8)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decoder.sample(n, cond=z, generator=generator)


def bits_per_dim_bound(model: PixelVAE, x: torch.Tensor, n_samples: int = 1, seed: int | torch.Generator = 0,
                       batch_size: int = 512) -> float:
    """The mean of -(IW bound with ``n_samples``) over ``x`` in bits per dimension (S = 1: the -ELBO)."""
    model.eval()
    generator = as_generator(seed)
    bounds = torch.cat([model.importance_weighted_bound(x[i:i + batch_size], n_samples, generator)
                        for i in range(0, len(x), batch_size)])
    return float(-bounds.double().mean() / (SIDE * SIDE * math.log(2)))


def fit_pixelvae(x_train: torch.Tensor, x_val: torch.Tensor, *, epochs: int = 60, batch_size: int = 32,
                 lr: float = 1e-3, seed: int | torch.Generator = 0, validate_every: int = 2, progress: bool = False,
                 **model_kwargs) -> tuple[PixelVAE, dict]:
    """Train a ``PixelVAE`` (Adam) and keep the epoch with the lowest validation -ELBO (10 draws of z per image).

    Parameters
    ----------
    x_train, x_val : torch.Tensor, shapes (N, 64) and (M, 64), levels 0..16
    epochs, batch_size, lr, seed, validate_every, progress
        As ``genlib.train.train`` (``seed``: an int, or a torch.Generator that gives one, ``as_seed``).
    **model_kwargs
        Passed to ``PixelVAE``.

    Returns
    -------
    model : PixelVAE in eval mode
    info : dict with "val_bits_per_dim" (per validation), "best_epoch", "seconds", "cpu_seconds"
    """
    seed = as_seed(seed)
    from genlib.train import isolated_rng, train

    if not isinstance(epochs, int) or not isinstance(validate_every, int) or not 1 <= validate_every <= epochs:
        raise ValueError(f"need 1 <= validate_every <= epochs (integers) so that some epoch is validated and kept, "
                         f"got epochs={epochs!r}, validate_every={validate_every!r}.")
    with isolated_rng(seed):  # the initial weights; the caller's global random states are restored after
        model = PixelVAE(**model_kwargs)
    model.decoder._levels(x_train), model.decoder._levels(x_val)  # check the levels before training
    x_val_10 = x_val.repeat(10, 1)  # 10 draws of z per validation image, as unit 01's bench averages the ELBO
    cpu0, wall0 = time.process_time(), time.perf_counter()
    history = train(model, model.loss, x_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device="cpu",
                    progress=progress, description="PixelVAE", validate=lambda: bits_per_dim_bound(model, x_val_10),
                    validate_every=validate_every, keep_best=True)
    info = {"val_bits_per_dim": history["val"], "best_epoch": history["best_epoch"],
            "seconds": time.perf_counter() - wall0, "cpu_seconds": time.process_time() - cpu0}
    return model.eval(), info
