"""A small VAE on one-hot label maps: new plausible heart anatomies, and paths between two subjects.

A label map m (H, W) with L classes is one-hot encoded, x = onehot(m), shape (L, H, W). The
encoder gives q(z | x) = N(mu(x), diag(exp(log_var(x)))), the decoder p(m | z) a categorical
distribution per pixel, ``logits`` (L, H, W). Trained on the ELBO's negative,

    loss = CE(logits(z), m) * H * W  +  beta * KL(q(z | x) || N(0, I)),   z = mu + exp(log_var / 2) * eps

(the cross-entropy summed over pixels, the KL over the latent dimensions, both averaged over
the batch; ``kl_weight`` is beta). A decoded map is the argmax over the classes, so it is
always a valid label map. New anatomies: z ~ N(0, I), decoded. A path between two subjects:
decode (1 - t) mu_a + t mu_b for t from 0 to 1.

Shapes: size x size maps (the crops: 48 x 48), four stride-2 convs to size / 16 (3 x 3), a linear layer to mu and log_var;
the decoder mirrors it with transposed convs.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from genlib._validation import as_generator, as_seed, check_int
from genlib.data.cardiac.labels import N_LABELS, check_label_map


class LabelVAE(nn.Module):
    """VAE on (B, H, W) label maps with ``n_labels`` classes.

    Parameters
    ----------
    n_labels : int
        L (4 for ACDC maps).
    size : int
        H = W, divisible by 16.
    latent_dim : int
        Dimension of z.
    channels : int
        Channels of the first conv; they double at each of the four levels (at most 8 x channels).

    Notes
    -----
    ``encode(labels)`` -> mu, log_var (B, latent_dim); ``decode(z)`` -> logits (B, L, H, W);
    ``forward(labels)`` -> (logits, mu, log_var); ``decode_labels(z)`` -> (B, H, W) int64.
    """

    def __init__(self, n_labels: int = N_LABELS, size: int = 32, latent_dim: int = 8, channels: int = 16):
        super().__init__()
        for name, value in (("n_labels", n_labels), ("size", size), ("latent_dim", latent_dim),
                            ("channels", channels)):
            check_int(name, value)
        if size % 16:
            raise ValueError(f"size must be divisible by 16 (four halvings), got {size}.")
        self.n_labels, self.size, self.latent_dim = n_labels, size, latent_dim
        widths = [channels * 2 ** min(level, 3) for level in range(4)]
        layers, n_in = [], n_labels
        for width in widths:
            layers += [nn.Conv2d(n_in, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            n_in = width
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.bottom = size // 16
        flat = widths[-1] * self.bottom**2
        self.mu = nn.Linear(flat, latent_dim)
        self.log_var = nn.Linear(flat, latent_dim)
        self.fc = nn.Linear(latent_dim, flat)
        layers = []
        for width, n_out in zip(widths[::-1], widths[::-1][1:] + [channels]):
            layers += [nn.ConvTranspose2d(width, n_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.decoder = nn.Sequential(*layers, nn.Conv2d(channels, n_labels, 3, padding=1))
        self.widths = widths

    def one_hot(self, labels) -> torch.Tensor:
        """(B, H, W) int labels -> (B, L, H, W) float one-hot, with the checks."""
        labels = check_label_map(labels, name="labels", n_values=self.n_labels)
        if labels.ndim != 3 or labels.shape[1:] != (self.size, self.size):
            hint = " For one map, add the batch dimension: labels[None]." if labels.ndim == 2 else ""
            raise ValueError(f"labels must have shape (B, {self.size}, {self.size}), got {tuple(labels.shape)}.{hint}")
        return F.one_hot(labels, self.n_labels).permute(0, 3, 1, 2).float().to(self.fc.weight.device)

    def encode(self, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """labels (B, H, W) -> mu, log_var, each (B, latent_dim)."""
        h = self.encoder(self.one_hot(labels))  # (B, flat)
        return self.mu(h), self.log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> logits (B, L, H, W)."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (B, latent_dim={self.latent_dim}), got {shape}.")
        h = self.fc(z.to(self.fc.weight)).reshape(len(z), self.widths[-1], self.bottom, self.bottom)
        return self.decoder(F.leaky_relu(h, 0.2))

    def forward(self, labels):
        """labels (B, H, W) -> logits (B, L, H, W), mu, log_var (B, latent_dim); z drawn by reparameterisation."""
        mu, log_var = self.encode(labels)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        return self.decode(z), mu, log_var

    @torch.no_grad()
    def decode_labels(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> label maps (B, H, W), int64: the argmax of the decoded logits."""
        return self.decode(z).argmax(dim=1).cpu()

    @torch.no_grad()
    def sample(self, n: int, *, seed: int | torch.Generator = 0, temperature: float = 1.0) -> torch.Tensor:
        """n new label maps (n, H, W): z ~ N(0, temperature^2 I) drawn with ``as_generator(seed)``, then argmax."""
        check_int("n", n)
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
            raise ValueError(f"temperature must be a positive number (1: the prior), got {temperature!r}.")
        z = temperature * torch.randn(n, self.latent_dim, generator=as_generator(seed))
        return self.decode_labels(z)

    @torch.no_grad()
    def interpolate(self, labels_a, labels_b, steps: int = 8) -> torch.Tensor:
        """The path between two maps: decode (1 - t) mu_a + t mu_b, t = 0 .. 1 in ``steps`` steps.

        Parameters
        ----------
        labels_a, labels_b : torch.Tensor of int, shape (H, W) or (1, H, W)
        steps : int >= 2

        Returns
        -------
        torch.Tensor, int64, shape (steps, H, W)
        """
        check_int("steps", steps, 2)
        maps = []
        for name, labels in (("labels_a", labels_a), ("labels_b", labels_b)):
            labels = torch.as_tensor(labels)
            labels = labels[None] if labels.ndim == 2 else labels
            if labels.ndim != 3 or len(labels) != 1:
                raise ValueError(f"{name} must be one label map, shape (H, W) or (1, H, W), got {tuple(labels.shape)}.")
            maps.append(labels)
        was_training = self.training
        self.eval()
        mu_a, _ = self.encode(maps[0])
        mu_b, _ = self.encode(maps[1])
        self.train(was_training)
        t = torch.linspace(0, 1, steps, device=mu_a.device)[:, None]  # (steps, 1)
        return self.decode_labels((1 - t) * mu_a + t * mu_b)


def label_vae_loss(model: LabelVAE, labels, *, kl_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The negative ELBO of a batch: CE summed over pixels + kl_weight * KL, averaged over the batch.

    Returns
    -------
    loss : torch.Tensor, scalar
    parts : dict
        "reconstruction" (nats per map) and "kl" (nats per map), as floats.
    """
    labels = check_label_map(labels, name="labels", n_values=model.n_labels)
    logits, mu, log_var = model(labels)
    pixels = labels.shape[-1] * labels.shape[-2]
    reconstruction = F.cross_entropy(logits, labels.to(logits.device)) * pixels
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1).mean()
    return reconstruction + kl_weight * kl, {"reconstruction": float(reconstruction.detach()), "kl": float(kl.detach())}


def train_label_vae(model: LabelVAE, labels, *, steps: int, batch_size: int = 64, lr: float = 2e-3,
                    kl_weight: float = 1.0, seed: int | torch.Generator = 0, progress: bool = True,
                    device: str | torch.device | None = None) -> dict[str, list[float]]:
    """Train a ``LabelVAE`` with Adam on ``label_vae_loss``, ``steps`` mini-batches drawn with replacement.

    Parameters
    ----------
    model : LabelVAE
    labels : torch.Tensor of int, shape (N, H, W)
    steps, batch_size : int
    lr, kl_weight : float
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the batches and the reparameterisation noise; the caller's global random states are
        restored after.
    progress : bool
        Show a progress bar.
    device : str or torch.device
        Where to train (the networks are moved there, each batch too). Default: where the networks
        already are (``device_of``), as before this parameter existed.

    Returns
    -------
    history : dict
        "loss", "reconstruction", "kl": one value per step.
    """
    seed = as_seed(seed)
    from genlib.train import device_of, isolated_rng, run_steps

    check_int("steps", steps)
    check_int("batch_size", batch_size)
    labels = check_label_map(labels, name="labels", n_values=model.n_labels)
    model.one_hot(labels[:1])  # shape check
    device = device_of(model) if device is None else torch.device(device)
    rows_generator = as_generator(seed)

    def step(_: int) -> dict:
        rows = torch.randint(len(labels), (batch_size,), generator=rows_generator)
        loss, parts = label_vae_loss(model, labels[rows].to(device), kl_weight=kl_weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return {"loss": loss, **parts}

    with isolated_rng(seed):
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        run = run_steps(step, steps, modules=(model,), device=device, progress=progress, description="label VAE",
                        leave=True)
    history = {key: run[key] for key in ("loss", "reconstruction", "kl")}
    return history
